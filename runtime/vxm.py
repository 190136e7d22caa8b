"""VXM numbers: elementwise vector ops, lanes at and above `lanes` zeroed.

Booleans are fp32 0.0 / 1.0: predicates write them, logic ops read any non-zero
(or NaN) value as true, like a C cast to bool.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import erf as _erf

_ONE = np.float32(1)
_ZERO = np.float32(0)


def _flag(mask: np.ndarray) -> np.ndarray:
    return mask.astype(np.float32)


def _truth(x: np.ndarray) -> np.ndarray:
    return x != 0  # NaN != 0 is true


UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "copy": lambda x: x.copy(),
    "neg": np.negative,
    "relu": lambda x: np.maximum(x, np.float32(0)),
    "sigmoid": lambda x: _ONE / (_ONE + np.exp(-x)),
    "tanh": np.tanh,
    "exp": np.exp,
    "recip": lambda x: _ONE / x,
    "abs": np.abs,
    "trunc": np.trunc,  # integers ride as exact fp32 values: integer Div, float -> int Cast
    "round": np.rint,  # ties to even: integer Pow
    "log": np.log,
    "sqrt": np.sqrt,
    "erf": lambda x: _erf(x).astype(np.float32),
    "cos": np.cos,
    "sin": np.sin,
    "isnan": lambda x: _flag(np.isnan(x)),
    "not": lambda x: _flag(~_truth(x)),
    "to_bool": lambda x: _flag(_truth(x)),
}
BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "max": np.maximum,
    "min": np.minimum,
    "pow": np.power,
    "cmp_eq": lambda x, y: _flag(x == y),
    "cmp_lt": lambda x, y: _flag(x < y),
    "cmp_gt": lambda x, y: _flag(x > y),
    "cmp_le": lambda x, y: _flag(x <= y),
    "cmp_ge": lambda x, y: _flag(x >= y),
    "and": lambda x, y: _flag(_truth(x) & _truth(y)),
    "or": lambda x, y: _flag(_truth(x) | _truth(y)),
    "xor": lambda x, y: _flag(_truth(x) ^ _truth(y)),
    "keep_if": lambda c, x: np.where(_truth(c), x, _ZERO),
    "keep_unless": lambda c, x: np.where(_truth(c), _ZERO, x),
}


def evaluate(op: str, lhs: np.ndarray, rhs: np.ndarray | None, lanes: int) -> np.ndarray:
    """A new array (never a view of lhs); callers silence numpy's warnings for padding lanes."""
    out = UNARY[op](lhs) if rhs is None else BINARY[op](lhs, rhs)
    out = np.asarray(out, dtype=np.float32)
    out[:, lanes:] = 0
    return out
