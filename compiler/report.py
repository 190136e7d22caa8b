"""`lockstep report DIR`: what a compiled directory does with the machine.

Everything is read off the emitted streams (`DIR/chip<K>.mlir`, through the
runtime's loader, the hardware's own reader) and `DIR/system.toml`;
`DIR/report.json` only supplies the compiler's lower bounds, the model name,
the strategy (the streams do not record how they were partitioned) and the
predicted performance the compiler worked out on the scheduled program (the
step a decoder runs, the critical path's breakdown, the pipeline stages:
compiler/performance.py, docs/performance.md); the per-token figures are
recomputed from the streams' cycles.

- cycles: the last landing (or tile-ready) cycle of anything, as the runtime counts it;
- utilization of a unit kind: issue slots used / (units of that kind x chips x cycles);
  every vector instruction of a repeat form takes one issue slot;
- a directed link is busy `ser` cycles per vector sent over it;
- SRAM per chip: one past the highest vector address anything writes, in bytes.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import DictionaryAttr, IntegerAttr

from compiler.errors import LockstepError
from compiler.performance import CATEGORIES, per_token, recorded
from compiler.system import load_system
from dialects.chip import ChipInstruction, SendOp, StreamOp

DEFAULT_TOP_LINKS = 8


@dataclass
class Compiled:
    """A compiled directory as the report and the trace see it."""

    directory: Path
    program: object  # runtime.program.Program (imported lazily: the runtime pulls in numpy tables)
    meta: dict  # report.json, {} when absent

    @property
    def system(self):
        return self.program.system  # type: ignore[attr-defined]


def load_compiled(directory: str | Path) -> Compiled:
    """Load DIR; a missing or non-compiled directory is a LockstepError naming it."""
    from runtime.program import Program, parse_module

    path = Path(directory)
    if not path.exists():
        raise LockstepError(f"'{path}' does not exist")
    if not path.is_dir():
        raise LockstepError(f"'{path}' is not a directory (expected the output of `lockstep compile`)")
    if not (path / "system.toml").is_file() or not any(path.glob("chip*.mlir")):
        raise LockstepError(f"'{path}' is not a compiled directory (needs system.toml and chip*.mlir from `lockstep compile`)")
    meta: dict = {}
    if (path / "report.json").is_file():
        try:
            meta = json.loads((path / "report.json").read_text())
        except (OSError, ValueError) as err:
            raise LockstepError(f"cannot read {path / 'report.json'}: {err}") from None
        if not isinstance(meta, dict):
            raise LockstepError(f"{path / 'report.json'} is not a JSON object")
    system = load_system(str(path / "system.toml"))
    modules = []
    for file in sorted(path.glob("chip*.mlir"), key=_chip_number):
        try:
            text = file.read_text()
        except OSError as err:
            raise LockstepError(f"cannot read {file}: {err.strerror}") from None
        modules.append(parse_module(_strip_weights(text), str(file)))
    return Compiled(path, Program.from_modules(modules, system), meta)


# Weights print as hex blobs (tens of MB per chip on real models); neither the report
# nor the trace reads them, so each becomes a zero splat of the same type before parsing.
_HEX_DENSE = re.compile(r'dense<"0x[0-9A-Fa-f]*">')


def _strip_weights(text: str) -> str:
    return _HEX_DENSE.sub("dense<0>", text)  # a zero of any element type (f32, int8 weights)


def _chip_number(file: Path) -> tuple[int, str]:
    digits = re.sub(r"\D", "", file.stem)
    return (int(digits) if digits else -1, file.name)


def stream_bounds(program) -> dict[str, int]:
    """schedule.bounds from the streams themselves (when report.json is missing)."""
    for op in program.names.ops:
        stream = op.parent_op()
        if isinstance(stream, StreamOp):
            bounds = stream.attributes.get("schedule.bounds")
            if isinstance(bounds, DictionaryAttr):
                return {k: v.value.data for k, v in bounds.data.items() if isinstance(v, IntegerAttr)}
    return {}


def program_cycles(program) -> int:
    """The largest landing or tile-ready cycle, exactly as the runtime counts `cycles`."""
    writes = program.writes
    last = int(writes.last_cycle.max(initial=0)) if writes.count.size else 0
    return max(last, int(program.load_ready.max(initial=0)))


def _ratio(used: float, capacity: float) -> float:
    return float(used) / capacity if capacity > 0 else 0.0


def compute(compiled: Compiled, top_links: int = DEFAULT_TOP_LINKS) -> dict:
    program, system, meta = compiled.program, compiled.system, compiled.meta
    chips = system.chips
    cycles = program_cycles(program)
    kinds = list(system.units)
    # issue slots per (chip, kind), and link busy cycles, straight from the instructions
    slots = np.zeros((chips, len(kinds)), dtype=np.int64)
    kind_index = {kind: i for i, kind in enumerate(kinds)}
    link_busy: dict[tuple[int, int, int], int] = {}
    link_vectors: dict[tuple[int, int, int], int] = {}
    sent = np.zeros(chips, dtype=np.int64)
    received = np.zeros(chips, dtype=np.int64)
    for op, chip in zip(program.names.ops, program.names.chip):
        if not isinstance(op, ChipInstruction):
            continue
        count = op.count.value.data
        if isinstance(op, SendOp):
            key = (chip, op.to.value.data, op.port.value.data)
            ser = system.serialization_cycles(system.link(*key))
            link_busy[key] = link_busy.get(key, 0) + count * ser
            link_vectors[key] = link_vectors.get(key, 0) + count
            sent[chip] += count
        elif op.UNIT_KIND in kind_index:
            slots[chip, kind_index[op.UNIT_KIND]] += count
        else:  # a recv
            received[chip] += count
    # SRAM: one past the highest vector anything writes (host writes included)
    writes = program.writes
    top = np.zeros(chips, dtype=np.int64)
    if writes.count.size:
        ends = np.maximum(writes.addr0, writes.addr0 + (writes.count - 1) * writes.daddr) + 1
        np.maximum.at(top, writes.chip, ends)
    units_per_chip = sum(system.units.values())
    utilization = {
        kind: {
            "units": system.units[kind] * chips,
            "issue_slots": int(slots[:, i].sum()),
            "utilization": _ratio(slots[:, i].sum(), system.units[kind] * chips * cycles),
        }
        for kind, i in kind_index.items()
    }
    per_chip = []
    for chip in range(chips):
        per_chip.append({
            "chip": chip,
            "issue_slots": int(slots[chip].sum()),
            "utilization": _ratio(slots[chip].sum(), units_per_chip * cycles),
            "by_kind": {kind: _ratio(slots[chip, i], system.units[kind] * cycles) for kind, i in kind_index.items()},
            "vectors_sent": int(sent[chip]),
            "vectors_received": int(received[chip]),
            "sram_bytes": int(top[chip]) * system.vector_bytes,
            "sram_fraction": _ratio(int(top[chip]), system.sram_vectors),
        })
    links = sorted(link_busy, key=lambda key: (-link_busy[key], key))
    busiest = [
        {
            "link": f"{src}->{dst} p{port}",
            "src": src,
            "dst": dst,
            "port": port,
            "vectors": link_vectors[(src, dst, port)],
            "busy_cycles": link_busy[(src, dst, port)],
            "utilization": _ratio(link_busy[(src, dst, port)], cycles),
        }
        for src, dst, port in links[:top_links]
    ]
    bounds = meta.get("lower_bounds") or stream_bounds(program)
    bounds = {str(k): int(v) for k, v in bounds.items()}
    binding = max(bounds, key=lambda k: bounds[k]) if bounds else None
    total_slots = int(slots.sum())
    latency_us = cycles / system.clock_hz * 1e6
    performance = recorded(meta)
    return {
        "directory": str(compiled.directory),
        "model": meta.get("model", "?"),
        "system_name": system.name,
        "topology": system.topology,
        "chips": chips,
        "chips_used": int(np.count_nonzero(slots.sum(axis=1) + sent + received + top)),
        "strategy": meta.get("strategy", "?"),
        "partition": meta.get("partition", []),
        "clock_hz": system.clock_hz,
        "cycles": cycles,
        "latency_us": latency_us,
        **performance,
        **per_token(performance["step"], latency_us),
        "lower_bounds": bounds,
        "binding_bound": binding,
        "efficiency": _ratio(bounds[binding], cycles) if binding else None,
        "vector_instructions": total_slots + int(sent.sum()) + int(received.sum()),
        "utilization": {
            "overall": _ratio(total_slots, units_per_chip * chips * cycles),
            "by_kind": utilization,
            "by_chip": per_chip,
        },
        "links_used": len(link_busy),
        "busiest_links": busiest,
        "sram_capacity_bytes": system.sram_bytes,
    }


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _table(header: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    def line(cells: list[str]) -> str:
        return (indent + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(row) for row in rows)]


def _step_lines(r: dict) -> list[str]:
    step = r["step"]
    if step is None:
        return ["", "per token (not a decoder step: no per-token figures)"]
    tokens = f"{step['tokens']} token{'s' if step['tokens'] > 1 else ''}"
    out = ["", f"per token ({step['kind']} step of {tokens} per user; decided by {step['rule']})",
           f"  latency per token      {r['per_token_latency_us']:.3f} us"]
    if r["tokens_per_second_per_user"] is not None:
        out.append(f"  tokens/s per user      {r['tokens_per_second_per_user']:,.1f}")
    if r["time_to_first_token_us"] is not None:
        out.append(f"  time to first token    {r['time_to_first_token_us']:.3f} us")
    return out


def _breakdown_lines(r: dict) -> list[str]:
    parts = r["latency_breakdown_cycles"]
    out = ["", "latency breakdown (the schedule's critical path, cycles; docs/performance.md)"]
    if parts is None:
        return [*out, "  (not recorded: compiled before report.json carried it)"]
    rows = [[name, str(parts[name]), _pct(parts[name] / r["cycles"]) if r["cycles"] else "-"] for name in CATEGORIES]
    out += _table(["part", "cycles", "of run"], [*rows, ["total", str(sum(parts.values())), ""]])
    nodes = r.get("critical_path_nodes")
    if nodes:
        out += ["", "where the critical path works most (ONNX nodes, cycles of work on the path)"]
        out += _table(["node", "cycles", "of run", "mostly"],
                      [[n["node"], str(n["cycles"]), _pct(n["cycles"] / r["cycles"]) if r["cycles"] else "-", n["part"]]
                       for n in nodes])
    return out


def _chip_ranges(chips: list[int]) -> str:
    """[0, 1, 2, 3, 8] -> "0-3,8"."""
    runs: list[list[int]] = []
    for chip in chips:
        if runs and chip == runs[-1][1] + 1:
            runs[-1][1] = chip
        else:
            runs.append([chip, chip])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _pipeline_lines(r: dict) -> list[str]:
    pipe = r["pipeline"]
    if pipe is None:
        return []
    out = ["", f"pipeline: {pipe['stages']} stages (busy = cycles with an op of the stage in flight / cycles)"]
    rows = [[str(k), _chip_ranges(chips), str(busy), _pct(fraction)]
            for k, (chips, busy, fraction) in enumerate(zip(pipe["stage_chips"], pipe["stage_busy_cycles"],
                                                           pipe["stage_busy_fraction"]))]
    return [*out, *_table(["stage", "chips", "busy", "of run"], rows)]


def _partition_lines(r: dict) -> list[str]:
    """How `partition` split every matmul (report.json's `partition`), when recorded."""
    if not r["partition"]:
        return []
    rows = [[e["node"] or "?", e["split"]] for e in r["partition"]]
    return ["", "partition (per matmul, convolutions included)", *_table(["node", "split"], rows)]


def format_report(r: dict) -> str:
    out = [
        f"model     {r['model']}",
        f"system    {r['system_name']} ({r['topology']}, {r['clock_hz'] / 1e6:g} MHz)",
        f"chips     {r['chips']} ({r['chips_used']} used)",
        f"strategy  {r['strategy']}",
        f"cycles    {r['cycles']}  =  {r['latency_us']:.3f} us",
        *_step_lines(r),
        *_breakdown_lines(r),
        *_pipeline_lines(r),
        *_partition_lines(r),
        "",
        "lower bounds (cycles)",
    ]
    bounds = r["lower_bounds"]
    if bounds:
        rows = [[name, str(value), _pct(value / r["cycles"]) if r["cycles"] else "-",
                 "<- binding" if name == r["binding_bound"] else ""] for name, value in bounds.items()]
        out += _table(["bound", "cycles", "of run", ""], rows)
        out.append(f"  efficiency = {r['binding_bound']} / cycles = {r['efficiency']:.3f}")
    else:
        out.append("  (none recorded)")
    util = r["utilization"]
    out += ["", f"unit utilization (issue slots / units x chips x cycles), overall {_pct(util['overall']).strip()}"]
    out += _table(["kind", "units", "slots", "util"],
                  [[k, str(v["units"]), str(v["issue_slots"]), _pct(v["utilization"])] for k, v in util["by_kind"].items()])
    kinds = list(util["by_kind"])
    out += ["", "per chip (utilization of each unit kind; SRAM high-water mark)"]
    rows = [
        [f"chip {c['chip']}", *(_pct(c["by_kind"][k]) for k in kinds), _pct(c["utilization"]),
         str(c["vectors_sent"]), str(c["vectors_received"]), f"{c['sram_bytes']:,}", _pct(c["sram_fraction"])]
        for c in util["by_chip"]
    ]
    out += _table(["chip", *kinds, "all", "sent", "recv", "SRAM bytes", "of SRAM"], rows)
    out += ["", f"busiest links ({len(r['busiest_links'])} of {r['links_used']} used; busy = vectors x ser cycles)"]
    if r["busiest_links"]:
        out += _table(["link", "vectors", "busy", "util"],
                      [[l["link"], str(l["vectors"]), str(l["busy_cycles"]), _pct(l["utilization"])] for l in r["busiest_links"]])
    else:
        out.append("  (no chip-to-chip traffic)")
    return "\n".join(out)


def add_report_parser(commands) -> None:
    cmd = commands.add_parser("report", help="utilization, bounds, links and SRAM of a compiled directory")
    cmd.add_argument("directory", type=Path, help="a directory from `lockstep compile`")
    cmd.add_argument("--json", action="store_true", help="print the report as a JSON object")
    cmd.add_argument("--links", type=int, default=DEFAULT_TOP_LINKS, metavar="N", help=f"show the N busiest links (default {DEFAULT_TOP_LINKS})")
    cmd.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    if args.links < 0:
        raise LockstepError("--links takes a count >= 0")
    report = compute(load_compiled(args.directory), args.links)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
