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
from xdsl.dialects.builtin import DictionaryAttr, FloatAttr, ModuleOp, f64
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from compiler.errors import LockstepError
from compiler.system import Link, System, load_system
from dialects.chip import (
    ChipInstruction,
    MxmLoadOp,
    MxmMatmulOp,
    ProgramOp,
    i64_attr,
    str_attr,
)
from dialects.net import TransferOp, int_array
from passes.timing import (
    Hop,
    Kind,
    Run,
    dst_run,
    last_issue,
    op_kind,
    ready_cycle,
    repeat_of,
    route_hops,
    transfer_buffers,
    transfer_ready,
)

# -- calendars ----------------------------------------------------------------


def _span(count: int, stride: int, width: int) -> int | None:
    """The width of the one interval a repeat form occupies when it has one iteration or
    back-to-back ones (so long runs cost O(1)), else None."""
    if stride < width:
        raise LockstepError(f"a repeat form with stride {stride} overlaps itself (each iteration holds {width} cycles)")
    return (count - 1) * stride + width if count == 1 or stride == width else None


def _pattern(count: int, stride: int, width: int) -> tuple[np.ndarray, int]:
    """Offsets and width of the intervals a repeat form occupies."""
    span = _span(count, stride, width)
    if span is not None:
        return np.zeros(1, dtype=np.int64), span
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
        span = _span(count, stride, width)
        if span is not None:
            return self._first_gap(earliest, span)
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

    def _first_gap(self, start: int, width: int) -> int:
        """`first_fit` of one interval, with scalars: most ops are one."""
        busy_begins, busy_ends = self.begins, self.ends
        while start < self.horizon:
            idx = int(np.searchsorted(busy_begins, start + width)) - 1
            if idx < 0 or busy_ends[idx] <= start:
                break
            start = int(busy_ends[idx])
        return start

    def reserve(self, start: int, count: int, stride: int, width: int = 1) -> None:
        """Mark busy what `first_fit` found free."""
        span = _span(count, stride, width)
        if span is not None and start >= self.horizon:  # the common case, without arrays
            if self._size and start == self.horizon:  # touching the last interval: extend it
                self._ends[self._size - 1] = self.horizon = start + span
            else:
                self._store(self._size, np.array([start]), np.array([start + span]))
            return
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


# -- the program as the scheduler reads it -------------------------------------------


@dataclass(slots=True)
class Step:
    """One op of a program with what the list scheduler needs of it, read off the IR once and
    shared by every `list_schedule` run over the program (xDSL accessors cost more than the
    scheduling itself). Cycles in `lands`, `dst` and `reads` count from the op's issue."""

    op: Operation
    index: int
    kind: Kind
    deps: tuple[int, ...]  # the steps whose results it names, by index
    chip: int = 0
    count: int = 1
    stride: int = 1
    unit_kind: str = ""
    loads_tile: bool = False
    multiplies: bool = False
    tile: int = -1  # a matmul's mxm_load step (-1: its weights name none)
    tile_users: int = 0  # an mxm_load: how many matmuls name its tile
    lands: int = 0  # an instruction's results have all landed `lands` cycles after it issues
    dst: Run | None = None
    reads: tuple[int, ...] = ()  # base, step, packing of each addressed operand, flat: a step per op is many
    hops: Sequence[Hop] = ()
    buffers: Sequence[int] = ()


def program_steps(ops: Iterable[Operation], routes: Mapping[TransferOp, Sequence[Hop]], system: System) -> list[Step]:
    """`ops` (in program order) as steps."""
    index_of: dict[SSAValue, int] = {}
    steps: list[Step] = []
    for i, op in enumerate(ops):
        try:
            deps = tuple([index_of[v] for v in op.operands])
        except KeyError:
            raise LockstepError(f"schedule: {op.name} names a value no op before it in chip.program defines") from None
        kind = op_kind(type(op))
        if kind is None:
            raise LockstepError(f"schedule: unexpected {op.name} inside chip.program")
        if kind is Kind.INSTRUCTION:
            step = _instruction_step(op, i, deps, steps, system)  # type: ignore[arg-type]
        elif kind is Kind.TRANSFER:
            count, stride = repeat_of(op)  # type: ignore[arg-type]
            hops = routes[op]  # type: ignore[index]
            step = Step(op, i, kind, deps, count=count, stride=stride, hops=hops,
                        buffers=transfer_buffers(op), lands=transfer_ready([0], count, stride, hops))  # type: ignore[arg-type]
        else:
            step = Step(op, i, kind, deps)
        for result in op.results:
            index_of[result] = i
        steps.append(step)
    return steps


