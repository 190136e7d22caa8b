"""Loading emitted chip streams into compact numpy tables: the runtime's only view of a program.

Every instruction becomes rows of `Runs`: arithmetic progressions of vector
events (issue or landing cycle, SRAM address), one row per op and operand, so
the checks and the numbers work on whole arrays and never on one vector at a
time. An int8 mxm_load's rows come INT8_PER_ADDRESS to an address: its src is
one row per iteration residue mod INT8_PER_ADDRESS, each reading one byte plane
of addresses `step` apart. Loading judges no timing; it only rejects what cannot
be tabled at all: an op without a cycle, an unknown unit, link or op, lanes
outside the vector.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.irdl import VarOperandDef
from xdsl.irdl.operations import AttrSizedOperandSegments
from xdsl.utils.exceptions import ParseError

from compiler.collector import collector_paused
from compiler.errors import LockstepError
from compiler.stream_text import parse_stream_module, segment_values
from compiler.system import Link, System, load_system
from dialects.chip import (
    INT8_PER_ADDRESS,
    REDUCE_OPS,
    VXM_BINARY,
    VXM_OPS,
    VXM_TRANSCENDENTAL,
    ChipInstruction,
    InputOp,
    JoinOp,
    MemCopyOp,
    MxmLoadOp,
    MxmMatmulOp,
    OutputOp,
    PreloadOp,
    RecvOp,
    SendOp,
    StreamOp,
    SxmMoveOp,
    SxmReduceOp,
    SxmTransposeOp,
    VxmOp,
)
from dialects.tops import AbsentAttr
from runtime.errors import BrokenPromise
from runtime.host import check_tiling, vectors_of

HOST = "host"
_TEXT_LIMIT = 240  # characters of an op's text quoted in an error (preloads print all their data)


@dataclass(frozen=True)
class Events:
    """One entry per vector event; run r's events are contiguous and in iteration order."""

    run: np.ndarray
    iteration: np.ndarray
    op: np.ndarray
    chip: np.ndarray
    cycle: np.ndarray
    addr: np.ndarray
    key: np.ndarray

    def place(self, event: int, cycle: int) -> tuple[int, int, int]:
        """A violating event's rank as `earliest(mask, cycles)` over every row's events would order it:
        its cycle (`cycles[event]`), then its row and iteration (`expand()` order)."""
        return cycle, int(self.run[event]), int(self.iteration[event])


