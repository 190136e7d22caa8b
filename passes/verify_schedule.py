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

Every promise is local to one chip (SRAM per chip and address, units per chip,
a link's occupancy with its source chip), so the program is expanded and
checked one chip at a time: peak memory is one chip's events, not the whole
program's. A transfer's hop h reads and occupies its link on link.src and
lands on link.dst. Each check returns its earliest violation on the chip, and
the one reported is the earliest of the first check (in a fixed order) that
fails on any chip: the same violation a check of the whole program would find.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
    Hop,
    Kind,
    dst_run,
    hop_cycles_of,
    latency,
    op_kind,
    ready_cycle,
    repeat_of,
    route_hops,
    transfer_buffers,
)

_KEY_LIMIT = 1 << 62  # (address, cycle) pairs are packed into one int64 key
_HOST = "host"
_END = 1 << 62  # the rank of an output's read: after every cycle


Ramp = tuple[int, int] | tuple[int, int, int]
"""(base, step[, packing]): the i-th event of a row holds (base + i*step) // packing."""


class _Rows:
    """Columns of per-vector events, added op by op as ramps and expanded once for the whole
    table: a numpy call per op would cost more than the checks. An int stands for the same value
    in every event of its row."""

    def __init__(self, *names: str) -> None:
        self._names = names
        self._rows: list[tuple[int, ...]] = []

    def add(self, count: int, **columns: int | Ramp) -> None:
        """`count` events, one per iteration."""
        self._rows.append((count, *map(columns.__getitem__, self._names)))  # type: ignore[arg-type]

    def build(self) -> dict[str, np.ndarray]:
        counts = np.fromiter((row[0] for row in self._rows), dtype=np.int64, count=len(self._rows))
        starts = np.cumsum(counts) - counts
        iteration = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)
        return {name: _column([row[k] for row in self._rows], counts, iteration)
                for k, name in enumerate(self._names, start=1)}


def _column(values: list, counts: np.ndarray, iteration: np.ndarray) -> np.ndarray:
    if not any(type(v) is tuple for v in values):
        return np.repeat(np.asarray(values, dtype=np.int64).reshape(-1), counts)
    ramps = [v if type(v) is tuple else (v, 0) for v in values]
    base = np.repeat(np.fromiter((r[0] for r in ramps), dtype=np.int64, count=len(ramps)), counts)
    step = np.repeat(np.fromiter((r[1] for r in ramps), dtype=np.int64, count=len(ramps)), counts)
    column = base + step * iteration
    packing = np.fromiter((r[2] if len(r) > 2 else 1 for r in ramps), dtype=np.int64, count=len(ramps))
    return column // np.repeat(packing, counts) if (packing != 1).any() else column


def _first(mask: np.ndarray, cycles: np.ndarray) -> int | None:
    """Index of the violation with the smallest cycle, None if there is none."""
    bad = np.flatnonzero(mask)
    return None if bad.size == 0 else int(bad[np.argmin(cycles[bad])])


