"""`normalise`: reduce imported `tops` IR to the normalised forms of docs/architecture.md.

After it: no `tops.gemm`; elementwise binary ops have operands of the result's
shape (broadcasts explicit); `tops.matmul` has A `[..., M, K]` and B `[K, N]`;
softmax is on the last axis (non-negative); ops whose operands are all
constants are folded, so a broadcast of a constant never survives. Each rule is
a small RewritePattern; new ops keep the location of the op they replace.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, NameLoc
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.transforms.dead_code_elimination import region_dce

from compiler.errors import LockstepError
from compiler.tops_eval import evaluate_op
from dialects import tops


def _replace(rewriter: PatternRewriter, op: Operation, new_ops: Sequence[Operation], result: SSAValue) -> None:
    """Replace `op` by `new_ops` (computing `result`), which inherit its location."""
    for new in new_ops:
        new.location = op.location
    rewriter.replace(op, new_ops, [result])


def _constant_of(value: SSAValue) -> tops.ConstantOp | None:
    return value.owner if isinstance(value.owner, tops.ConstantOp) else None


def _full(shape: Sequence[int], fill: float) -> tops.ConstantOp:
    return tops.ConstantOp.from_array(np.full(shape, fill, dtype=np.float32))


class FoldConstants(RewritePattern):
    """An op whose operands are all constants becomes a constant."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if not isinstance(op, tops.TopsOp | tops.SameTypeOp):
            return
        constants = [_constant_of(v) for v in op.operands]
        if not all(constants):
            return
        folded = tops.ConstantOp.from_array(evaluate_op(op, [c.array() for c in constants]))
        _replace(rewriter, op, [folded], folded.result)


class RemoveNoOps(RewritePattern):
    """Reshapes and broadcasts to the operand's own type and identity transposes go away."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if isinstance(op, tops.ReshapeOp | tops.BroadcastOp):
            noop = op.input.type == op.result.type
        elif isinstance(op, tops.TransposeOp):
            noop = op.permutation() == tuple(range(len(op.permutation())))
        else:
            return
        if noop:
            rewriter.replace(op, [], [op.input])


class GemmToMatmul(RewritePattern):
    """alpha * op(A) @ op(B) + beta * C as transposes, a matmul, a scaling and an add."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.GemmOp, rewriter: PatternRewriter, /):
        new_ops: list[Operation] = []

        def add(new: Operation) -> SSAValue:
            new_ops.append(new)
            return new.results[0]

        a, b = op.a, op.b
        if op.trans_a.value.data:
            a = add(tops.TransposeOp(a, [1, 0]))
        if op.trans_b.value.data:
            b = add(tops.TransposeOp(b, [1, 0]))
        result = add(tops.MatmulOp(a, b))
        alpha, beta = op.alpha.value.data, op.beta.value.data
        if alpha != 1.0:
            result = add(tops.MulOp(result, add(_full(op.out_shape(), alpha))))
        if op.c is not None and beta != 0.0:
            c = op.c
            if beta != 1.0:
                c = add(tops.MulOp(c, add(_full(tops.shape_of(c), beta))))
            result = add(tops.AddOp(result, c))
        _replace(rewriter, op, new_ops, result)


class ExplicitBroadcast(RewritePattern):
    """Operands of elementwise binary ops are broadcast to the result shape first."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if not isinstance(op, tops.BinaryOp):
            return
        shape = op.out_shape()
        operands = [op.lhs, op.rhs]
        broadcasts = [tops.BroadcastOp(v, shape) for v in operands if tops.shape_of(v) != shape]
        if not broadcasts:
            return
        made = iter(broadcasts)
        lhs, rhs = (v if tops.shape_of(v) == shape else next(made).result for v in operands)
        new = type(op)(lhs, rhs)
        _replace(rewriter, op, [*broadcasts, new], new.result)


class MatmulVectorOperands(RewritePattern):
    """A 1-D matmul operand becomes a matrix ([K] -> [1, K] or [K, 1]) and the result is reshaped back."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.MatmulOp, rewriter: PatternRewriter, /):
        a, b = op.lhs, op.rhs
        if len(tops.shape_of(a)) > 1 and len(tops.shape_of(b)) > 1:
            return
        new_ops: list[Operation] = []
        if len(tops.shape_of(a)) == 1:
            new_ops.append(tops.ReshapeOp(a, [1, *tops.shape_of(a)]))
            a = new_ops[-1].results[0]
        if len(tops.shape_of(b)) == 1:
            new_ops.append(tops.ReshapeOp(b, [*tops.shape_of(b), 1]))
            b = new_ops[-1].results[0]
        matmul = tops.MatmulOp(a, b)
        back = tops.ReshapeOp(matmul.result, op.out_shape())
        _replace(rewriter, op, [*new_ops, matmul, back], back.result)


