"""`lower-to-chip`: kernel-free lowering of placed tensor ops to `chip` instructions.

Every tensor op is decomposed by a generic rule into repeat-form vector
instructions (no per-op kernel): matmuls into MXM weight tiles [lanes x lanes]
streamed by activation vectors with accumulation over K chunks; elementwise ops
into VXM runs with lane masks; softmax and last-axis reductions into SXM lane
reductions and VXM chains; reductions across rows into VXM chains; where into
two exact selections and an add;
reshapes into SXM lane moves; transposes into row copies and SXM block
transposes. Each chip of an op's group gets the same instructions (SPMD) at the
same addresses. Collectives stay `part` ops, now on one token per chip, for
`lower-collectives`. The function becomes one `chip.program`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from math import prod
from typing import ClassVar

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import (
    BytesAttr,
    DenseIntOrFPElementsAttr,
    IntegerAttr,
    ModuleOp,
    NameLoc,
    NoneAttr,
    StringAttr,
    TensorType,
    UnitAttr,
    f32,
    i8,
)
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass

from compiler.collector import collector_paused
from compiler.errors import LockstepError
from compiler.layout import (
    Layout,
    broadcast_rows,
    permuted_rows,
    plan_moves,
    reshape_targets,
    runs,
    to_vectors,
)
from compiler.system import System, load_system
from dialects import tops
from dialects.chip import (
    INT8_PER_ADDRESS,
    InputOp,
    MxmLoadOp,
    MxmMatmulOp,
    OutputOp,
    PreloadOp,
    ProgramOp,
    SxmTransposeOp,
    TokenType,
    VxmOp,
)
from dialects.part import (
    ADDR,
    SYSTEM,
    AllGatherOp,
    AllReduceOp,
    CollectiveOp,
    SplitOp,
    TransferOp,
    chips_of,
)
from dialects.tops import AbsentAttr
from passes.chip_builder import (
    ChipBuilder,
    Placed,
    SramTop,
    chunk_runs,
)
from passes.host_io import Slices, host_perm
from passes.lower_select import lower_select, lower_split
from passes.lower_windows import lower_im2col, scratch_vectors
from passes.partition import main_function
from passes.place import (
    address_of,
    is_slice_source,
    keeps_layout,
    stored_as_row,
    value_chips,
)

SRC_ADDR = "part.src_addr"
"""On a lowered collective: the SRAM address of its operand (the same on every chip)."""

UNARY = {
    tops.ReluOp: "relu", tops.SigmoidOp: "sigmoid", tops.TanhOp: "tanh", tops.ExpOp: "exp",
    tops.NegOp: "neg", tops.AbsOp: "abs", tops.TruncOp: "trunc", tops.RoundOp: "round",
    tops.LogOp: "log", tops.SqrtOp: "sqrt", tops.ReciprocalOp: "recip",
    tops.ErfOp: "erf", tops.CosOp: "cos", tops.SinOp: "sin",
    tops.IsNaNOp: "isnan", tops.NotOp: "not", tops.ToBoolOp: "to_bool",
}
BINARY = {
    tops.AddOp: "add", tops.SubOp: "sub", tops.MulOp: "mul", tops.DivOp: "div",
    tops.PowOp: "pow", tops.MaxOp: "max", tops.MinOp: "min",
    tops.EqualOp: "cmp_eq", tops.LessOp: "cmp_lt", tops.GreaterOp: "cmp_gt",
    tops.LessOrEqualOp: "cmp_le", tops.GreaterOrEqualOp: "cmp_ge",
    tops.AndOp: "and", tops.OrOp: "or", tops.XorOp: "xor",
}
REDUCE = {tops.ReduceSumOp: "sum", tops.ReduceMaxOp: "max", tops.ReduceMinOp: "min"}
COMBINE = {"sum": "add", "max": "max", "min": "min"}
"""The VXM op that merges two partial reductions."""


def shape(value: SSAValue) -> tuple[int, ...]:
    return tuple(value.type.get_shape())  # type: ignore[union-attr]


def tensor_name(attrs, index: int, default: str) -> str:
    if attrs is None:
        return default
    name = attrs.data[index].data.get("tops.name")
    return name.data if isinstance(name, StringAttr) else default


def dense_vectors(array: np.ndarray, lanes: int) -> DenseIntOrFPElementsAttr:
    """The [vectors x lanes] image of a constant: f32, or i8 for int8 weights (packed into
    addresses by the runtime and `place`, not here)."""
    image = to_vectors(array, lanes)  # f32: exact for int8 values
    if array.dtype == np.int8:
        return DenseIntOrFPElementsAttr(TensorType(i8, list(image.shape)), BytesAttr(image.astype(np.int8).tobytes()))
    return DenseIntOrFPElementsAttr(TensorType(f32, list(image.shape)), BytesAttr(image.astype("<f4").tobytes()))


def ops_after(block: Block, last: Operation | None) -> Iterator[Operation]:
    """The ops of `block` after `last` (all of them when `last` is None)."""
    op = block.first_op if last is None else last.next_op
    while op is not None:
        yield op
        op = op.next_op


def read_from_outside(ops: list[Operation], placed: Placed) -> set[SSAValue]:
    """The tokens that `ops` and the lowering's result `placed` take from before `ops`."""
    made = {result for op in ops for result in op.results}
    return {v for op in ops for v in op.operands if v not in made} | (set(placed.tokens) - made)


