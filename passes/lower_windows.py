"""Kernel-free lowering of `tops.im2col`, the one data-movement op convolutions and pools add.

im2col is a static element mapping (compiler/windows.py: which input element every
window element is, or padding): `compiler.layout.plan_gather` turns it into SXM lane moves,
one per contiguous lane segment (a window tap's C channels, or a pool's OW lanes, split at
vector edges), repeated over runs of vectors with the same lane pattern and merged in
order. Runs are found one window tap at a time: within a tap, source and destination
advance regularly, whereas the vectors of neighbouring taps interleave and would cut runs
short. Padding is never written: lanes no move names are zero, and a result vector that
lies wholly in the padding is started by a width-0 move (all zeros). The plan is computed
once per op and issued the same on every chip of its group (SPMD, same addresses).

When the windows slide along the lanes with a stride s > 1 (a pool of NCHW data), a tap's
OW lanes are s apart in the input: one move per lane. The input rows are then first
deinterleaved into a scratch copy, positions ordered by residue modulo s (one move per
lane of a row, the same for every row: W instructions repeated over all rows); in that
copy every tap's lanes are one contiguous run again, so each window vector is one move.
This never costs many more moves (the copy moves each input element once, the direct way
moves each window element once) and usually far fewer instructions. The copy's W moves
into a vector merge one after another, and the scheduler orders whole instructions, so its
runs are cut into one piece per SXM unit: the pieces' merge chains then run side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np
from xdsl.ir import Operation

from compiler.layout import Layout, MoveGroup, Run, plan_gather
from compiler.windows import im2col_source
from dialects import tops
from passes.chip_builder import Placed


@dataclass(frozen=True)
class Im2colPlan:
    deinterleave: list[MoveGroup]
    """Input -> scratch copy with each row's lanes ordered by residue (empty: read the input)."""
    windows: list[MoveGroup]
    """(Scratch copy or input) -> the windows."""


_last: tuple[Operation, Im2colPlan] | None = None
"""The plan of the op being lowered: computed once, reused for every chip of its group."""


def lane_stride(op: tops.Im2colOp) -> int:
    """The stride of the windows along the input's last axis (1 when that holds channels)."""
    shape, strides = tops.shape_of(op.input), op.ints("strides")
    return strides[-1] if len(shape) == len(strides) + 1 else 1


def scratch_vectors(op: tops.Im2colOp, lanes: int) -> int:
    """SRAM the lowering needs besides the result: the deinterleaved copy of the input."""
    return Layout(tops.shape_of(op.input), lanes).vectors if lane_stride(op) > 1 else 0


def in_pieces(groups: list[MoveGroup], pieces: int) -> list[MoveGroup]:
    """Every group's run cut into `pieces` runs of about equal length."""
    out = []
    for g in groups:
        r, length = g.run, -(-g.run.count // pieces)
        for start in range(0, r.count, length):
            run = Run(r.dst + start * r.dst_step, r.src + start * r.src_step, min(length, r.count - start),
                      r.dst_step, r.src_step)
            out.append(MoveGroup(g.order, g.src_lane, g.dst_lane, g.width, run, g.source))
    return out


def im2col_plan(op: tops.Im2colOp, lanes: int, units: int) -> Im2colPlan:
    """`units`: the SXM units of a chip."""
    global _last
    if _last is None or _last[0] is not op:
        kernel, shape = op.ints("kernel"), tops.shape_of(op.input)
        source = im2col_source(shape, kernel, op.ints("strides"), op.ints("pads"), op.ints("dilations"))
        deinterleave: list[MoveGroup] = []
        stride, width, layout = lane_stride(op), shape[-1], Layout(shape, lanes)
        if stride > 1:
            order = np.concatenate([np.arange(r, width, stride) for r in range(stride)])
            rows = np.arange(prod(shape[:-1]))[:, None] * width
            deinterleave = in_pieces(plan_gather(layout, layout, rows + order), units)
            position = np.argsort(order)  # where input lane p sits in the copy
            source = np.where(source < 0, -1, source - source % width + position[source % width])
        taps, last = prod(kernel), source.shape[-1]  # the windows' taps vary just above their last axis
        tap = np.broadcast_to(np.arange(taps)[:, None], (source.size // (taps * last), taps, last))
        windows = plan_gather(layout, Layout(op.out_shape(), lanes), source, tap)
        _last = (op, Im2colPlan(deinterleave, windows))
    return _last[1]


def lower_im2col(lowering, op: tops.Im2colOp, core: int, scratch: int) -> Placed:
    """`Lowering` rule (passes/lower_to_chip.py) for tops.im2col; `scratch` holds
    scratch_vectors(op) vectors."""
    plan = im2col_plan(op, lowering.lanes, lowering.system.units["sxm"])
    src = lowering.at(op.input, core)
    if plan.deinterleave:
        src = lowering.builder.moves(core, plan.deinterleave, src, scratch)
    return lowering.builder.moves(core, plan.windows, src, lowering.out_addr(op))
