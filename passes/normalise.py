"""`normalise`: reduce imported `tops` IR to the normalised forms of docs/architecture.md.

After it: no `tops.gemm`; elementwise binary ops have operands of the result's
shape (broadcasts explicit); `tops.matmul` has A `[..., M, K]` and B `[K, N]` or
B `[..., K, N]` with A's batch dimensions (one matmul per batch slice);
softmax is on the last axis (non-negative); ops whose operands are all
constants are folded, so a broadcast of a constant never survives (a constant that is the
same in every row is marked `tops.row_broadcast`, see FoldConstants). Gelu,
LayerNormalization and RMSNormalization become reductions and elementwise ops;
reduce_mean becomes reduce_sum times 1/n; every reduction is over the last axis
or over axis 1 of a rank-4 [outer, reduced, rows, width] view, with keepdims. A reshape
that only regroups the leading axes a transpose leaves in place moves before it (exported
attention's K^T becomes the 4-D transpose partitioning splits by heads). Each rule is
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
from passes.normalise_attention import ATTENTION_PATTERNS
from passes.normalise_conv import TRANSPOSE_PATTERNS, WINDOW_PATTERNS
from passes.normalise_kv_cache import KV_CACHE_PATTERNS
from dialects import tops
from passes.decompose import Emitter


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
    """An op whose operands are all constants becomes a constant (absent if any operand is)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if not isinstance(op, tops.TopsOp | tops.SameTypeOp):
            return
        constants = [_constant_of(v) for v in op.operands]
        if not all(constants):
            return
        arrays = [c.array() for c in constants]
        if any(a is None for a in arrays):
            folded = tops.ConstantOp.absent(tops.shape_of(op.results[0]))
        else:
            folded = tops.ConstantOp.from_array(evaluate_op(op, arrays))
        if _keeps_rows_equal(op, constants):
            folded.mark_row_broadcast()
        _replace(rewriter, op, [folded], folded.result)


def _same_in_every_row(constant: tops.ConstantOp) -> bool:
    """Broadcast along the leading axes, the constant is the same in every row."""
    return constant.is_row_broadcast or int(np.prod(tops.shape_of(constant.result)[:-1])) == 1


def _keeps_rows_equal(op: Operation, constants: Sequence[tops.ConstantOp]) -> bool:
    """The op folds operands that are the same in every row into a result that is too: a
    broadcast (a bias or a LayerNorm gamma over an activation's shape), an elementwise op, or
    a reshape or transpose that keeps the last axis. The mark survives absent values, which is
    why it is derived from the op and not from the numbers."""
    if not all(_same_in_every_row(c) for c in constants):
        return False
    if isinstance(op, tops.BroadcastOp | tops.BinaryOp | tops.WhereOp | tops.UnaryOp):
        return True
    if isinstance(op, tops.ReshapeOp):
        before, after = tops.shape_of(op.input), tops.shape_of(op.result)
        return bool(before) and bool(after) and before[-1] == after[-1]
    if isinstance(op, tops.TransposeOp):
        perm = op.permutation()
        return bool(perm) and perm[-1] == len(perm) - 1
    return False


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


class WhereBroadcast(RewritePattern):
    """Operands of where are broadcast to the result shape first."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.WhereOp, rewriter: PatternRewriter, /):
        shape = op.out_shape()
        operands = list(op.operands)
        if all(tops.shape_of(v) == shape for v in operands):
            return
        new_ops: list[Operation] = []
        for i, v in enumerate(operands):
            if tops.shape_of(v) != shape:
                new_ops.append(tops.BroadcastOp(v, shape))
                operands[i] = new_ops[-1].results[0]
        new = tops.WhereOp(*operands)
        _replace(rewriter, op, [*new_ops, new], new.result)


class SquarePow(RewritePattern):
    """x ** 2 with a constant exponent is x * x: a cheap VXM op instead of a transcendental one."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.PowOp, rewriter: PatternRewriter, /):
        exponent = _constant_of(op.rhs)
        if exponent is None or exponent.is_absent or tops.shape_of(op.lhs) != op.out_shape() or not (exponent.array() == 2).all():
            return
        new = tops.MulOp(op.lhs, op.lhs)
        _replace(rewriter, op, [new], new.result)


