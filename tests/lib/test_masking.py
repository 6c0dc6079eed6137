from __future__ import annotations

from fangpin.lib.masking import mask_bank_account, mask_id_number, mask_name, mask_phone


def test_it_masks_an_id_number_keeping_area_and_last_four() -> None:
    assert mask_id_number("360722199001011234") == "360722********1234"


def test_it_masks_names_of_every_length() -> None:
    assert mask_name("肖凤香") == "肖*香"
    assert mask_name("李四") == "李*"
    assert mask_name("欧阳娜娜") == "欧**娜"
    assert mask_name("") == ""


def test_it_masks_phone_and_bank_account() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_bank_account("6217001234567890") == "************7890"
