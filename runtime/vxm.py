"""VXM numbers: elementwise vector ops, lanes at and above `lanes` zeroed."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_ONE = np.float32(1)

UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "copy": lambda x: x.copy(),
    "neg": np.negative,
    "relu": lambda x: np.maximum(x, np.float32(0)),
    "sigmoid": lambda x: _ONE / (_ONE + np.exp(-x)),
    "tanh": np.tanh,
    "exp": np.exp,
    "recip": lambda x: _ONE / x,
}
BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "max": np.maximum,
}


def evaluate(op: str, lhs: np.ndarray, rhs: np.ndarray | None, lanes: int) -> np.ndarray:
    """A new array (never a view of lhs); callers silence numpy's warnings for padding lanes."""
    out = UNARY[op](lhs) if rhs is None else BINARY[op](lhs, rhs)
    out[:, lanes:] = 0
    return out