class GeluDecompose(RewritePattern):
    """Gelu as elementwise ops: h = x / 2; y = h + h * erf(x / sqrt(2)) (approximate none),
    or h + h * tanh(x * (c + c * 0.044715 * x^2)) with c = sqrt(2 / pi) (approximate tanh)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.GeluOp, rewriter: PatternRewriter, /):
        e, x, shape = Emitter(), op.input, tops.shape_of(op.result)
        if op.approximate.data == "tanh":
            c = float(np.sqrt(2 / np.pi))
            square = e(tops.MulOp(x, x))
            inner = e(tops.AddOp(e(tops.MulOp(square, e.full(shape, c * 0.044715))), e.full(shape, c)))
            curve = e(tops.TanhOp(e(tops.MulOp(x, inner))))
        else:
            curve = e(tops.ErfOp(e(tops.MulOp(x, e.full(shape, float(1 / np.sqrt(2)))))))
        half = e(tops.MulOp(x, e.full(shape, 0.5)))
        y = e(tops.AddOp(half, e(tops.MulOp(half, curve))))
        _replace(rewriter, op, e.ops, y)


class MeanToSum(RewritePattern):
    """reduce_mean = reduce_sum * (1 / n)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.ReduceMeanOp, rewriter: PatternRewriter, /):
        e, source = Emitter(), tops.shape_of(op.input)
        count = int(np.prod([source[a] for a in op.reduced_axes()], dtype=int))
        total = e(tops.ReduceSumOp(op.input, op.reduced_axes(), op.keepdims()))
        y = e(tops.MulOp(total, e.full(op.out_shape(), 1 / count)))
        _replace(rewriter, op, e.ops, y)


def is_normal_reduction(op: tops.ReduceOp) -> bool:
    """The two reductions lower-to-chip implements: over the last axis (SXM lane reductions),
    or over axis 1 of [outer, reduced, rows, width] (VXM ops across whole rows); keepdims."""
    rank, axes = len(tops.shape_of(op.input)), op.reduced_axes()
    return op.keepdims() and (axes == (rank - 1,) or (rank == 4 and axes == (1,)))


