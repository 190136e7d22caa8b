"""`normalise` rules for convolution, pooling, BatchNormalization and LRN (docs/conv.md).

Activations stay NCHW between ONNX ops; each of these ops works on an NHWC view
(one transpose in, one out; `SinkTransposes` cancels the pairs between ops), except a
pool that is cheaper on the NCHW tensor itself:
- Conv: im2col of the NHWC input ([N, OH, OW, KH*KW*C], columns ordered kh, kw, c)
  times the weight as a [KH*KW*C, M] matrix (block diagonal for groups), + bias.
  A 1x1 convolution with unit strides and no padding needs no im2col.
- BatchNormalization: folded into the weights and bias of the Conv it follows (when
  that Conv has constant parameters and no other user), else x * a + b per channel.
- MaxPool / AveragePool (any number of spatial axes): im2col viewed as [N*OH*OW, KH*KW, 1, C]
  (NHWC) or [N*C*OH, KH*KW, 1, OW] (NCHW) and reduced over axis 1 (a VXM chain across rows);
  padding becomes the lowest float for max (a constant added to the windows; none after a
  relu, whose zero padding never wins), and an
  average multiplies by 1 / (taps counted) per position. ceil_mode is extra end padding
  that no average counts.
- LRN: x * (bias + alpha/size * (x^2 @ band))^-beta, the channel window sum being a
  matmul of the NHWC squares by a constant 0/1 band matrix [C, C].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.ir import Operation, SSAValue
from xdsl.pattern_rewriter import PatternRewriter, RewritePattern, op_type_rewrite_pattern

from compiler.errors import LockstepError
from compiler.windows import avg_divisor, conv_weight_matrix, im2col_source, lrn_band
from dialects import tops
from passes.decompose import Emitter

TO_NHWC, TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)
LOWEST = float(np.finfo(np.float32).min)
"""What max pooling's padding holds: never larger than a real (finite) element."""


def _use_count(value: SSAValue) -> int:
    return sum(1 for _ in value.uses)


def _array(value: SSAValue | None) -> np.ndarray | None:
    return value.owner.array() if value is not None and isinstance(value.owner, tops.ConstantOp) else None


def _bn_params(bn: tops.BatchNormOp) -> list[np.ndarray] | None:
    arrays = [_array(v) for v in (bn.scale, bn.bias, bn.mean, bn.var)]
    return None if any(a is None for a in arrays) else arrays  # type: ignore[return-value]


def _is_constant(value: SSAValue | None) -> bool:
    """A constant, its values known or absent (a shape-only model)."""
    return value is None or isinstance(value.owner, tops.ConstantOp)


def _folds_into(bn: tops.BatchNormOp) -> tops.ConvOp | None:
    """The Conv a BatchNormalization can be folded into: its only user, all parameters constant."""
    conv = bn.input.owner
    if not isinstance(conv, tops.ConvOp) or _use_count(conv.result) != 1:
        return None
    if not all(_is_constant(v) for v in (bn.scale, bn.bias, bn.mean, bn.var, conv.weight, conv.bias)):
        return None
    return conv


