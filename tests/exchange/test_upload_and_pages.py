"""A department data officer delivers a file through the page; staff read the report."""

from __future__ import annotations

import io
import re

import openpyxl
from django.core.files.uploadedfile import SimpleUploadedFile

from conftest import make_id
from fangpin.exchange.models import Delivery, Status
from fangpin.lib import idcard

FULL_ID = re.compile(r"\d{17}[\dX]")


# a valid ID of nobody in the registry (a registry person's broken ID is linked, not rejected)
STRANGER = "11010519491231002X"


def settlement_csv(*ids: str) -> bytes:
    lines = [
        "settlement_id,id_number,settle_date,visit_type,total_cost,basic_paid,critical_paid,assistance_paid,self_pay"
    ]
    lines += [
        f"S{i},{pid},2026-08-0{i + 1},inpatient,50000,25000,5000,2000,18000" for i, pid in enumerate(ids)
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def upload(client, name: str, content: bytes, dataset: str = "ms_settlement", period: str = "2026-08"):
    return client.post(
        "/exchange/upload/", {"dataset": dataset, "period": period, "file": SimpleUploadedFile(name, content)}
    )


def test_a_data_officer_uploads_a_file_and_sees_the_result(world, client_for) -> None:
    valid = world.persons["own"].id_number
    broken = idcard.with_wrong_check_char(STRANGER)  # nobody in the registry: linkage cannot repair it
    response = upload(client_for("zhao_data"), "结算.csv", settlement_csv(valid, broken))
    delivery = Delivery.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/exchange/deliveries/{delivery.pk}/"
    assert delivery.status == Status.ACCEPTED and (delivery.read, delivery.accepted, delivery.rejected) == (
        2,
        1,
        1,
    )
    assert delivery.reasons == {"id_check_char": 1} and delivery.progress == 100
    page = client_for("zhao_data").get(f"/exchange/deliveries/{delivery.pk}/").content.decode()
    assert "身份号码校验码错误" in page and not FULL_ID.search(page)


def test_the_excel_report_reconciles_and_masks_ids(world, client_for, audit_rows) -> None:
    valid = world.persons["own"].id_number
    upload(
        client_for("zhao_data"),
        "s.csv",
        settlement_csv(valid, idcard.with_wrong_check_char(STRANGER)),
    )
    delivery = Delivery.objects.get()
    response = client_for("wang_county").get(
        f"/exchange/deliveries/{delivery.pk}/report.xlsx", {"purpose": "review"}
    )
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    summary = {row[0]: row[1] for row in book["概况"].iter_rows(values_only=True)}
    assert summary["读取行数"] == 2 and summary["核对：读取 = 入库 + 拒收 + 重复"] == "一致"
    detail = list(book["拒收明细"].iter_rows(values_only=True))
    assert detail[1][2] == "id_check_char" and "*" in detail[1][4]
    assert audit_rows("EXPORT", object_type="delivery")


def test_the_upload_form_refuses_other_departments_datasets_and_bad_files(world, client_for) -> None:
    client = client_for("zhao_data")
    assert upload(client, "p.csv", b"x\n", dataset="ps_person").status_code == 200  # not a medical dataset
    assert upload(client, "s.exe", settlement_csv()).status_code == 200
    assert upload(client, "s.csv", settlement_csv(), period="2026-13").status_code == 200
    assert not Delivery.objects.exists()


def test_an_upload_with_missing_columns_is_rejected_whole_with_a_message(world, client_for) -> None:
    upload(client_for("zhao_data"), "bad.csv", b"settlement_id,id_number\nS1,1\n")
    delivery = Delivery.objects.get()
    assert delivery.status == Status.REJECTED_WHOLE and "缺少" in delivery.message
    assert "缺少" in client_for("zhao_data").get(f"/exchange/deliveries/{delivery.pk}/").content.decode()


def test_the_uploaded_file_is_removed_after_import(world, client_for, settings) -> None:
    upload(client_for("zhao_data"), "s.csv", settlement_csv(make_id()))
    assert not any(settings.FANGPIN_INCOMING.iterdir())


def test_a_data_officer_sees_only_their_departments_deliveries(world, client_for) -> None:
    upload(client_for("zhao_data"), "s.csv", settlement_csv(make_id()))
    other = Delivery.objects.create(
        dataset="ps_person",
        department="public_security",
        period="2026-08",
        content_hash="x",
        source="cli",
        file_name="p.csv",
        status=Status.ACCEPTED,
    )
    client = client_for("zhao_data")
    assert client.get(f"/exchange/deliveries/{other.pk}/").status_code == 404
    assert "ps_person" not in client.get("/exchange/deliveries/").content.decode()
    assert client_for("chen_analyst").get(f"/exchange/deliveries/{other.pk}/").status_code == 200


def test_the_catalog_and_quality_pages_show_the_departments(world, client_for) -> None:
    upload(client_for("zhao_data"), "s.csv", settlement_csv(make_id()))
    client = client_for("chen_analyst")
    catalog = client.get("/exchange/").content.decode()
    assert "医疗费用结算" in catalog and "户籍人口" in catalog
    quality = client.get("/exchange/quality/").content.decode()
    assert "医保" in quality and "公安" in quality