def _instruction_step(op: ChipInstruction, i: int, deps: tuple[int, ...], before: Sequence[Step],
                      system: System) -> Step:
    count, stride = repeat_of(op)
    step = Step(op, i, Kind.INSTRUCTION, deps, op.core.value.data, count, stride, op.UNIT_KIND,
                lands=ready_cycle(op, 0, system), reads=_reads(op),
                dst=dst_run(op, 0, system) if op.HAS_DST else None)
    if isinstance(op, MxmLoadOp):
        step.loads_tile, step.tile_users = True, _matmul_users(op)
    elif isinstance(op, MxmMatmulOp):
        step.multiplies = True
        # weights, the first operand group, holds one token (verified); read it without the
        # segment-size accessor, which costs more than the rest of the step
        if before[deps[0]].loads_tile:
            step.tile = deps[0]
    return step


def _reads(op: ChipInstruction) -> tuple[int, ...]:
    reads: list[int] = []
    for name in op.SLOTS:
        if (slot := op.slot_addr(name)) is not None:
            reads += (*slot, op.slot_packing(name))
    return tuple(reads)


def _matmul_users(load: MxmLoadOp) -> int:
    uses = load.results[0].uses  # (the `result` accessor slices the results on every read)
    return len({use.operation for use in uses if isinstance(use.operation, MxmMatmulOp)})


# -- placers: where and when an op goes, given when its producers have landed --------


class Placer(Protocol):
    def place_instruction(self, step: Step, earliest: int) -> tuple[str, int]:
        """(unit instance, issue cycle) of an instruction whose producers have all landed at `earliest`."""
        ...

    def place_transfer(self, step: Step, earliest: int, floors: Sequence[int] = ()) -> list[int]:
        """The cycle each hop starts; hop h at `floors[h]` or later when given (reused SRAM)."""
        ...


class Unlimited:
    """Unlimited units and free links: what the critical-path bound assumes."""

    def place_instruction(self, step: Step, earliest: int) -> tuple[str, int]:
        return step.op.unit.data, earliest  # type: ignore[attr-defined]

    def place_transfer(self, step: Step, earliest: int, floors: Sequence[int] = ()) -> list[int]:
        starts = []
        for h, hop in enumerate(step.hops):
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


