"""Appends `chip` instructions for the lowering passes: one place for repeat forms,
lane masks, producer sets and scratch SRAM, so every lowering rule stays a few lines."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.dialects.builtin import (
    DenseArrayBase,
    LocationAttr,
    ModuleOp,
    UnknownLoc,
    i64,
)
from xdsl.ir import Block, Operation, SSAValue

from compiler.errors import SramOverflow
from compiler.layout import Layout, MoveGroup
from compiler.system import System
from dialects.chip import (
    JoinOp,
    MemCopyOp,
    SxmMoveOp,
    SxmReduceOp,
    VxmOp,
    i64_attr,
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
    return column_runs(layout)


def column_runs(layout: Layout) -> list[tuple[int, int, int, int]]:
    """(offset, count, step, lanes) runs, one per vector column (down the rows)."""
    return [(j, layout.rows, layout.vpr, layout.chunk_lanes(j)) for j in range(layout.vpr)]


_END = 1 << 62  # the open end of the space above a chip's high-water mark

Piece = tuple[int, int, int]
"""Free SRAM on a chip: [start, end) vectors and the tag it was released with (0: never used)."""


def _common(a: list[Piece], b: list[Piece]) -> list[Piece]:
    """Where both free lists are free, with both tags."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end, a[i][2] | b[j][2]))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _runs(pieces: list[Piece]) -> list[tuple[int, int]]:
    """[start, end) of every run of contiguous free space."""
    runs: list[tuple[int, int]] = []
    for start, end, _ in pieces:
        if runs and runs[-1][1] == start:
            runs[-1] = runs[-1][0], end
        else:
            runs.append((start, end))
    return runs


class SramTop:
    """Per-chip SRAM allocator: the high-water mark `top` (kept on the module, so later passes
    allocate above everything placed before them) and the blocks released below it, which later
    allocations reuse.

    A block goes to the same address on every chip of a group (SPMD code shares addresses), so it
    must be free on all of them. A released block carries a tag, a bitset of the ops that used
    the previous occupant (the caller numbers them); an allocation naming the ops known to
    precede the new occupant (`after`) takes only blocks whose tag is inside it, since reusing
    them never waits for an op that could otherwise run later (with `may_wait`, any block rather
    than raise the high-water mark). Among the blocks it may take: never raise the high-water
    mark when one below it fits (the peak is what must fit), then the tightest fit (large
    blocks stay whole for large values), then the lowest address."""

    def __init__(self, module: ModuleOp | None, system: System):
        """Above the module's `part.sram_top` if it has one; from 0 without a module."""
        attr = module.attributes.get(SRAM_TOP) if module is not None else None
        self.system = system
        self.top = list(attr.get_values()) if attr is not None else [0] * system.chips
        self.free: list[list[Piece]] = [[] for _ in range(system.chips)]
        self.allocations: list[tuple[tuple[int, ...], int, int]] = []  # (chips, addr, vectors) in order

    def allocate(self, chips: Sequence[int], vectors: int, after: int | None = None, may_wait: bool = False) -> int:
        """The same address on every chip of the group. `after`: a bitset of the ops known to
        precede the new occupant; blocks released with other ops in their tag are skipped, or with
        `may_wait` taken when no other block below the high-water mark fits (`schedule` then holds
        the new writes back). None takes any released block."""
        chips = tuple(chips)
        top = max(self.top[c] for c in chips)
        if vectors <= 0:
            return top
        # The chips of a group mostly have equal free lists (SPMD code allocates alike): compare
        # them in C, and intersect or cut only the ones that differ from the first.
        first = chips[0]
        same = {c for c in chips[1:] if self.top[c] == self.top[first] and self.free[c] == self.free[first]}
        differ = [c for c in chips if c not in same]
        pieces = self._free_list(first)
        for chip in differ[1:]:
            pieces = _common(pieces, self._free_list(chip))
        ordered = pieces if after is None else [piece for piece in pieces if piece[2] & ~after == 0]
        addr = self._choose(ordered, pieces if may_wait else [], vectors, top)
        for chip in differ:
            self._take(chip, addr, addr + vectors)
        for chip in same:
            self.free[chip], self.top[chip] = list(self.free[first]), self.top[first]
        self.allocations.append((chips, addr, vectors))
        return addr

    def release(self, chips: Sequence[int], addr: int, vectors: int, tag: int = 0) -> None:
        """Free a block for later allocations; `tag`: the ops that used it (see `allocate`)."""
        if vectors <= 0:
            return
        for chip in chips:
            bisect.insort(self.free[chip], (addr, addr + vectors, tag))

    def mark(self) -> int:
        """A point to release temporaries back to (`release_since`)."""
        return len(self.allocations)

    def release_since(self, mark: int, tag: int = 0) -> None:
        """Release everything allocated since `mark`: a lowering's scratch, once the op is lowered;
        `tag` as for `release`."""
        for chips, addr, vectors in self.allocations[mark:]:
            self.release(chips, addr, vectors, tag)
        del self.allocations[mark:]

    def _free_list(self, chip: int) -> list[Piece]:
        return [*self.free[chip], (self.top[chip], _END, 0)]

    @staticmethod
    def _choose(ordered: list[Piece], waiting: list[Piece], vectors: int, top: int) -> int:
        best: tuple[int, int, int, int] | None = None
        for waits, free in ((0, ordered), (1, waiting)):
            for start, end in _runs(free):
                if end - start < vectors:
                    continue
                key = (max(0, start + vectors - top), waits, max(0, min(end, top) - start - vectors), start)
                best = key if best is None or key < best else best
        assert best is not None  # the space above the high-water mark is open-ended
        return best[3]

    def _take(self, chip: int, start: int, end: int) -> None:
        free = self.free[chip]
        if end > self.top[chip]:
            if start > self.top[chip]:  # the gap below the block stays unused: keep it
                bisect.insort(free, (self.top[chip], start, 0))
            self.top[chip] = end
        kept = []
        for piece in free:
            if piece[1] <= start or piece[0] >= end:
                kept.append(piece)
                continue
            if piece[0] < start:
                kept.append((piece[0], start, piece[2]))
            if piece[1] > end:
                kept.append((end, piece[1], piece[2]))
        self.free[chip] = kept

    def fits(self) -> bool:
        return max(self.top) <= self.system.sram_vectors

    def check(self) -> None:
        """Fail with the whole shortfall once everything is allocated, not at the first overflow."""
        chip = max(range(len(self.top)), key=self.top.__getitem__)
        need, have = self.top[chip], self.system.sram_vectors
        if need > have:
            mib = self.system.vector_bytes / 2**20
            raise SramOverflow(
                f"the model does not fit in SRAM: chip {chip} needs {need * mib:.2f} MiB but holds "
                f"{have * mib:.2f} MiB (over by {(need - have) * mib:.2f} MiB); use more chips or "
                f"another partition strategy"
            )

    def store(self, module: ModuleOp) -> None:
        module.attributes[SRAM_TOP] = DenseArrayBase.from_list(i64, self.top)