@dataclass(frozen=True)
class Runs:
    """Rows of `count` events each: event i at cycle `cycle0 + i*dcycle`, address `addr0 + i*daddr`.

    `key` is what the table groups by (a unit id, a link id), 0 where unused."""

    op: np.ndarray
    chip: np.ndarray
    cycle0: np.ndarray
    dcycle: np.ndarray
    addr0: np.ndarray
    daddr: np.ndarray
    count: np.ndarray
    key: np.ndarray

    @property
    def offsets(self) -> np.ndarray:
        """Index of each run's first event in `expand()`."""
        return np.cumsum(self.count) - self.count

    @property
    def last_cycle(self) -> np.ndarray:
        return self.cycle0 + (self.count - 1) * self.dcycle

    @property
    def latest(self) -> int:
        """The largest event cycle, 0 without events."""
        return int(np.maximum(self.cycle0, self.last_cycle)[self.count > 0].max(initial=0))

    def by_chip(self, chips: int) -> list[np.ndarray]:
        """Per chip, the indices of its rows, ascending (so its events keep their order in `expand()`)."""
        order = np.argsort(self.chip, kind="stable")
        return np.split(order, np.cumsum(np.bincount(self.chip, minlength=chips))[:-1])

    def expand(self, rows: np.ndarray | None = None) -> Events:
        """The events of every row, or of `rows` (ascending) only; `run` is the row's index either way."""
        if rows is None:
            rows = np.arange(self.count.size)
        count = self.count[rows]
        run = np.repeat(rows, count)
        iteration = np.arange(run.size, dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
        return Events(
            run=run,
            iteration=iteration,
            op=self.op[run],
            chip=self.chip[run],
            cycle=self.cycle0[run] + iteration * self.dcycle[run],
            addr=self.addr0[run] + iteration * self.daddr[run],
            key=self.key[run],
        )


class _RunRows:
    """Collects Runs rows as Python ints, then turns them into arrays once."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, int, int, int, int, int, int]] = []

    def add(self, op: int, chip: int, cycle0: int, dcycle: int, addr0: int, daddr: int, count: int, key: int = 0) -> int:
        self.rows.append((op, chip, cycle0, dcycle, addr0, daddr, count, key))
        return len(self.rows) - 1

    def build(self) -> Runs:
        table = np.array(self.rows, dtype=np.int64).reshape(-1, 8)
        return Runs(*(np.ascontiguousarray(table[:, column]) for column in range(8)))


@dataclass
class Program:
    """Every chip's stream as tables. Ops have global ids (their position in `names.ops`)."""

    system: System
    names: OpNames
    first_issue: np.ndarray  # evaluation priority: host writes -1, output reads after everything
    iterations: np.ndarray  # repeat count per op, 1 for host ops and joins
    issues: Runs  # key: unit id; every instruction but send/recv (links are checked per link)
    reads: Runs  # every SRAM operand and output read; output rows' cycles are set by the timing check
    read_slot: list[str]  # per reads row: the operand's name
    read_final: np.ndarray  # per reads row: an output read, after the last cycle
    read_plane: np.ndarray  # per reads row: the byte plane an int8 read takes, -1 for a whole vector
    int8_src: dict[int, list[int]]  # int8 mxm_load op -> its src reads rows, by iteration residue
    int8_data: np.ndarray  # per op: an i8 preload (its addresses hold packed int8 vectors)
    allowed: np.ndarray  # sorted `reads row * n_ops + producer op` of every operand's promise
    writes: Runs  # cycle = landing cycle
    sends: Runs  # key: link id
    recvs: Runs  # key: link id; cycle = landing cycle
    loads: Runs  # key: unit id
    load_ready: np.ndarray  # per loads row: the cycle its tile is ready
    matmuls: Runs  # key: unit id
    weights_allowed: np.ndarray  # sorted `matmuls row * n_ops + load op` of every weights promise
    links: list[Link]  # link id -> the system's link
    link_ser: np.ndarray  # per link: cycles one vector occupies it
    link_delay: np.ndarray  # per link: send issue to landing
    slot_runs: list[dict[str, int]]  # per op: operand name -> reads row
    inputs: dict[str, tuple[int, ...]]  # host input name -> shape (of the whole graph tensor)
    outputs: dict[str, tuple[int, ...]]  # host output name -> shape (of the whole graph tensor)
    # ("input" | "output", name) -> the permutation the host moves that tensor by (chip.input `perm`)
    perms: dict[tuple[str, str], tuple[int, ...]]
    absent: list[int]  # preloads without data (a shape-only program): timing only
    vector_instructions: int
    unit_busy: dict[str, int]

    @classmethod
    def load(cls, directory: str | Path) -> Program:
        """Read DIR/system.toml and every DIR/chip*.mlir."""
        path = Path(directory)
        system = load_system(str(path / "system.toml"))
        files = sorted(path.glob("chip*.mlir"), key=_chip_number)
        if not files:
            raise LockstepError(f"{path}: no chip*.mlir streams to run")
        with collector_paused():
            return cls.from_modules([parse_module(_read(file), str(file)) for file in files], system)

    @classmethod
    def from_modules(cls, modules: Sequence[ModuleOp], system: System) -> Program:
        # No module.verify(): at ~0.3 ms per op it would cost more than the whole run;
        # the builder checks every field the runtime relies on instead (_Builder.check_form).
        with collector_paused():
            builder = _Builder(system)
            for module in modules:
                builder.add_stream(_stream_of(module))
            return builder.build()

    @property
    def n_ops(self) -> int:
        return len(self.names.ops)

    def blame(self, op: int, cycle: int | str, what: str) -> BrokenPromise:
        return self.names.blame(op, cycle, what)

    def describe(self, op: int) -> str:
        return self.names.describe(op)

    def read_iteration(self, run: int, index: int) -> int:
        """The op's iteration behind event `index` of reads row `run` (an int8 load splits its
        iterations over one row per residue)."""
        rows = self.int8_src.get(int(self.reads.op[run]))
        return index if rows is None else rows.index(run) + len(rows) * index


@dataclass
class OpNames:
    """Where every op lives, for errors that name chip, unit, cycle and instruction."""

    ops: list[Operation]
    chip: list[int]
    index: list[int]  # position in its chip's stream
    unit: list[str]

    def add(self, op: Operation, chip: int, index: int, unit: str) -> int:
        self.ops.append(op)
        self.chip.append(chip)
        self.index.append(index)
        self.unit.append(unit)
        return len(self.ops) - 1

    def blame(self, op: int, cycle: int | str, what: str) -> BrokenPromise:
        """An error naming chip, unit, cycle and the instruction (its index in its stream and its text)."""
        chip, index = self.chip[op], self.index[op]
        text = str(self.ops[op])
        if len(text) > _TEXT_LIMIT:
            text = text[:_TEXT_LIMIT] + " ..."
        return BrokenPromise(
            f"chip {chip}, unit {self.unit[op]}, cycle {cycle}: {what}\n"
            f"  instruction #{index} of chip {chip}: {text}"
        )

    def describe(self, op: int) -> str:
        """Short name of a second instruction in an error."""
        return f"#{self.index[op]} ({self.ops[op].name} on {self.unit[op]} of chip {self.chip[op]})"


def parse_module(text: str, origin: str = "<string>") -> ModuleOp:
    """A chip stream module from its text (compiler/stream_text.py: line by line, xDSL's Parser
    for anything else); a syntax error names file, line and column."""
    try:
        return parse_stream_module(text, origin)
    except ParseError as err:
        raise LockstepError(f"{err.span.get_location()}: {err.msg}") from None


def _chip_number(file: Path) -> tuple[int, str]:
    digits = re.sub(r"\D", "", file.stem)
    return (int(digits) if digits else -1, file.name)


def _read(file: Path) -> str:
    try:
        return file.read_text()
    except OSError as err:
        raise LockstepError(f"cannot read {file}: {err.strerror}") from None


def _stream_of(module: ModuleOp) -> StreamOp:
    streams = [op for op in module.ops if isinstance(op, StreamOp)]
    if len(streams) != 1 or len(list(module.ops)) != 1:
        raise LockstepError(f"a chip stream module must hold exactly one chip.stream, not {[op.name for op in module.ops]}")
    return streams[0]


@cache
def _operand_layout(op_type: type[Operation]) -> tuple[tuple[str, ...], AttrSizedOperandSegments | None] | None:
    """An op class's operand list names and where its segment sizes sit; None unless every
    operand is a list (then `op.<name>` is the only faithful reading)."""
    definition = op_type.get_irdl_definition()  # type: ignore[attr-defined]
    names = tuple(name for name, _ in definition.operands)
    if not all(isinstance(operand, VarOperandDef) for _, operand in definition.operands):
        return None
    segments = [option for option in definition.options if isinstance(option, AttrSizedOperandSegments)]
    if len(names) > 1 and not segments:
        return None
    return names, segments[0] if segments else None


def _operand_lists(op: Operation) -> dict[str, Sequence[SSAValue]]:
    """An op's operand lists by name, as `op.<name>` gives them; xDSL's accessor reads and
    unpacks the segment sizes on every access (~10 us), here once per distinct sizes."""
    layout = _operand_layout(type(op))
    if layout is None:
        return {name: getattr(op, name) for name, _ in op.get_irdl_definition().operands}  # type: ignore[attr-defined]
    names, segments = layout
    if segments is None:
        return {names[0]: op.operands} if names else {}
    container = op.properties if segments.as_property else op.attributes
    operands, lists, start = tuple(op.operands), {}, 0
    for name, size in zip(names, segment_values(container[segments.attribute_name])):  # type: ignore[arg-type]
        lists[name] = operands[start:start + size]
        start += size
    return lists


def _latency(op: ChipInstruction, latency: dict[str, int]) -> int:
    """Issue to landing of an instruction's dst (transposes and recvs are timed apart)."""
    if isinstance(op, VxmOp):
        return latency["vxm_transcendental" if op.op.data in VXM_TRANSCENDENTAL else "vxm"]
    if isinstance(op, MxmMatmulOp):
        return latency["mxm"]
    if isinstance(op, (SxmMoveOp, SxmReduceOp)):
        return latency["sxm"]
    if isinstance(op, MemCopyOp):
        return latency["mem"]
    raise AssertionError(f"no latency rule for {op.name}")


def _lane_ranges(op: ChipInstruction) -> Iterable[tuple[str, int, int]]:
    """(what, first lane, past-the-end lane) of every lane range an op names."""
    if isinstance(op, (VxmOp, SxmReduceOp)):
        yield "lanes", 0, op.int_field("lanes")
    if isinstance(op, SxmMoveOp):
        width = op.int_field("width")
        yield "source lanes", op.int_field("src_lane"), op.int_field("src_lane") + width
        yield "destination lanes", op.int_field("dst_lane"), op.int_field("dst_lane") + width
    if isinstance(op, SxmReduceOp):
        yield "reduced lanes", op.int_field("first"), op.int_field("first") + op.int_field("width")
    if isinstance(op, SxmTransposeOp):
        yield "transposed lanes", 0, op.int_field("width")
        yield "transposed vectors", 0, op.count.value.data
    if isinstance(op, MxmLoadOp):
        yield "weight rows", 0, op.count.value.data


class _Builder:
    """Turns streams into Program tables, one op at a time (per op, never per vector)."""

    def __init__(self, system: System):
        self.system = system
        self.lanes = system.lanes
        self.names = OpNames([], [], [], [])
        self.first_issue: list[int] = []
        self.iterations: list[int] = []
        self.slot_runs: list[dict[str, int]] = []
        self.ids: dict[Operation, int] = {}
        self.producers: dict[SSAValue, frozenset[int]] = {}
        self.issues, self.reads, self.writes = _RunRows(), _RunRows(), _RunRows()
        self.sends, self.recvs, self.loads, self.matmuls = _RunRows(), _RunRows(), _RunRows(), _RunRows()
        self.read_slot: list[str] = []
        self.read_final: list[bool] = []
        self.read_plane: list[int] = []
        self.int8_src: dict[int, list[int]] = {}
        self.int8_data: set[int] = set()
        self.allowed: list[tuple[int, int]] = []
        self.weights: list[tuple[int, frozenset[int]]] = []
        self.load_ready: list[int] = []
        self.units: dict[tuple[int, str], int] = {}
        self.links: dict[tuple[int, int, int], int] = {}
        self.inputs: dict[str, tuple[int, ...]] = {}  # as held on the chips: transposed by `perms`
        self.outputs: dict[str, tuple[int, ...]] = {}
        self.perms: dict[tuple[str, str], tuple[int, ...] | None] = {}
        # ("input" | "output", name) -> its boxes (offsets, shape), each with the first op holding it
        self.shards: dict[tuple[str, str], dict[tuple[tuple[int, ...], tuple[int, ...]], int]] = {}
        self.absent: list[int] = []
        self.chips_seen: set[int] = set()
        self.vector_instructions = 0
        self.unit_busy: dict[str, int] = {}

    # -- per stream and op --------------------------------------------------

    def add_stream(self, stream: StreamOp) -> None:
        core = stream.core.value.data
        if not 0 <= core < self.system.chips:
            raise LockstepError(f"a stream for chip {core}, but system '{self.system.name}' has chips 0..{self.system.chips - 1}")
        if core in self.chips_seen:
            raise LockstepError(f"two streams for chip {core}")
        self.chips_seen.add(core)
        # An idle chip's empty body prints as `{}`, which parses back with no block at all.
        ops = stream.instructions()
        # Ids first: a join may name an op further down the stream.
        for index, op in enumerate(ops):
            self.ids[op] = self.names.add(op, core, index, op.unit.data if isinstance(op, ChipInstruction) else HOST)
            self.first_issue.append(-1)
            self.iterations.append(1)
            self.slot_runs.append({})
        for op in ops:
            self.add_op(op, core)

    def add_op(self, op: Operation, chip: int) -> None:
        op_id = self.ids[op]
        if (core := op.properties.get("core")) is not None and core.value.data != chip:  # type: ignore[attr-defined]
            raise self.error(op_id, "?", f"names core {core.value.data} inside the stream of chip {chip}")  # type: ignore[attr-defined]
        if isinstance(op, ChipInstruction):
            self.add_instruction(op, op_id, chip)
        elif isinstance(op, (PreloadOp, InputOp)):
            self.add_host_write(op, op_id, chip)
        elif isinstance(op, OutputOp):
            self.add_output(op, op_id, chip)
        elif not isinstance(op, JoinOp):
            raise self.error(op_id, "?", f"the machine cannot execute '{op.name}'")

    def add_instruction(self, op: ChipInstruction, op_id: int, chip: int) -> None:
        if op.cycle is None:
            raise self.error(op_id, "none", "the instruction has no issue cycle (was the stream scheduled?)")
        cycle, count, stride = op.cycle.value.data, op.count.value.data, op.stride.value.data
        operands = _operand_lists(op)
        self.check_form(op, op_id, cycle, count, stride, operands)
        for what, first, end in _lane_ranges(op):
            if not 0 <= first <= end <= self.lanes:
                raise self.error(op_id, cycle, f"{what} [{first}, {end}) are outside the {self.lanes}-lane vector")
        self.first_issue[op_id] = cycle
        self.iterations[op_id] = count
        self.vector_instructions += count
        self.unit_busy[op.UNIT_KIND] = self.unit_busy.get(op.UNIT_KIND, 0) + count
        for name in op.SLOTS:
            if isinstance(op, MxmLoadOp) and op.is_int8:
                self.add_int8_reads(op, op_id, chip, cycle, stride, count)
            elif (slot := op.slot_addr(name)) is not None:
                self.add_read(op_id, chip, name, cycle, stride, slot, count, operands[name], final=False)
        if isinstance(op, (SendOp, RecvOp)):
            self.add_transfer(op, op_id, chip, cycle, stride, count)
            return
        unit = self.unit_id(op, op_id, chip, cycle)
        self.issues.add(op_id, chip, cycle, stride, 0, 0, count, unit)
        last = cycle + (count - 1) * stride
        if isinstance(op, MxmLoadOp):
            self.loads.add(op_id, chip, cycle, stride, 0, 0, count, unit)
            self.load_ready.append(last + self.system.latency["mxm_load"])
            return
        if isinstance(op, MxmMatmulOp):
            matmul = self.matmuls.add(op_id, chip, cycle, stride, 0, 0, count, unit)
            self.weights.append((matmul, self.resolve(operands["weights"][0])))
        dst, dst_step = op.slot_addr("dst")  # type: ignore[misc]
        if isinstance(op, SxmTransposeOp):
            # Output vector j lands one cycle after vector j-1, all after the last read.
            land = last + self.system.latency["sxm_transpose"]
            self.writes.add(op_id, chip, land, 1, dst, dst_step, op.int_field("width"))
        else:
            land = cycle + _latency(op, self.system.latency)
            self.writes.add(op_id, chip, land, stride, dst, dst_step, count)

    def check_form(self, op: ChipInstruction, op_id: int, cycle: int, count: int, stride: int,
                   operands: dict[str, Sequence[SSAValue]]) -> None:
        """What the dialect's verifiers would reject, for the fields the runtime reads."""
        problem = None
        if cycle < 0 or count < 1 or stride < 1:
            problem = f"needs cycle >= 0, repeat >= 1 and stride >= 1, not {cycle}, {count}, {stride}"
        elif isinstance(op, VxmOp) and (op.op.data not in VXM_OPS or (op.op.data in VXM_BINARY) != (op.rhs_addr is not None)):
            problem = f"'{op.op.data}' is not a VXM operation with {'two operands' if op.rhs_addr else 'one operand'}"
        elif isinstance(op, SxmReduceOp) and op.op.data not in REDUCE_OPS:
            problem = f"'{op.op.data}' is not a reduction ({', '.join(REDUCE_OPS)})"
        elif isinstance(op, MxmMatmulOp) and len(operands["weights"]) != 1:
            problem = "a matmul multiplies by exactly one loaded tile (weights)"
        if problem is not None:
            raise self.error(op_id, cycle, problem)

    def add_transfer(self, op: SendOp | RecvOp, op_id: int, chip: int, cycle: int, stride: int, count: int) -> None:
        if isinstance(op, SendOp):
            link = self.link_id(op_id, cycle, chip, op.to.value.data, op.port.value.data)
            self.sends.add(op_id, chip, cycle, stride, 0, 0, count, link)
            return
        link = self.link_id(op_id, cycle, op.source.value.data, chip, op.port.value.data)
        self.recvs.add(op_id, chip, cycle, stride, 0, 0, count, link)
        dst, dst_step = op.slot_addr("dst")  # type: ignore[misc]
        self.writes.add(op_id, chip, cycle, stride, dst, dst_step, count)

    def add_host_write(self, op: PreloadOp | InputOp, op_id: int, chip: int) -> None:
        addr = op.addr.value.data
        if isinstance(op, PreloadOp):
            shape = op.shape
            if len(shape) != 2 or shape[1] != self.lanes:
                raise self.error(op_id, 0, f"preload data must be [vectors x {self.lanes}], not {list(shape)}")
            vectors = op.addresses
            if isinstance(op.data, AbsentAttr):
                self.absent.append(op_id)
            if op.is_int8:
                self.int8_data.add(op_id)
        else:
            vectors = vectors_of(self.add_shard("input", self.inputs, op, op_id, chip), self.lanes)
        # Host writes land before the clock starts, all at cycle 0.
        self.writes.add(op_id, chip, 0, 0, addr, 1, vectors)

    def add_output(self, op: OutputOp, op_id: int, chip: int) -> None:
        self.first_issue[op_id] = np.iinfo(np.int64).max
        vectors = vectors_of(self.add_shard("output", self.outputs, op, op_id, chip), self.lanes)
        self.add_read(op_id, chip, "src", 0, 0, (op.addr.value.data, 1), vectors, tuple(op.src), final=True)

    def add_shard(self, kind: str, wholes: dict[str, tuple[int, ...]], op: InputOp | OutputOp, op_id: int,
                  chip: int) -> tuple[int, ...]:
        """Records the box a host input or output holds on this chip; returns its shape."""
        name, shape = op.tensor.data, tuple(op.type.get_shape())
        when = 0 if kind == "input" else "end"
        if (op.offsets is None) != (op.whole is None):
            raise self.error(op_id, when, f"{kind} '{name}' names a slice without both offsets and the whole tensor")
        whole, perm = op.whole_shape, op.permutation
        if wholes.setdefault(name, whole) != whole:
            raise self.error(op_id, when, f"{kind} '{name}' is {list(whole)} here but {list(wholes[name])} elsewhere")
        if (first := self.perms.setdefault((kind, name), perm)) != perm:
            raise self.error(op_id, when, f"{kind} '{name}' is moved {_moved(perm)} here but {_moved(first)} "
                                          "elsewhere")
        boxes = self.shards.setdefault((kind, name), {})
        if kind == "output" and (op.start, shape) in boxes:
            also = self.names.describe(boxes[(op.start, shape)])
            raise self.error(op_id, when, f"output '{name}' is read twice (also by {also})")
        boxes.setdefault((op.start, shape), op_id)  # an input's copies: one slice written to several chips
        return shape

    def add_read(
        self,
        op_id: int,
        chip: int,
        name: str,
        cycle: int,
        stride: int,
        slot: tuple[int, int],
        count: int,
        tokens: Sequence[SSAValue],
        final: bool,
        plane: int = -1,
    ) -> int:
        row = self.reads.add(op_id, chip, cycle, stride, slot[0], slot[1], count)
        self.slot_runs[op_id][name] = row
        self.read_slot.append(name)
        self.read_final.append(final)
        self.read_plane.append(plane)
        self.allowed.extend((row, producer) for token in tokens for producer in self.resolve(token))
        return row

    def add_int8_reads(self, op: MxmLoadOp, op_id: int, chip: int, cycle: int, stride: int, count: int) -> None:
        """Iterations r, r + k, r + 2k, ... (k = INT8_PER_ADDRESS) read int8 vectors u0 + (r + jk)*step:
        one byte plane, (u0 + r*step) % k, of addresses advancing by `step`: one reads row per r."""
        first, step = op.slot_addr("src")  # type: ignore[misc]
        k = INT8_PER_ADDRESS
        rows = []
        for r in range(min(k, count)):
            vector = first + r * step
            rows.append(self.add_read(op_id, chip, "src", cycle + r * stride, k * stride, (vector // k, step),
                                      -(-(count - r) // k), op.src, final=False, plane=vector % k))
        self.int8_src[op_id] = rows

    # -- names ----------------------------------------------------------------

    def resolve(self, token: SSAValue) -> frozenset[int]:
        """The ops a token names: its producer, or every part of a chip.join, transitively."""
        if token not in self.producers:
            owner = token.owner
            if isinstance(owner, JoinOp):
                self.producers[token] = frozenset().union(*(self.resolve(part) for part in owner.parts))
            else:
                self.producers[token] = frozenset({self.ids[owner]})  # type: ignore[index]
        return self.producers[token]

    def unit_id(self, op: ChipInstruction, op_id: int, chip: int, cycle: int) -> int:
        name = op.unit.data
        if name not in self.system.unit_names(op.UNIT_KIND):
            raise self.error(op_id, cycle, f"chip {chip} has no unit '{name}'")
        return self.units.setdefault((chip, name), len(self.units))

    def link_id(self, op_id: int, cycle: int, src: int, dst: int, port: int) -> int:
        if (src, dst, port) not in self.links:
            try:
                self.system.link(src, dst, port)
            except LockstepError as err:
                raise self.error(op_id, cycle, f"no such link: {err}") from None
            self.links[(src, dst, port)] = len(self.links)
        return self.links[(src, dst, port)]

    def graph_shape(self, kind: str, name: str, held: tuple[int, ...]) -> tuple[int, ...]:
        """The graph tensor's shape, of which the chips hold `held` = its transpose by the perm."""
        perm = self.perms.get((kind, name))
        return held if perm is None else tuple(held[perm.index(axis)] for axis in range(len(held)))

    def error(self, op_id: int, cycle: int | str, what: str) -> BrokenPromise:
        return self.names.blame(op_id, cycle, what)

    # -- tables -------------------------------------------------------------

    def build(self) -> Program:
        for (kind, name), boxes in self.shards.items():
            wholes = self.inputs if kind == "input" else self.outputs
            shards = [(self.names.chip[op], start, shape) for (start, shape), op in boxes.items()]
            check_tiling(f"{kind} '{name}'", wholes[name], shards)
        n_ops = len(self.names.ops)
        links = [self.system.link(*key) for key in self.links]
        ser = np.array([self.system.serialization_cycles(link) for link in links], dtype=np.int64)
        hop = np.array([self.system.hop_latency(link) for link in links], dtype=np.int64)
        weights = [(row, load) for row, loads in self.weights for load in loads]
        return Program(
            system=self.system,
            names=self.names,
            first_issue=np.array(self.first_issue, dtype=np.int64),
            iterations=np.array(self.iterations, dtype=np.int64),
            issues=self.issues.build(),
            reads=self.reads.build(),
            read_slot=self.read_slot,
            read_final=np.array(self.read_final, dtype=bool),
            read_plane=np.array(self.read_plane, dtype=np.int64),
            int8_src=self.int8_src,
            int8_data=np.isin(np.arange(n_ops), list(self.int8_data)),
            allowed=_pair_keys(self.allowed, n_ops),
            writes=self.writes.build(),
            sends=self.sends.build(),
            recvs=self.recvs.build(),
            loads=self.loads.build(),
            load_ready=np.array(self.load_ready, dtype=np.int64),
            matmuls=self.matmuls.build(),
            weights_allowed=_pair_keys(weights, n_ops),
            links=links,
            link_ser=ser,
            link_delay=ser + hop,
            slot_runs=self.slot_runs,
            inputs={name: self.graph_shape("input", name, whole) for name, whole in self.inputs.items()},
            outputs={name: self.graph_shape("output", name, whole) for name, whole in self.outputs.items()},
            perms={key: perm for key, perm in self.perms.items() if perm is not None},
            absent=self.absent,
            vector_instructions=self.vector_instructions,
            unit_busy=self.unit_busy,
        )


def _pair_keys(pairs: list[tuple[int, int]], n_ops: int) -> np.ndarray:
    """Sorted `row * n_ops + op` keys, for vectorised membership tests with searchsorted."""
    table = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return np.unique(table[:, 0] * n_ops + table[:, 1])


def _moved(perm: tuple[int, ...] | None) -> str:
    return "as it is" if perm is None else f"transposed by {list(perm)}"
