"""Appends `chip` instructions for the lowering passes: one place for repeat forms,
lane masks, producer sets and scratch SRAM, so every lowering rule stays a few lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.dialects.builtin import DenseArrayBase, LocationAttr, ModuleOp, UnknownLoc, i64
from xdsl.ir import Block, Operation, SSAValue

from compiler.errors import LockstepError
from compiler.layout import Layout, MoveGroup
from compiler.system import System
from dialects.chip import (
    JoinOp,
    MemCopyOp,
    SxmMoveOp,
    SxmReduceOp,
    VxmOp,
)
from dialects.part import SRAM_TOP

Tokens = tuple[SSAValue, ...]


@dataclass(frozen=True)
class Placed:
    """A tensor on one chip: where it starts and which instructions wrote it."""

    addr: int
    tokens: Tokens


MIN_PIECE = 64  # vectors: below this a run is not worth another instruction (and another op to compile)


def chunk_runs(layout: Layout) -> list[tuple[int, int, int, int]]:
    """(offset, count, step, lanes) runs covering every vector with its lane count."""
    tail = layout.chunk_lanes(layout.vpr - 1)
    if tail == layout.lanes:
        return [(0, layout.vectors, 1, layout.lanes)]
    if layout.rows == 1:
        full = [(0, layout.vpr - 1, 1, layout.lanes)] if layout.vpr > 1 else []
        return [*full, (layout.vpr - 1, 1, 1, tail)]
    return [(j, layout.rows, layout.vpr, layout.chunk_lanes(j)) for j in range(layout.vpr)]


class SramTop:
    """Per-chip first free vector, kept on the module so later passes can allocate too."""

    def __init__(self, module: ModuleOp, system: System):
        attr = module.attributes.get(SRAM_TOP)
        self.system = system
        self.top = list(attr.get_values()) if attr is not None else [0] * system.chips

    def allocate(self, chips: Sequence[int], vectors: int) -> int:
        """The same address on every chip of the group (SPMD code shares addresses)."""
        addr = max(self.top[c] for c in chips)
        for c in chips:
            self.top[c] = addr + vectors
        return addr

    def check(self) -> None:
        """Fail with the whole shortfall once everything is allocated, not at the first overflow."""
        chip = max(range(len(self.top)), key=self.top.__getitem__)
        need, have = self.top[chip], self.system.sram_vectors
        if need > have:
            mib = self.system.vector_bytes / 2**20
            raise LockstepError(
                f"the model does not fit in SRAM: chip {chip} needs {need * mib:.2f} MiB but holds "
                f"{have * mib:.2f} MiB (over by {(need - have) * mib:.2f} MiB); use more chips or "
                f"another partition strategy"
            )

    def store(self, module: ModuleOp) -> None:
        module.attributes[SRAM_TOP] = DenseArrayBase.from_list(i64, self.top)


class ChipBuilder:
    def __init__(self, system: System, block: Block, sram: SramTop):
        self.system = system
        self.block = block
        self.sram = sram
        self.lanes = system.lanes
        self.location: LocationAttr = UnknownLoc()
        """Given to every op added: the ONNX node being lowered, so streams and traces name it."""

    def add(self, op: Operation) -> SSAValue:
        self.add_op(op)
        return op.results[0]

    def add_op(self, op: Operation) -> None:
        op.location = self.location
        self.block.add_op(op)

    def producers(self, core: int, tokens: Tokens) -> Tokens:
        """Name many producers through one join so consumers stay readable."""
        if len(tokens) <= 1:
            return tokens
        return (self.add(JoinOp(core, tokens)),)

    def placed(self, core: int, addr: int, tokens: Sequence[SSAValue]) -> Placed:
        return Placed(addr, self.producers(core, tuple(tokens)))

    def vxm(self, core: int, op: str, layout: Layout, dst: int, srcs: Sequence[Placed],
            steps: Sequence[bool] | None = None) -> Placed:
        """Elementwise `op` over a whole tensor; `steps[k]` False keeps src k fixed (a per-row vector)."""
        steps = steps or [True] * len(srcs)
        out = []
        for offset, count, step, lanes in chunk_runs(layout):
            for first, size in self.pieces(count, self.system.units["vxm"]):
                at = offset + first * step
                slots = {}
                for name, src, moving in zip(("lhs", "rhs"), srcs, steps):
                    slots[name] = (src.addr + at if moving else src.addr, step if moving else 0, src.tokens)
                out.append(self.add(VxmOp(core, size, slots, dst=(dst + at, step),
                                          fields={"op": op, "lanes": lanes})))
        return self.placed(core, dst, out)

    @staticmethod
    def pieces(count: int, units: int) -> list[tuple[int, int]]:
        """(first, count) of the pieces a run of `count` vectors is cut into so that up to `units`
        units share it: an instruction issues on one unit, so one long repeat form would hold the
        others idle while its consumers wait for all of it. Pieces keep MIN_PIECE vectors or more,
        so short runs (a decode step's rows) stay one instruction."""
        parts = max(1, min(units, count // MIN_PIECE))
        size = -(-count // parts)
        return [(first, min(size, count - first)) for first in range(0, count, size)]

    def rowwise(self, core: int, op: str, layout: Layout, dst: int, tensor: Placed, row: Placed) -> Placed:
        """op(tensor, v) where v is one vector per row (e.g. a row's max in every lane)."""
        if layout.rows == 1:
            return self.vxm(core, op, layout, dst, [tensor, row], steps=[True, False])
        out = [
            self.add(VxmOp(core, layout.rows,
                           {"lhs": (tensor.addr + j, layout.vpr, tensor.tokens), "rhs": (row.addr, 1, row.tokens)},
                           dst=(dst + j, layout.vpr), fields={"op": op, "lanes": layout.chunk_lanes(j)}))
            for j in range(layout.vpr)
        ]
        return self.placed(core, dst, out)

    def row_vxm(self, core: int, op: str, rows: int, dst: int, srcs: Sequence[Placed],
                src_steps: Sequence[int]) -> SSAValue:
        """`op` on one full vector per row, sources advancing by their own steps."""
        slots = {name: (s.addr, step, s.tokens) for name, s, step in zip(("lhs", "rhs"), srcs, src_steps)}
        return self.add(VxmOp(core, rows, slots, dst=(dst, 1), fields={"op": op, "lanes": self.lanes}))

    def reduce(self, core: int, op: str, src: Placed, src_step: int, count: int, first: int, width: int,
               dst: int, dst_step: int, lanes: int) -> SSAValue:
        return self.add(SxmReduceOp(core, count, {"src": (src.addr, src_step, src.tokens)}, dst=(dst, dst_step),
                                    fields={"op": op, "first": first, "width": width, "lanes": lanes}))

    def copy(self, core: int, src: Placed, dst: int, count: int, src_step: int = 1, dst_step: int = 1) -> SSAValue:
        return self.add(MemCopyOp(core, count, {"src": (src.addr, src_step, src.tokens)}, dst=(dst, dst_step)))

    def moves(self, core: int, groups: Sequence[MoveGroup], src: Placed | Sequence[Placed], dst: int) -> Placed:
        """Lane moves in merge order: a move of order k > 0 names the order k-1 moves into its
        destination vectors as their previous writers, and the result names the last move into
        each vector (naming every earlier move instead makes the tokens grow quadratically in
        the moves, tens of thousands for a 3-D pool's windows).
        With several sources, a group reads the one its `source` names."""
        sources = [src] if isinstance(src, Placed) else list(src)
        last: dict[int, SSAValue] = {}  # destination vector -> the move that wrote it last
        joins: dict[Tokens, Tokens] = {}
        for g in sorted(groups, key=lambda group: group.order):
            from_ = sources[g.source]
            slots = {"src": (from_.addr + g.run.src, g.run.src_step, from_.tokens)}
            vectors = range(g.run.dst, g.run.dst + g.run.count * g.run.dst_step, g.run.dst_step)
            if g.order:
                previous = tuple(dict.fromkeys(last[v] for v in vectors))
                if previous not in joins:
                    joins[previous] = self.producers(core, previous)
                slots["merge"] = (dst + g.run.dst, g.run.dst_step, joins[previous])
            move = self.add(SxmMoveOp(
                core, g.run.count, slots, dst=(dst + g.run.dst, g.run.dst_step),
                fields={"src_lane": g.src_lane, "dst_lane": g.dst_lane, "width": g.width}))
            last.update(dict.fromkeys(vectors, move))
        return self.placed(core, dst, list(dict.fromkeys(last.values())))

