"""`verify-schedule`: an independent check of a scheduled `chip.program`.

It trusts nothing the scheduler decided and keeps none of its state: it
expands every instruction and transfer into per-vector events (issues, link
occupancy, SRAM reads and writes, tile loads) with the timing rules of
passes/timing.py, and checks the promises the runtime will check, on whole
numpy arrays: every instruction has a unit instance and a cycle, no unit issues
twice in a cycle, no two vectors share a link slot, routes use existing links,
every address is inside SRAM, every read finds its named producers' values
landed and not yet overwritten (SRAM is reused: a write landing before the
previous occupant's last read is caught here), every matmul multiplies the
tile it names, and `schedule.cycles` is the true makespan. The first violation (earliest cycle)
becomes a PassFailedException (a DiagnosticException) naming chip, unit, cycle
and op, which lockstep-opt prints as one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException

from compiler.errors import LockstepError
from compiler.layout import Layout
from compiler.system import System, load_system
from dialects.chip import (
    ChipInstruction,
    InputOp,
    JoinOp,
    MxmLoadOp,
    MxmMatmulOp,
    OutputOp,
    PreloadOp,
    ProgramOp,
    int_of,
)
from dialects.net import TransferOp
from passes.timing import (
    dst_landings,
    hop_cycles_of,
    hop_landings,
    hop_occupancy,
    issue_cycles,
    producers,
    ready_cycle,
    repeat_of,
    route_hops,
    slot_reads,
    transfer_buffers,
)

_KEY_LIMIT = 1 << 62  # (location, cycle) pairs are packed into one int64 key
_HOST = "host"


class _Rows:
    """Columns of per-vector events, appended op by op and joined once."""

    def __init__(self, *names: str) -> None:
        self._parts: dict[str, list[np.ndarray]] = {name: [] for name in names}

    def add(self, **columns: np.ndarray | int) -> None:
        """One event per element of the array columns (one if there are none); ints repeat."""
        n = next((v.size for v in columns.values() if isinstance(v, np.ndarray)), 1)
        for name, value in columns.items():
            self._parts[name].append(value if isinstance(value, np.ndarray) else np.full(n, value, dtype=np.int64))

    def build(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) if v else np.empty(0, dtype=np.int64) for k, v in self._parts.items()}


def _first(mask: np.ndarray, cycles: np.ndarray) -> int | None:
    """Index of the violation with the smallest cycle, None if there is none."""
    bad = np.flatnonzero(mask)
    return None if bad.size == 0 else int(bad[np.argmin(cycles[bad])])


@dataclass
class _Program:
    """The program expanded into event tables. `hop` is -1 except for transfer events."""

    system: System
    ops: list[Operation]
    issues: _Rows = field(default_factory=lambda: _Rows("op", "unit", "cycle"))
    links: _Rows = field(default_factory=lambda: _Rows("op", "hop", "link", "begin", "end"))
    reads: _Rows = field(default_factory=lambda: _Rows("op", "hop", "chip", "addr", "cycle", "slot"))
    writes: _Rows = field(default_factory=lambda: _Rows("op", "hop", "chip", "addr", "cycle"))
    loads: _Rows = field(default_factory=lambda: _Rows("op", "unit", "cycle", "ready"))
    matmuls: _Rows = field(default_factory=lambda: _Rows("op", "unit", "cycle", "load"))
    allowed: list[int] = field(default_factory=list)  # slot * len(ops) + producer op
    slots: list[str] = field(default_factory=list)
    unit_ids: dict[tuple[int, str], int] = field(default_factory=dict)
    link_ids: dict[tuple[int, int, int], int] = field(default_factory=dict)
    index: dict[Operation, int] = field(default_factory=dict)

    # -- naming -------------------------------------------------------------

    def describe(self, i: int) -> str:
        op = self.ops[i]
        hint = next((f" %{r.name_hint}" if r.name_hint else "" for r in op.results), "")
        return f"{op.name}{hint} (op {i} of the program)"

    def fail(self, i: int, hop: int, cycle: int | str, what: str) -> PassFailedException:
        op = self.ops[i]
        if isinstance(op, TransferOp):
            src, dst, port = op.links()[max(hop, 0)]
            chip, unit = src, f"link {src}->{dst} port {port}"
        else:
            chip = op.properties["core"].value.data  # type: ignore[union-attr]
            unit = op.unit.data if isinstance(op, ChipInstruction) else _HOST
        return PassFailedException(f"chip {chip}, unit {unit}, cycle {cycle}: {self.describe(i)} {what}")

    # -- expansion ----------------------------------------------------------

    def add_slot(self, i: int, name: str, tokens: Sequence[SSAValue]) -> int:
        slot = len(self.slots)
        self.slots.append(name)
        self.allowed.extend(slot * len(self.ops) + self.index[p] for p in producers(tokens))
        return slot

    def add(self, i: int, op: Operation) -> None:
        core = op.properties.get("core")
        if isinstance(core, IntegerAttr) and not 0 <= core.value.data < self.system.chips:
            raise self.fail(i, -1, "none", f"names chip {core.value.data}, but the system has chips 0..{self.system.chips - 1}")
        if isinstance(op, PreloadOp | InputOp):
            vectors = op.addresses if isinstance(op, PreloadOp) else self.extent(op)
            self.writes.add(op=i, hop=-1, chip=op.core.value.data, addr=op.addr.value.data + np.arange(vectors), cycle=0)
        elif isinstance(op, OutputOp):
            slot = self.add_slot(i, "output", op.src)
            addr = op.addr.value.data + np.arange(self.extent(op))
            self.reads.add(op=i, hop=-1, chip=op.core.value.data, addr=addr, cycle=-1, slot=slot)
        elif isinstance(op, ChipInstruction):
            self.add_instruction(i, op)
        elif isinstance(op, TransferOp):
            self.add_transfer(i, op)
        elif not isinstance(op, JoinOp):
            raise self.fail(i, -1, "?", "cannot appear in a chip.program")

    def extent(self, op: InputOp | OutputOp) -> int:
        return Layout(tuple(op.type.get_shape()), self.system.lanes).vectors

    def add_instruction(self, i: int, op: ChipInstruction) -> None:
        chip, cycle = op.core.value.data, int_of(op.cycle)
        if cycle is None:
            raise self.fail(i, -1, "none", "has no issue cycle")
        if op.unit.data not in self.system.unit_names(op.UNIT_KIND):
            raise self.fail(i, -1, cycle, f"names a unit '{op.unit.data}' that chip {chip} does not have")
        unit = self.unit_ids.setdefault((chip, op.unit.data), len(self.unit_ids))
        count, stride = repeat_of(op)
        cycles = issue_cycles(cycle, count, stride)
        self.issues.add(op=i, unit=unit, cycle=cycles)
        for name, addrs, at in slot_reads(op, cycle):
            slot = self.add_slot(i, name, op.slot_tokens(name))
            self.reads.add(op=i, hop=-1, chip=chip, addr=addrs, cycle=at, slot=slot)
        if isinstance(op, MxmLoadOp):
            self.loads.add(op=i, unit=unit, cycle=cycle, ready=ready_cycle(op, cycle, self.system))
            return
        if isinstance(op, MxmMatmulOp):
            tiles = [p for p in producers(op.weights) if isinstance(p, MxmLoadOp)]
            if len(tiles) != 1:
                raise self.fail(i, -1, cycle, "must name exactly one mxm_load as its weights")
            self.matmuls.add(op=i, unit=unit, cycle=cycles, load=self.index[tiles[0]])
        addrs, lands = dst_landings(op, cycle, self.system)
        self.writes.add(op=i, hop=-1, chip=chip, addr=addrs, cycle=lands)

    def add_transfer(self, i: int, op: TransferOp) -> None:
        starts = hop_cycles_of(op)
        if starts is None:
            raise self.fail(i, 0, "none", "has no hop cycles")
        try:
            hops = route_hops(op, self.system)
        except LockstepError as err:
            raise self.fail(i, 0, starts[0], f"uses a link the system lacks: {err}") from None
        count, stride = repeat_of(op)
        vectors = np.arange(count)
        buffers = transfer_buffers(op)
        # Hop 0 reads what the transfer names; later hops read the via buffer the previous hop filled.
        slot = self.add_slot(i, "src", op.src)
        for h, (hop, start) in enumerate(zip(hops, starts)):
            link = hop.link
            key = self.link_ids.setdefault((link.src, link.dst, link.port), len(self.link_ids))
            begin, end = hop_occupancy(start, count, stride, hop.ser)
            self.links.add(op=i, hop=h, link=key, begin=begin, end=end)
            if h:
                slot = len(self.slots)
                self.slots.append("via")
                self.allowed.append(slot * len(self.ops) + i)
            self.reads.add(op=i, hop=h, chip=link.src, addr=buffers[h] + vectors, cycle=begin, slot=slot)
            lands = hop_landings(start, count, stride, hop)
            self.writes.add(op=i, hop=h, chip=link.dst, addr=buffers[h + 1] + vectors, cycle=lands)


# -- checks ----------------------------------------------------------------------


def _check_sram(p: _Program, events: dict[str, np.ndarray], verb: str) -> None:
    size = p.system.sram_vectors
    outside = (events["addr"] < 0) | (events["addr"] >= size)
    if (bad := _first(outside, events["cycle"])) is not None:
        i, hop, addr = int(events["op"][bad]), int(events["hop"][bad]), int(events["addr"][bad])
        raise p.fail(i, hop, int(events["cycle"][bad]), f"{verb} address {addr}, outside SRAM (0..{size - 1})")


def _check_single_issue(p: _Program, issues: dict[str, np.ndarray]) -> None:
    order = np.lexsort((issues["cycle"], issues["unit"]))
    unit, cycle, op = issues["unit"][order], issues["cycle"][order], issues["op"][order]
    twice = (unit[1:] == unit[:-1]) & (cycle[1:] == cycle[:-1])
    if (bad := _first(twice, cycle[1:])) is not None:
        raise p.fail(int(op[bad + 1]), -1, int(cycle[bad]), f"issues on a unit that {p.describe(int(op[bad]))} already uses in this cycle")


def _check_links(p: _Program, links: dict[str, np.ndarray]) -> None:
    # With intervals sorted by start, any overlap shows up between neighbours.
    order = np.lexsort((links["begin"], links["link"]))
    link, begin, end = links["link"][order], links["begin"][order], links["end"][order]
    overlap = (link[1:] == link[:-1]) & (begin[1:] < end[:-1])
    if (bad := _first(overlap, begin[1:])) is not None:
        first, second = order[bad], order[bad + 1]
        raise p.fail(
            int(links["op"][second]),
            int(links["hop"][second]),
            int(begin[bad + 1]),
            f"sends a vector while the link still carries one of {p.describe(int(links['op'][first]))} "
            f"(sent at cycle {int(begin[bad])}, busy until {int(end[bad])})",
        )


def _check_tiles(p: _Program, loads: dict[str, np.ndarray], matmuls: dict[str, np.ndarray]) -> None:
    """The plane rule: every matmul iteration multiplies by the plane's latest load, which must be the named one, ready."""
    horizon = int(max(loads["cycle"].max(initial=0), matmuls["cycle"].max(initial=0))) + 1
    keys = loads["unit"] * horizon + loads["cycle"]
    order = np.argsort(keys, kind="stable")
    pos = np.searchsorted(keys[order], matmuls["unit"] * horizon + matmuls["cycle"], side="right") - 1
    row = order[np.maximum(pos, 0)]
    loaded = (pos >= 0) & (loads["unit"][row] == matmuls["unit"])
    named = loaded & (loads["op"][row] == matmuls["load"])
    ready = named & (loads["ready"][row] <= matmuls["cycle"])
    if (bad := _first(~ready, matmuls["cycle"])) is None:
        return
    i, cycle, wanted = int(matmuls["op"][bad]), int(matmuls["cycle"][bad]), p.describe(int(matmuls["load"][bad]))
    if named[bad]:
        story = f"multiplies by the tile of {wanted} before it is ready (cycle {int(loads['ready'][row[bad]])})"
    elif loaded[bad]:
        story = f"multiplies by the tile of {p.describe(int(loads['op'][row[bad]]))}, not by {wanted} as it names"
    else:
        story = f"finds no tile loaded on its plane (it names {wanted})"
    raise p.fail(i, -1, cycle, story)