@dataclass
class _Program:
    """What every chip's check shares: the ops, the ops filed under each chip, each transfer's
    route, each matmul's tile, and global unit and link ids (numbered in program order, so they
    break ties between chips as a whole-program check would)."""

    system: System
    ops: list[Operation]
    index: dict[Operation, int]
    on_chip: list[list[int]]  # per chip, the ops with events on it, in program order
    routes: dict[int, list[Hop]] = field(default_factory=dict)
    tiles: dict[int, int] = field(default_factory=dict)  # matmul op -> the mxm_load it names
    unit_ids: dict[tuple[int, str], int] = field(default_factory=dict)
    link_ids: dict[tuple[int, int, int], int] = field(default_factory=dict)

    joined: dict[SSAValue, tuple[int, ...]] = field(default_factory=dict)  # a join's result -> its producers

    def producers(self, values: Iterable[SSAValue]) -> tuple[int, ...]:
        """The ops (by index) whose results `values` name, through joins; each join is resolved once."""
        found: list[int] = []
        for value in values:
            owner = value.owner
            if not isinstance(owner, JoinOp):
                if (j := self.index.get(owner)) is not None:  # type: ignore[arg-type]
                    found.append(j)
            elif (inner := self.joined.get(value)) is not None:
                found.extend(inner)
            else:
                found.extend(self.joined.setdefault(value, self.producers(owner.parts)))
        return tuple(found)

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

    # -- filing -------------------------------------------------------------

    def file(self, i: int, op: Operation) -> None:
        """Raises for what no event table can hold (in program order), else files the op under its chips."""
        core = op.properties.get("core")
        if isinstance(core, IntegerAttr) and not 0 <= core.value.data < self.system.chips:
            raise self.fail(i, -1, "none", f"names chip {core.value.data}, but the system has chips 0..{self.system.chips - 1}")
        kind = op_kind(type(op))
        if kind is Kind.HOST or kind is Kind.OUTPUT:
            self.on_chip[op.core.value.data].append(i)  # type: ignore[attr-defined]
        elif kind is Kind.INSTRUCTION:
            self.on_chip[self.file_instruction(i, op)].append(i)  # type: ignore[arg-type]
        elif kind is Kind.TRANSFER:
            for chip in self.file_transfer(i, op):  # type: ignore[arg-type]
                self.on_chip[chip].append(i)
        elif kind is None:
            raise self.fail(i, -1, "?", "cannot appear in a chip.program")

    def file_instruction(self, i: int, op: ChipInstruction) -> int:
        props = op.properties  # (not the IRDL accessors: this runs for every instruction)
        chip, cycle, unit = props["core"].value.data, int_of(props.get("cycle")), props["unit"].data  # type: ignore
        if cycle is None:
            raise self.fail(i, -1, "none", "has no issue cycle")
        if unit not in self.system.unit_names(op.UNIT_KIND):
            raise self.fail(i, -1, cycle, f"names a unit '{unit}' that chip {chip} does not have")
        self.unit_ids.setdefault((chip, unit), len(self.unit_ids))
        if isinstance(op, MxmMatmulOp):
            tiles = {j for j in self.producers(op.slot_tokens("weights")) if isinstance(self.ops[j], MxmLoadOp)}
            if len(tiles) != 1:
                raise self.fail(i, -1, cycle, "must name exactly one mxm_load as its weights")
            self.tiles[i] = tiles.pop()
        latency(op, self.system)  # an instruction the timing rules cannot time fails here, in program order
        return chip

    def file_transfer(self, i: int, op: TransferOp) -> set[int]:
        starts = hop_cycles_of(op)
        if starts is None:
            raise self.fail(i, 0, "none", "has no hop cycles")
        try:
            hops = route_hops(op, self.system)
        except LockstepError as err:
            raise self.fail(i, 0, starts[0], f"uses a link the system lacks: {err}") from None
        self.routes[i] = hops
        for hop in hops:
            self.link_ids.setdefault((hop.link.src, hop.link.dst, hop.link.port), len(self.link_ids))
        return {chip for hop in hops for chip in (hop.link.src, hop.link.dst)}


@dataclass
class _Events:
    """One chip's event tables as numpy columns. `hop` is -1 except for transfer events;
    `allowed` holds, sorted, slot * len(ops) + producer op for every producer a read slot names."""

    chip: int
    issues: dict[str, np.ndarray]
    links: dict[str, np.ndarray]
    reads: dict[str, np.ndarray]
    writes: dict[str, np.ndarray]
    loads: dict[str, np.ndarray]
    matmuls: dict[str, np.ndarray]
    slots: list[str]
    allowed: np.ndarray


