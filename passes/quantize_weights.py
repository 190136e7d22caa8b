"""`quantize-weights`: weight-only int8 quantization of the matmul weights (compiler/quantize.py).

Runs on normalised `tops` IR, before `partition`. Every `tops.matmul` whose B is a constant
[K, N] matrix becomes matmul(A, q) with q an i8 constant, followed by `tops.mul` with the
per-column scales as a constant of the result's shape (the normal form of an elementwise
operand, which `partition` splits with the columns), marked a row broadcast so that it is
stored as one row. The MXM multiplies int8 weights exactly
and accumulates in f32. An absent weight (a shape-only model) becomes an absent i8 constant
and an absent scale. A constant several matmuls read is quantized once; other readers keep
the f32 original.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, NameLoc, i8
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from compiler.errors import LockstepError
from compiler.quantize import quantize_per_channel
from dialects import tops
from passes.partition import main_function


def _weight_of(op: tops.MatmulOp) -> tops.ConstantOp | None:
    """B, if it is an f32 constant [K, N] matrix."""
    owner = op.rhs.owner
    if isinstance(owner, tops.ConstantOp) and not owner.is_int8 and len(tops.shape_of(op.rhs)) == 2:
        return owner
    return None


def _int8_weight(weight: tops.ConstantOp) -> tuple[tops.ConstantOp, np.ndarray | None]:
    """The i8 constant of a weight and its scales (None when the weight is absent)."""
    values = weight.array()
    if values is None:
        q = tops.ConstantOp.absent(tops.shape_of(weight.result), i8)
        scale = None
    else:
        codes, scale = quantize_per_channel(values)
        q = tops.ConstantOp.from_int8(codes)
    q.location = weight.location
    return q, scale


def _rescale(op: tops.MatmulOp, scale: np.ndarray | None) -> None:
    """The matmul's users read result * scales (per column, absent with the weight) instead."""
    shape = op.out_shape()
    if scale is None:
        scales = tops.ConstantOp.absent(shape)
    else:
        scales = tops.ConstantOp.from_array(np.broadcast_to(scale, shape))
    scales.mark_row_broadcast()  # the same scales in every row: stored once (`place`)
    scaled = tops.MulOp(op.result, scales.result)
    for new in (scales, scaled):
        new.location = op.location
    Rewriter.insert_op([scales, scaled], InsertPoint.after(op))
    op.result.replace_uses_with_if(scaled.result, lambda use: use.operation is not scaled)


def quantize_weights(module: ModuleOp) -> None:
    func = main_function(module)
    quantized: dict[tops.ConstantOp, tuple[tops.ConstantOp, np.ndarray | None]] = {}
    for op in list(func.body.block.ops):
        if isinstance(op, tops.GemmOp):  # its B would escape quantization
            raise LockstepError(f"quantize-weights: 'tops.gemm' at {op.location}; run normalise first")
        if not isinstance(op, tops.MatmulOp) or (weight := _weight_of(op)) is None:
            continue
        if weight not in quantized:
            quantized[weight] = _int8_weight(weight)
            Rewriter.insert_op(quantized[weight][0], InsertPoint.after(weight))
        q, scale = quantized[weight]
        op.operands[1] = q.result
        _rescale(op, scale)
    for weight in quantized:
        if not weight.result.uses:
            Rewriter.erase_op(weight)


def quantized_nodes(module: ModuleOp) -> list[str]:
    """The ONNX node of every matmul with int8 weights, in program order."""
    return [
        op.location.desc.data if isinstance(op.location, NameLoc) else ""
        for op in main_function(module).body.block.ops
        if isinstance(op, tops.MatmulOp) and op.rhs.type.get_element_type() == i8  # type: ignore[union-attr]
    ]


@dataclass(frozen=True)
class QuantizeWeightsPass(ModulePass):
    name = "quantize-weights"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        quantize_weights(op)
