"""`schedule`: give every instruction of a `chip.program` a unit instance and an
issue cycle, and every `net.transfer` the cycle of each hop.

Greedy list scheduling in SSA order (a topological order): each op starts as
early as its producers, the units of its chip and the links of its route allow.
Units and directed links each keep a `Calendar` of busy cycles, so a unit never
issues twice in a cycle and no two vectors share a link slot by construction.
`place` reuses SRAM, so an `SramGuard` also holds every write until after the
last read and write of its address by the ops before it in program order.
The program is annotated with the predicted cycle count, the lower bounds it is
measured against and the resulting efficiency (see ../shared/DESIGN.md,
"Scheduling, and how good is good").

`Calendar`, `list_schedule` and the placers are plain Python/numpy so that a
network scheduler can reuse them without IR.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import DictionaryAttr, FloatAttr, ModuleOp, StringAttr, f64
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from compiler.errors import LockstepError
from compiler.system import Link, System, load_system
from dialects.chip import (
    ChipInstruction,
    InputOp,
    JoinOp,
    MxmLoadOp,
    MxmMatmulOp,
    OutputOp,
    PreloadOp,
    ProgramOp,
    i64_attr,
)
from dialects.net import TransferOp, int_array
from passes.timing import (
    Hop,
    Run,
    dst_run,
    last_issue,
    ready_cycle,
    repeat_of,
    route_hops,
    slot_reads,
    slot_runs,
    transfer_buffers,
    transfer_ready,
)

# -- calendars ----------------------------------------------------------------


def _pattern(count: int, stride: int, width: int) -> tuple[np.ndarray, int]:
    """Offsets and width of the intervals a repeat form occupies; back-to-back
    iterations collapse into one interval so long runs cost O(1)."""
    if stride < width:
        raise LockstepError(f"a repeat form with stride {stride} overlaps itself (each iteration holds {width} cycles)")
    if count == 1 or stride == width:
        return np.zeros(1, dtype=np.int64), (count - 1) * stride + width
    return stride * np.arange(count, dtype=np.int64), width


class Calendar:
    """Busy cycles of one resource (a unit or a directed link) as sorted,
    disjoint, half-open intervals [begins[k], ends[k]).

    Storage grows by doubling, so the common case (booking after everything
    booked so far) costs O(1) amortised; booking into a gap re-sorts."""

    def __init__(self) -> None:
        self._begins = np.empty(16, dtype=np.int64)
        self._ends = np.empty(16, dtype=np.int64)
        self._size = 0
        self.horizon = 0  # end of the last busy interval: everything from here on is free

    @property
    def begins(self) -> np.ndarray:
        return self._begins[: self._size]

    @property
    def ends(self) -> np.ndarray:
        return self._ends[: self._size]

    def first_fit(self, earliest: int, count: int, stride: int, width: int = 1) -> int:
        """The earliest start >= `earliest` at which all `count` intervals
        [start + i*stride, start + i*stride + width) are free."""
        if earliest >= self.horizon:
            return earliest
        offsets, width = _pattern(count, stride, width)
        busy_begins, busy_ends = self.begins, self.ends
        start = earliest
        while start < self.horizon:
            begins = start + offsets
            # The only busy interval that can overlap a piece is the last one beginning before the piece ends.
            idx = np.searchsorted(busy_begins, begins + width, side="left") - 1
            near = np.maximum(idx, 0)
            hit = (idx >= 0) & (busy_ends[near] > begins)
            if not hit.any():
                break
            # Any start below this keeps some overlapping piece overlapping, so jumping is exact.
            start = int((busy_ends[near[hit]] - offsets[hit]).max())
        return start

    def reserve(self, start: int, count: int, stride: int, width: int = 1) -> None:
        """Mark busy what `first_fit` found free."""
        offsets, width = _pattern(count, stride, width)
        begins = start + offsets
        if start < self.horizon:
            self._merge(begins, begins + width)
            return
        if self._size and start == self.horizon:  # touching the last interval: extend it
            self._ends[self._size - 1] = begins[0] + width
            begins = begins[1:]
        self._store(self._size, begins, begins + width)

    def _store(self, at: int, begins: np.ndarray, ends: np.ndarray) -> None:
        size = at + begins.size
        if size > self._begins.size:
            capacity = max(2 * self._begins.size, size)
            self._begins = np.resize(self._begins, capacity)
            self._ends = np.resize(self._ends, capacity)
        self._begins[at:size], self._ends[at:size] = begins, ends
        self._size = size
        self.horizon = int(self._ends[size - 1])

    def _merge(self, begins: np.ndarray, ends: np.ndarray) -> None:
        at = np.searchsorted(self.begins, begins)
        begins, ends = np.insert(self.begins, at, begins), np.insert(self.ends, at, ends)
        if (clash := np.flatnonzero(begins[1:] < ends[:-1])).size:
            raise LockstepError(f"calendar double booking at cycle {begins[clash[0] + 1]}: reserve only what first_fit found free")
        run_first = np.ones(begins.size, dtype=bool)
        run_first[1:] = begins[1:] > ends[:-1]  # touching intervals merge
        starts_at = np.flatnonzero(run_first)
        self._store(0, begins[starts_at], ends[np.append(starts_at[1:] - 1, begins.size - 1)])


# -- placers: where and when an op goes, given when its producers have landed --------


class Placer(Protocol):
    def place_instruction(self, op: ChipInstruction, earliest: int) -> tuple[str, int]:
        """(unit instance, issue cycle) of an instruction whose producers have all landed at `earliest`."""
        ...

    def place_transfer(self, op: TransferOp, hops: Sequence[Hop], earliest: int,
                       floors: Sequence[int] = ()) -> list[int]:
        """The cycle each hop starts; hop h at `floors[h]` or later when given (reused SRAM)."""
        ...


class Unlimited:
    """Unlimited units and free links: what the critical-path bound assumes."""

    def place_instruction(self, op: ChipInstruction, earliest: int) -> tuple[str, int]:
        return op.unit.data, earliest

    def place_transfer(self, op: TransferOp, hops: Sequence[Hop], earliest: int,
                       floors: Sequence[int] = ()) -> list[int]:
        starts = []
        for h, hop in enumerate(hops):
            starts.append(max(earliest, floors[h] if floors else 0))
            earliest = starts[-1] + hop.transit
        return starts


@dataclass
class Plane:
    """An MXM plane's tile: matmuls naming it that are not placed yet, and the last cycle one issues.

    A new tile may only start loading once every matmul of the current one has
    issued, since the runtime pairs each matmul with the latest load on its plane."""

    pending: int = 0
    busy_until: int = -1


def _matmul_users(load: MxmLoadOp) -> int:
    return len({use.operation for use in load.result.uses if isinstance(use.operation, MxmMatmulOp)})


@dataclass
class Machine:
    """Calendars of every unit and directed link, filled greedily: earliest start, lowest-numbered unit on ties."""

    system: System
    units: defaultdict[tuple[int, str], Calendar] = field(default_factory=lambda: defaultdict(Calendar))
    links: defaultdict[Link, Calendar] = field(default_factory=lambda: defaultdict(Calendar))
    planes: defaultdict[tuple[int, str], Plane] = field(default_factory=lambda: defaultdict(Plane))
    tile_plane: dict[MxmLoadOp, str] = field(default_factory=dict)

    def place_instruction(self, op: ChipInstruction, earliest: int) -> tuple[str, int]:
        chip = op.core.value.data
        count, stride = repeat_of(op)
        if isinstance(op, MxmMatmulOp):
            return self._place_matmul(op, chip, earliest)
        candidates = self.system.unit_names(op.UNIT_KIND)
        floors = [earliest] * len(candidates)
        if isinstance(op, MxmLoadOp):
            floors = [max(earliest, self.planes[chip, p].busy_until + 1) for p in candidates]
            free = [i for i, p in enumerate(candidates) if not self.planes[chip, p].pending]
            if not free:
                raise LockstepError(
                    f"chip {chip}: an mxm_load finds every MXM plane holding a tile whose matmuls come later "
                    "in program order; emit a tile's matmuls before loading more tiles than there are planes"
                )
            candidates, floors = [candidates[i] for i in free], [floors[i] for i in free]
        unit, start = "", -1
        for candidate, floor in zip(candidates, floors):
            found = self.units[chip, candidate].first_fit(floor, count, stride)
            if start < 0 or found < start:
                unit, start = candidate, found
            if start == earliest:  # nothing can beat it; ties go to the lowest-numbered unit
                break
        self.units[chip, unit].reserve(start, count, stride)
        if isinstance(op, MxmLoadOp):
            self.tile_plane[op] = unit
            self.planes[chip, unit] = Plane(_matmul_users(op), last_issue(start, count, stride))
        return unit, start

    def _place_matmul(self, op: MxmMatmulOp, chip: int, earliest: int) -> tuple[str, int]:
        load = op.weights[0].owner
        if not isinstance(load, MxmLoadOp) or load not in self.tile_plane:
            raise LockstepError(f"chip {chip}: mxm_matmul weights must name an mxm_load placed before it")
        unit = self.tile_plane[load]
        count, stride = repeat_of(op)
        calendar = self.units[chip, unit]
        start = calendar.first_fit(earliest, count, stride)
        calendar.reserve(start, count, stride)
        plane = self.planes[chip, unit]
        plane.pending -= 1
        plane.busy_until = max(plane.busy_until, last_issue(start, count, stride))
        return unit, start

    def place_transfer(self, op: TransferOp, hops: Sequence[Hop], earliest: int,
                       floors: Sequence[int] = ()) -> list[int]:
        count, stride = repeat_of(op)
        starts = []
        for h, hop in enumerate(hops):
            # Store and forward: vector i leaves a chip once it has landed there.
            calendar = self.links[hop.link]
            start = calendar.first_fit(max(earliest, floors[h] if floors else 0), count, stride, hop.ser)
            calendar.reserve(start, count, stride, hop.ser)
            starts.append(start)
            earliest = start + hop.transit
        return starts


# -- reused SRAM ------------------------------------------------------------------


class SramGuard:
    """Per chip and SRAM address, the last cycle at which an op placed so far reads the address or
    lands a write in it; every later write must land after that.

    `place` gives a dead value's space to values defined after it, and the greedy scheduler may
    start an op earlier in time than ops before it in program order. Landing after every earlier
    read and write of its address is what keeps such a write from overwriting a value still to be
    read (write after read) or being overwritten by a late predecessor (write after write).
    Program order is SSA order, so when an op is placed every earlier access to the addresses it
    writes is known. Space used for the first time costs nothing. Accesses are runs (strided
    addresses, evenly spaced cycles), looked at through numpy slices."""

    def __init__(self) -> None:
        # chip -> last use per address (-1: none yet); int32 holds 2**31 cycles, 2.4 s of a 900 MHz
        # clock, at half the memory: 576 chips of 220 MiB would take 1.3 GB in int64.
        self._busy: dict[int, np.ndarray] = {}

    def floor(self, chip: int, run: Run) -> int:
        """The earliest start from which the writes of `run` (cycles counted from the start) all
        land after their address's last use."""
        busy = self._busy.get(chip)
        if busy is None:
            return 0
        if run.step == 0 or run.count == 1:  # one address: the first landing binds
            last = int(busy[run.base]) if run.base < busy.size else -1
            return max(0, last + 1 - run.cycle)
        view, order = _along(busy, run)
        if view.size == 0:
            return 0
        return max(0, int((view - run.every * order).max()) + 1 - run.cycle)

    def use(self, chip: int, run: Run) -> None:
        """Record the accesses of `run` (absolute cycles)."""
        last = run.cycle + run.every * (run.count - 1)
        if last >= _CYCLE_LIMIT:
            raise LockstepError(f"schedule: chip {chip} would run past cycle {_CYCLE_LIMIT - 1}, the longest program it keeps")
        if run.step == 0 or run.count == 1:  # one address: the last access counts
            busy = self._room(chip, run.base + 1)
            busy[run.base] = max(int(busy[run.base]), last)
            return
        busy = self._room(chip, max(run.base, run.base + run.step * (run.count - 1)) + 1)
        view, order = _along(busy, run)
        np.maximum(view, run.cycle + run.every * order, out=view)

    def use_addresses(self, chip: int, addrs: np.ndarray, cycles: np.ndarray) -> None:
        """Accesses that are no run (an int8 load's packed rows)."""
        np.maximum.at(self._room(chip, int(addrs.max()) + 1), addrs, cycles)

    def _room(self, chip: int, size: int) -> np.ndarray:
        busy = self._busy.get(chip, np.empty(0, dtype=np.int32))
        if busy.size < size:
            busy = np.concatenate([busy, np.full(max(size, busy.size + busy.size // 2) - busy.size, -1, dtype=np.int32)])
            self._busy[chip] = busy
        return busy

    def instruction_floor(self, op: ChipInstruction, system: System) -> int:
        return self.floor(op.core.value.data, dst_run(op, 0, system)) if op.HAS_DST else 0

    def instruction_placed(self, op: ChipInstruction, cycle: int, system: System) -> None:
        chip = op.core.value.data
        if isinstance(op, MxmLoadOp) and op.is_int8:
            for _, addrs, cycles in slot_reads(op, cycle):
                self.use_addresses(chip, addrs, cycles)
        else:
            for _, run in slot_runs(op, cycle):
                self.use(chip, run)
        if op.HAS_DST:
            self.use(chip, dst_run(op, cycle, system))

    def hop_floors(self, op: TransferOp, buffers: Sequence[int], hops: Sequence[Hop]) -> list[int]:
        """Per hop, the earliest start at which its vectors land after the last use of their buffer."""
        count, stride = repeat_of(op)
        return [self.floor(hop.link.dst, Run(buffers[h + 1], 1, count, hop.transit, stride))
                for h, hop in enumerate(hops)]

    def transfer_placed(self, op: TransferOp, buffers: Sequence[int], hops: Sequence[Hop],
                        starts: Sequence[int]) -> None:
        count, stride = repeat_of(op)
        for h, (hop, start) in enumerate(zip(hops, starts)):
            self.use(hop.link.src, Run(buffers[h], 1, count, start, stride))
            self.use(hop.link.dst, Run(buffers[h + 1], 1, count, start + hop.transit, stride))


_CYCLE_LIMIT = 1 << 31  # SramGuard keeps cycles in int32


def _along(busy: np.ndarray, run: Run) -> tuple[np.ndarray, np.ndarray]:
    """The slice of `busy` a run with a non-zero step covers, in address order (only the addresses
    below busy.size), and the iteration of each of its elements."""
    if run.step > 0:
        view = busy[run.base:run.base + run.step * (run.count - 1) + 1:run.step]
        return view, np.arange(view.size, dtype=np.int64)
    low = run.base + run.step * (run.count - 1)  # the last iteration's address is the lowest
    view = busy[low:run.base + 1:-run.step]
    return view, run.count - 1 - np.arange(view.size, dtype=np.int64)


# -- the list scheduler ----------------------------------------------------------


@dataclass
class Schedule:
    units: dict[ChipInstruction, tuple[str, int]]
    hops: dict[TransferOp, list[int]]
    cycles: int


def timed_routes(ops: Iterable[Operation], system: System) -> dict[TransferOp, list[Hop]]:
    """Every transfer's route as timed hops, looked up once."""
    return {op: route_hops(op, system) for op in ops if isinstance(op, TransferOp)}


def list_schedule(
    ops: Iterable[Operation], routes: Mapping[TransferOp, Sequence[Hop]], system: System, placer: Placer,
    guard: SramGuard | None = None,
) -> Schedule:
    """Place `ops` (in program order, a topological order) one by one as early as `placer` allows
    and, with a `guard`, as late as reused SRAM needs. The critical-path bound runs without one: it
    is the bound of the dataflow, whichever addresses `place` chose.

    Dependencies are whole-op and conservative: an op waits until every
    producer it names (through joins) has fully landed, even if its first
    iterations only read vectors that landed earlier."""
    ready: dict[SSAValue, int] = {}
    schedule = Schedule({}, {}, 0)
    for op in ops:
        earliest = max((ready[v] for v in op.operands), default=0)
        if isinstance(op, PreloadOp | InputOp):  # host writes, at cycle 0 into space no op used before
            ready[op.result] = 0
        elif isinstance(op, JoinOp):
            ready[op.result] = earliest
        elif isinstance(op, ChipInstruction):
            if guard is not None:
                earliest = max(earliest, guard.instruction_floor(op, system))
            unit, cycle = placer.place_instruction(op, earliest)
            schedule.units[op] = unit, cycle
            ready[op.result] = ready_cycle(op, cycle, system)
            if guard is not None:
                guard.instruction_placed(op, cycle, system)
        elif isinstance(op, TransferOp):
            hops = routes[op]
            if guard is None:
                starts = placer.place_transfer(op, hops, earliest)
            else:
                buffers = transfer_buffers(op)
                starts = placer.place_transfer(op, hops, earliest, guard.hop_floors(op, buffers, hops))
                guard.transfer_placed(op, buffers, hops, starts)
            schedule.hops[op] = starts
            ready[op.result] = transfer_ready(starts, *repeat_of(op), hops)
        elif not isinstance(op, OutputOp):
            raise LockstepError(f"schedule: unexpected {op.name} inside chip.program")
    schedule.cycles = max(ready.values(), default=0)
    return schedule


def lower_bounds(ops: Sequence[Operation], routes: Mapping[TransferOp, Sequence[Hop]], system: System) -> dict[str, int]:
    """Cycle counts no schedule of `ops` can beat; see DESIGN.md for their meaning."""
    issues: Counter[tuple[int, str]] = Counter()
    link_busy: Counter[Link] = Counter()
    longest_route = 0
    for op in ops:
        if isinstance(op, ChipInstruction):
            issues[op.core.value.data, op.UNIT_KIND] += op.count.value.data
        elif isinstance(op, TransferOp):
            hops = routes[op]
            for hop in hops:
                link_busy[hop.link] += op.count.value.data * hop.ser
            longest_route = max(longest_route, sum(hop.transit for hop in hops))
    from passes.mxm_bound import mxm_path_bound  # (it builds on this module's list scheduler)

    bounds = {
        "critical_path": list_schedule(ops, routes, system, Unlimited()).cycles,
        "mxm_path": mxm_path_bound(ops, routes, system),
        # Issues are one per unit per cycle, and the last one still has to land (latency >= 1).
        "busiest_unit": max((-(-n // system.units[kind]) for (_, kind), n in issues.items()), default=0),
        "busiest_link": max(link_busy.values(), default=0),
    }
    if link_busy:
        bounds["hop_latency"] = longest_route
    return bounds


def annotate(program: ProgramOp, schedule: Schedule, bounds: dict[str, int]) -> None:
    """Write the schedule and its report onto the IR."""
    for op, (unit, cycle) in schedule.units.items():
        op.properties["unit"] = StringAttr(unit)
        op.properties["cycle"] = i64_attr(cycle)
    for op, starts in schedule.hops.items():
        op.properties["hops"] = int_array(starts)
    efficiency = max(bounds.values()) / schedule.cycles if schedule.cycles else 1.0
    program.attributes["schedule.cycles"] = i64_attr(schedule.cycles)
    program.attributes["schedule.bounds"] = DictionaryAttr({k: i64_attr(v) for k, v in bounds.items()})
    program.attributes["schedule.efficiency"] = FloatAttr(efficiency, f64)


class SchedulePass(ModulePass):
    name = "schedule"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for program in op.ops:
            if isinstance(program, ProgramOp):
                system = load_system(program.system.data)
                ops = list(program.body.ops)
                routes = timed_routes(ops, system)
                schedule = list_schedule(ops, routes, system, Machine(system), SramGuard())
                annotate(program, schedule, lower_bounds(ops, routes, system))