class _Chip:
    """Expands the ops filed under one chip into that chip's events (of a transfer, only its hops' events here)."""

    def __init__(self, p: _Program, chip: int) -> None:
        self.p, self.chip = p, chip
        self.issues = _Rows("op", "unit", "cycle")
        self.links = _Rows("op", "hop", "link", "begin", "end")
        self.reads = _Rows("op", "hop", "addr", "cycle", "slot")
        self.writes = _Rows("op", "hop", "addr", "cycle")
        self.loads = _Rows("op", "unit", "cycle", "ready")
        self.matmuls = _Rows("op", "unit", "cycle", "load")
        self.slots: list[str] = []
        self.allowed: list[int] = []

    def events(self) -> _Events:
        for i in self.p.on_chip[self.chip]:
            self.add(i, self.p.ops[i])
        tables = (self.issues, self.links, self.reads, self.writes, self.loads, self.matmuls)
        allowed = np.sort(np.asarray(self.allowed, dtype=np.int64))
        return _Events(self.chip, *(rows.build() for rows in tables), self.slots, allowed)

    def add_slot(self, name: str, named: Iterable[int]) -> int:
        """A read operand allowed to find what the ops `named` (by index) wrote."""
        slot = len(self.slots)
        self.slots.append(name)
        self.allowed.extend(slot * len(self.p.ops) + i for i in named)
        return slot

    def add(self, i: int, op: Operation) -> None:
        kind = op_kind(type(op))
        if kind is Kind.INSTRUCTION:
            self.add_instruction(i, op)  # type: ignore[arg-type]
        elif kind is Kind.TRANSFER:
            self.add_transfer(i, op)  # type: ignore[arg-type]
        elif kind is Kind.HOST:
            vectors = op.addresses if isinstance(op, PreloadOp) else self.extent(op)  # type: ignore[arg-type]
            self.writes.add(vectors, op=i, hop=-1, addr=(op.addr.value.data, 1), cycle=0)  # type: ignore[attr-defined]
        elif kind is Kind.OUTPUT:
            slot = self.add_slot("output", self.p.producers(op.src))  # type: ignore[attr-defined]
            self.reads.add(self.extent(op), op=i, hop=-1, addr=(op.addr.value.data, 1), cycle=-1, slot=slot)  # type: ignore

    def extent(self, op: InputOp | OutputOp) -> int:
        return Layout(tuple(op.type.get_shape()), self.p.system.lanes).vectors

    def add_instruction(self, i: int, op: ChipInstruction) -> None:
        props, system = op.properties, self.p.system
        cycle = props["cycle"].value.data  # type: ignore[attr-defined]  (filing checked it is there)
        unit = self.p.unit_ids[(self.chip, props["unit"].data)]  # type: ignore[attr-defined]
        count, stride = repeat_of(op)
        self.issues.add(count, op=i, unit=unit, cycle=(cycle, stride))
        for name in op.SLOTS:
            if (addr := op.slot_addr(name)) is not None:
                slot = self.add_slot(name, self.p.producers(op.slot_tokens(name)))
                ramp = (*addr, op.slot_packing(name))
                self.reads.add(count, op=i, hop=-1, addr=ramp, cycle=(cycle, stride), slot=slot)
        op_type = type(op)
        if op_type is MxmLoadOp:
            self.loads.add(1, op=i, unit=unit, cycle=cycle, ready=ready_cycle(op, cycle, system))
            return
        if op_type is MxmMatmulOp:
            self.matmuls.add(count, op=i, unit=unit, cycle=(cycle, stride), load=self.p.tiles[i])
        run = dst_run(op, cycle, system)
        self.writes.add(run.count, op=i, hop=-1, addr=(run.base, run.step), cycle=(run.cycle, run.every))

    def add_transfer(self, i: int, op: TransferOp) -> None:
        starts = hop_cycles_of(op)
        assert starts is not None  # filing checked it
        count, stride = repeat_of(op)
        buffers = transfer_buffers(op)
        for h, (hop, start) in enumerate(zip(self.p.routes[i], starts)):
            link = hop.link
            if link.src == self.chip:
                key = self.p.link_ids[(link.src, link.dst, link.port)]
                self.links.add(count, op=i, hop=h, link=key, begin=(start, stride), end=(start + hop.ser, stride))
                # Hop 0 reads what the transfer names; later hops read the via buffer the previous hop filled.
                slot = self.add_slot("via", [i]) if h else self.add_slot("src", self.p.producers(op.src))
                self.reads.add(count, op=i, hop=h, addr=(buffers[h], 1), cycle=(start, stride), slot=slot)
            if link.dst == self.chip:
                self.writes.add(count, op=i, hop=h, addr=(buffers[h + 1], 1), cycle=(start + hop.transit, stride))