class FoldBatchNormIntoConv(RewritePattern):
    """conv then batch_norm = one conv with weights scaled by a = scale / sqrt(var + eps) per
    output channel and bias (bias - mean) * a + beta."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.BatchNormOp, rewriter: PatternRewriter, /):
        conv = _folds_into(op)
        if conv is None:
            return
        e = Emitter()
        params, weight = _bn_params(op), _array(conv.weight)
        if params is None or weight is None or (conv.bias is not None and _array(conv.bias) is None):
            # some values are absent (shape-only): so are the folded ones, of the same shapes
            w = e(tops.ConstantOp.absent(tops.shape_of(conv.weight)))
            b = e(tops.ConstantOp.absent(tops.shape_of(op.scale)))
        else:
            scale, beta, mean, var = (p.astype(np.float64) for p in params)
            a = scale / np.sqrt(var + op.epsilon.value.data)
            old_bias = _array(conv.bias) if conv.bias is not None else np.zeros(len(a))
            w = e.const(weight.astype(np.float64) * a[:, None, None, None])
            b = e.const((old_bias - mean) * a + beta)
        fused = tops.ConvOp(conv.input, w, b, conv.ints("strides"), conv.ints("pads"), conv.ints("dilations"),
                            conv.group.value.data)
        y = e(fused)
        e.replace(rewriter, op, y)
        fused.location = conv.location
        rewriter.erase(conv)


class BatchNormDecompose(RewritePattern):
    """x * a + (bias - mean * a), a = scale / sqrt(var + eps), per channel ([C, 1, ..., 1]);
    with constant parameters a and the shift fold to constants."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.BatchNormOp, rewriter: PatternRewriter, /):
        if _folds_into(op) is not None:
            return
        e, shape = Emitter(), tops.shape_of(op.input)
        channels = [shape[1]] + [1] * (len(shape) - 2)
        eps = e.const(np.full(shape[1], op.epsilon.value.data))
        a = e(tops.DivOp(op.scale, e(tops.SqrtOp(e(tops.AddOp(op.var, eps))))))
        shift = e(tops.SubOp(op.bias, e(tops.MulOp(op.mean, a))))
        scaled = e(tops.MulOp(op.input, e(tops.ReshapeOp(a, channels))))
        y = e(tops.AddOp(scaled, e(tops.ReshapeOp(shift, channels))))
        e.replace(rewriter, op, y)


