"""Kernel-free lowering of `tops.im2col`, the one data-movement op convolutions and pools add.

im2col is a static element mapping (compiler/windows.py: which NHWC input element every
window element is, or padding): `compiler.layout.plan_gather` turns it into SXM lane moves,
one per contiguous lane segment (a window tap's C channels, split at vector edges),
repeated over runs of vectors with the same lane pattern and merged in order. Padding
is never written: lanes no move names are zero, and a result vector that lies wholly in
the padding is started by a width-0 move (all zeros). The plan is computed once per op
and issued the same on every chip of its group (SPMD, same addresses).
"""

from __future__ import annotations

from xdsl.ir import Operation

from compiler.layout import Layout, MoveGroup, plan_gather
from compiler.windows import im2col_source
from dialects import tops
from passes.chip_builder import Placed

_last: tuple[Operation, list[MoveGroup]] | None = None
"""The plan of the op being lowered: computed once, reused for every chip of its group."""


def im2col_plan(op: tops.Im2colOp, lanes: int) -> list[MoveGroup]:
    global _last
    if _last is None or _last[0] is not op:
        source = im2col_source(tops.shape_of(op.input), op.ints("kernel"), op.ints("strides"), op.ints("pads"),
                               op.ints("dilations"))
        plan = plan_gather(Layout(tops.shape_of(op.input), lanes), Layout(op.out_shape(), lanes), source)
        _last = (op, plan)
    return _last[1]


def lower_im2col(lowering, op: tops.Im2colOp, core: int, _scratch: int) -> Placed:
    """`Lowering` rule (passes/lower_to_chip.py) for tops.im2col."""
    src = lowering.at(op.input, core)
    return lowering.builder.moves(core, im2col_plan(op, lowering.lanes), src, lowering.out_addr(op))