# -- checks ----------------------------------------------------------------------
#
# Each check looks at one chip's events and returns its earliest violation there, if any,
# with a rank (cycle first, then whatever a whole-program check would break ties by) that
# orders it against the same check's violations on other chips.


@dataclass(frozen=True)
class _Failure:
    rank: tuple[int, ...]
    error: PassFailedException


def _check_sram(p: _Program, events: dict[str, np.ndarray], verb: str) -> _Failure | None:
    size = p.system.sram_vectors
    outside = (events["addr"] < 0) | (events["addr"] >= size)
    if (bad := _first(outside, events["cycle"])) is None:
        return None
    i, hop, addr, cycle = (int(events[k][bad]) for k in ("op", "hop", "addr", "cycle"))
    return _Failure((cycle, i, hop), p.fail(i, hop, cycle, f"{verb} address {addr}, outside SRAM (0..{size - 1})"))


def _check_single_issue(p: _Program, e: _Events) -> _Failure | None:
    order = np.lexsort((e.issues["cycle"], e.issues["unit"]))
    unit, cycle, op = e.issues["unit"][order], e.issues["cycle"][order], e.issues["op"][order]
    twice = (unit[1:] == unit[:-1]) & (cycle[1:] == cycle[:-1])
    if (bad := _first(twice, cycle[1:])) is None:
        return None
    at = int(cycle[bad])
    story = f"issues on a unit that {p.describe(int(op[bad]))} already uses in this cycle"
    return _Failure((at, int(unit[bad])), p.fail(int(op[bad + 1]), -1, at, story))


def _check_links(p: _Program, e: _Events) -> _Failure | None:
    # With intervals sorted by start, any overlap shows up between neighbours.
    links = e.links
    order = np.lexsort((links["begin"], links["link"]))
    link, begin, end = links["link"][order], links["begin"][order], links["end"][order]
    overlap = (link[1:] == link[:-1]) & (begin[1:] < end[:-1])
    if (bad := _first(overlap, begin[1:])) is None:
        return None
    first, second, at = order[bad], order[bad + 1], int(begin[bad + 1])
    story = (f"sends a vector while the link still carries one of {p.describe(int(links['op'][first]))} "
             f"(sent at cycle {int(begin[bad])}, busy until {int(end[bad])})")
    return _Failure((at, int(link[bad])), p.fail(int(links["op"][second]), int(links["hop"][second]), at, story))


def _check_tiles(p: _Program, e: _Events) -> _Failure | None:
    """The plane rule: every matmul iteration multiplies by the plane's latest load, which must be the named one, ready."""
    loads, matmuls = e.loads, e.matmuls
    horizon = int(max(loads["cycle"].max(initial=0), matmuls["cycle"].max(initial=0))) + 1
    keys = loads["unit"] * horizon + loads["cycle"]
    order = np.argsort(keys, kind="stable")
    pos = np.searchsorted(keys[order], matmuls["unit"] * horizon + matmuls["cycle"], side="right") - 1
    row = order[np.maximum(pos, 0)]
    loaded = (pos >= 0) & (loads["unit"][row] == matmuls["unit"])
    named = loaded & (loads["op"][row] == matmuls["load"])
    ready = named & (loads["ready"][row] <= matmuls["cycle"])
    if (bad := _first(~ready, matmuls["cycle"])) is None:
        return None
    i, cycle, wanted = int(matmuls["op"][bad]), int(matmuls["cycle"][bad]), p.describe(int(matmuls["load"][bad]))
    if named[bad]:
        story = f"multiplies by the tile of {wanted} before it is ready (cycle {int(loads['ready'][row[bad]])})"
    elif loaded[bad]:
        story = f"multiplies by the tile of {p.describe(int(loads['op'][row[bad]]))}, not by {wanted} as it names"
    else:
        story = f"finds no tile loaded on its plane (it names {wanted})"
    return _Failure((cycle, i), p.fail(i, -1, cycle, story))