class ReductionForms(RewritePattern):
    """Any sum/max/min reduction as transpose/reshape around one of the two normal forms:
    with the last axis reduced, all reduced axes move last and merge ([rest, reduced]);
    otherwise the reduced axes are made adjacent (moving them before the kept trailing
    axes) and the tensor is viewed as [outer, reduced, rows, width] (reshapes that keep
    the last axis cost nothing)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if not isinstance(op, tops.ReduceSumOp | tops.ReduceMaxOp | tops.ReduceMinOp):
            return
        e, x, source = Emitter(), op.input, tops.shape_of(op.input)
        rank, axes = len(source), list(op.reduced_axes())
        size = lambda dims: int(np.prod([source[d] for d in dims], dtype=int))  # noqa: E731
        if size(axes) == 1:  # reducing axes of size 1 only changes the shape
            y = e(tops.ReshapeOp(x, list(op.out_shape())))
            _replace(rewriter, op, e.ops, y)
            return
        if is_normal_reduction(op):
            return
        if rank - 1 in axes:
            kept = [d for d in range(rank) if d not in axes]
            perm = kept + axes
            if perm != list(range(rank)):
                x = e(tops.TransposeOp(x, perm))
            x = e(tops.ReshapeOp(x, [size(kept), size(axes)]))
            x = e(type(op)(x, [1], True))
        else:
            if axes != list(range(axes[0], axes[-1] + 1)):
                before = [d for d in range(axes[-1]) if d not in axes]
                perm = before + axes + list(range(axes[-1] + 1, rank))
                x = e(tops.TransposeOp(x, perm))
                outer, rows = size(before), size(range(axes[-1] + 1, rank - 1))
            else:
                outer, rows = size(range(axes[0])), size(range(axes[-1] + 1, rank - 1))
            x = e(tops.ReshapeOp(x, [outer, size(axes), rows, source[-1]]))
            x = e(type(op)(x, [1], True))
        y = e(tops.ReshapeOp(x, list(op.out_shape())))
        _replace(rewriter, op, e.ops, y)


class NormDecompose(RewritePattern):
    """LayerNormalization: c = x - mean(x); y = c * (1 / sqrt(mean(c * c) + eps)) * scale + bias;
    RMSNormalization: y = x * (1 / sqrt(mean(x * x) + eps)) * scale. Means over [axis, rank),
    kept dimensions; broadcasts are made explicit by ExplicitBroadcast."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if not isinstance(op, tops.NormOp):
            return
        e, x = Emitter(), op.input
        axes = list(range(op.norm_axis(), len(op.out_shape())))
        if isinstance(op, tops.LayerNormOp):
            x = e(tops.SubOp(x, e(tops.ReduceMeanOp(x, axes, True))))
        spread = e(tops.ReduceMeanOp(e(tops.MulOp(x, x)), axes, True))
        shifted = e(tops.AddOp(spread, e.full(tops.shape_of(spread), op.epsilon.value.data)))
        inverse = e(tops.ReciprocalOp(e(tops.SqrtOp(shifted))))
        y = e(tops.MulOp(e(tops.MulOp(x, inverse)), op.scale))
        if op.bias is not None:
            y = e(tops.AddOp(y, op.bias))
        _replace(rewriter, op, e.ops, y)


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
    if (constant := _constant_of(b)) is not None and not constant.is_absent:
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
    to the result's batch dimensions instead. Any other batched B (attention's Q @ K^T and
    P @ V) stays batched: A and B are both broadcast to the result's batch dimensions, and
    the lowering runs one matmul per batch slice."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.MatmulOp, rewriter: PatternRewriter, /):
        a_shape, b_shape = tops.shape_of(op.lhs), tops.shape_of(op.rhs)
        if len(b_shape) <= 2 or len(a_shape) < 2:
            return
        batch = list(op.out_shape()[:-2])
        found = _matrix_of(op.rhs)
        if found is None:
            if list(a_shape[:-2]) == batch and list(b_shape[:-2]) == batch:
                return  # already the batched normal form
            new_ops = []
            a, b = op.lhs, op.rhs
            if list(a_shape[:-2]) != batch:
                new_ops.append(tops.BroadcastOp(a, [*batch, *a_shape[-2:]]))
                a = new_ops[-1].results[0]
            if list(b_shape[:-2]) != batch:
                new_ops.append(tops.BroadcastOp(b, [*batch, *b_shape[-2:]]))
                b = new_ops[-1].results[0]
            matmul = tops.MatmulOp(a, b)
            _replace(rewriter, op, [*new_ops, matmul], matmul.result)
            return
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