def _matrix_of(b: SSAValue) -> tuple[list[Operation], SSAValue] | None:
    """B `[..., K, N]` as one `[K, N]` matrix when every batch slice is the same one."""
    shape = tops.shape_of(b)
    matrix = list(shape[-2:])
    if all(d == 1 for d in shape[:-2]):
        reshape = tops.ReshapeOp(b, matrix)
        return [reshape], reshape.result
    if (constant := _constant_of(b)) is not None:
        slices = constant.array().reshape(-1, *matrix)
        if (slices == slices[0]).all():
            folded = tops.ConstantOp.from_array(slices[0])
            return [folded], folded.result
    if isinstance(source := b.owner, tops.BroadcastOp):
        src = tops.shape_of(source.input)
        if all(d == 1 for d in src[:-2]):
            tail = tops.ReshapeOp(source.input, src[-2:])
            widened = tops.BroadcastOp(tail.result, matrix)
            return [tail, widened], widened.result
    return None


class MatmulMatrixB(RewritePattern):
    """A batched B that is the same matrix in every batch becomes that matrix; A is broadcast
    to the result's batch dimensions instead."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.MatmulOp, rewriter: PatternRewriter, /):
        a_shape = tops.shape_of(op.lhs)
        if len(tops.shape_of(op.rhs)) <= 2 or len(a_shape) < 2:
            return
        found = _matrix_of(op.rhs)
        if found is None:
            return  # reported by _check_normalised
        new_ops, b = found
        a = op.lhs
        a_target = [*op.out_shape()[:-2], *a_shape[-2:]]
        if list(a_shape) != a_target:
            new_ops.append(tops.BroadcastOp(a, a_target))
            a = new_ops[-1].results[0]
        matmul = tops.MatmulOp(a, b)
        _replace(rewriter, op, [*new_ops, matmul], matmul.result)


class SoftmaxLastAxis(RewritePattern):
    """Softmax over another axis is a transpose moving it last, softmax, and the inverse transpose."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.SoftmaxOp, rewriter: PatternRewriter, /):
        rank = len(tops.shape_of(op.result))
        axis = tops.normalise_axis(op.axis.value.data, rank)
        assert axis is not None  # the verifier checked the range
        if op.axis.value.data == rank - 1:
            return
        if axis == rank - 1:
            new = tops.SoftmaxOp(op.input, axis)
            _replace(rewriter, op, [new], new.result)
            return
        perm = [d for d in range(rank) if d != axis] + [axis]
        forward = tops.TransposeOp(op.input, perm)
        softmax = tops.SoftmaxOp(forward.result, rank - 1)
        back = tops.TransposeOp(softmax.result, np.argsort(perm).tolist())
        _replace(rewriter, op, [forward, softmax, back], back.result)


def _describe(op: Operation) -> str:
    where = f" at '{op.location.desc.data}'" if isinstance(op.location, NameLoc) else ""
    return f"{op.name}{where}"


def _check_normalised(module: ModuleOp) -> None:
    """What no rule could normalise is a model lockstep cannot run."""
    for op in module.walk():
        if isinstance(op, tops.MatmulOp) and len(tops.shape_of(op.rhs)) != 2:
            raise LockstepError(
                f"{_describe(op)} multiplies by a batched B of shape {tops.fmt(tops.shape_of(op.rhs))};"
                " only a [K, N] matrix (or a constant or broadcast one) is supported"
            )


class NormalisePass(ModulePass):
    name = "normalise"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        patterns = GreedyRewritePatternApplier(
            [
                FoldConstants(),
                RemoveNoOps(),
                GemmToMatmul(),
                MatmulVectorOperands(),
                MatmulMatrixB(),
                ExplicitBroadcast(),
                SoftmaxLastAxis(),
            ]
        )
        PatternRewriteWalker(patterns, post_walk_func=region_dce).rewrite_module(op)
        _check_normalised(op)
