"""Turns a synthesized collective schedule into `net.transfer` hops and VXM partial sums.

The synthesizer (compiler/collectives) decides which chunk crosses which link in
which order; here every hop becomes a one-link `net.transfer` between SRAM
buffers, and every partial sum a chip must form before forwarding becomes VXM
adds. Ops are emitted in the synthesized start order, so the scheduler's
first-fit link calendars reproduce its timing while keeping every dependency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.ir import SSAValue

from compiler.collectives.schedule import CollectiveSchedule
from compiler.errors import LockstepError
from compiler.system import System
from dialects.chip import VxmOp
from dialects.net import TransferOp
from passes.chip_builder import ChipBuilder, Placed


@dataclass(frozen=True)
class Partial:
    """A chunk's partial sum held in one chip's SRAM: `mask` = the ranks summed in."""

    mask: int
    addr: int
    tokens: tuple[SSAValue, ...]


@dataclass
class Realisation:
    builder: ChipBuilder
    system: System
    schedule: CollectiveSchedule
    chunk_vectors: int
    held: dict[tuple[int, int], list[Partial]] = field(default_factory=dict)

    @classmethod
    def of(cls, builder: ChipBuilder, system: System, schedule: CollectiveSchedule) -> Realisation:
        if schedule.chunk_bytes % system.vector_bytes:
            raise LockstepError(
                f"internal: {schedule.algorithm} chunks of {schedule.chunk_bytes} bytes are not whole vectors"
            )
        return cls(builder, system, schedule, schedule.chunk_bytes // system.vector_bytes)

    def hops_in_order(self) -> np.ndarray:
        return np.argsort(self.schedule.hops.start, kind="stable")

    def send(self, h: int, part: Partial, vectors: int, dst_addr: int) -> SSAValue:
        hops = self.schedule.hops
        s, d, port = int(hops.src[h]), int(hops.dst[h]), int(hops.port[h])
        link = self.system.link(s, d, port)
        return self.builder.add(TransferOp(part.tokens, s, part.addr, d, dst_addr, vectors,
                                           self.system.serialization_cycles(link), [(s, d, port)], []))

    def hop_mask(self, h: int) -> int:
        """The ranks hop `h` carries, as a bitset; a full-sum hop (`all_sources`) carries every rank."""
        hops = self.schedule.hops
        if hops.all_sources[h]:
            return (1 << len(self.schedule.participants)) - 1
        return sum(1 << int(r) for r in hops.sources(h))

    def combine(self, core: int, chunk: int, mask: int, vectors: int, out: int | None = None) -> Partial:
        """The partial sum `mask` of `chunk` on `core`: held already, or added up (into `out`, or
        fresh scratch) from disjoint held partials."""
        held = self.held.setdefault((core, chunk), [])
        for part in held:
            if part.mask == mask:
                return part
        parts, covered = [], 0
        for part in sorted(held, key=lambda p: -bin(p.mask).count("1")):
            if part.mask & ~mask == 0 and part.mask & covered == 0:
                parts.append(part)
                covered |= part.mask
        if covered != mask or len(parts) < 2:
            raise LockstepError(f"internal: chip {core} cannot form partial {mask:#x} of chunk {chunk}")
        out = self.builder.scratch([core], vectors) if out is None else out
        total = parts[0]
        for part in parts[1:]:
            token = self.builder.add(VxmOp(core, vectors, {"lhs": (total.addr, 1, total.tokens),
                                                           "rhs": (part.addr, 1, part.tokens)},
                                           dst=(out, 1), fields={"op": "add", "lanes": self.system.lanes}))
            total = Partial(total.mask | part.mask, out, (token,))
        held.append(total)
        return total


def chunk_extent(chunk: int, per_chunk: int, total: int) -> tuple[int, int]:
    """(offset, vectors) of a chunk inside a buffer of `total` vectors; vectors 0 for padding chunks."""
    offset = chunk * per_chunk
    return offset, max(0, min(per_chunk, total - offset))


def realise_all_reduce(builder: ChipBuilder, system: System, schedule: CollectiveSchedule, group: Sequence[int],
                       vectors: int, src: int, dst: int, inputs: Sequence[SSAValue]) -> list[SSAValue]:
    """Every chip ends with the sum of all chips' `vectors` at `dst`; returns one token per chip."""
    real = Realisation.of(builder, system, schedule)
    chunks = range(schedule.chunk_count)
    for rank, (core, token) in enumerate(zip(group, inputs)):
        for c in chunks:
            offset, _ = chunk_extent(c, real.chunk_vectors, vectors)
            real.held[(core, c)] = [Partial(1 << rank, src + offset, (token,))]
    everyone, members = (1 << len(group)) - 1, set(group)
    finished: set[tuple[int, int]] = set()  # (chip, chunk) whose full sum is already at dst
    hops = schedule.hops
    for h in real.hops_in_order():
        c = int(hops.chunk[h])
        offset, size = chunk_extent(c, real.chunk_vectors, vectors)
        if not size:
            continue
        mask = real.hop_mask(h)
        sender, receiver = int(hops.src[h]), int(hops.dst[h])

        def lands_final(core: int) -> bool:
            """A full sum goes straight to the result address, once per member chip."""
            return mask == everyone and core in members and (core, c) not in finished

        part = real.combine(sender, c, mask, size, dst + offset if lands_final(sender) else None)
        if part.addr == dst + offset:
            finished.add((sender, c))
        final = lands_final(receiver)
        box = dst + offset if final else builder.scratch([receiver], size)
        token = real.send(h, part, size, box)
        real.held.setdefault((receiver, c), []).append(Partial(mask, box, (token,)))
        if final:
            finished.add((receiver, c))
    results = []
    for core in group:
        written = []
        for c in chunks:
            offset, size = chunk_extent(c, real.chunk_vectors, vectors)
            if not size:
                continue
            total = real.combine(core, c, everyone, size, dst + offset)
            if total.addr != dst + offset:
                total = Partial(everyone, dst + offset,
                                (builder.copy(core, Placed(total.addr, total.tokens), dst + offset, size),))
            written.extend(total.tokens)
        results.append(builder.producers(core, tuple(written))[0])
    return results


