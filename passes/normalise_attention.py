"""`normalise` rule for grouped-query attention: a matmul by repeated KV heads becomes a
grouped matmul by the KV heads themselves.

Llama's `repeat_kv` widens K and V [..., KV, L, d] to the query heads [..., H, L, d]
(H = KV * G, query head h reads KV head h // G) by reshape to [..., KV, 1, L, d],
broadcast to [..., KV, G, L, d] and reshape to [..., H, L, d]; K is then transposed to
[..., H, d, L]. Materialised, that repeat is G copies of the KV cache (320 MB a layer for
Llama-2-70B at context 4096). Since the G query heads of one KV head are adjacent, A
[..., H, M, K] viewed as [..., KV, G * M, K] (row-major, so a pure reshape) holds each KV
group's rows together, and one matmul batched on the KV axis by the un-repeated B gives
[..., KV, G * M, N], which viewed as [..., H, M, N] is the original result exactly. The
repeat ops are left to dead-code removal.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.ir import SSAValue
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)

from dialects import tops
from passes.decompose import Emitter


def _is_last_two_swap(perm: Sequence[int]) -> bool:
    rank = len(perm)
    return rank >= 2 and list(perm) == [*range(rank - 2), rank - 1, rank - 2]


def _repeated_source(value: SSAValue) -> tuple[SSAValue, int] | None:
    """The un-repeated KV tensor x [..., KV, L, d] and the group G when `value` is
    reshape(broadcast(reshape(x))) inserting a unit axis after the heads axis (third
    from last), widening it to G and merging it into the heads axis; else None."""
    merge = value.owner
    if not isinstance(merge, tops.ReshapeOp) or not isinstance(wide := merge.input.owner, tops.BroadcastOp):
        return None
    if not isinstance(split := wide.input.owner, tops.ReshapeOp):
        return None
    x = split.input
    source, unit, widened, merged = (tops.shape_of(v) for v in (x, split.result, wide.result, merge.result))
    rank = len(source)
    if rank < 3 or len(unit) != rank + 1 or len(widened) != rank + 1:
        return None
    heads = rank - 3
    group = widened[heads + 1]
    expected_unit = [*source[: heads + 1], 1, *source[heads + 1 :]]
    expected_wide = [*source[: heads + 1], group, *source[heads + 1 :]]
    expected_merged = [*source[:heads], source[heads] * group, *source[heads + 1 :]]
    if list(unit) != expected_unit or list(widened) != expected_wide or list(merged) != expected_merged:
        return None
    return (x, group) if group > 1 else None


def _uniform(value: SSAValue) -> float | None:
    """The one number a constant holds in every element, else None (absent: unknown)."""
    owner = value.owner
    if not isinstance(owner, tops.ConstantOp) or (array := owner.array()) is None or not array.size:
        return None
    first = array.flat[0]
    return float(first) if np.all(array == first) else None


def _unrepeated_operand(b: SSAValue, e: Emitter) -> tuple[SSAValue, int] | None:
    """B without its head repeat (a transpose of the last two axes, or a product by one number
    as torch's attention export scales K, moving onto the KV tensor, emitted into `e`) and the
    group G; None when B is not a repeat."""
    if isinstance(scale := b.owner, tops.MulOp):
        for repeated, factor in ((scale.lhs, scale.rhs), (scale.rhs, scale.lhs)):
            if (number := _uniform(factor)) is not None and (found := _unrepeated_operand(repeated, e)):
                x, group = found
                constant = tops.ConstantOp.from_array(np.full(tops.shape_of(x), number, dtype=np.float32))
                constant.mark_row_broadcast()
                return e(tops.MulOp(x, e(constant))), group
        return None
    if isinstance(transpose := b.owner, tops.TransposeOp) and _is_last_two_swap(transpose.permutation()):
        found = _repeated_source(transpose.input)
        if found is None:
            return None
        x, group = found
        return e(tops.TransposeOp(x, list(transpose.permutation()))), group
    return _repeated_source(b)


class GroupedQueryMatmul(RewritePattern):
    """A [..., H, M, K] @ repeat(B) [..., H, K, N] as reshape([..., KV, G * M, K] @ B)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.MatmulOp, rewriter: PatternRewriter, /):
        a_shape, b_shape = tops.shape_of(op.lhs), tops.shape_of(op.rhs)
        if len(a_shape) < 3 or len(a_shape) != len(b_shape) or a_shape[:-2] != b_shape[:-2]:
            return  # only the batched normal form, whose heads axis is A's too
        e = Emitter()
        found = _unrepeated_operand(op.rhs, e)
        if found is None:
            return
        b, group = found
        *outer, heads, rows, depth = a_shape
        grouped = e(tops.ReshapeOp(op.lhs, [*outer, heads // group, group * rows, depth]))
        product = e(tops.MatmulOp(grouped, b))
        y = e(tops.ReshapeOp(product, list(op.out_shape())))
        e.replace(rewriter, op, y)


ATTENTION_PATTERNS: list[RewritePattern] = [GroupedQueryMatmul()]