class ConvDecompose(RewritePattern):
    """transpose to NHWC, im2col, matmul by the weight matrix, + bias, transpose to NCHW."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.ConvOp, rewriter: PatternRewriter, /):
        if any(isinstance(u.operation, tops.BatchNormOp) and _folds_into(u.operation) for u in op.result.uses):
            return  # FoldBatchNormIntoConv first
        e, group = Emitter(), op.group.value.data
        m, cg, kh, kw = tops.shape_of(op.weight)
        kernel, strides, pads, dilations = (kh, kw), op.ints("strides"), op.ints("pads"), op.ints("dilations")
        weight = _array(op.weight)
        if weight is not None:
            matrix = e.const(conv_weight_matrix(weight, group))
        elif group == 1:
            matrix = e(tops.ReshapeOp(e(tops.TransposeOp(op.weight, (2, 3, 1, 0))), [kh * kw * cg, m]))
        else:
            raise LockstepError(f"Conv at {op.location}: a grouped convolution needs constant weights")
        x = e(tops.TransposeOp(op.input, TO_NHWC))
        if kernel != (1, 1) or tuple(strides) != (1, 1) or any(pads):
            x = e(tops.Im2colOp(x, kernel, strides, pads, dilations))
        y = e(tops.MatmulOp(x, matrix))
        if op.bias is not None:
            y = e(tops.AddOp(y, op.bias))
        e.replace(rewriter, op, e(tops.TransposeOp(y, TO_NCHW)))


def _pools_channels_last(op: tops.PoolOp) -> bool:
    """Whether a pool runs on the NHWC tensor: when that exists already (the input is one
    transposed to NCHW, a conv's output: no transposes are added) or when its windows have
    no more rows than those of the NCHW tensor (OW <= C; e.g. a [1, 512, 7, 7] input)."""
    source = op.input.owner
    if isinstance(source, tops.TransposeOp) and _to_nchw(source.permutation()):
        return True
    return tops.shape_of(op.input)[1] >= op.out_shape()[-1]


class PoolDecompose(RewritePattern):
    """Max / average pooling with k spatial axes as a reduction over axis 1 of im2col windows
    [rows, KH*KW, 1, width]: windows of the NHWC tensor (rows N*OH*OW, width C) or of the
    NCHW one viewed as [N*C, H, W] (rows N*C*OH, width OW: W along the lanes, no transposes);
    `_pools_channels_last` chooses."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if not isinstance(op, tops.PoolOp):
            return
        e, shape, out = Emitter(), tops.shape_of(op.input), op.out_shape()
        kernel, strides, pads, dilations = op.ints("kernel"), op.ints("strides"), op.ints("pads"), op.ints("dilations")
        k, spatial = len(kernel), shape[2:]
        # ceil_mode: pad the end so that every window of the result is whole
        ends = [pads[k + i] + max(0, (o - 1) * s + d * (kk - 1) + 1 - (size + pads[i] + pads[k + i]))
                for i, (o, s, d, kk, size) in enumerate(zip(out[2:], strides, dilations, kernel, spatial))]
        padded = (*pads[:k], *ends)
        channels_last = _pools_channels_last(op)
        if channels_last:
            forward, back = _channels_last(len(shape))
            x = e(tops.TransposeOp(op.input, forward))
            pooled = (shape[0], *out[2:], shape[1])
        else:
            x = e(tops.ReshapeOp(op.input, [shape[0] * shape[1], *spatial]))
            pooled = (shape[0] * shape[1], *out[2:])
        windows = [int(np.prod(pooled[:-1])), int(np.prod(kernel)), 1, pooled[-1]]
        cols = e(tops.Im2colOp(x, kernel, strides, padded, dilations, windows))
        if isinstance(op, tops.MaxPoolOp):
            padding = im2col_source(tops.shape_of(x), kernel, strides, padded, dilations) < 0
            if padding.any() and not _non_negative(op.input):
                cols = e(tops.AddOp(cols, e.const(np.where(padding, LOWEST, 0).reshape(windows))))
            y = e(tops.ReduceMaxOp(cols, [1], True))
        else:
            divisor = avg_divisor(spatial, kernel, strides, pads, dilations, out[2:],
                                  bool(op.count_include_pad.value.data))
            per_position = (1 / divisor)[None, ..., None] if channels_last else (1 / divisor)[None]
            scale = np.broadcast_to(per_position, pooled).reshape(windows[0], 1, 1, windows[3])
            y = e(tops.MulOp(e(tops.ReduceSumOp(cols, [1], True)), e.const(scale)))
        if channels_last:
            y = e(tops.TransposeOp(e(tops.ReshapeOp(y, list(pooled))), back))
        else:
            y = e(tops.ReshapeOp(y, list(out)))
        e.replace(rewriter, op, y)


def _non_negative(value: SSAValue) -> bool:
    """Whether every element is >= 0 (or NaN): a relu's result, maybe transposed or reshaped. Max
    pooling of such a tensor needs no padding mask: im2col's zero padding never exceeds the real
    elements of a window (ResNet's stem: a 34 MiB mask and a VXM add over it saved)."""
    owner = value.owner
    while isinstance(owner, tops.TransposeOp | tops.ReshapeOp):
        owner = owner.input.owner
    return isinstance(owner, tops.ReluOp)


def _channels_last(rank: int) -> tuple[list[int], list[int]]:
    """The permutations NCHW -> NHWC and back for a rank-`rank` tensor (channels to the end)."""
    perm = [0, *range(2, rank), 1]
    return perm, np.argsort(perm).tolist()


class LRNDecompose(RewritePattern):
    """x * (bias + alpha/size * window sum of x^2)^-beta; the window sum over channels is the
    channels-last squares times a [C, C] band matrix."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.LRNOp, rewriter: PatternRewriter, /):
        e, x, shape = Emitter(), op.input, tops.shape_of(op.input)
        size = op.size.value.data
        alpha, beta, bias = (getattr(op, k).value.data for k in ("alpha", "beta", "bias"))
        square = e(tops.MulOp(x, x))
        forward, back = _channels_last(len(shape))
        moved = e(tops.TransposeOp(square, forward)) if len(shape) > 2 else square
        total = e(tops.MatmulOp(moved, e.const(lrn_band(shape[1], size))))
        total = e(tops.TransposeOp(total, back)) if len(shape) > 2 else total
        base = e(tops.AddOp(e(tops.MulOp(total, e.const(np.full(shape, alpha / size)))), e.const(np.full(shape, bias))))
        factor = e(tops.PowOp(base, e.const(np.full(shape, -beta))))
        e.replace(rewriter, op, e(tops.MulOp(x, factor)))


def _compose(first: Sequence[int], second: Sequence[int]) -> list[int]:
    """transpose(transpose(x, first), second) = transpose(x, result)."""
    return [first[p] for p in second]


def _to_nchw(perm: Sequence[int]) -> bool:
    """NHWC -> NCHW with 2 or more spatial axes (rank 3 is left alone: transformers use it)."""
    return len(perm) >= 4 and list(perm) == _channels_last(len(perm))[1]


def _layout_change(perm: Sequence[int]) -> bool:
    """The transposes these rules make: NCHW <-> NHWC (the rules below touch only those, so
    models without convolutions normalise as before)."""
    return len(perm) >= 4 and list(perm) in _channels_last(len(perm))


class MergeTransposes(RewritePattern):
    """Two transposes in a row are one (an identity one is then removed)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.TransposeOp, rewriter: PatternRewriter, /):
        inner = op.input.owner
        if not isinstance(inner, tops.TransposeOp) or not (
                _layout_change(inner.permutation()) or _layout_change(op.permutation())):
            return
        new = tops.TransposeOp(inner.input, _compose(inner.permutation(), op.permutation()))
        new.location = op.location
        rewriter.replace(op, [new], [new.result])