class SelectNoOps(RewritePattern):
    """A data-movement op that gives back its operand unchanged goes away: a concat of one
    operand, a slice or gather that takes every element in order."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if not isinstance(op, tops.SelectOp) or len(op.operands) != 1:
            return
        source = op.operands[0]
        if tops.shape_of(source) != op.out_shape():
            return
        size = int(np.prod(op.out_shape(), dtype=int))
        if isinstance(op, tops.ConcatOp) or (
            (op.apply([np.arange(size).reshape(op.out_shape())]).reshape(-1) == np.arange(size)).all()
        ):
            rewriter.replace(op, [], [source])


class ReshapeBeforeTranspose(RewritePattern):
    """A reshape of a transpose that only regroups the leading axes the transpose leaves in
    place is done first: reshape(transpose(y)) = transpose(reshape(y)). PyTorch's exported
    scaled_dot_product_attention transposes K as [B*H, S, d] -> [B*H, d, S] between reshapes
    from and to [B, H, ...]; after this (and the reshapes merged) it is the [B, H, S, d] ->
    [B, H, d, S] transpose of a hand-written K^T, whose heads axis partitioning can split."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.ReshapeOp, rewriter: PatternRewriter, /):
        source = op.input.owner
        if not isinstance(source, tops.TransposeOp) or len(list(source.result.uses)) != 1:
            return  # moving a shared transpose would compute it twice
        perm = source.permutation()
        kept = next((i for i, p in enumerate(perm) if p != i), len(perm))  # leading axes in place
        moved = len(perm) - kept
        transposed, after = tops.shape_of(source.result), tops.shape_of(op.result)
        if moved == 0 or len(after) < moved or list(after[len(after) - moved :]) != list(transposed[kept:]):
            return
        lead = len(after) - moved
        reshape = tops.ReshapeOp(source.input, [*after[:lead], *tops.shape_of(source.input)[kept:]])
        transpose = tops.TransposeOp(reshape.result, [*range(lead), *(lead + p - kept for p in perm[kept:])])
        _replace(rewriter, op, [reshape, transpose], transpose.result)


def is_normal_matmul(op: tops.MatmulOp) -> bool:
    """A [..., M, K] with B [K, N], or A [..., M, K] with B [..., K, N] of the same batch dims."""
    a, b = tops.shape_of(op.lhs), tops.shape_of(op.rhs)
    return len(a) >= 2 and (len(b) == 2 or (len(b) == len(a) and a[:-2] == b[:-2]))


def _describe(op: Operation) -> str:
    where = f" at '{op.location.desc.data}'" if isinstance(op.location, NameLoc) else ""
    return f"{op.name}{where}"


def _check_normalised(module: ModuleOp) -> None:
    """What no rule could normalise is a model lockstep cannot run."""
    for op in module.walk():
        if isinstance(op, tops.ReduceOp) and not is_normal_reduction(op):
            raise LockstepError(f"internal: {_describe(op)} was not brought to a normal reduction form")
        if isinstance(op, tops.GeluOp | tops.NormOp):
            raise LockstepError(f"internal: {_describe(op)} was not decomposed")
        if isinstance(op, tops.MatmulOp) and not is_normal_matmul(op):
            raise LockstepError(
                f"internal: {_describe(op)} with B of shape {tops.fmt(tops.shape_of(op.rhs))}"
                " was not brought to a normal matmul form"
            )


class NormalisePass(ModulePass):
    name = "normalise"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        rules: list[RewritePattern] = [
            FoldConstants(),
            RemoveNoOps(),
            *TRANSPOSE_PATTERNS,
            GemmToMatmul(),
            MatmulVectorOperands(),
            MatmulMatrixB(),
            ExplicitBroadcast(),
            WhereBroadcast(),
            SquarePow(),
            GeluDecompose(),
            NormDecompose(),
            MeanToSum(),
            ReductionForms(),
            SoftmaxLastAxis(),
            SelectNoOps(),
            ReshapeBeforeTranspose(),
            *WINDOW_PATTERNS,
            *ATTENTION_PATTERNS,
        ]
        PatternRewriteWalker(GreedyRewritePatternApplier(rules), post_walk_func=region_dce).rewrite_module(op)
        # Once attention has its normal form (grouped-query matmuls found through K's transpose),
        # the KV cache may turn round; the transposes that then meet cancel.
        PatternRewriteWalker(GreedyRewritePatternApplier([*KV_CACHE_PATTERNS, *rules]),
                             post_walk_func=region_dce).rewrite_module(op)
        _check_normalised(op)
