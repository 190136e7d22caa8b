"""`normalise` rule: a KV cache the host writes transposed, so it is stored densely.

A decode step takes the cache as a graph input [..., L, d] (L positions of a head's d
elements) and appends the new token's row along L (ONNX Concat on the second-to-last axis),
returning the result as the next step's cache. A row of d = 128 elements takes a whole
320-lane vector: stored as given, the cache takes 2.5x its size, and Llama-2-7B does not
fit on 64 chips. Held transposed, [..., d, L], each of its d rows is L elements across
ceil(L / 320) full vectors; the token's row becomes a column appended along the last axis,
and attention's K^T is the transposed cache itself (its transpose to [..., d, L] cancels).
V's reader gets the cache transposed back, one layer at a time while it is read.

The rewrite changes the function's interface, not its meaning: the argument's type becomes
the transposed one and `tops.host_perm` on the argument (and on a result that returns the
appended cache, now transposed too) tells the host to write (read) the tensor transposed by
that permutation (numpy `transpose(tensor, perm)`); chip.input and chip.output carry it on
to the runtime (dialects/chip.py).
"""

from __future__ import annotations

from xdsl.dialects.builtin import DenseArrayBase, FunctionType, i64
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import BlockArgument
from xdsl.pattern_rewriter import PatternRewriter, RewritePattern, op_type_rewrite_pattern

from dialects import tops
from passes.host_io import HOST_PERM, host_perm, with_entry

def last_two_swapped(rank: int) -> tuple[int, ...]:
    return (*range(rank - 2), rank - 1, rank - 2)


class TransposedKVCache(RewritePattern):
    """concat(cache, row) along the second-to-last axis, the cache a function argument read by
    nothing else with at least as many rows as elements in a row (so that, whatever the lanes,
    the transposed rows take no more vectors): the cache becomes the argument transposed (last
    two axes), the row is appended as a column, and readers get the result transposed back
    (returns: the transposed result itself, with its `tops.host_perm`)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.ConcatOp, rewriter: PatternRewriter, /):
        past = op.inputs[0]
        shape = tops.shape_of(past)
        rank = len(shape)
        if (len(op.inputs) != 2 or rank < 2 or op.axis.value.data != rank - 2 or shape[-2] < shape[-1]
                or not isinstance(past, BlockArgument) or len(list(past.uses)) != 1):
            return
        func = past.block.parent_op()
        if not isinstance(func, FuncOp) or host_perm(func.arg_attrs, past.index) is not None:
            return
        swap = last_two_swapped(rank)
        stored = rewriter.replace_value_with_new_type(past, tops.tensor(tops.permuted(shape, swap)))
        row = tops.TransposeOp(op.inputs[1], swap)
        appended = tops.ConcatOp([stored, row.result], rank - 1)
        back = tops.TransposeOp(appended.result, swap)
        for new in (row, appended, back):
            new.location = op.location
        rewriter.replace(op, [row, appended, back], [back.result])
        perm = DenseArrayBase.from_list(i64, list(swap))
        func.arg_attrs = with_entry(func.arg_attrs, len(func.args), stored.index, HOST_PERM, perm)
        ret = func.body.block.last_op
        assert isinstance(ret, ReturnOp)
        for index, value in enumerate(ret.operands):
            if value is back.result:
                func.res_attrs = with_entry(func.res_attrs, len(ret.operands), index, HOST_PERM, perm)
        back.result.replace_uses_with_if(appended.result, lambda use: use.operation is ret)
        rewriter.handle_operation_modification(ret)
        func.function_type = FunctionType.from_lists([a.type for a in func.args], [v.type for v in ret.operands])


class CancelledSwap(RewritePattern):
    """A swap of the last two axes of such a swap is the value itself (K^T of the turned cache)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tops.TransposeOp, rewriter: PatternRewriter, /):
        inner = op.input.owner
        swap = last_two_swapped(len(op.permutation()))
        if isinstance(inner, tops.TransposeOp) and op.permutation() == inner.permutation() == swap:
            rewriter.replace(op, [], [inner.input])


KV_CACHE_PATTERNS: list[RewritePattern] = [TransposedKVCache(), CancelledSwap()]
