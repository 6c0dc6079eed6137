"""The audit chain's anchor file: an append-only list of chain heads outside the database (ADR 0022).

One JSON line per anchor: the head's sequence number (`seq`), its MAC, the time, the last row still in the
old unkeyed format (`legacy_until`), the previous line's MAC (`prev`) and the line's own MAC (`line_mac`,
HMAC-SHA256 with the audit key). Lines chain like the rows do, so a line edited, removed or reordered in
the file is found as well. Whoever can only write to the database cannot touch this file. Django-free.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

GENESIS = "0" * 64


class AnchorFileError(ValueError):
    """The anchor file was changed: the message names the line."""


@dataclass(frozen=True)
class Anchor:
    seq: int
    mac: str
    at: str
    legacy_until: int
    line_mac: str


def _mac(key: bytes, body: dict[str, object]) -> str:
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def _parse(key: bytes, number: int, line: str, prev: Anchor | None) -> Anchor:
    try:
        body = json.loads(line)
        line_mac = body.pop("line_mac")
        anchor = Anchor(
            int(body["seq"]), str(body["mac"]), str(body["at"]), int(body["legacy_until"]), line_mac
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise AnchorFileError(f"锚点文件第 {number} 行无法读取（被修改）") from None
    if not hmac.compare_digest(_mac(key, body), line_mac):
        raise AnchorFileError(f"锚点文件第 {number} 行的 MAC 不符（被修改，或审计密钥不对）")
    if body.get("prev") != (prev.line_mac if prev else GENESIS):
        raise AnchorFileError(f"锚点文件第 {number} 行之前的锚点被删除或调换")
    if prev and anchor.seq < prev.seq:
        raise AnchorFileError(f"锚点文件第 {number} 行的序号小于上一行（被调换）")
    return anchor


def _lines(handle: IO[str], key: bytes) -> list[Anchor]:
    anchors: list[Anchor] = []
    for number, line in enumerate(handle, 1):
        if line.strip():
            anchors.append(_parse(key, number, line, anchors[-1] if anchors else None))
    return anchors


def read(path: Path, key: bytes) -> list[Anchor]:
    """Every anchor, oldest first, each line's MAC and link checked (raises AnchorFileError)."""
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return _lines(handle, key)


@contextmanager
def _locked(path: Path) -> Iterator[IO[str]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # the clock and an operator may anchor at the same moment
        yield handle


def append(path: Path, key: bytes, *, seq: int, mac: str, at: str, legacy_until: int) -> Anchor:
    """Add one anchor line (fsynced) after checking the lines already there."""
    with _locked(path) as handle:
        anchors = _lines(handle, key)
        if anchors and seq < anchors[-1].seq:
            raise AnchorFileError(f"链头 #{seq} 早于上一个锚点 #{anchors[-1].seq}：审计日志尾部被截断")
        body: dict[str, object] = {
            "seq": seq,
            "mac": mac,
            "at": at,
            "legacy_until": legacy_until,
            "prev": anchors[-1].line_mac if anchors else GENESIS,
        }
        line_mac = _mac(key, body)
        handle.write(json.dumps(body | {"line_mac": line_mac}, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return Anchor(seq, mac, at, legacy_until, line_mac)
