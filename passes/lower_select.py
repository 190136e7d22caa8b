"""Kernel-free lowering of the data-movement ops: tops.concat, tops.slice, tops.gather.

One generic rule: the op's own numpy meaning (`SelectOp.apply`) run on element
numbers says which operand element every result element is. A result vector that
is a source vector unchanged (same lanes, same number of live lanes, so the
zero padding comes along) is a MEM copy, compressed into repeat forms over
runs of vectors; every other result vector is assembled by SXM lane moves
planned by `compiler.layout.lane_moves` (one move per contiguous lane segment,
repeated over vectors with the same lane pattern, merged in order). The plan is
per op and the same on every chip of its group (SPMD, same addresses); `part.split` of a
computed value is the one select whose plan differs per chip (each copies its own slice).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np
from xdsl.ir import Operation

from compiler.layout import Layout, MoveGroup, Run, lane_moves, strided_runs
from dialects import tops
from dialects.part import SplitOp
from passes.chip_builder import Placed


def element_origins(op: tops.SelectOp) -> np.ndarray:
    """For every result element (row-major), its number among all operand elements
    (operand k's elements are numbered after operand k-1's)."""
    arrays, base = [], 0
    for value in op.operands:
        dims = tops.shape_of(value)
        arrays.append(np.arange(base, base + prod(dims), dtype=np.int64).reshape(dims))
        base += prod(dims)
    return np.asarray(op.apply(arrays), dtype=np.int64).reshape(-1)


@dataclass(frozen=True)
class SelectPlan:
    copies: list[tuple[int, Run]]
    """(operand, run of whole vectors copied unchanged)"""
    moves: list[MoveGroup]


def plan_select(sources: list[Layout], dst: Layout, origin: np.ndarray) -> SelectPlan:
    """Copies and lane moves that build `dst` from `sources` (vector offsets relative to each
    tensor's base), result element e being source element `origin[e]` (see element_origins)."""
    lanes = dst.lanes
    offsets = np.cumsum([0] + [lay.rows * lay.width for lay in sources])
    k = np.searchsorted(offsets, origin, side="right") - 1
    flat = origin - offsets[k]
    width = np.array([lay.width for lay in sources])[k]
    vpr = np.array([lay.vpr for lay in sources])[k]
    s_col = flat % width
    s_vec, s_lane = (flat // width) * vpr + s_col // lanes, s_col % lanes
    s_live = np.minimum(lanes, width - (s_col // lanes) * lanes)  # live lanes of the source vector
    e = np.arange(origin.size)
    d_col = e % dst.width
    d_vec, d_lane = (e // dst.width) * dst.vpr + d_col // lanes, d_col % lanes
    first = np.flatnonzero(d_lane == 0)  # the element in lane 0 of every result vector
    lead = first[d_vec]
    unchanged = (k == k[lead]) & (s_vec == s_vec[lead]) & (s_lane == d_lane)
    whole = (np.bincount(d_vec, weights=(~unchanged).astype(np.float64), minlength=dst.vectors) == 0) & (
        np.bincount(d_vec, minlength=dst.vectors) == s_live[first]
    )
    copies = []
    for source in range(len(sources)):
        vecs = np.flatnonzero(whole & (k[first] == source))
        copies += [(source, run) for run in strided_runs(vecs, s_vec[first[vecs]], dst.vpr)]
    moved = ~whole[d_vec]
    moves = lane_moves(s_vec[moved], s_lane[moved], d_vec[moved], d_lane[moved], k[moved], dst.vpr) if moved.any() else []
    return SelectPlan(copies, moves)


_last: tuple[Operation, SelectPlan] | None = None
"""The plan of the op being lowered: computed once, reused for every chip of its group."""


def select_plan(op: tops.SelectOp, lanes: int) -> SelectPlan:
    global _last
    if _last is None or _last[0] is not op:
        sources = [Layout(tops.shape_of(v), lanes) for v in op.operands]
        plan = plan_select(sources, Layout(op.out_shape(), lanes), element_origins(op))
        _last = (op, plan)
    return _last[1]


def lower_select(lowering, op: tops.SelectOp, core: int, _scratch: int) -> Placed:
    """`Lowering` rule (passes/lower_to_chip.py) for every SelectOp."""
    srcs = [lowering.at(v, core) for v in op.operands]
    return emit_plan(lowering, select_plan(op, lowering.lanes), srcs, lowering.out_addr(op), core)


def lower_split(lowering, op: SplitOp, core: int) -> Placed:
    """`part.split` of a computed value every chip holds whole: each chip copies its slice
    (the one plan that differs per chip: the slice starts at the chip's block)."""
    dims, chips = tops.shape_of(op.input), list(op.chips.get_values())
    pieces = np.split(np.arange(prod(dims), dtype=np.int64).reshape(dims), op.blocks, axis=op.axis.value.data)
    piece = pieces[op.block_of(chips.index(core))]
    plan = plan_select([Layout(dims, lowering.lanes)], Layout(piece.shape, lowering.lanes), piece.reshape(-1))
    return emit_plan(lowering, plan, [lowering.at(op.input, core)], lowering.out_addr(op), core)


def emit_plan(lowering, plan: SelectPlan, srcs: list[Placed], dst: int, core: int) -> Placed:
    """The copies and lane moves of `plan` on `core`, reading `srcs`, writing at `dst`."""
    b = lowering.builder
    written = [
        b.copy(core, Placed(srcs[k].addr + run.src, srcs[k].tokens), dst + run.dst, run.count,
               run.src_step, run.dst_step)
        for k, run in plan.copies
    ]
    if plan.moves:
        moved = b.moves(core, plan.moves, srcs, dst)
        if not written:
            return moved
        written += moved.tokens
    return b.placed(core, dst, written)