def _check_operands(p: _Program, e: _Events) -> _Failure | None:
    """No two writes land at one address in one cycle (ranked before any read's violation), and every
    read finds, as the latest landed write to its address, a producer it names, and no named
    producer's write to that address lands after it."""
    reads, writes, allowed = e.reads, e.writes, e.allowed
    n_ops, size = len(p.ops), p.system.sram_vectors
    horizon = int(max(reads["cycle"].max(initial=0), writes["cycle"].max(initial=0))) + 2
    if size * horizon >= _KEY_LIMIT:
        raise LockstepError(f"verify-schedule: {horizon} cycles on chip {e.chip} overflow its int64 keys")
    # Outputs (cycle -1) read after the last cycle.
    read_cycle = np.where(reads["cycle"] < 0, horizon - 1, reads["cycle"])
    # A sentinel write at no address keeps every lookup below in range.
    write_addr = np.append(writes["addr"], -1)
    write_op, write_cycle = np.append(writes["op"], 0), np.append(writes["cycle"], 0)
    keys = write_addr * horizon + write_cycle
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    if (bad := _first(sorted_keys[1:] == sorted_keys[:-1], write_cycle[order[1:]])) is not None:
        first, second = order[bad], order[bad + 1]
        addr, at = int(write_addr[second]), int(write_cycle[second])
        story = f"lands at address {addr} in the same cycle as {p.describe(int(write_op[first]))}"
        return _Failure((0, at, e.chip, addr), p.fail(int(write_op[second]), int(writes["hop"][second]), at, story))
    pos = np.searchsorted(sorted_keys, reads["addr"] * horizon + read_cycle, side="right") - 1
    latest, upcoming = order[pos], order[np.minimum(pos + 1, order.size - 1)]
    written = write_addr[latest] == reads["addr"]
    named = written & _among(reads["slot"] * n_ops + write_op[latest], allowed)
    late = (
        (pos + 1 < order.size)
        & (write_addr[upcoming] == reads["addr"])
        & _among(reads["slot"] * n_ops + write_op[upcoming], allowed)
    )
    if (bad := _first(late | ~named, read_cycle)) is None:
        return None
    i, hop, addr = int(reads["op"][bad]), int(reads["hop"][bad]), int(reads["addr"][bad])
    cycle: int | str = "end" if reads["cycle"][bad] < 0 else int(read_cycle[bad])
    what = f"reads address {addr} (operand '{e.slots[int(reads['slot'][bad])]}')"
    if late[bad]:
        w = upcoming[bad]
        story = f"before {p.describe(int(write_op[w]))} lands it at cycle {int(write_cycle[w])}"
    elif not written[bad]:
        story = "where nothing has landed yet"
    else:
        w = latest[bad]
        culprit = f"{p.describe(int(write_op[w]))} landed at cycle {int(write_cycle[w])}"
        # Sorted by address then cycle: the writes to this address before the culprit's.
        first = int(np.searchsorted(sorted_keys, addr * horizon, side="left"))
        before = order[first:pos[bad]]
        named_before = before[_among(reads["slot"][bad] * n_ops + write_op[before], allowed)]
        if named_before.size:
            mine = named_before[-1]
            story = (f"after the value {p.describe(int(write_op[mine]))} landed at cycle {int(write_cycle[mine])} "
                     f"was overwritten: {culprit} (a write before the last read)")
        else:
            story = f"which holds what {culprit}, not a producer it names"
    rank = _END if isinstance(cycle, str) else cycle
    return _Failure((1, rank, i, hop), p.fail(i, hop, cycle, f"{what} {story}"))


