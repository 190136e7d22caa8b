"""`partition` strategy `tensor`: Megatron-style tensor parallelism over a group of chips.

One walk over the function in program order tracks every value's sharding (replicated, or a
`Shard` of passes/partition_layout.py: which slices of one axis each chip holds) and rewrites
each op to run on its operands' local pieces, its types becoming the local shapes:

- a matmul by a constant weight on a whole input splits the weight by columns (its output
  sharded on the last axis); a projection cut into attention heads is split so that every
  chip gets whole heads, q, k and v alike (passes/partition_heads.py); a convolution is
  split by spatial rows, by output channels or not at all (passes/partition_conv.py);
- a matmul whose input is sharded on the contracted axis splits the weight by rows and an
  all-reduce sums the partial products (a row held by several chips counts once);
- a batched matmul with both operands sharded on one batch axis (attention heads, or KV
  groups), or an input sharded on a row axis times a whole B, is local; so is a grouped-query
  matmul whose chips hold query heads inside one KV group: each multiplies its heads' rows by
  its group's K or V (`in_group`, passes/partition_heads.py);
- elementwise ops, reshapes and transposes that keep each chip's slices whole, softmax and
  reductions over other axes, broadcasts, and data movement that takes the sharded axis in
  order or slices it alike on every chip run on the pieces; im2col runs on row tiles with
  halo rows from the neighbours;
- anything else gets whole operands first: `part.all_gather`, then a gather that restores
  the global order when the sharding is permuted or replicated.

Where a sharded value meets a whole one, the whole one is cut locally, with no collective: a
constant is rearranged at compile time and `part.split`, a broadcast is re-issued with the
local shape, any other computed value is `part.split` on every chip (a local copy, after a
gather when the sharding is not plain blocks). Each matmul records its choice in
`part.split_kind`. A graph input only ever cut and a sharded value only gathered to be
returned are then left in slices the host writes and reads (passes/host_io.py, run by
`partition` after every strategy).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import StringAttr, TensorType
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Operation, SSAValue
from xdsl.rewriter import InsertPoint, Rewriter

from dialects import tops
from dialects.part import (
    CHIPS,
    AllGatherOp,
    AllReduceOp,
    SplitOp,
    TransferOp,
    chips_attr,
)
from passes.partition_conv import (
    CHANNELS,
    SPATIAL,
    Tiling,
    conv_choice,
    run_on_tiles,
    spatial_label,
    spatial_rows_axis,
    spatial_tiling,
)
from passes.partition_heads import (
    attention_projections,
    grouping,
    kv_heads_of,
    only_user,
    projection_shard,
)
from passes.partition_layout import (
    Shard,
    arranged,
    local_shape,
    reshaped,
    restore_order,
    sliced,
)

SPLIT_KIND = "part.split_kind"
"""On a matmul under `tensor`: "column" (B split by columns; "column by heads" when each chip
gets whole heads of a permuted or replicated layout), "row" (by rows, then an all-reduce; "row
in each KV head's N chips" for a K or V projection, `TensorParallel.kv_rows`),
"heads" (both operands sharded on a batch axis), "query heads in group" (a grouped-query
matmul on each chip's query heads of one KV group), "rows of A" (A sharded on a row axis, B
whole), "spatial rows[, halo A+B]" or "output channels" (a convolution) or "replicated";
under `pipeline`: "stage K"."""


def retype(value: SSAValue, shape: list[int]) -> SSAValue:
    """The value with its local shape (its uses follow)."""
    new = TensorType(value.type.get_element_type(), shape)  # type: ignore[union-attr]
    return value if value.type == new else Rewriter.replace_value_with_new_type(value, new)


def rearranged(source: tops.ConstantOp, shard: Shard, count_once: bool) -> tops.ConstantOp:
    """A copy of the constant whose plain blocks are the chips' slices (its element type,
    absence of values and row-broadcast mark kept: reordering rows or columns keeps rows equal,
    zeroing the rows an earlier chip holds does not)."""
    data = source.array()
    shape = list(tops.shape_of(source.result))
    shape[shard.axis] = len(shard.holds) * shard.local
    copy = source.with_values(shape, None if data is None else arranged(data, shard, count_once))
    if source.is_row_broadcast and not count_once:
        copy.mark_row_broadcast()
    return copy


def _stacked_blocks(source: tops.ConstantOp, rows: Shard, columns: Shard) -> tops.ConstantOp:
    """A constant whose plain row blocks are each chip's rows `rows.holds[i]` of its columns
    `columns.holds[i]` (element type and absence of values kept)."""
    shape = [len(rows.holds) * rows.local, columns.local]
    if (data := source.array()) is None:
        return source.with_values(shape, None)
    return source.with_values(shape, np.concatenate([data[np.ix_(r, c)] for r, c in zip(rows.holds, columns.holds)]))


def column_label(shard: Shard) -> str:
    if shard.is_blocks():
        return "column"
    copies = shard.copies()
    return "column by heads" + (f", {copies} chips per head block" if copies > 1 else "")


@dataclass
class TensorParallel:
    """Walks the function once, tracking each value's sharding (absent = replicated)."""

    chips: tuple[int, ...]
    lanes: int | None
    """The machine's vector width (None: unknown, see conv_choice)."""
    sharding: dict[SSAValue, Shard] = field(default_factory=dict)
    gathered: dict[SSAValue, SSAValue] = field(default_factory=dict)
    tilings: dict[SSAValue, Tiling] = field(default_factory=dict)
    """im2col results built from row tiles (their convs are labelled spatial)."""
    superseded: set[Operation] = field(default_factory=set)
    """Constants replaced by rearranged copies (erased at the end if nothing else reads them)."""
    query_groups: dict[tops.MatmulOp, int] = field(default_factory=dict)
    """The query projections of grouped-query attention and their KV group size."""
    kv_projections: set[tops.MatmulOp] = field(default_factory=set)
    """Its K and V projections (passes/partition_heads.py)."""
    in_group: dict[SSAValue, tuple[Shard, Shard]] = field(default_factory=dict)
    """Grouped query rows [.., KV, G*S, ..] of which each chip holds only its query heads' rows
    [.., 1, its heads * S, ..] (no sharding of one axis describes that): the query heads'
    sharding of the ungrouped tensor [.., H, S, ..] they come from and return to, and the KV
    heads the chips need (passes/partition_heads.py, `kv_heads_of`)."""

    @property
    def parts(self) -> int:
        return len(self.chips)

    def layout(self, value: SSAValue) -> Shard | None:
        return self.sharding.get(value)

    def global_shape(self, value: SSAValue) -> list[int]:
        shape = list(tops.shape_of(value))
        if (shard := self.layout(value)) is not None:
            shape[shard.axis] = shard.size
        return shape

    def insert(self, op: Operation, before: Operation) -> Operation:
        op.attributes[CHIPS] = chips_attr(self.chips)
        op.location = before.location
        Rewriter.insert_op(op, InsertPoint.before(before))
        return op

    def shard_result(self, op: Operation, shard: Shard) -> SSAValue:
        """Retype `op`'s result (its type still global) to the local shape of `shard`."""
        result = retype(op.results[0], local_shape(tops.shape_of(op.results[0]), shard))
        self.sharding[result] = shard
        return result

    # ------------------------------------------------------------ moving between layouts
    def gather(self, value: SSAValue, user: Operation) -> SSAValue:
        """The whole value on every chip: an all-gather, then the global order restored."""
        shard = self.layout(value)
        if shard is None:
            return value
        if value in self.gathered:
            return self.gathered[value]
        stacked = list(tops.shape_of(value))
        stacked[shard.axis] *= self.parts
        stacked_type = TensorType(value.type.element_type, stacked)  # type: ignore[union-attr]
        gather = self.insert(AllGatherOp([value], shard.axis, self.chips, [stacked_type]), user)
        if isinstance(value.owner, Operation):  # named after the producer, not the (maybe unnamed) user
            gather.location = value.owner.location
        whole = gather.results[0]
        if (positions := restore_order(shard, shard.size)) is not None:
            whole = self.insert(tops.GatherOp(whole, shard.axis, positions), user).results[0]
            whole.owner.location = gather.location  # type: ignore[union-attr]
        self.gathered[value] = whole
        return whole

    def split_constant(self, value: SSAValue, shard: Shard, user: Operation, count_once: bool = False) -> SSAValue:
        """Chip i's slices `shard.holds[i]` of a constant (rearranged first unless `part.split`
        deals them as they are; a partial sum counted once needs plain blocks)."""
        source = value.owner
        assert isinstance(source, tops.ConstantOp)
        if count_once and not shard.is_blocks() or shard.dealt() is None:
            value = self.supersede(source, rearranged(source, shard, count_once), user)
            shard = Shard.blocks(shard.axis, len(shard.holds) * shard.local, self.parts)
        return self.split_blocks(value, shard, user)

    def supersede(self, source: tops.ConstantOp, copy: tops.ConstantOp, user: Operation) -> SSAValue:
        """`copy` (a rearrangement of `source`) inserted before `user`, in `source`'s name."""
        value = self.insert(copy, user).results[0]
        copy.location = source.location
        self.superseded.add(source)
        return value

    def split_whole(self, value: SSAValue, shard: Shard, user: Operation) -> SSAValue:
        """Chip i's slices of a computed value every chip holds whole: a local copy (after a
        local gather that lays the chips' slices out as blocks, unless `part.split` can deal
        them as they are)."""
        if shard.dealt() is None:
            value = self.insert(tops.GatherOp(value, shard.axis, shard.order()), user).results[0]
            shard = Shard.blocks(shard.axis, len(shard.holds) * shard.local, self.parts)
        return self.split_blocks(value, shard, user)

    def split_blocks(self, value: SSAValue, shard: Shard, user: Operation) -> SSAValue:
        """`part.split` of a value whose blocks along the axis are the chips' slices, dealt to
        the chips in the order `Shard.dealt` gives."""
        local = TensorType(value.type.element_type, local_shape(tops.shape_of(value), shard))  # type: ignore[union-attr]
        order = shard.dealt()
        assert order is not None, shard
        chips = [self.chips[i] for i in order]
        return self.insert(SplitOp(value, shard.axis, chips, local), user).results[0]

    def local_broadcast(self, value: SSAValue, shard: Shard, user: Operation) -> SSAValue | None:
        """A replicated broadcast along the sharded axis is the same on every chip: re-issued with
        the local shape, it meets the shards (an attention mask [.., 1, .., S] over the heads)."""
        source = value.owner
        if not isinstance(source, tops.BroadcastOp) or self.layout(source.input) is not None:
            return None
        src, out = tops.shape_of(source.input), tops.shape_of(value)
        at = shard.axis - (len(out) - len(src))
        if at >= 0 and src[at] != 1:
            return None
        return self.insert(tops.BroadcastOp(source.input, local_shape(out, shard)), user).results[0]

    def to_layout(self, value: SSAValue, shard: Shard, user: Operation) -> SSAValue:
        """`value` sharded as `shard`: cut locally when it is whole, gathered first otherwise."""
        have = self.layout(value)
        if have == shard:
            return value
        if isinstance(value.owner, tops.ConstantOp):
            return self.split_constant(value, shard, user)
        if have is None and (local := self.local_broadcast(value, shard, user)) is not None:
            return local
        return self.split_whole(self.gather(value, user), shard, user)

    def replicate_operands(self, op: Operation) -> None:
        for i, operand in enumerate(op.operands):
            op.operands[i] = self.gather(operand, op)

    # ------------------------------------------------------------ the walk
    def visit(self, op: Operation) -> None:
        if isinstance(op, tops.ConstantOp):
            return
        if isinstance(op, tops.MatmulOp):
            self.matmul(op)
        elif isinstance(op, (tops.BinaryOp, tops.WhereOp)):
            self.elementwise(op)
        elif isinstance(op, tops.UnaryOp):
            if (shard := self.layout(op.input)) is not None:
                self.shard_result(op, shard)
        elif isinstance(op, tops.SelectOp):
            self.select(op)
        elif isinstance(op, tops.BroadcastOp):
            self.broadcast(op)
        elif isinstance(op, tops.Im2colOp):
            self.im2col(op)
        elif not (isinstance(op, (tops.ReshapeOp, tops.TransposeOp, tops.SoftmaxOp, tops.ReduceOp))
                  and self.follows(op)):
            self.replicate_operands(op)
        op.attributes[CHIPS] = chips_attr(self.chips)

    def follows(self, op: Operation) -> bool:
        """Attention heads stay on their chips: a reshape that keeps every chip's slices whole
        rows of one axis, a transpose (the axis moves), a softmax or kept-dims reduction over
        other axes run on the shards; so do the reshapes around a grouped-query matmul on
        query heads inside one KV group (`regroups`). False when the op needs whole tensors."""
        if isinstance(op, tops.ReshapeOp) and self.regroups(op):
            return True
        shard = self.layout(op.operands[0])
        if shard is None:
            return False
        rank = len(tops.shape_of(op.operands[0]))
        out: Shard | None = None
        if isinstance(op, tops.SoftmaxOp):
            out = shard if shard.axis != rank - 1 else None
        elif isinstance(op, tops.TransposeOp):
            out = shard.moved(op.permutation().index(shard.axis))
        elif isinstance(op, tops.ReduceOp):
            kept = len(tops.shape_of(op.results[0])) == rank
            out = shard if kept and shard.axis not in op.reduced_axes() else None
        else:
            out = reshaped(shard, self.global_shape(op.operands[0]), tops.shape_of(op.results[0]))
        if out is None:
            return False
        self.shard_result(op, out)
        return True

    def regroups(self, op: tops.ReshapeOp) -> bool:
        """The reshapes around a grouped-query matmul whose chips hold query heads inside one KV
        group: into groups [.., H, S, d] -> [.., KV, G*S, d] each chip views its own heads
        [.., 1, its heads * S, d] (when the reshape's only use is as A of such a matmul, whose
        only user is the reshape back); back to heads they are sharded as before. False otherwise."""
        if op.input in self.in_group:
            self.shard_result(op, self.in_group[op.input][0])
            return True
        src, dst = self.global_shape(op.input), tops.shape_of(op.result)
        heads, group = self.layout(op.input), grouping(src, dst)
        if heads is None or group is None or heads.axis != len(src) - 3:
            return False
        kv = kv_heads_of(heads, group)
        uses = list(op.result.uses)
        if kv is None or len(uses) != 1 or uses[0].index != 0 or not isinstance(uses[0].operation, tops.MatmulOp):
            return False
        back = only_user(uses[0].operation.results[0])
        if not isinstance(back, tops.ReshapeOp) or list(tops.shape_of(back.result)[:-1]) != src[:-1]:
            return False
        self.in_group[retype(op.result, [*dst[:-3], 1, heads.local * src[-2], dst[-1]])] = heads, kv
        return True

    def grouped_matmul(self, op: tops.MatmulOp) -> None:
        """Each chip's query rows of one KV group times that group's B (K or V): local, no
        reduction (the rows' softmax and the output projection's row split follow the heads)."""
        heads, kv = self.in_group[op.lhs]
        op.operands[1] = self.to_layout(op.rhs, kv, op)
        rows = tops.shape_of(op.lhs)[:-1]
        self.in_group[retype(op.result, [*rows, tops.shape_of(op.rhs)[-1]])] = heads, kv
        op.attributes[SPLIT_KIND] = StringAttr("query heads in group")

    def elementwise(self, op: Operation) -> None:
        """Operands of one shape (after normalise): the first computed operand's sharding wins,
        the others are brought to it."""
        shard = next((s for v in op.operands if (s := self.layout(v)) is not None), None)
        if shard is None:
            return
        for i, operand in enumerate(op.operands):
            op.operands[i] = self.to_layout(operand, shard, op)
        self.shard_result(op, shard)

    def select(self, op: tops.SelectOp) -> None:
        """Data movement that takes the sharded axis in order runs on the shards (a slice along
        it when every chip holds its part at one local offset); otherwise whole operands."""
        shard = next((s for v in op.operands if (s := self.layout(v)) is not None), None)
        if shard is None:
            return
        out = self.select_result(op, shard)
        if out is None:
            self.replicate_operands(op)
            return
        for i, operand in enumerate(op.operands):
            op.operands[i] = self.to_layout(operand, shard, op)
        self.shard_result(op, out)

    def select_result(self, op: tops.SelectOp, shard: Shard) -> Shard | None:
        """The result's sharding if `op` runs on the shards (a slice's start made local), else None."""
        axis = shard.axis
        if isinstance(op, tops.ConcatOp):
            return shard if op.axis.value.data != axis else None
        if isinstance(op, tops.SliceOp):
            starts, steps = list(op.starts.get_values()), op.steps.get_values()
            cut = sliced(shard, starts[axis], op.out_shape()[axis]) if steps[axis] == 1 else None
            if cut is None:
                return None
            starts[axis] = cut[1]
            op.starts = type(op.starts).from_list(op.starts.elt_type, starts)  # type: ignore[attr-defined]
            return cut[0]
        if isinstance(op, tops.GatherOp):
            along = op.axis.value.data
            if axis == along:
                return None
            return shard if axis < along else shard.moved(axis + len(op.out_shape()) - len(tops.shape_of(op.input)))
        return None

    def broadcast(self, op: tops.BroadcastOp) -> None:
        """A broadcast of a sharded value along other axes keeps its sharding."""
        if (shard := self.layout(op.input)) is not None:
            out, src = tops.shape_of(op.result), tops.shape_of(op.input)
            self.shard_result(op, shard.moved(shard.axis + len(out) - len(src)))

    def im2col(self, op: tops.Im2colOp) -> None:
        """Windows of an input split by rows: built from the chip's tile plus halo rows."""
        shard = self.layout(op.input)
        if shard is None:
            return
        tiling = spatial_tiling(op, tuple(self.global_shape(op.input)), self.parts) \
            if shard.axis == 1 and shard.is_blocks() else None
        if tiling is None:
            self.replicate_operands(op)
            return
        run_on_tiles(self, op, tiling)
        self.tilings[op.results[0]] = tiling

    def matmul(self, op: tops.MatmulOp) -> None:
        if op.lhs in self.in_group:
            self.grouped_matmul(op)
            return
        a, b = op.lhs, op.rhs
        rank, b_rank = len(tops.shape_of(a)), len(tops.shape_of(b))
        sa, sb = self.layout(a), self.layout(b)
        weight = isinstance(b.owner, tops.ConstantOp)
        kind, out = "replicated", None
        batch = next((s for s in (sa, sb) if s is not None and s.axis < rank - 2), None) if b_rank == rank else None
        if sa is not None and sb is None and (b_rank == 2 and sa.axis < rank - 1 or sa.axis == rank - 2):
            kind, out = self.rows_label(a, sa, rank), sa
        elif batch is not None:
            op.operands[0] = self.to_layout(a, batch, op)
            op.operands[1] = self.to_layout(b, batch, op)
            kind, out = "heads", batch
        elif weight and sa is not None and sa.axis == rank - 1:
            op.attributes[SPLIT_KIND] = StringAttr("row")
            self.row_split(op, sa, b_rank)
            return
        else:
            self.replicate_operands(op)
            if weight and b_rank == 2:
                kind, out = self.split_weight(op)
        op.attributes[SPLIT_KIND] = StringAttr(kind)
        if out is not None:
            self.shard_result(op, out)

    def rows_label(self, a: SSAValue, shard: Shard, rank: int) -> str:
        if a in self.tilings:
            return spatial_label(self.tilings[a])
        return "heads" if shard.axis < rank - 2 else "rows of A"

    def row_split(self, op: tops.MatmulOp, shard: Shard, b_rank: int) -> None:
        """A sharded on the contracted axis: B's matching rows, partial products, an all-reduce."""
        op.operands[1] = self.split_constant(op.rhs, shard.moved(b_rank - 2), op, count_once=True)
        self.sum_after(op)

    def sum_after(self, op: tops.MatmulOp, subgroup: int | None = None) -> SSAValue:
        """An all-reduce of the op's partial products (inside runs of `subgroup` chips), read by
        everything that read them."""
        partial = op.result
        reduced = AllReduceOp([partial], self.chips, [partial.type], subgroup=subgroup)
        Rewriter.insert_op(reduced, InsertPoint.after(op))
        reduced.attributes[CHIPS] = chips_attr(self.chips)
        reduced.location = op.location
        partial.replace_uses_with_if(reduced.results[0], lambda use: use.operation is not reduced)
        return reduced.results[0]

    def kv_rows(self, op: tops.MatmulOp, heads: Shard) -> Shard | None:
        """Rows of A for a K or V projection whose KV heads are each computed whole on a run of
        r consecutive chips (`heads`), when that leaves each chip fewer weight tiles: chip i of
        a run multiplies block i of r of A's columns by the matching rows of its head's columns,
        and an all-reduce inside each run sums the head (`split_kv_by_rows`). Llama-2-70B in
        groups of 64 (8 chips a KV head): 4 tiles a chip for K instead of 26, and 0.3 MiB of
        int8 weight instead of 2.5. None when the heads are not shared that way, or the split
        by heads is as cheap (as few rows as tiles), or the machine's vector width is unknown."""
        k = tops.shape_of(op.rhs)[0]
        r, lanes = heads.copies(), self.lanes
        runs = [heads.holds[i:i + r] for i in range(0, len(heads.holds), r)]
        if lanes is None or r == 1 or k % r or any(len(set(run)) != 1 for run in runs):
            return None
        if -(-(k // r) // lanes) >= -(-k // lanes):
            return None
        width = k // r
        axis = len(tops.shape_of(op.lhs)) - 1
        return Shard(axis, tuple(tuple(range(i % r * width, (i % r + 1) * width)) for i in range(len(heads.holds))))

    def split_kv_by_rows(self, op: tops.MatmulOp, heads: Shard, rows: Shard) -> None:
        """Chip i's rows `rows.holds[i]` of A and of its head's columns of B, partial sums of its
        head, summed inside each run of chips sharing the head: the result is sharded as `heads`."""
        source = op.rhs.owner
        assert isinstance(source, tops.ConstantOp)
        weight = self.supersede(source, _stacked_blocks(source, rows.moved(0), heads.moved(1)), op)
        op.operands[0] = self.split_whole(op.lhs, rows, op)
        op.operands[1] = self.split_blocks(weight, Shard.blocks(0, tops.shape_of(weight)[0], self.parts), op)
        self.shard_result(op, heads)
        self.sharding[self.sum_after(op, heads.copies())] = heads

    def split_weight(self, op: tops.MatmulOp) -> tuple[str, Shard | None]:
        """A whole input times a constant [K, N]: a conv by rows, channels or not at all; a
        projection by heads; else by columns when N splits evenly."""
        a, n = op.lhs, tops.shape_of(op.rhs)[-1]
        rank = len(tops.shape_of(a))
        if isinstance(a.owner, tops.Im2colOp):
            choice = conv_choice(tops.shape_of(a), n, self.parts, self.lanes)
            if choice == SPATIAL:
                axis = spatial_rows_axis(tops.shape_of(a), self.parts)
                assert axis is not None
                rows = Shard.blocks(axis, tops.shape_of(a)[axis], self.parts)
                op.operands[0] = self.split_whole(a, rows, op)
                return SPATIAL, rows
            if choice == CHANNELS:
                op.operands[1] = self.split_constant(op.rhs, Shard.blocks(1, n, self.parts), op)
                return CHANNELS, Shard.blocks(rank - 1, n, self.parts)
            return "replicated", None
        heads = projection_shard(op, self.parts, self.query_groups.get(op, 1))
        if op in self.kv_projections and heads is None:
            return "replicated", None  # not cut into KV heads: whole, each chip copies its queries' group
        if op in self.kv_projections and (rows := self.kv_rows(op, heads)) is not None:
            self.split_kv_by_rows(op, heads, rows)
            return f"row in each KV head's {heads.copies()} chips", None
        if heads is None and n % self.parts == 0 and n >= self.parts:
            heads = Shard.blocks(rank - 1, n, self.parts)
        if heads is None:
            return "replicated", None
        op.operands[1] = self.split_constant(op.rhs, heads.moved(1), op)
        return column_label(heads), heads


def tensor_parallel(func: FuncOp, chips: tuple[int, ...], lanes: int | None = None) -> None:
    queries, kv = attention_projections(list(func.body.block.ops))
    walker = TensorParallel(chips, lanes, query_groups=queries, kv_projections=kv)
    for op in list(func.body.block.ops):
        if isinstance(op, ReturnOp):
            walker.replicate_operands(op)
        elif not isinstance(op, (AllReduceOp, AllGatherOp, SplitOp, TransferOp)):
            walker.visit(op)
    for constant in walker.superseded:
        if not constant.result.uses:
            constant.detach()
            constant.erase()
