"""Name pinyin is derived once per name and kept for the next process; what is kept equals what pypinyin
says, and a kept reading of another pypinyin version or a name gone from the registry is not used."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fangpin.pipeline import pinyin

# polyphonic characters read by their phrase (长江, 重庆, 单), a name with a middle dot, latin letters
NAMES = ["张长江", "曾重庆", "单于乐", "朴秀贤", "阿卜杜·热合曼", "Li明", "何晨根", "吴翠琳", "何晨根", None]
NAMES += [""]


@pytest.fixture(autouse=True)
def new_process() -> Iterator[None]:
    pinyin.forget()
    yield
    pinyin.forget()


def _uncached(names: list[str | None]) -> list[str | None]:
    return [None if n is None else pinyin.reading(n) for n in names]


def _refuse_to_derive(monkeypatch: pytest.MonkeyPatch) -> None:
    def derive(name: str) -> str:
        raise AssertionError(f"derived again: {name}")

    monkeypatch.setattr(pinyin, "reading", derive)


def test_readings_equal_pypinyin_name_by_name() -> None:
    got = pinyin.readings(pa.array(NAMES, pa.string())).to_pylist()
    assert got == _uncached(NAMES)
    assert got[0] == "zhangchangjiang"


def test_a_new_process_reads_the_stored_readings_instead_of_deriving_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "name_pinyin.parquet"
    expected = _uncached(NAMES)
    pinyin.save(path, pa.array(NAMES, pa.string()))
    pinyin.forget()
    _refuse_to_derive(monkeypatch)
    assert pinyin.load(path) == len({n for n in NAMES if n is not None})
    assert pinyin.readings(pa.array(NAMES, pa.string())).to_pylist() == expected


def test_readings_of_another_pypinyin_version_are_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "name_pinyin.parquet"
    monkeypatch.setattr(pinyin, "VERSION", "pypinyin 0.1; an older derivation")
    pinyin.save(path, pa.array(NAMES, pa.string()))
    monkeypatch.undo()
    pinyin.forget()
    assert pinyin.load(path) == 0
    _refuse_to_derive(monkeypatch)
    with pytest.raises(AssertionError, match="derived again"):
        pinyin.readings(pa.array(["张长江"], pa.string()))


def test_a_name_gone_from_the_registry_leaves_the_file_at_the_next_save(tmp_path: Path) -> None:
    path = tmp_path / "name_pinyin.parquet"
    pinyin.save(path, pa.array(["张长江", "吴翠琳"], pa.string()))
    pinyin.save(path, pa.array(["吴翠琳", "何晨根"], pa.string()))
    pinyin.forget()
    assert pinyin.load(path) == 2
    assert sorted(pq.read_table(path).column("name").to_pylist()) == ["何晨根", "吴翠琳"]


def test_a_file_unchanged_since_it_was_read_is_not_read_again(tmp_path: Path) -> None:
    path = tmp_path / "name_pinyin.parquet"
    pinyin.save(path, pa.array(["张长江"], pa.string()))
    pinyin.forget()
    assert pinyin.load(path) == 1
    assert pinyin.load(path) == 0


def test_a_simulated_county_s_names_read_back_as_pypinyin_reads_them(
    registry: pa.Table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = registry.column("name").combine_chunks()
    expected = _uncached(names.to_pylist())
    pinyin.save(tmp_path / "name_pinyin.parquet", names)
    pinyin.forget()
    pinyin.load(tmp_path / "name_pinyin.parquet")
    _refuse_to_derive(monkeypatch)
    assert pinyin.readings(names).to_pylist() == expected