class SinkTransposes(RewritePattern):
    """An elementwise op on transposed operands (all by the same permutation, or constants)
    runs before the transpose instead: transpose(f(a, b)). Transposes then meet and cancel
    between NHWC-internal ops (conv -> batch norm -> relu -> conv needs none in between)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if not isinstance(op, tops.UnaryOp | tops.BinaryOp):
            return
        perm = None
        for v in op.operands:
            owner = v.owner
            if isinstance(owner, tops.TransposeOp) and _use_count(owner.result) == 1:
                if perm not in (None, owner.permutation()):
                    return
                perm = owner.permutation()
            elif not isinstance(owner, tops.ConstantOp) or tops.shape_of(v) != op.out_shape():
                return
        if perm is None or not _to_nchw(perm):
            return
        inverse = np.argsort(perm).tolist()
        new_ops: list[Operation] = []
        operands = []
        for v in op.operands:
            if isinstance(v.owner, tops.TransposeOp):
                operands.append(v.owner.input)
            else:
                new_ops.append(v.owner.transposed(inverse))
                operands.append(new_ops[-1].result)
        inner = type(op)(*operands)
        outer = tops.TransposeOp(inner.results[0], perm)
        for new in (*new_ops, inner, outer):
            new.location = op.location
        rewriter.replace(op, [*new_ops, inner, outer], [outer.result])


class TransposeOfUnitAxes(RewritePattern):
    """A layout-change transpose that keeps the order of the axes longer than 1 is a reshape."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.TransposeOp, rewriter: PatternRewriter, /):
        dims = tops.shape_of(op.input)
        moved = [p for p in op.permutation() if dims[p] != 1]
        if not _layout_change(op.permutation()) or moved != sorted(moved):
            return
        new = tops.ReshapeOp(op.input, list(op.out_shape()))
        new.location = op.location
        rewriter.replace(op, [new], [new.result])


class ReduceThroughTranspose(RewritePattern):
    """A kept-dims reduction of an NHWC tensor transposed to NCHW (GlobalAveragePool after a
    conv) reduces the NHWC tensor, and the small result is transposed instead."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if not isinstance(op, tops.ReduceOp) or not op.keepdims():
            return
        source = op.input.owner
        if not isinstance(source, tops.TransposeOp) or not _to_nchw(source.permutation()):
            return
        if _use_count(source.result) != 1:
            return
        perm = source.permutation()
        inner = type(op)(source.input, sorted(perm[a] for a in op.reduced_axes()), True)
        outer = tops.TransposeOp(inner.result, perm)
        for new in (inner, outer):
            new.location = op.location
        rewriter.replace(op, [inner, outer], [outer.result])


class MergeReshapes(RewritePattern):
    """A reshape of a reshape is one reshape (at most one set of lane moves)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.ReshapeOp, rewriter: PatternRewriter, /):
        inner = op.input.owner
        if not isinstance(inner, tops.ReshapeOp):
            return
        new = tops.ReshapeOp(inner.input, list(op.out_shape()))
        new.location = op.location
        rewriter.replace(op, [new], [new.result])


TRANSPOSE_PATTERNS: list[RewritePattern] = [
    MergeTransposes(),
    MergeReshapes(),
    TransposeOfUnitAxes(),
    SinkTransposes(),
    ReduceThroughTranspose(),
]
"""Registered in passes/normalise.py before the reduction rules (they must see the transpose)."""


WINDOW_PATTERNS: list[RewritePattern] = [
    FoldBatchNormIntoConv(),
    BatchNormDecompose(),
    ConvDecompose(),
    PoolDecompose(),
    LRNDecompose(),
]
"""Registered in passes/normalise.py."""