def transpose_steps(perm: Sequence[int]) -> list[tuple[int, ...] | None]:
    """Any permutation as (rows permutation keeping the last axis) . (swap of the last two) . (rows).

    A tuple is a permutation that keeps the last axis (a copy of whole rows); None is the swap.
    """
    n = len(perm)
    if perm[-1] == n - 1:
        return [tuple(perm)]
    t = perm[-1]
    first = tuple([a for a in range(n) if a not in (t, n - 1)] + [t, n - 1])
    after_swap = first[:-2] + (n - 1, t)
    last = tuple(after_swap.index(p) for p in perm)
    identity = tuple(range(n))
    return [p for p in (first, None, last) if p != identity]


def transpose_shapes(dims: tuple[int, ...], steps: Sequence[tuple[int, ...] | None]) -> list[tuple[int, ...]]:
    """The shape after each step of transpose_steps."""
    out = []
    for step in steps:
        dims = (*dims[:-2], dims[-1], dims[-2]) if step is None else tuple(dims[p] for p in step)
        out.append(dims)
    return out


@dataclass
class Lowering:
    system: System
    func: FuncOp
    builder: ChipBuilder
    env: dict[tuple[SSAValue, int], Placed]
    RULES: ClassVar[dict[type[Operation], Callable[..., Placed]]] = {}

    @property
    def lanes(self) -> int:
        return self.system.lanes

    def layout(self, value_or_shape: SSAValue | tuple[int, ...]) -> Layout:
        dims = value_or_shape if isinstance(value_or_shape, tuple) else shape(value_or_shape)
        return Layout(dims, self.lanes)

    def at(self, value: SSAValue, core: int) -> Placed:
        try:
            return self.env[(value, core)]
        except KeyError:
            raise LockstepError(f"internal: {value} is not available on chip {core}") from None

    # ------------------------------------------------------------ sources
    def inputs(self) -> None:
        """Each argument written whole on every chip that reads it, or a slice on each chip
        when the partition sliced it (passes/host_io.py)."""
        for arg in self.func.args:
            name = tensor_name(self.func.arg_attrs, arg.index, f"input{arg.index}")
            addr = address_of(arg, self.func)
            self.builder.location = NameLoc(StringAttr(name), NoneAttr())
            slices = Slices.of(self.func.arg_attrs, arg.index)
            perm = host_perm(self.func.arg_attrs, arg.index)
            pieces = [(core, None) for core in value_chips(arg)] if slices is None else slices.pieces()
            for core, piece in pieces:
                token = self.builder.add(InputOp(name, core, addr, arg.type, piece, perm))  # type: ignore[arg-type]
                self.env[(arg, core)] = Placed(addr, (token,))

    def preload(self, value: SSAValue, cores: Sequence[int], slices: Sequence[np.ndarray | None]) -> None:
        """Each core's piece of a constant; None for a piece whose values are absent (shape-only)."""
        addr = value.owner.attributes[ADDR].value.data  # type: ignore[union-attr]
        element = value.type.get_element_type()  # type: ignore[union-attr]
        lay = self.layout(value)
        row = stored_as_row(value)
        absent = AbsentAttr(TensorType(element, [lay.vpr if row else lay.vectors, self.lanes]))
        for core, data in zip(cores, slices):
            if row and data is not None:
                data = data.reshape(lay.rows, lay.width)[:1]
            token = self.builder.add(PreloadOp(core, addr, absent if data is None else dense_vectors(data, self.lanes)))
            self.env[(value, core)] = Placed(addr, (token,))

    def constant(self, op: tops.ConstantOp) -> None:
        if not is_slice_source(op):
            cores = chips_of(op)
            self.preload(op.result, cores, [op.array()] * len(cores))

    def split(self, op: SplitOp) -> None:
        if not isinstance(source := op.input.owner, tops.ConstantOp):
            for core in op.chips.get_values():
                self.env[(op.result, core)] = lower_split(self, op, core)
            return
        cores = op.chips.get_values()
        whole = source.array()
        blocks = [None] * op.blocks if whole is None else np.split(whole, op.blocks, axis=op.axis.value.data)
        self.preload(op.result, cores, [blocks[op.block_of(i)] for i in range(len(cores))])

    # ------------------------------------------------------------ compute
    def lower(self, op: Operation) -> None:
        self.builder.location = op.location
        if isinstance(op, tops.ConstantOp):
            return self.constant(op)
        if isinstance(op, SplitOp):
            return self.split(op)
        if isinstance(op, CollectiveOp):
            return self.collective(op)
        if isinstance(op, ReturnOp):
            return self.outputs(op)
        rule = self.RULES.get(type(op))
        if rule is None:
            raise LockstepError(f"'{op.name}' at {op.location} has no chip lowering; run normalise first")
        cores = chips_of(op)
        mark = self.builder.sram.mark()
        scratch = self.scratch_for(op, cores)
        block, first = self.builder.block, cores[0]
        before = block.last_op
        placed = self.env[(op.results[0], first)] = rule(self, op, first, scratch)
        ops = list(ops_after(block, before))
        outside = read_from_outside(ops, placed)
        for core in cores[1:]:
            copied = self.copy_lowering(op, ops, outside, placed, first, core)
            self.env[(op.results[0], core)] = rule(self, op, core, scratch) if copied is None else copied
        self.builder.sram.release_since(mark)  # scratch is the op's own; `schedule` orders its reuse

    def copy_lowering(self, op: Operation, ops: list[Operation], outside: set[SSAValue], placed: Placed,
                      first: int, core: int) -> Placed | None:
        """`core`'s lowering of `op` as a copy of chip `first`'s (`ops`, reading `outside`, giving
        `placed`): a rule reads nothing chip-specific but its operands' addresses and tokens, so
        when `core`'s operands sit at the same addresses with tokens that rename `first`'s one to
        one, its instructions are `first`'s with those tokens renamed. None when they do not."""
        renamed: dict[SSAValue, SSAValue] = {}
        for value in op.operands:
            theirs, mine = self.at(value, first), self.at(value, core)
            if theirs.addr != mine.addr or len(theirs.tokens) != len(mine.tokens):
                return None
            for token, own in zip(theirs.tokens, mine.tokens):
                if renamed.setdefault(token, own) is not own:
                    return None
        if len(set(renamed.values())) != len(renamed) or not outside <= renamed.keys():
            return None
        self.builder.copy_ops(ops, core, renamed)
        return Placed(placed.addr, tuple(renamed[token] for token in placed.tokens))

    def scratch_for(self, op: Operation, cores: Sequence[int]) -> int:
        """Temporaries one op needs on each chip (allocated once: SPMD chips share them)."""
        if isinstance(op, tops.SoftmaxOp):
            lay = self.layout(op.input)
            return self.builder.scratch(cores, 3 * lay.vectors + 2 * lay.rows)
        if isinstance(op, tops.TransposeOp):
            between = transpose_shapes(shape(op.input), transpose_steps(op.permutation()))[:-1]
            return self.builder.scratch(cores, sum(self.layout(dims).vectors for dims in between))
        if isinstance(op, tops.WhereOp):
            return self.builder.scratch(cores, 2 * self.layout(op.result).vectors)
        if isinstance(op, tops.Im2colOp):
            return self.builder.scratch(cores, scratch_vectors(op, self.lanes))
        if isinstance(op, tops.ReduceOp) and self.last_axis_reduction(op) and self.layout(op.input).vpr > 1:
            return self.builder.scratch(cores, self.layout(op.input).vectors)
        return 0

    def out_addr(self, op: Operation) -> int:
        return op.attributes[ADDR].value.data  # type: ignore[union-attr]

    def unary(self, op: Operation, core: int, _: int) -> Placed:
        src = self.at(op.operands[0], core)
        return self.builder.vxm(core, UNARY[type(op)], self.layout(op.results[0]), self.out_addr(op), [src])

    def binary(self, op: Operation, core: int, _: int) -> Placed:
        srcs = [self.at(v, core) for v in op.operands]
        rows = [stored_as_row(v) for v in op.operands]
        return self.builder.vxm(core, BINARY[type(op)], self.layout(op.results[0]), self.out_addr(op), srcs,
                                rows=rows)

    def where(self, op: tops.WhereOp, core: int, scratch: int) -> Placed:
        """Exact select in three VXM ops: (c ? x : 0) + (c ? 0 : y). The discarded operand is
        never multiplied by 0, so an inf or NaN there does not leak into the result."""
        cond, x, y = (self.at(v, core) for v in op.operands)
        c_row, x_row, y_row = (stored_as_row(v) for v in op.operands)
        lay, b = self.layout(op.result), self.builder
        kept = b.vxm(core, "keep_if", lay, scratch, [cond, x], rows=[c_row, x_row])
        other = b.vxm(core, "keep_unless", lay, scratch + lay.vectors, [cond, y], rows=[c_row, y_row])
        return b.vxm(core, "add", lay, self.out_addr(op), [kept, other])

    @staticmethod
    def last_axis_reduction(op: tops.ReduceOp) -> bool:
        return op.reduced_axes() == (len(shape(op.input)) - 1,)

    def reduce(self, op: tops.ReduceOp, core: int, scratch: int) -> Placed:
        """A normal-form reduction (see passes/normalise.py): over the last axis, SXM lane
        reductions of every chunk of a row (lane 0 of the result) merged by VXM ops; across
        rows ([outer, reduced, rows, width], axis 1), a VXM chain over the reduced blocks."""
        x, lay, b = self.at(op.input, core), self.layout(op.input), self.builder
        kind, out = REDUCE[type(op)], self.out_addr(op)
        if self.last_axis_reduction(op):
            if lay.vpr == 1:
                token = b.reduce(core, kind, x, 1, lay.rows, 0, lay.width, out, 1, 1)
                return Placed(out, (token,))
            parts = [b.reduce(core, kind, Placed(x.addr + j, x.tokens), lay.vpr, lay.rows, 0, lay.chunk_lanes(j),
                              scratch + j, lay.vpr, 1) for j in range(lay.vpr)]
            acc = Placed(scratch, (parts[0],))
            for j in range(1, lay.vpr):
                slots = {"lhs": (acc.addr, lay.vpr if j == 1 else 1, acc.tokens),
                         "rhs": (scratch + j, lay.vpr, (parts[j],))}
                acc = Placed(out, (b.add(VxmOp(core, lay.rows, slots, dst=(out, 1),
                                                 fields={"op": COMBINE[kind], "lanes": 1})),))
            return acc
        outer, count, rows, width = shape(op.input)
        block, vpr = rows * lay.vpr, lay.vpr
        if rows == 1:  # one op per chunk of the row, iterating over outer
            groups = [(j, j, outer, vpr, count * vpr, lay.chunk_lanes(j)) for j in range(vpr)]
        else:  # one op per lane-uniform run of a block, per outer index
            groups = [(o * block + off, o * count * block + off, n, step, step, lanes)
                      for o in range(outer) for off, n, step, lanes in chunk_runs(self.layout((rows, width)))]
        last = []
        for out_off, x_off, n, out_step, x_step, lanes in groups:
            acc = (x.addr + x_off, x_step, x.tokens)
            for r in range(1, count):
                slots = {"lhs": acc, "rhs": (x.addr + x_off + r * block, x_step, x.tokens)}
                token = b.add(VxmOp(core, n, slots, dst=(out + out_off, out_step),
                                    fields={"op": COMBINE[kind], "lanes": lanes}))
                acc = (out + out_off, out_step, (token,))
            last.append(acc[2][0])
        return b.placed(core, out, last)

    def matmul(self, op: tops.MatmulOp, core: int, _: int) -> Placed:
        """Weight tiles of B loaded from SRAM, streamed by A's rows, accumulated over K chunks.
        A batched B ([..., K, N], A's batch dims) is one such matmul per batch slice: slice i
        of A, B and the result are contiguous rows at known addresses. An i8 B (int8 weights)
        is loaded by int8 loads, whose src counts the int8 vectors packed into its addresses."""
        a, w = self.at(op.lhs, core), self.at(op.rhs, core)
        la, lw = self.layout(op.lhs), self.layout(op.rhs)
        out, lanes = self.out_addr(op), self.lanes
        int8 = op.rhs.type.get_element_type() == i8  # type: ignore[union-attr]
        w_first, load_fields = (w.addr * INT8_PER_ADDRESS, {"int8": UnitAttr()}) if int8 else (w.addr, {})
        batched = len(shape(op.rhs)) > 2
        batches = prod(shape(op.rhs)[:-2]) if batched else 1
        m, k = (shape(op.lhs)[-2], lw.rows // batches) if batched else (la.rows, lw.rows)
        chains = []
        for batch in range(batches):
            a_at, w_at, o_at = a.addr + batch * m * la.vpr, w_first + batch * k * lw.vpr, out + batch * m * lw.vpr
            for nn in range(lw.vpr):
                previous: SSAValue | None = None
                for kk in range(la.vpr):
                    rows = min(lanes, la.width - kk * lanes)
                    tile = self.builder.add(MxmLoadOp(
                        core, rows, {"src": (w_at + kk * lanes * lw.vpr + nn, lw.vpr, w.tokens)}, fields=load_fields))
                    slots = {"src": (a_at + kk, la.vpr, a.tokens)}
                    if previous is not None:
                        slots["acc"] = (o_at + nn, lw.vpr, (previous,))
                    previous = self.builder.add(
                        MxmMatmulOp(core, m, slots, dst=(o_at + nn, lw.vpr), operands={"weights": [tile]})
                    )
                chains.append(previous)
        return self.builder.placed(core, out, chains)

    def softmax(self, op: tops.SoftmaxOp, core: int, scratch: int) -> Placed:
        x, lay, b = self.at(op.input, core), self.layout(op.input), self.builder
        max_parts, sum_parts, exps = scratch, scratch + lay.vectors, scratch + 2 * lay.vectors
        row_max, row_sum = scratch + 3 * lay.vectors, scratch + 3 * lay.vectors + lay.rows
        peak = self.row_reduce(core, "max", x, lay, max_parts, row_max)
        shifted = b.rowwise(core, "sub", lay, exps, x, peak)
        exp = b.vxm(core, "exp", lay, exps, [shifted])
        total = self.row_reduce(core, "sum", exp, lay, sum_parts, row_sum)
        return b.rowwise(core, "div", lay, self.out_addr(op), exp, total)

    def row_reduce(self, core: int, op: str, x: Placed, lay: Layout, parts: int, dst: int) -> Placed:
        """One vector per row whose every lane holds the row's reduction (max or sum)."""
        b, combine = self.builder, {"max": "max", "sum": "add"}[op]
        pieces = [
            b.reduce(core, op, Placed(x.addr + j, x.tokens), lay.vpr, lay.rows, 0, lay.chunk_lanes(j),
                     parts + j, lay.vpr, self.lanes)
            for j in range(lay.vpr)
        ]
        if lay.vpr == 1:
            return Placed(parts, (pieces[0],))
        acc = b.row_vxm(core, combine, lay.rows, dst, [Placed(parts, (pieces[0],)), Placed(parts + 1, (pieces[1],))],
                        [lay.vpr, lay.vpr])
        for j in range(2, lay.vpr):
            acc = b.row_vxm(core, combine, lay.rows, dst, [Placed(dst, (acc,)), Placed(parts + j, (pieces[j],))],
                            [1, lay.vpr])
        return Placed(dst, (acc,))

    def reshape(self, op: tops.ReshapeOp, core: int, _: int) -> Placed:
        src = self.at(op.input, core)
        if keeps_layout(op):
            return src
        ls, ld = self.layout(op.input), self.layout(op.result)
        return self.builder.moves(core, plan_moves(ls, ld, *reshape_targets(ls, ld)), src, self.out_addr(op))

    def transpose(self, op: tops.TransposeOp, core: int, scratch: int) -> Placed:
        current, dims = self.at(op.input, core), shape(op.input)
        steps = transpose_steps(op.permutation())
        sizes = [self.layout(d).vectors for d in transpose_shapes(dims, steps)[:-1]]
        buffers = [scratch + sum(sizes[:i]) for i in range(len(sizes))]
        for step, dst in zip(steps, [*buffers, self.out_addr(op)]):
            if step is None:
                current, dims = self.swap_last(core, current, dims, dst)
            else:
                rows = permuted_rows(dims, step)
                dims = tuple(dims[p] for p in step)
                current = self.copy_rows(core, current, self.layout(dims), rows, dst)
        return current

    def copy_rows(self, core: int, src: Placed, lay: Layout, src_rows: np.ndarray, dst: int) -> Placed:
        """Destination row r of `lay` = source row src_rows[r] (same row width)."""
        vpr, out = lay.vpr, []
        for run in runs(np.arange(len(src_rows)), src_rows):
            if run.src_step == run.dst_step == 1:
                out.append(self.builder.copy(core, Placed(src.addr + run.src * vpr, src.tokens), dst + run.dst * vpr,
                                             run.count * vpr))
                continue
            for j in range(vpr):
                out.append(self.builder.copy(core, Placed(src.addr + run.src * vpr + j, src.tokens),
                                             dst + run.dst * vpr + j, run.count, run.src_step * vpr,
                                             run.dst_step * vpr))
        return self.builder.placed(core, dst, out)

    def swap_last(self, core: int, src: Placed, dims: tuple[int, ...], dst: int) -> tuple[Placed, tuple[int, ...]]:
        """Batched 2-D transposes of the last two axes in [lanes x lanes] SXM blocks."""
        *lead, p, q = dims
        lanes, vq, vp = self.lanes, self.layout((p, q)).vpr, self.layout((q, p)).vpr
        out = []
        for batch in range(prod(lead)):
            for pi in range(vp):
                for qi in range(vq):
                    slots = {"src": (src.addr + (batch * p + pi * lanes) * vq + qi, vq, src.tokens)}
                    out.append(self.builder.add(SxmTransposeOp(
                        core, min(lanes, p - pi * lanes), slots, dst=(dst + (batch * q + qi * lanes) * vp + pi, vp),
                        fields={"width": min(lanes, q - qi * lanes)})))
        return self.builder.placed(core, dst, out), (*lead, q, p)

    def broadcast(self, op: tops.BroadcastOp, core: int, _: int) -> Placed:
        src, s, d = self.at(op.input, core), shape(op.input) or (1,), shape(op.result)
        rows = broadcast_rows(s, d) if len(d) > 1 else np.zeros(1, dtype=np.int64)  # rank 1: one row
        lay = self.layout(op.result)
        if s[-1] == d[-1]:
            return self.copy_rows(core, src, lay, rows, self.out_addr(op))
        out, dst = [], self.out_addr(op)
        for run in runs(np.arange(len(rows)), rows):
            for j in range(lay.vpr):
                out.append(self.builder.reduce(core, "sum", Placed(src.addr + run.src, src.tokens), run.src_step,
                                               run.count, 0, 1, dst + run.dst * lay.vpr + j,
                                               run.dst_step * lay.vpr, lay.chunk_lanes(j)))
        return self.builder.placed(core, dst, out)


    # ------------------------------------------------------------ edges
    def collective(self, op: CollectiveOp) -> None:
        """Re-issue the collective on one token per chip; `lower-collectives` routes it."""
        group = op.group()
        srcs = [self.at(op.inputs[0], c) for c in group]
        local = op.inputs[0].type
        outs = list(op.to.get_values()) if isinstance(op, TransferOp) else list(group)
        tokens = [s.tokens[0] for s in srcs]
        results = [TokenType()] * len(outs)
        if isinstance(op, AllReduceOp):
            subgroup = None if op.subgroup is None else op.subgroup.value.data
            new: CollectiveOp = AllReduceOp(tokens, group, results, local, subgroup)
        elif isinstance(op, AllGatherOp):
            new = AllGatherOp(tokens, op.axis.value.data, group, results, local)
        else:
            new = TransferOp(tokens, group, outs, results, local)
        addr = self.out_addr(op)
        new.attributes[ADDR] = IntegerAttr(addr, 64)
        new.attributes[SRC_ADDR] = IntegerAttr(srcs[0].addr, 64)
        self.builder.add(new)
        for core, token in zip(outs, new.results):
            self.env[(op.outputs[0], core)] = Placed(addr, (token,))

    def outputs(self, op: ReturnOp) -> None:
        """Each output read whole from the first chip holding it, or piece by piece from the
        chips holding its slices when the partition sliced it (passes/host_io.py)."""
        for index, value in enumerate(op.operands):
            name = tensor_name(self.func.res_attrs, index, f"output{index}")
            slices = Slices.of(self.func.res_attrs, index)
            perm = host_perm(self.func.res_attrs, index)
            first = min(c for (v, c) in self.env if v is value)
            for core, piece in [(first, None)] if slices is None else slices.pieces():
                placed = self.at(value, core)
                self.builder.add_op(OutputOp(name, core, placed.addr, value.type, placed.tokens, piece,  # type: ignore[arg-type]
                                             perm))


Lowering.RULES = {
    **{cls: Lowering.unary for cls in UNARY},
    **{cls: Lowering.binary for cls in BINARY},
    tops.MatmulOp: Lowering.matmul,
    tops.SoftmaxOp: Lowering.softmax,
    tops.ReshapeOp: Lowering.reshape,
    tops.TransposeOp: Lowering.transpose,
    tops.BroadcastOp: Lowering.broadcast,
    **{cls: lower_select for cls in (tops.ConcatOp, tops.SliceOp, tops.GatherOp)},
    tops.Im2colOp: lower_im2col,
    tops.WhereOp: Lowering.where,
    **{cls: Lowering.reduce for cls in REDUCE},
}


def lower_to_chip(module: ModuleOp) -> None:
    system = load_system(module.attributes[SYSTEM].data)  # type: ignore[union-attr]
    func = main_function(module)
    block = Block()
    sram = SramTop(module, system)
    lowering = Lowering(system, func, ChipBuilder(system, block, sram), {})
    lowering.inputs()
    for op in func.body.block.ops:
        lowering.lower(op)
    sram.check()
    sram.store(module)
    program = ProgramOp.create(properties={"system": StringAttr(system.spec)}, regions=[Region(block)])
    func.detach()
    func.erase(safe_erase=False)
    module.body.block.add_op(program)


@dataclass(frozen=True)
class LowerToChipPass(ModulePass):
    name = "lower-to-chip"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        with collector_paused():
            lower_to_chip(op)
