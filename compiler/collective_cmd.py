"""`lockstep collective KIND`: synthesise a collective's link-slot schedule,
check it independently, and show it beside its lower bounds."""

from __future__ import annotations

import argparse
import json
import re
import time

from compiler.collectives.bounds import binding, lower_bounds
from compiler.collectives.check import check_schedule
from compiler.collectives.schedule import KINDS
from compiler.errors import LockstepError
from compiler.system import System, load_system

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1000**3, "gb": 1000**3, "gib": 1024**3}
_SIZE_RE = re.compile(r"\s*(\d+)\s*([a-zA-Z]*)\s*")


def parse_size(text: str, system: System) -> int:
    """Bytes from 1280, 64KiB, 1MiB, 2MB, `vector` or `4vectors` (system vectors)."""
    match = _SIZE_RE.fullmatch(text)
    if text.strip().lower() == "vector":
        return system.vector_bytes
    if match is None:
        raise LockstepError(f"--bytes takes a size like 1280, 64KiB, 1MiB or vector, not '{text}'")
    number, unit = int(match.group(1)), match.group(2).lower()
    if unit in ("vector", "vectors"):
        size = number * system.vector_bytes
    elif unit in _UNITS:
        size = number * _UNITS[unit]
    else:
        raise LockstepError(f"--bytes: unknown unit '{match.group(2)}' in '{text}' (use B, KiB, MiB, GiB, KB, MB, GB "
                            "or vectors)")
    if size < 1:
        raise LockstepError(f"--bytes must be at least 1 byte, not '{text}'")
    return size


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", metavar="KIND", help=f"one of {', '.join(KINDS)}")
    parser.add_argument("--topology", help="fc:8, ring:16, torus:8x8, torus:4x4x4, ... (on the --system's machine)")
    parser.add_argument("--system", help="a preset (node8, ring8, torus4x4, ...) or a system TOML file")
    parser.add_argument("--bytes", metavar="SIZE",
                        help="bytes per chip: 1280, 64KiB, 1MiB, or vector (one vector)")
    parser.add_argument("--algorithm", default="auto", help="synthesis algorithm (default auto)")
    parser.add_argument("--export-schedule", metavar="FILE", help="write every hop as JSON (docs/network.md)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=cmd_collective)


def _synthesize(kind: str, system: System, nbytes: int, algorithm: str):
    try:
        from compiler.collectives import synthesize as synth
    except ImportError as err:
        raise LockstepError(f"collective synthesis is not available ({err})") from None
    algorithms = getattr(synth, "ALGORITHMS", None)
    if algorithms is not None and algorithm not in algorithms:
        raise LockstepError(f"unknown algorithm '{algorithm}' (use {', '.join(algorithms)})")
    started = time.perf_counter()
    schedule = synth.synthesize(kind, system, nbytes, algorithm=algorithm)
    if not schedule.synthesis_seconds:
        schedule.synthesis_seconds = time.perf_counter() - started
    return schedule


def cmd_collective(args: argparse.Namespace) -> int:
    kind = args.kind
    if kind not in KINDS:
        raise LockstepError(f"unknown collective '{kind}' (use {', '.join(KINDS)})")
    if not args.topology and not args.system:
        raise LockstepError("give --topology (e.g. torus:4x4) or --system")
    if args.bytes is None:
        raise LockstepError("give --bytes SIZE (bytes per chip: 1280, 64KiB, 1MiB or vector)")
    system = load_system(args.system, topology=args.topology)
    nbytes = parse_size(args.bytes, system)
    schedule = _synthesize(kind, system, nbytes, args.algorithm)
    started = time.perf_counter()
    try:
        check_schedule(schedule, system)
    except LockstepError as err:
        raise LockstepError(f"the {schedule.algorithm} schedule is broken: {err}") from None
    check_seconds = time.perf_counter() - started
    bounds = lower_bounds(kind, system, nbytes, schedule.participants)
    bound_name, bound = binding(bounds)
    cycles = schedule.cycles
    if bound > cycles:
        raise LockstepError(f"internal: the {bound_name} bound {bound} exceeds the achieved {cycles} cycles")
    if args.export_schedule:
        from compiler.collectives.export import write_json

        write_json(schedule, system, args.export_schedule)
    efficiency = bound / cycles if cycles else 1.0
    result = {
        "kind": kind,
        "topology": system.topology + system.failure_spec,
        "system": system.name,
        "bytes": nbytes,
        "chips": len(schedule.participants),
        "system_chips": system.chips,
        "algorithm": schedule.algorithm,
        "cycles": cycles,
        "latency_us": cycles / system.clock_hz * 1e6,
        "lower_bound_cycles": bound,
        "binding_bound": bound_name,
        "efficiency": efficiency,
        "bounds": bounds,
        "hops": len(schedule.hops),
        "chunks": schedule.chunk_count,
        "chunk_bytes": schedule.chunk_bytes,
        "synthesis_seconds": schedule.synthesis_seconds,
        "check_seconds": check_seconds,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{kind} of {nbytes} bytes on {result['chips']} chips ({result['topology']}), "
          f"algorithm {schedule.algorithm}: {len(schedule.hops)} hops, checked")
    width = max(len("achieved"), *(len(name) for name in bounds))
    print(f"  {'achieved':<{width}}  {cycles:>10} cycles  {result['latency_us']:.3f} us")
    for name, value in bounds.items():
        mark = "  <- binding" if name == bound_name else ""
        print(f"  {name:<{width}}  {value:>10} cycles{mark}")
    print(f"  efficiency {efficiency:.3f} (bound / achieved); synthesis {schedule.synthesis_seconds:.2f} s")
    return 0