def _check_operands(p: _Program, reads: dict[str, np.ndarray], writes: dict[str, np.ndarray]) -> None:
    """Every read finds, as the latest landed write to its address, a producer it names,
    and no named producer's write to that address lands after it."""
    n_ops, size = len(p.ops), p.system.sram_vectors
    horizon = int(max(reads["cycle"].max(initial=0), writes["cycle"].max(initial=0))) + 2
    if p.system.chips * size * horizon >= _KEY_LIMIT:
        raise LockstepError(f"verify-schedule: {horizon} cycles on {p.system.chips} chips overflow its int64 keys")
    # Outputs (cycle -1) read after the last cycle.
    read_cycle = np.where(reads["cycle"] < 0, horizon - 1, reads["cycle"])
    read_loc = reads["chip"] * size + reads["addr"]
    # A sentinel write at no location keeps every lookup below in range.
    write_loc = np.append(writes["chip"] * size + writes["addr"], -1)
    write_op, write_cycle = np.append(writes["op"], 0), np.append(writes["cycle"], 0)
    keys = write_loc * horizon + write_cycle
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    if (bad := _first(sorted_keys[1:] == sorted_keys[:-1], write_cycle[order[1:]])) is not None:
        first, second = order[bad], order[bad + 1]
        raise p.fail(
            int(write_op[second]),
            int(writes["hop"][second]),
            int(write_cycle[second]),
            f"lands at address {int(writes['addr'][second])} in the same cycle as {p.describe(int(write_op[first]))}",
        )
    allowed = np.unique(np.asarray(p.allowed, dtype=np.int64))
    pos = np.searchsorted(sorted_keys, read_loc * horizon + read_cycle, side="right") - 1
    latest, upcoming = order[pos], order[np.minimum(pos + 1, order.size - 1)]
    written = write_loc[latest] == read_loc
    named = written & np.isin(reads["slot"] * n_ops + write_op[latest], allowed)
    late = (
        (pos + 1 < order.size)
        & (write_loc[upcoming] == read_loc)
        & np.isin(reads["slot"] * n_ops + write_op[upcoming], allowed)
    )
    if (bad := _first(late | ~named, read_cycle)) is None:
        return
    i, hop, addr = int(reads["op"][bad]), int(reads["hop"][bad]), int(reads["addr"][bad])
    cycle: int | str = "end" if reads["cycle"][bad] < 0 else int(read_cycle[bad])
    what = f"reads address {addr} (operand '{p.slots[int(reads['slot'][bad])]}')"
    if late[bad]:
        w = upcoming[bad]
        story = f"before {p.describe(int(write_op[w]))} lands it at cycle {int(write_cycle[w])}"
    elif not written[bad]:
        story = "where nothing has landed yet"
    else:
        w = latest[bad]
        culprit = f"{p.describe(int(write_op[w]))} landed at cycle {int(write_cycle[w])}"
        # Sorted by location then cycle: the writes to this address before the culprit's.
        first = int(np.searchsorted(sorted_keys, read_loc[bad] * horizon, side="left"))
        before = order[first:pos[bad]]
        named_before = before[np.isin(reads["slot"][bad] * n_ops + write_op[before], allowed)]
        if named_before.size:
            mine = named_before[-1]
            story = (f"after the value {p.describe(int(write_op[mine]))} landed at cycle {int(write_cycle[mine])} "
                     f"was overwritten: {culprit} (a write before the last read)")
        else:
            story = f"which holds what {culprit}, not a producer it names"
    raise p.fail(i, hop, cycle, f"{what} {story}")