def realise_all_gather(builder: ChipBuilder, system: System, schedule: CollectiveSchedule, group: Sequence[int],
                       shard: int, src: int, inbox: int, inputs: Sequence[SSAValue]) -> list[Placed]:
    """Every chip ends with all shards stacked at `inbox` ([chips x shard vectors]); one Placed per chip."""
    real = Realisation.of(builder, system, schedule)
    per_piece = schedule.chunk_count // len(group)
    rank_of = {core: r for r, core in enumerate(group)}
    at: dict[tuple[int, int], Placed] = {}
    arrived: dict[int, list[SSAValue]] = {core: [] for core in group}
    for rank, (core, token) in enumerate(zip(group, inputs)):
        mine = builder.copy(core, Placed(src, (token,)), inbox + rank * shard, shard)
        arrived[core].append(mine)
        for j in range(per_piece):
            offset, _ = chunk_extent(j, real.chunk_vectors, shard)
            at[(core, rank * per_piece + j)] = Placed(src + offset, (token,))
    hops = schedule.hops
    for h in real.hops_in_order():
        c, sender, receiver = int(hops.chunk[h]), int(hops.src[h]), int(hops.dst[h])
        owner, j = divmod(c, per_piece)
        offset, size = chunk_extent(j, real.chunk_vectors, shard)
        if not size or (receiver, c) in at:
            continue
        if (sender, c) not in at:
            raise LockstepError(f"internal: chip {sender} forwards chunk {c} it does not hold")
        held = at[(sender, c)]
        place = (inbox + owner * shard + offset if receiver in rank_of
                 else builder.scratch([receiver], size))
        token = real.send(h, Partial(0, held.addr, held.tokens), size, place)
        at[(receiver, c)] = Placed(place, (token,))
        if receiver in rank_of:
            arrived[receiver].append(token)
    return [builder.placed(core, inbox, arrived[core]) for core in group]