class ChipBuilder:
    def __init__(self, system: System, block: Block, sram: SramTop, scratch_after: int | None = None):
        self.system = system
        self.block = block
        self.sram = sram
        self.scratch_after = scratch_after
        """The ops known to precede the op being lowered, as `SramTop.allocate`'s `after`: its
        scratch reuses only blocks those ops used (None: any released block)."""
        self.lanes = system.lanes
        self.location: LocationAttr = UnknownLoc()
        """Given to every op added: the ONNX node being lowered, so streams and traces name it."""

    def scratch(self, chips: Sequence[int], vectors: int) -> int:
        """SRAM for a temporary of the op being lowered (see `scratch_after`)."""
        return self.sram.allocate(chips, vectors, self.scratch_after)

    def add(self, op: Operation) -> SSAValue:
        self.add_op(op)
        return op.results[0]

    def add_op(self, op: Operation) -> None:
        op.location = self.location
        self.block.add_op(op)

    def copy_ops(self, ops: Sequence[Operation], core: int, renamed: dict[SSAValue, SSAValue]) -> None:
        """`ops` (instructions of another chip, each naming its chip in `core`) again on `core`,
        reading `renamed[v]` for each operand v; `renamed` gains the copies' results. Copying
        skips the instructions' builder (attribute look-ups, operand segments, a new result
        type per op), which took most of lower-to-chip when a group of chips runs the same code."""
        chip = i64_attr(core)
        for op in ops:
            copy = type(op).create(operands=[renamed[v] for v in op.operands],
                                   result_types=[r.type for r in op.results],
                                   properties={**op.properties, "core": chip}, attributes=op.attributes,
                                   location=self.location)
            renamed.update(zip(op.results, copy.results))
            self.block.add_op(copy)

    def producers(self, core: int, tokens: Tokens) -> Tokens:
        """Name many producers through one join so consumers stay readable."""
        if len(tokens) <= 1:
            return tokens
        return (self.add(JoinOp(core, tokens)),)

    def placed(self, core: int, addr: int, tokens: Sequence[SSAValue]) -> Placed:
        return Placed(addr, self.producers(core, tuple(tokens)))

    def vxm(self, core: int, op: str, layout: Layout, dst: int, srcs: Sequence[Placed],
            steps: Sequence[bool] | None = None, rows: Sequence[bool] | None = None) -> Placed:
        """Elementwise `op` over a whole tensor; `steps[k]` False keeps src k fixed (a per-row vector);
        `rows[k]` True reads src k as one row of the layout, the same for every row (a bias stored
        once): each vector column is then its own run, reading that column's vector with step 0."""
        steps = steps or [True] * len(srcs)
        by_row = rows or [False] * len(srcs)
        row_runs = layout.rows > 1 and any(by_row)  # one row: a row source is just the tensor
        out = []
        for offset, count, step, lanes in column_runs(layout) if row_runs else chunk_runs(layout):
            for first, size in self.pieces(count, self.system.units["vxm"]):
                at = offset + first * step
                slots = {}
                for name, src, moving, row in zip(("lhs", "rhs"), srcs, steps, by_row):
                    if row and row_runs:
                        slots[name] = (src.addr + offset, 0, src.tokens)
                        continue
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
        """A run of whole vectors copied. A long run (a decode step's KV cache: thousands of vectors a
        head) goes in pieces over the VXM units, which pass a vector a cycle each like the MEM unit's
        copy stream, but are 16 to its 2; a short one stays one MEM copy."""
        units = self.system.units["vxm"]
        if count < 2 * MIN_PIECE or units <= self.system.units["mem"]:
            return self.add(MemCopyOp(core, count, {"src": (src.addr, src_step, src.tokens)}, dst=(dst, dst_step)))
        pieces = [self.add(VxmOp(core, size, {"lhs": (src.addr + first * src_step, src_step, src.tokens)},
                                 dst=(dst + first * dst_step, dst_step), fields={"op": "copy", "lanes": self.lanes}))
                  for first, size in self.pieces(count, units)]
        return self.producers(core, tuple(pieces))[0]

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

