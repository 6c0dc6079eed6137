"""Vectorised GB 11643 resident IDs; same rule as fangpin.lib.idcard (tests check they agree)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fangpin.lib.idcard import CHECK_CHARS, WEIGHTS

_CHECK = pa.array(list(CHECK_CHARS))


def first17(
    area: npt.NDArray[Any], birth_days: npt.NDArray[Any], sequence: npt.NDArray[Any], male: npt.NDArray[Any]
) -> npt.NDArray[np.int64]:
    """area (6 digits) · YYYYMMDD · 3-digit sequence whose last digit is odd for men, as one int64."""
    days = birth_days.astype("datetime64[D]")
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    months = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    mday = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    ymd = years * 10_000 + months * 100 + mday
    seq = sequence.astype(np.int64) * 2 + male.astype(np.int64)
    out: npt.NDArray[np.int64] = area.astype(np.int64) * 10**11 + ymd * 1000 + seq
    return out


def check_index(f17: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Index into CHECK_CHARS of each number's check character (ISO 7064 MOD 11-2)."""
    total = np.zeros(len(f17), np.int64)
    rest = f17.copy()
    for w in reversed(WEIGHTS):  # last digit first
        total += (rest % 10) * w
        rest //= 10
    out: npt.NDArray[np.int64] = total % 11
    return out


def to_strings(f17: npt.NDArray[np.int64]) -> pa.StringArray:
    digits = pc.cast(pa.array(f17), pa.string())
    result: pa.StringArray = pc.binary_join_element_wise(digits, _CHECK.take(pa.array(check_index(f17))), "")
    return result


def sequences(
    area: npt.NDArray[Any], birth_days: npt.NDArray[Any], male: npt.NDArray[Any]
) -> npt.NDArray[np.int64]:
    """A distinct sequence 0..499 for each person sharing area, birth date and sex (rank in the group)."""
    key = (area.astype(np.int64) * 100_000 + birth_days.astype(np.int64)) * 2 + male.astype(np.int64)
    order = np.argsort(key, kind="stable")
    sk = key[order]
    starts = np.r_[0, np.flatnonzero(sk[1:] != sk[:-1]) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(sk)]))
    rank = np.arange(len(sk)) - group_start
    seq = np.empty(len(key), np.int64)
    seq[order] = rank
    if len(seq) and seq.max() > 499:
        raise ValueError("more than 500 people share an area, birth date and sex")
    return seq
