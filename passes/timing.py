"""The machine's timing rules, in one place: when an instruction's results land,
and which cycles a transfer occupies on each link and when its vectors arrive.

These are the same rules the runtime applies (docs/architecture.md). The
scheduler uses them to place ops, `verify-schedule` to check a schedule with
its own bookkeeping, and `emit-streams` to time the receives; a later network
scheduler can reuse them as they are. Every function is pure: cycles are
passed in, never read from scheduler state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, auto
from functools import cache
from typing import NamedTuple

from xdsl.ir import Operation

from compiler.errors import LockstepError
from compiler.system import Link, System
from dialects.chip import (
    VXM_TRANSCENDENTAL,
    ChipInstruction,
    InputOp,
    JoinOp,
    MemCopyOp,
    MxmLoadOp,
    MxmMatmulOp,
    OutputOp,
    PreloadOp,
    SxmMoveOp,
    SxmReduceOp,
    SxmTransposeOp,
    VxmOp,
)
from dialects.net import TransferOp


class Kind(Enum):
    """What an op of a chip.program is to the timing rules."""

    HOST = auto()  # preload or input: the host writes it at cycle 0
    JOIN = auto()
    INSTRUCTION = auto()
    TRANSFER = auto()
    OUTPUT = auto()


@cache
def op_kind(op_type: type[Operation]) -> Kind | None:
    """Per op class, looked up once (isinstance against xDSL's abstract classes is slow); None
    for an op no chip.program holds."""
    for base, kind in _KINDS:
        if issubclass(op_type, base):
            return kind
    return None


_KINDS: tuple[tuple[type[Operation], Kind], ...] = (
    (PreloadOp, Kind.HOST), (InputOp, Kind.HOST), (JoinOp, Kind.JOIN), (ChipInstruction, Kind.INSTRUCTION),
    (TransferOp, Kind.TRANSFER), (OutputOp, Kind.OUTPUT),
)


_LATENCY_KEY: dict[type[ChipInstruction], str] = {
    MxmLoadOp: "mxm_load",
    MxmMatmulOp: "mxm",
    SxmMoveOp: "sxm",
    SxmReduceOp: "sxm",
    SxmTransposeOp: "sxm_transpose",
    MemCopyOp: "mem",
}


def last_issue(cycle: int, count: int, stride: int) -> int:
    return cycle + (count - 1) * stride


def repeat_of(op: ChipInstruction | TransferOp) -> tuple[int, int]:
    """(count, stride) of an instruction or a transfer."""
    props = op.properties  # (not the IRDL accessors: every pass reads this of every op, several times)
    return props["count"].value.data, props["stride"].value.data  # type: ignore[attr-defined]


def latency(op: ChipInstruction, system: System) -> int:
    """Cycles from an iteration's issue until its result lands (for an
    mxm_load: from the last row's issue until the tile is ready; for a
    transpose: until its first output vector lands)."""
    key = _LATENCY_KEY.get(type(op))  # first: isinstance against xDSL's abstract classes is slow
    if key is not None:
        return system.latency[key]
    if isinstance(op, VxmOp):
        return system.latency["vxm_transcendental" if op.op.data in VXM_TRANSCENDENTAL else "vxm"]
    raise LockstepError(f"{op.name} has no latency in the machine model")


class Run(NamedTuple):
    """SRAM vectors `base + i*step` for i < `count`, the i-th accessed at `cycle + i*every`: the
    writes of an instruction, the reads of one of its operands, the vectors a hop moves. (A
    named tuple: the scheduler builds several per op, and a frozen dataclass costs more to build.)"""

    base: int
    step: int
    count: int
    cycle: int
    every: int


def dst_run(op: ChipInstruction, cycle: int, system: System) -> Run:
    """Where the instruction issued at `cycle` writes and when each vector lands."""
    count, stride = repeat_of(op)
    base, step = op.slot_addr("dst")  # type: ignore[misc]
    lat = latency(op, system)
    if isinstance(op, SxmTransposeOp):  # one output vector per cycle once the block is in
        return Run(base, step, op.width.value.data, last_issue(cycle, count, stride) + lat, 1)
    return Run(base, step, count, cycle + lat, stride)


def ready_cycle(op: ChipInstruction, cycle: int, system: System) -> int:
    """When everything the instruction produces has landed (an mxm_load: its tile is ready)."""
    count, stride = repeat_of(op)
    tail = op.width.value.data - 1 if isinstance(op, SxmTransposeOp) else 0
    return last_issue(cycle, count, stride) + latency(op, system) + tail


# -- transfers ----------------------------------------------------------------


@dataclass(frozen=True)
class Hop:
    """One directed link of a route with its timing: a vector occupies it for
    `ser` cycles and lands `ser + latency` cycles after entering it."""

    link: Link
    ser: int
    latency: int

    @property
    def transit(self) -> int:
        return self.ser + self.latency


def route_hops(op: TransferOp, system: System) -> list[Hop]:
    """The transfer's route as timed hops; raises LockstepError for a link the system lacks."""
    hops = []
    for src, dst, port in op.links():
        link = system.link(src, dst, port)
        hops.append(Hop(link, system.serialization_cycles(link), system.hop_latency(link)))
    return hops


def transfer_buffers(op: TransferOp) -> list[int]:
    """The base address of the vectors at every chip of the route: the source, each via, the destination.
    Hop h reads buffer h on its link's source chip and lands in buffer h + 1 on its destination."""
    return [op.src_addr.value.data, *op.via.get_values(), op.dst_addr.value.data]


def transfer_ready(hop_cycles: Sequence[int], count: int, stride: int, hops: Sequence[Hop]) -> int:
    """When the last vector of a transfer lands on its destination chip."""
    return last_issue(hop_cycles[-1], count, stride) + hops[-1].transit


def hop_cycles_of(op: TransferOp) -> list[int] | None:
    return None if op.hops is None else list(op.hops.get_values())
