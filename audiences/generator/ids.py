"""Vectorised helpers: seeded random streams, hashed ids and Arrow string/decimal builders.

Everything here works on whole numpy arrays; no Python loop touches individual rows.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def stream(seed: int, *keys: int | str) -> np.random.Generator:
    """An independent, reproducible random stream for (seed, *keys)."""
    entropy = [int(seed) & 0xFFFFFFFF, (int(seed) >> 32) & 0xFFFFFFFF]
    for key in keys:
        if isinstance(key, str):
            entropy.append(int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little"))
        else:
            entropy.extend([int(key) & 0xFFFFFFFF, (int(key) >> 32) & 0xFFFFFFFF])
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def salt(seed: int, *keys: int | str) -> int:
    """A 64-bit salt for hashed ids, stable for (seed, *keys)."""
    text = "|".join([str(seed), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def mix64(values: np.ndarray, salt_value: int) -> np.ndarray:
    """splitmix64 finaliser of (values + salt): a bijection, so distinct inputs stay distinct."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(salt_value & 0xFFFFFFFFFFFFFFFF)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z & _MASK64


def _hex_digits(values: np.ndarray, width: int) -> np.ndarray:
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64) * np.uint64(4)
    digits = (values[:, None] >> shifts[None, :]) & np.uint64(0xF)
    return _HEX[digits.astype(np.intp)]


def _strings_from_matrix(matrix: np.ndarray) -> pa.StringArray:
    n, width = matrix.shape
    offsets = (np.arange(n + 1, dtype=np.int64) * width).astype(np.int32)
    data = np.ascontiguousarray(matrix, dtype=np.uint8).ravel()
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def hex_ids(prefix: str, values: np.ndarray, salt_value: int, width: int = 16) -> pa.StringArray:
    """prefix + `width` hex digits of the hashed values (width <= 16)."""
    hashed = mix64(np.asarray(values, dtype=np.uint64), salt_value)
    pre = np.frombuffer(prefix.encode(), dtype=np.uint8)
    matrix = np.empty((len(hashed), len(pre) + width), dtype=np.uint8)
    matrix[:, : len(pre)] = pre
    matrix[:, len(pre) :] = _hex_digits(hashed, width)
    return _strings_from_matrix(matrix)


def uuid_ids(values: np.ndarray, salt_value: int) -> pa.StringArray:
    """RFC-4122-shaped (version 4) ids derived from hashed values."""
    values = np.asarray(values, dtype=np.uint64)
    hi = mix64(values, salt_value)
    lo = mix64(values, salt_value ^ 0x5DEECE66D1234567)
    digits = np.concatenate([_hex_digits(hi, 16), _hex_digits(lo, 16)], axis=1)
    digits[:, 12] = ord("4")
    digits[:, 16] = _HEX[8 + (digits[:, 16] % 4)]
    matrix = np.empty((len(values), 36), dtype=np.uint8)
    matrix[:, 0:8] = digits[:, 0:8]
    matrix[:, 9:13] = digits[:, 8:12]
    matrix[:, 14:18] = digits[:, 12:16]
    matrix[:, 19:23] = digits[:, 16:20]
    matrix[:, 24:36] = digits[:, 20:32]
    matrix[:, [8, 13, 18, 23]] = ord("-")
    return _strings_from_matrix(matrix)


def lookup(dictionary: pa.Array, indices: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Dictionary-encoded column: dictionary[indices], null where `valid` is False."""
    idx = np.asarray(indices, dtype=np.int32)
    if valid is not None:
        idx = np.where(valid, idx, 0).astype(np.int32)
        indices = pa.array(idx, mask=~np.asarray(valid, dtype=bool))
        return pa.DictionaryArray.from_arrays(indices, dictionary)
    return pa.DictionaryArray.from_arrays(pa.array(idx), dictionary)


def timestamps(micros: np.ndarray) -> pa.TimestampArray:
    """Naive UTC TIMESTAMP column from int64 microseconds since the epoch."""
    return pa.array(np.asarray(micros, dtype=np.int64).view("datetime64[us]"))


def nullable_timestamps(micros: np.ndarray, valid: np.ndarray) -> pa.TimestampArray:
    return pa.array(
        np.asarray(micros, dtype=np.int64).view("datetime64[us]"), mask=~np.asarray(valid)
    )


def decimals(cents: np.ndarray) -> pa.Array:
    """DECIMAL(18,2) column from integer cents (exact, no float rounding)."""
    cents = np.asarray(cents, dtype=np.int64)
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(cents), [None, pa.py_buffer(words)])


def group_starts(keys: np.ndarray) -> np.ndarray:
    """Boolean array: True where a new run of equal sorted keys starts."""
    starts = np.ones(len(keys), dtype=bool)
    if len(keys) > 1:
        starts[1:] = keys[1:] != keys[:-1]
    return starts


def rank_in_group(keys: np.ndarray) -> np.ndarray:
    """0-based position of each row inside its run of equal (sorted) keys."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = group_starts(keys)
    start_pos = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    return np.arange(n) - start_pos


def repeat_index(counts: np.ndarray) -> np.ndarray:
    """[0,0,1,2,2,2,...]: the parent index of each child row for per-parent counts."""
    return np.repeat(np.arange(len(counts), dtype=np.int64), np.asarray(counts, dtype=np.int64))
