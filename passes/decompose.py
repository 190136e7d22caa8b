"""Shared by normalise's decomposition patterns: collect the ops that replace one op."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.ir import Operation, SSAValue
from xdsl.pattern_rewriter import PatternRewriter

from dialects import tops


class Emitter:
    """Collects new ops (in order) for a decomposition; `e(op)` adds one and gives its result."""

    def __init__(self) -> None:
        self.ops: list[Operation] = []

    def __call__(self, new: Operation) -> SSAValue:
        self.ops.append(new)
        return new.results[0]

    def const(self, array: np.ndarray) -> SSAValue:
        return self(tops.ConstantOp.from_array(np.asarray(array, dtype=np.float32)))

    def full(self, shape: Sequence[int], fill: float) -> SSAValue:
        """A full-shape splat (normalised elementwise ops take operands of one shape)."""
        return self.const(np.full(shape, fill, dtype=np.float32))

    def replace(self, rewriter: PatternRewriter, op: Operation, result: SSAValue) -> None:
        """Replace `op` by the collected ops, which keep its location (the ONNX node)."""
        for new in self.ops:
            new.location = op.location
        rewriter.replace(op, self.ops, [result])
