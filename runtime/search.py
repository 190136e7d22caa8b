"""Vectorised lookups the checks share: the earliest violation, and keys in a sorted table."""

from __future__ import annotations

import numpy as np

from runtime.errors import BrokenPromise


class Violation(Exception):
    """The earliest broken promise one check finds on some chips, with `key`, which orders it among
    that check's violations on every chip as one check of all chips at once would (smallest first):
    a caller checking chip by chip reports the smallest."""

    def __init__(self, check: str, key: tuple[int, ...], error: BrokenPromise) -> None:
        super().__init__(str(error))
        self.check, self.key, self.error = check, key, error


def earliest(mask: np.ndarray, cycles: np.ndarray) -> int | None:
    """Index of the violation (True in mask) with the smallest cycle, None if there is none."""
    bad = np.flatnonzero(mask)
    return None if bad.size == 0 else int(bad[np.argmin(cycles[bad])])


def find(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position, found) of every key in sorted_keys; position is meaningless where not found."""
    if sorted_keys.size == 0:
        return np.zeros(keys.shape, dtype=np.int64), np.zeros(keys.shape, dtype=bool)
    position = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return position, sorted_keys[position] == keys


def member(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    return find(sorted_keys, keys)[1]


def pair_members(sorted_keys: np.ndarray, row: int, n_ops: int) -> list[int]:
    """The ops paired with `row` in sorted `row * n_ops + op` keys."""
    lo, hi = np.searchsorted(sorted_keys, [row * n_ops, (row + 1) * n_ops])
    return [int(key % n_ops) for key in sorted_keys[lo:hi]]