@dataclass
class Machine:
    """Calendars of every unit and directed link, filled greedily: earliest start, lowest-numbered unit on ties."""

    system: System
    units: defaultdict[tuple[int, str], Calendar] = field(default_factory=lambda: defaultdict(Calendar))
    links: defaultdict[Link, Calendar] = field(default_factory=lambda: defaultdict(Calendar))
    planes: defaultdict[tuple[int, str], Plane] = field(default_factory=lambda: defaultdict(Plane))
    tile_plane: dict[int, str] = field(default_factory=dict)  # mxm_load step -> its plane

    def place_instruction(self, step: Step, earliest: int) -> tuple[str, int]:
        if step.multiplies:
            return self._place_matmul(step, earliest)
        chip, count, stride = step.chip, step.count, step.stride
        candidates = self.system.unit_names(step.unit_kind)
        floors = [earliest] * len(candidates)
        if step.loads_tile:
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
        if step.loads_tile:
            self.tile_plane[step.index] = unit
            self.planes[chip, unit] = Plane(step.tile_users, last_issue(start, count, stride))
        return unit, start

    def _place_matmul(self, step: Step, earliest: int) -> tuple[str, int]:
        if (unit := self.tile_plane.get(step.tile)) is None:
            raise LockstepError(f"chip {step.chip}: mxm_matmul weights must name an mxm_load placed before it")
        count, stride = step.count, step.stride
        calendar = self.units[step.chip, unit]
        start = calendar.first_fit(earliest, count, stride)
        calendar.reserve(start, count, stride)
        plane = self.planes[step.chip, unit]
        plane.pending -= 1
        plane.busy_until = max(plane.busy_until, last_issue(start, count, stride))
        return unit, start

    def place_transfer(self, step: Step, earliest: int, floors: Sequence[int] = ()) -> list[int]:
        count, stride = step.count, step.stride
        starts = []
        for h, hop in enumerate(step.hops):
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
    addresses, evenly spaced cycles), looked at through numpy slices.

    `holes` gives, per chip, the widest span of addresses no op writes (`unwritten_spans`): the
    preloaded weights, which are only ever read. Their reads need no record, and the table leaves
    the span out: in a decoder that is most reads and most of SRAM."""

    def __init__(self, holes: Mapping[int, tuple[int, int]] | None = None) -> None:
        # chip -> last use per address, the hole left out (-1: none yet); int32 holds 2**31 cycles,
        # 2.4 s of a 900 MHz clock, at half the memory of int64.
        self._busy: dict[int, np.ndarray] = {}
        self._holes = holes or {}

    def floor(self, chip: int, run: Run) -> int:
        """The earliest start from which the writes of `run` (cycles counted from the start) all
        land after their address's last use."""
        busy = self._busy.get(chip)
        if busy is None:
            return 0
        lo, hi = self._holes.get(chip, _NO_HOLE)
        at = run.base - (hi - lo) if run.base >= hi else run.base  # (no write reaches into the hole)
        if run.step == 0 or run.count == 1:  # one address: the first landing binds
            last = int(busy[at]) if at < busy.size else -1
            return max(0, last + 1 - run.cycle)
        view, order = _along(busy, Run(at, run.step, run.count, run.cycle, run.every))
        if view.size == 0:
            return 0
        return max(0, int((view - run.every * order).max()) + 1 - run.cycle)

    def use(self, chip: int, run: Run, at: int = 0) -> None:
        """Record the accesses of `run`, its cycles counted from `at` (a Run per placed op would cost more)."""
        self._record(chip, run.base, run.step, run.count, run.cycle + at, run.every)

    def _record(self, chip: int, base: int, step: int, count: int, first: int, every: int) -> None:
        """`use` in scalars, leaving out the accesses that fall into the chip's hole."""
        lo, hi = self._holes.get(chip, _NO_HOLE)
        if step == 0 or count == 1:
            if base < lo:
                self._store_run(chip, base, 0, 1, first + every * (count - 1), 0)  # the last access counts
            elif base >= hi:
                self._store_run(chip, base - (hi - lo), 0, 1, first + every * (count - 1), 0)
            return
        # Iterations [0, below) lie under the hole and [above, count) over it (step > 0), or the
        # other way round (step < 0); the part over it moves down by the hole's width.
        if step > 0:
            below, above = _iterations_under(base, step, count, lo), _iterations_under(base, step, count, hi)
            self._store_run(chip, base, step, below, first, every)
            if above < count:
                self._store_run(chip, base + above * step - (hi - lo), step, count - above, first + above * every, every)
        else:
            over, beneath = _iterations_over(base, step, count, hi), _iterations_over(base, step, count, lo)
            self._store_run(chip, base - (hi - lo), step, over, first, every)
            if beneath < count:
                self._store_run(chip, base + beneath * step, step, count - beneath, first + beneath * every, every)

    def _store_run(self, chip: int, at: int, step: int, count: int, first: int, every: int) -> None:
        """Raise the last use of table entries at + i*step to first + i*every."""
        if count <= 0:
            return
        last = first + every * (count - 1)
        _check_limit(chip, last)
        if step == 0:
            busy = self._room(chip, at + 1)
            busy[at] = max(int(busy[at]), last)
            return
        busy = self._room(chip, max(at, at + step * (count - 1)) + 1)
        view, order = _along(busy, Run(at, step, count, first, every))
        np.maximum(view, first + every * order, out=view)

    def use_addresses(self, chip: int, addrs: np.ndarray, cycles: np.ndarray) -> None:
        """Accesses that are no run (an int8 load's packed rows)."""
        lo, hi = self._holes.get(chip, _NO_HOLE)
        if hi > lo:
            kept = (addrs < lo) | (addrs >= hi)
            addrs, cycles = addrs[kept], cycles[kept]
            addrs = np.where(addrs >= hi, addrs - (hi - lo), addrs)
        if addrs.size == 0:
            return
        _check_limit(chip, int(cycles.max()))
        # in the table's own dtype: ufunc.at is several times slower when it has to cast
        np.maximum.at(self._room(chip, int(addrs.max()) + 1), addrs, cycles.astype(np.int32))

    def _room(self, chip: int, size: int) -> np.ndarray:
        busy = self._busy.get(chip)
        if busy is None:
            busy = np.empty(0, dtype=np.int32)
        if busy.size < size:
            busy = np.concatenate([busy, np.full(max(size, busy.size + busy.size // 2) - busy.size, -1, dtype=np.int32)])
            self._busy[chip] = busy
        return busy

    def instruction_floor(self, step: Step) -> int:
        return self.floor(step.chip, step.dst) if step.dst is not None else 0

    def instruction_placed(self, step: Step, cycle: int) -> None:
        lo, hi = self._holes.get(step.chip, _NO_HOLE)
        reads = step.reads
        for k in range(0, len(reads), 3):
            base, stride, packing = reads[k], reads[k + 1], reads[k + 2]
            end = base + stride * (step.count - 1)
            if lo <= min(base, end) // packing and max(base, end) // packing < hi:  # only ever read: no record
                continue
            if packing > 1:
                # packed rows (an int8 load's weights): several iterations share an address
                addrs = (base + stride * np.arange(step.count, dtype=np.int64)) // packing
                self.use_addresses(step.chip, addrs, cycle + step.stride * np.arange(step.count, dtype=np.int64))
            else:
                self._record(step.chip, base, stride, step.count, cycle, step.stride)
        if step.dst is not None:
            self.use(step.chip, step.dst, cycle)

    def hop_floors(self, step: Step) -> list[int]:
        """Per hop, the earliest start at which its vectors land after the last use of their buffer."""
        return [self.floor(hop.link.dst, Run(step.buffers[h + 1], 1, step.count, hop.transit, step.stride))
                for h, hop in enumerate(step.hops)]

    def transfer_placed(self, step: Step, starts: Sequence[int]) -> None:
        for h, (hop, start) in enumerate(zip(step.hops, starts)):
            self.use(hop.link.src, Run(step.buffers[h], 1, step.count, start, step.stride))
            self.use(hop.link.dst, Run(step.buffers[h + 1], 1, step.count, start + hop.transit, step.stride))


_NO_HOLE = (0, 0)


def _iterations_under(base: int, step: int, count: int, bound: int) -> int:
    """How many iterations of an increasing run (step > 0) address below `bound`: they come first."""
    return min(count, max(0, -(-(bound - base) // step)))


def _iterations_over(base: int, step: int, count: int, bound: int) -> int:
    """How many iterations of a decreasing run (step < 0) address at or above `bound`: they come first."""
    return min(count, max(0, (base - bound) // -step + 1))


def unwritten_spans(steps: Iterable[Step]) -> dict[int, tuple[int, int]]:
    """Per chip, the widest span [lo, hi) of SRAM addresses below its highest written one that no
    instruction or transfer hop writes (what `place` put the weights in)."""
    chips, starts, ends = [], [], []
    for step in steps:
        if step.dst is not None:
            run = step.dst
            last = run.base + run.step * (run.count - 1)
            chips.append(step.chip)
            starts.append(min(run.base, last))
            ends.append(max(run.base, last) + 1)
        for h, hop in enumerate(step.hops):
            chips.append(hop.link.dst)
            starts.append(step.buffers[h + 1])
            ends.append(step.buffers[h + 1] + step.count)
    holes: dict[int, tuple[int, int]] = {}
    if not chips:
        return holes
    chip, start, end = (np.asarray(c, dtype=np.int64) for c in (chips, starts, ends))
    order = np.lexsort((start, chip))
    chip, start, end = chip[order], start[order], end[order]
    for c in np.unique(chip).tolist():
        lo_i, hi_i = np.searchsorted(chip, [c, c + 1])
        covered = np.maximum.accumulate(end[lo_i:hi_i])  # the end of everything written up to here
        gap_lo = np.concatenate(([0], covered[:-1]))
        gaps = start[lo_i:hi_i] - gap_lo
        k = int(np.argmax(gaps))
        if gaps[k] > 0:
            holes[c] = int(gap_lo[k]), int(start[lo_i + k])
    return holes


_CYCLE_LIMIT = 1 << 31  # SramGuard keeps cycles in int32


def _check_limit(chip: int, last: int) -> None:
    if last >= _CYCLE_LIMIT:
        raise LockstepError(f"schedule: chip {chip} would run past cycle {_CYCLE_LIMIT - 1}, the longest program it keeps")


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
    """Where and when each step goes, by step index (lists, not per-op tuples: a 576-chip program
    has millions of steps), and the makespan. Empty lists when only the makespan was asked for."""

    cycles: int = 0
    units: list[str] = field(default_factory=list)  # an instruction's unit instance
    issues: list[int] = field(default_factory=list)  # an instruction's issue cycle
    hops: dict[int, list[int]] = field(default_factory=dict)  # a transfer's hop starts


def timed_routes(ops: Iterable[Operation], system: System) -> dict[TransferOp, list[Hop]]:
    """Every transfer's route as timed hops, looked up once."""
    return {op: route_hops(op, system) for op in ops if isinstance(op, TransferOp)}


def list_schedule(steps: Sequence[Step], placer: Placer, guard: SramGuard | None = None,
                  keep: bool = True) -> Schedule:
    """Place the program's steps (in program order, a topological order) one by one as early as
    `placer` allows and, with a `guard`, as late as reused SRAM needs. The critical-path bound runs
    without one: it is the bound of the dataflow, whichever addresses `place` chose. Without
    `keep`, only the makespan is kept (the bounds' runs).

    Dependencies are whole-op and conservative: an op waits until every
    producer it names (through joins) has fully landed, even if its first
    iterations only read vectors that landed earlier."""
    ready = [0] * len(steps)  # per step, when its result has landed (0 for what has none)
    schedule = Schedule(0, [""] * len(steps), [0] * len(steps)) if keep else Schedule()
    for step in steps:
        earliest = max([ready[d] for d in step.deps], default=0)
        kind = step.kind
        if kind is Kind.JOIN:
            ready[step.index] = earliest
        elif kind is Kind.INSTRUCTION:
            if guard is not None:
                earliest = max(earliest, guard.instruction_floor(step))
            unit, cycle = placer.place_instruction(step, earliest)
            if keep:
                schedule.units[step.index], schedule.issues[step.index] = unit, cycle
            ready[step.index] = cycle + step.lands
            if guard is not None:
                guard.instruction_placed(step, cycle)
        elif kind is Kind.TRANSFER:
            if guard is None:
                starts = placer.place_transfer(step, earliest)
            else:
                starts = placer.place_transfer(step, earliest, guard.hop_floors(step))
                guard.transfer_placed(step, starts)
            if keep:
                schedule.hops[step.index] = starts
            ready[step.index] = starts[-1] + step.lands
        # a host write lands at cycle 0, into space no op used before; an output produces nothing
    schedule.cycles = max(ready, default=0)
    return schedule


def lower_bounds(steps: Sequence[Step], system: System) -> dict[str, int]:
    """Cycle counts no schedule of the program can beat; see DESIGN.md for their meaning."""
    issues: Counter[tuple[int, str]] = Counter()
    link_busy: Counter[Link] = Counter()
    longest_route = 0
    for step in steps:
        if step.kind is Kind.INSTRUCTION:
            issues[step.chip, step.unit_kind] += step.count
        elif step.kind is Kind.TRANSFER:
            for hop in step.hops:
                link_busy[hop.link] += step.count * hop.ser
            longest_route = max(longest_route, sum(hop.transit for hop in step.hops))
    # (imported here: mxm_bound builds on this module's list scheduler)
    from passes.mxm_bound import mxm_path_bound

    bounds = {
        "critical_path": list_schedule(steps, Unlimited(), keep=False).cycles,
        "mxm_path": mxm_path_bound(steps, system),
        # Issues are one per unit per cycle, and the last one still has to land (latency >= 1).
        "busiest_unit": max((-(-n // system.units[kind]) for (_, kind), n in issues.items()), default=0),
        "busiest_link": max(link_busy.values(), default=0),
    }
    if link_busy:
        bounds["hop_latency"] = longest_route
    return bounds


def annotate(program: ProgramOp, steps: Sequence[Step], schedule: Schedule, bounds: dict[str, int]) -> None:
    """Write the schedule and its report onto the IR."""
    for step in steps:
        if step.kind is Kind.INSTRUCTION:
            props = step.op.properties
            props["unit"], props["cycle"] = str_attr(schedule.units[step.index]), i64_attr(schedule.issues[step.index])
    for index, starts in schedule.hops.items():
        steps[index].op.properties["hops"] = int_array(starts)
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
                steps = program_steps(ops, timed_routes(ops, system), system)  # read once for all three runs
                schedule = list_schedule(steps, Machine(system), SramGuard(unwritten_spans(steps)))
                annotate(program, steps, schedule, lower_bounds(steps, system))