def _among(keys: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """`np.isin(keys, allowed)` for a sorted `allowed`, without sorting `keys` as isin does."""
    if allowed.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    at = np.minimum(np.searchsorted(allowed, keys), allowed.size - 1)
    return allowed[at] == keys


# In the order a whole-program check runs them: the first that fails on any chip is reported.
_CHECKS: tuple[Callable[[_Program, _Events], _Failure | None], ...] = (
    lambda p, e: _check_sram(p, e.reads, "reads"),
    lambda p, e: _check_sram(p, e.writes, "writes"),
    _check_single_issue,
    _check_links,
    _check_tiles,
    _check_operands,
)


def _earlier(p: _Program, e: _Events, found: _Failure | None) -> _Failure | None:
    """The earlier of `found` (ranked by check first) and the chip's first failing check."""
    checks = _CHECKS if found is None else _CHECKS[: found.rank[0] + 1]  # later checks cannot win
    for kind, check in enumerate(checks):
        if (failure := check(p, e)) is not None:
            mine = _Failure((kind, *failure.rank), failure.error)
            return mine if found is None or mine.rank < found.rank else found
    return found


def _last_landing(e: _Events) -> tuple[int, int, int, int] | None:
    """(-cycle, 1 for a tile's ready cycle else 0, op, hop) of the chip's last landing or tile ready
    cycle: the smallest over all chips names what a whole-program check would blame."""
    lands = np.concatenate([e.writes["cycle"], e.loads["ready"]])
    if lands.size == 0:
        return None
    k, n = int(np.argmax(lands)), e.writes["cycle"].size
    if k < n:
        return -int(lands[k]), 0, int(e.writes["op"][k]), int(e.writes["hop"][k])
    return -int(lands[k]), 1, int(e.loads["op"][k - n]), -1


def _check_cycles(p: _Program, program: ProgramOp, last: tuple[int, int, int, int] | None) -> None:
    """schedule.cycles must be the last landing (or tile ready) cycle of anything."""
    claimed = program.attributes.get("schedule.cycles")
    shown = claimed.value.data if isinstance(claimed, IntegerAttr) else None
    cycles = 0 if last is None else -last[0]
    if shown == cycles:
        return
    if last is None or cycles <= 0:
        raise PassFailedException(f"chip.program says schedule.cycles {shown} but nothing lands after cycle 0")
    _, _, i, hop = last
    raise p.fail(i, hop, cycles, f"lands last, so the program takes {cycles} cycles, but schedule.cycles says {shown}")


def verify_program(program: ProgramOp) -> None:
    """Raises a PassFailedException for the earliest broken promise of a scheduled program."""
    ops = list(program.body.ops)
    system = load_system(program.system.data)
    p = _Program(system, ops, {op: i for i, op in enumerate(ops)}, [[] for _ in range(system.chips)])
    for i, op in enumerate(ops):
        p.file(i, op)
    found: _Failure | None = None
    last: tuple[int, int, int, int] | None = None
    for chip in range(system.chips):
        events = _Chip(p, chip).events()
        found = _earlier(p, events, found)
        if (mine := _last_landing(events)) is not None and (last is None or mine < last):
            last = mine
        del events  # before the next chip's are built: peak memory is one chip's events
    if found is not None:
        raise found.error
    _check_cycles(p, program, last)


class VerifySchedulePass(ModulePass):
    name = "verify-schedule"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for program in op.ops:
            if isinstance(program, ProgramOp):
                verify_program(program)
