"""Names in pinyin (linkage's homophone level and blocking key), remembered across processes.

pypinyin costs ~50 µs of CPU a name (its phrase segmentation decides the reading of a polyphonic
character, and 69 % of a county's names have one), and a county's registry has ~320,000 distinct names:
~16 s in every process that prepares the registry. The readings are kept in memory for the process and,
when the caller names a file (``load``/``save``), on disk for the next one: keyed by the name, valid
for one pypinyin version and one derivation (``VERSION``); a file of another version is ignored.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# a stored reading holds for this pypinyin (its dictionaries) and this derivation of ours (bump it when
# `reading` changes)
VERSION = f"pypinyin {version('pypinyin')}; normal style, no tone, unknown characters dropped; 1"
_VERSION_KEY = b"fangpin.pinyin_version"
# a bound on the process's memory (a web worker lives long): ~100 bytes a name
MAX_REMEMBERED = 2_000_000

_known: dict[str, str] = {}
_loaded: dict[Path, int] = {}  # file → its modification time when this process read or wrote it


def reading(name: str) -> str:
    """The name in pinyin without tones, as one string (pypinyin; the uncached derivation)."""
    from pypinyin import Style, lazy_pinyin

    return "".join(lazy_pinyin(name, style=Style.NORMAL, errors="ignore"))


def readings(names: pa.Array) -> pa.Array:
    """The reading of each name (NULL for NULL), each distinct name derived once."""
    unique = pc.unique(names).drop_null()
    values = unique.to_pylist()
    if len(_known) + len(values) > MAX_REMEMBERED:
        _known.clear()
    for name in values:
        if name not in _known:
            _known[name] = reading(name)
    found = pa.array([_known[name] for name in values], pa.string())
    return found.take(pc.index_in(names, value_set=unique))


def load(path: Path) -> int:
    """Remember the readings stored at `path` (nothing when it is missing, of another VERSION, or
    unchanged since this process read or wrote it); the number of names read."""
    if not path.exists() or _loaded.get(path) == path.stat().st_mtime_ns:
        return 0
    _loaded[path] = path.stat().st_mtime_ns
    stored = pq.read_table(path)
    if (stored.schema.metadata or {}).get(_VERSION_KEY) != VERSION.encode():
        return 0
    names = stored.column("name").to_pylist()
    _known.update(zip(names, stored.column("pinyin").to_pylist(), strict=True))
    return len(names)


def save(path: Path, names: pa.Array) -> None:
    """Store the readings of exactly these names at `path` (the registry's names: a name gone from the
    registry leaves the file at the next save), replacing the file in one step."""
    unique = pc.unique(names).drop_null()
    table = pa.table({"name": unique, "pinyin": readings(unique)})
    table = table.replace_schema_metadata({_VERSION_KEY: VERSION.encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    pq.write_table(table, partial)
    partial.replace(path)  # a reader never sees a half-written file
    _loaded[path] = path.stat().st_mtime_ns


def forget() -> None:
    """Drop the readings this process remembers (what a new process starts with)."""
    _known.clear()
    _loaded.clear()
