"""SXM numbers: lane moves, cross-lane reductions and transposes of vectors."""

from __future__ import annotations

import numpy as np

REDUCE = {"sum": np.sum, "max": np.max, "min": np.min}


def move(src: np.ndarray, merge: np.ndarray | None, src_lane: int, dst_lane: int, width: int) -> np.ndarray:
    """merge (or zeros) with lanes [dst_lane, dst_lane + width) taken from src lanes [src_lane, ...)."""
    out = np.zeros_like(src) if merge is None else merge.copy()
    out[:, dst_lane : dst_lane + width] = src[:, src_lane : src_lane + width]
    return out


def reduce(op: str, src: np.ndarray, first: int, width: int, lanes: int) -> np.ndarray:
    """Every lane below `lanes` holds OP over src lanes [first, first + width); the rest are zero."""
    out = np.zeros_like(src)
    out[:, :lanes] = REDUCE[op](src[:, first : first + width], axis=1, keepdims=True)
    return out


def transpose(src: np.ndarray, width: int) -> np.ndarray:
    """Output vector j < width holds lane j of every input vector (zero past the inputs)."""
    out = np.zeros((width, src.shape[1]), dtype=src.dtype)
    out[:, : src.shape[0]] = src[:, :width].T
    return out
