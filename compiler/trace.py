"""`lockstep trace DIR -o trace.json`: a compiled program as Chrome trace events (Perfetto, chrome://tracing).

One process per chip, one thread (track) per functional unit, one per incoming
link's receive unit and one per directed outgoing link. Every instruction is one
complete event ("ph": "X") covering its whole repeat form, from the first issue
to the last issue + 1 (never expanded per vector); a send is a slice on its
link's track from the first vector's send to the end of the last vector's
serialisation (`last issue + ser`). Slices are named after the ONNX node in the
op's location; sends and recvs without one take the name of what they carry
(the producer of the sent value, the send a recv receives). Times are in
microseconds from the system clock; the cycles are kept in `args`.

A repeat form with gaps (stride > its width) may interleave with another on the
same unit or link without sharing a cycle; Chrome traces need the slices of one
track to nest, so such a slice goes on a second track of that unit ("vxm0 #2").
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from xdsl.ir import Operation, SSAValue

from compiler.errors import LockstepError
from compiler.performance import location_name
from compiler.report import load_compiled, program_cycles
from dialects.chip import ChipInstruction, JoinOp, RecvOp, SendOp

_KIND_ORDER = {"mxm": 0, "vxm": 1, "sxm": 2, "mem": 3}
_SKIP_PROPS = frozenset({"core", "unit", "cycle", "count", "stride"})


class _Names:
    """ONNX node names of ops; sends and recvs borrow the name of what they carry."""

    def __init__(self, ops: list[Operation], chips: list[int]):
        self.cache: dict[Operation, str | None] = {}
        # The i-th recv on a link receives the i-th send on it (a link is FIFO, its delay fixed).
        sends: dict[tuple[int, int, int], list[SendOp]] = defaultdict(list)
        recvs: dict[tuple[int, int, int], list[RecvOp]] = defaultdict(list)
        for op, chip in zip(ops, chips):
            if isinstance(op, SendOp):
                sends[chip, op.to.value.data, op.port.value.data].append(op)
            elif isinstance(op, RecvOp):
                recvs[op.source.value.data, chip, op.port.value.data].append(op)
        self.sender: dict[RecvOp, SendOp] = {}
        for key, received in recvs.items():
            sent = sends.get(key, [])
            if len(sent) == len(received):
                by_cycle = lambda op: op.cycle.value.data if op.cycle is not None else -1  # noqa: E731
                self.sender.update(zip(sorted(received, key=by_cycle), sorted(sent, key=by_cycle)))

    def of(self, op: Operation) -> str:
        return self._lookup(op, 0) or op.name

    def _lookup(self, op: Operation, depth: int) -> str | None:
        if op in self.cache:
            return self.cache[op]
        name = location_name(op)
        if name is None and depth < 64:  # store-and-forward chains are short; the cap only guards cycles
            if isinstance(op, SendOp):
                name = self._token(op.src[0], depth + 1) if len(op.src) else None
            elif isinstance(op, RecvOp) and op in self.sender:
                name = self._lookup(self.sender[op], depth + 1)
        self.cache[op] = name
        return name

    def _token(self, token: SSAValue, depth: int) -> str | None:
        owner = token.owner
        if isinstance(owner, JoinOp):
            for part in owner.parts:
                if (name := self._token(part, depth + 1)) is not None:
                    return name
            return None
        return self._lookup(owner, depth) if isinstance(owner, Operation) else None


def _args(op: ChipInstruction, cycle: int, count: int, stride: int, end: int) -> dict:
    args: dict = {"op": op.name, "cycle": cycle, "end_cycle": end, "repeat": count, "stride": stride}
    for key, value in op.properties.items():
        if key in _SKIP_PROPS:
            continue
        data = getattr(value, "value", None)
        data = data.data if data is not None and hasattr(data, "data") else getattr(value, "data", None)
        if isinstance(data, (int, str)):
            args["operation" if key == "op" else key] = data
    # addresses as [base, step] pairs
    for key in list(args):
        if key.endswith("_addr") and f"{key[:-5]}_step" in args:
            args[key[:-5]] = [args.pop(key), args.pop(f"{key[:-5]}_step")]
    return args


def _unit_sort(unit: str) -> tuple[int, int, str]:
    kind = unit.rstrip("0123456789")
    digits = unit[len(kind):]
    return (_KIND_ORDER.get(kind, 9), int(digits) if digits else 0, unit)


def build_trace(directory: str | Path) -> dict:
    compiled = load_compiled(directory)
    program, system = compiled.program, compiled.system
    us = 1e6 / system.clock_hz
    names = _Names(program.names.ops, program.names.chip)
    # (chip, track name, sort key) -> list of (start, end, event)
    slices: dict[tuple[int, str, tuple], list[tuple[int, int, dict]]] = defaultdict(list)
    chips_seen: set[int] = set()
    for op, chip in zip(program.names.ops, program.names.chip):
        if not isinstance(op, ChipInstruction) or op.cycle is None:
            continue
        chips_seen.add(chip)
        cycle, count, stride = op.cycle.value.data, op.count.value.data, op.stride.value.data
        last = cycle + (count - 1) * stride
        if isinstance(op, SendOp):
            dst, port = op.to.value.data, op.port.value.data
            ser = system.serialization_cycles(system.link(chip, dst, port))
            end = last + ser
            track = (chip, f"link {chip}->{dst} p{port}", (2, dst, port))
            args = _args(op, cycle, count, stride, end) | {"ser": ser, "vectors": count}
            cat = "link"
        elif isinstance(op, RecvOp):
            src, port = op.source.value.data, op.port.value.data
            end = last + 1
            track = (chip, f"recv {src}->{chip} p{port}", (1, src, port))
            args = _args(op, cycle, count, stride, end) | {"vectors": count}
            args["note"] = "cycle = landing of the first vector"
            cat = "recv"
        else:
            unit = op.unit.data
            end = last + 1
            track = (chip, unit, (0, *_unit_sort(unit)))
            args = _args(op, cycle, count, stride, end)
            cat = op.UNIT_KIND
        event = {"name": names.of(op), "cat": cat, "ph": "X", "pid": chip,
                 "ts": cycle * us, "dur": (end - cycle) * us, "args": args}
        slices[track].append((cycle, end, event))

    events: list[dict] = []
    for chip in sorted(chips_seen | set(range(system.chips))):
        events.append({"name": "process_name", "ph": "M", "pid": chip, "tid": 0, "args": {"name": f"chip {chip}"}})
        events.append({"name": "process_sort_index", "ph": "M", "pid": chip, "tid": 0, "args": {"sort_index": chip}})
    tids: dict[int, int] = defaultdict(int)
    for (chip, track, _), items in sorted(slices.items(), key=lambda kv: (kv[0][0], kv[0][2])):
        items.sort(key=lambda item: (item[0], -item[1]))
        lanes = _lanes(items)
        base = tids[chip] + 1
        tids[chip] += max(lanes) + 1
        for lane in range(max(lanes) + 1):
            tid = base + lane
            label = track if lane == 0 else f"{track} #{lane + 1}"
            events.append({"name": "thread_name", "ph": "M", "pid": chip, "tid": tid, "args": {"name": label}})
            events.append({"name": "thread_sort_index", "ph": "M", "pid": chip, "tid": tid, "args": {"sort_index": tid}})
        for (_, _, event), lane in zip(items, lanes):
            event["tid"] = base + lane
            events.append(event)
    cycles = program_cycles(program)
    return {
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {
            "directory": str(compiled.directory),
            "model": compiled.meta.get("model", "?"),
            "system": system.name,
            "clock_hz": system.clock_hz,
            "cycles": cycles,
            "latency_us": cycles * us,
        },
    }


def _lanes(items: list[tuple[int, int, dict]]) -> list[int]:
    """Greedy interval partitioning over slices sorted by start: each goes on the lowest
    track whose last slice has ended by its start. Slices that share no cycle all stay
    on track 0; only interleaved repeat forms spill over (a handful of tracks at most)."""
    ends: list[int] = []  # per track: the end of its last slice
    lanes = []
    for start, end, _ in items:
        chosen = next((lane for lane, last in enumerate(ends) if last <= start), len(ends))
        if chosen == len(ends):
            ends.append(end)
        else:
            ends[chosen] = end
        lanes.append(chosen)
    return lanes


def add_trace_parser(commands) -> None:
    cmd = commands.add_parser("trace", help="write a Chrome/Perfetto trace of a compiled directory")
    cmd.add_argument("directory", type=Path, help="a directory from `lockstep compile`")
    cmd.add_argument("-o", "--output", type=Path, required=True, help="the trace JSON file to write")
    cmd.set_defaults(handler=cmd_trace)


def cmd_trace(args: argparse.Namespace) -> int:
    trace = build_trace(args.directory)
    try:
        with open(args.output, "w") as out:
            json.dump(trace, out, separators=(",", ":"))
    except OSError as err:
        raise LockstepError(f"cannot write {args.output}: {err.strerror}") from None
    slices = sum(1 for e in trace["traceEvents"] if e["ph"] == "X")
    print(f"wrote {args.output}: {slices} slices on {trace['otherData']['cycles']} cycles "
          f"({trace['otherData']['latency_us']:.3f} us); open it in https://ui.perfetto.dev or chrome://tracing")
    return 0