def _check_cycles(p: _Program, program: ProgramOp, writes: dict[str, np.ndarray], loads: dict[str, np.ndarray]) -> None:
    """schedule.cycles must be the last landing (or tile ready) cycle of anything."""
    claimed = program.attributes.get("schedule.cycles")
    shown = claimed.value.data if isinstance(claimed, IntegerAttr) else None
    lands = np.concatenate([writes["cycle"], loads["ready"]])
    ops = np.concatenate([writes["op"], loads["op"]])
    hops = np.concatenate([writes["hop"], np.full(loads["op"].size, -1)])
    cycles = int(lands.max(initial=0))
    if shown == cycles:
        return
    if cycles == 0:
        raise PassFailedException(f"chip.program says schedule.cycles {shown} but nothing lands after cycle 0")
    k = int(np.argmax(lands))
    raise p.fail(int(ops[k]), int(hops[k]), cycles, f"lands last, so the program takes {cycles} cycles, but schedule.cycles says {shown}")


def verify_program(program: ProgramOp) -> None:
    """Raises a PassFailedException for the earliest broken promise of a scheduled program."""
    ops = list(program.body.ops)
    p = _Program(load_system(program.system.data), ops, index={op: i for i, op in enumerate(ops)})
    for i, op in enumerate(ops):
        p.add(i, op)
    reads, writes = p.reads.build(), p.writes.build()
    loads, matmuls = p.loads.build(), p.matmuls.build()
    _check_sram(p, reads, "reads")
    _check_sram(p, writes, "writes")
    _check_single_issue(p, p.issues.build())
    _check_links(p, p.links.build())
    _check_tiles(p, loads, matmuls)
    _check_operands(p, reads, writes)
    _check_cycles(p, program, writes, loads)


class VerifySchedulePass(ModulePass):
    name = "verify-schedule"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for program in op.ops:
            if isinstance(program, ProgramOp):
                verify_program(program)
