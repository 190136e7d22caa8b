"""Collective synthesis benchmark: achieved cycles against the lower bounds and
the two baselines, synthesis time and peak memory, on every collective and
topology of the issue.

    python -m bench.collectives --jobs 2          # the full run, 70 cases (~10 min; ~30 min with --jobs 1)
    python -m bench.collectives --quick           # fc:8 and torus:8x8 only
    python bench/collectives.py --topologies torus:8x8 dragonfly:a=8,h=4,g=9 --kinds all-gather --sizes 1MiB

Each case (topology x kind x size) runs in a fresh subprocess, so peak memory
does not accumulate and a slow case is stopped after `--timeout` seconds (what
it finished by then is kept). Within the case the subprocess warms up (one
synthesis on fc:4 pays the lazy imports), synthesises `auto`, computes the
lower bounds, then synthesises the baselines (`greedy-shortest`, then `ring`),
each limited to `--phase-timeout` seconds; with checking on, every schedule
goes through `check_schedule` (timed separately from synthesis, same limit).
See docs/benchmarks.md for the columns and the targets.

Peak memory is the growth of the subprocess's resident-set high-water mark
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`) across the `auto` synthesis: the
system is already loaded and numpy imported, so it is what synthesis itself
added. tracemalloc would count allocations exactly but slows the synthesiser
about 3.5x, which would spoil the timings.

The table goes to stdout (markdown), the results to JSON (`--out`, default
bench/results/collectives.json), rewritten after every case.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import gc
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

KINDS = ("all-gather", "reduce-scatter", "all-reduce", "all-to-all", "broadcast")
TOPOLOGIES = (
    "fc:8",
    "torus:8x8",
    "torus:16x16",
    "torus:32x32",
    "dragonfly:a=8,h=4,g=9",
    "dragonfly:a=8,h=4,g=33",
    "dragonfly:a=16,h=4,g=65",
)
QUICK_TOPOLOGIES = ("fc:8", "torus:8x8")
SIZES = ("vector", "1MiB")
# Run in this order (the cheap one first, so a ring that runs out of time does not take it along).
BASELINES = ("greedy-shortest", "ring")
WARMUP_TOPOLOGY = "fc:4"
DEFAULT_OUT = HERE / "results" / "collectives.json"
# Without --check / --no-check, schedules on systems up to this many chips are checked.
DEFAULT_CHECK_MAX_CHIPS = 300
# The ring all-to-all baseline is ~N^3/4 hop steps: above this many chips it is skipped (on 1040 chips it had
# not finished after 5 minutes and 3.9 GB).
DEFAULT_RING_A2A_MAX_CHIPS = 512

# The targets.
EFF_TARGET = {"all-gather": 0.95, "reduce-scatter": 0.95, "all-reduce": 0.95, "all-to-all": 0.90}
EFF_TARGET_BYTES = 1 << 20
BIG_CHIPS = 1024
SYNTH_TARGET_S = {"all-gather": 20.0, "all-to-all": 120.0}


# -- the worker: one case in a fresh process ------------------------------------


def _maxrss_mib() -> float:
    """This process's resident-set high-water mark, MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1 << 20) if sys.platform == "darwin" else rss / 1024


def _emit(out, record: dict) -> None:
    out.write(json.dumps(record) + "\n")
    out.flush()


class _PhaseTimeout(Exception):
    pass


@contextlib.contextmanager
def _limit(seconds: float | None):
    """Raises _PhaseTimeout in this (worker) process after `seconds` of wall time."""
    if not seconds:
        yield
        return

    def alarm(signum, frame):
        raise _PhaseTimeout()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _check(schedule, system, seconds: float | None) -> dict:
    from compiler.collectives.check import check_schedule
    from compiler.errors import LockstepError

    started = time.perf_counter()
    try:
        with _limit(seconds):
            check_schedule(schedule, system)
    except LockstepError as err:
        return {"check": "fail", "check_s": time.perf_counter() - started, "check_error": str(err)}
    except _PhaseTimeout:
        return {"check": "timeout", "check_s": time.perf_counter() - started}
    except MemoryError:
        return {"check": "out of memory", "check_s": time.perf_counter() - started}
    return {"check": "ok", "check_s": time.perf_counter() - started}


def run_case(case: dict, out) -> None:
    """Runs one case, writing one JSON line per finished phase to `out`."""
    from compiler.collective_cmd import parse_size
    from compiler.collectives.bounds import binding, lower_bounds
    from compiler.collectives.engine import Net
    from compiler.collectives.owner_floor import sum_then_broadcast_floor
    from compiler.collectives.synthesize import ring_all_to_all_floor, synthesize
    from compiler.errors import LockstepError
    from compiler.system import load_system

    if case.get("memory_limit_gib"):
        limit = int(case["memory_limit_gib"] * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    phase_s = case.get("phase_timeout")
    system = load_system(topology=case["topology"])
    nbytes = parse_size(case["size"], system)
    _emit(out, {"phase": "system", "chips": len(system.alive_chips()), "bytes": nbytes,
                "vector_bytes": system.vector_bytes, "clock_hz": system.clock_hz})
    # Warm-up: the first synthesis in a process pays one-time lazy imports (scipy, ~1 s); pay them on a toy system.
    toy = load_system(topology=WARMUP_TOPOLOGY)
    for algorithm in ("auto", *case["baselines"]):
        synthesize(case["kind"], toy, toy.vector_bytes, algorithm=algorithm)

    rss0 = _maxrss_mib()
    started, cpu = time.perf_counter(), time.process_time()
    schedule = synthesize(case["kind"], system, nbytes, algorithm="auto")
    synth_s, synth_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    rss1 = _maxrss_mib()
    record = {"phase": "auto", "algorithm": schedule.algorithm, "cycles": int(schedule.cycles),
              "hops": len(schedule.hops), "chunks": schedule.chunk_count, "chunk_bytes": schedule.chunk_bytes,
              "synth_s": synth_s, "synth_cpu_s": synth_cpu_s, "peak_mib": rss1 - rss0, "maxrss_mib": rss1,
              "auto_tried": schedule.notes.get("auto_tried")}
    _emit(out, record)

    started = time.perf_counter()
    bounds = lower_bounds(case["kind"], system, nbytes, schedule.participants)
    name, value = binding(bounds)
    record = {"phase": "bounds", "bounds": bounds, "bound_name": name, "bound": value,
              "bounds_s": time.perf_counter() - started}
    if case["kind"] == "all-reduce":
        # what a schedule that sums each chunk at one chip could reach at best (not a bound on every schedule)
        record["owner_floor"] = sum_then_broadcast_floor(Net(system), list(schedule.participants),
                                                         system.vector_bytes, nbytes)
    _emit(out, record)
    if case["check"]:
        _emit(out, {"phase": "auto-check", **_check(schedule, system, phase_s)})
    schedule_parts = schedule.participants
    del schedule

    n = len(schedule_parts)
    for algorithm in case["baselines"]:
        limit = case.get("ring_a2a_max_chips")
        if algorithm == "ring" and case["kind"] == "all-to-all" and limit and n > limit:
            started = time.perf_counter()
            floor = ring_all_to_all_floor(system, nbytes, schedule_parts)
            _emit(out, {"phase": "baseline", "algorithm": algorithm, "floor": floor,
                        "synth_s": time.perf_counter() - started,
                        "error": f"skipped: a ring all-to-all on {n} chips is ~N^3/4 = {n ** 3 / 4:.1e} hop steps "
                                 f"(more than --ring-a2a-max-chips {limit}); its routes' busiest link alone "
                                 f"takes {floor} cycles"})
            continue
        started, cpu = time.perf_counter(), time.process_time()
        schedule = None
        try:
            with _limit(phase_s):
                schedule = synthesize(case["kind"], system, nbytes, algorithm=algorithm)
        except LockstepError as err:
            error = str(err)
        except _PhaseTimeout:
            error = "timeout"
        except MemoryError:
            error = "out of memory"
        if schedule is None:
            _emit(out, {"phase": "baseline", "algorithm": algorithm, "error": error,
                        "synth_s": time.perf_counter() - started})
            gc.collect()
            continue
        record = {"phase": "baseline", "algorithm": algorithm, "cycles": int(schedule.cycles),
                  "synth_s": time.perf_counter() - started, "synth_cpu_s": time.process_time() - cpu}
        if case["check"]:
            record.update(_check(schedule, system, phase_s))
        _emit(out, record)
        del schedule
    _emit(out, {"phase": "done"})


# -- the driver -----------------------------------------------------------------


def _worker_command(case: dict) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(case)]


def _run_subprocess(case: dict, timeout: float) -> tuple[list[dict], str | None, float]:
    """The phases a case's subprocess finished, why it stopped early (None if it did not), wall seconds."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(_worker_command(case), stdout=out, stderr=err, cwd=ROOT, env=env)
        problem = None
        try:
            code = proc.wait(timeout=timeout)
            if code != 0:
                problem = f"exit {code}"
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            problem = "timeout"
        wall = time.perf_counter() - started
        out.seek(0)
        phases = [json.loads(line) for line in out if line.strip()]
        err.seek(0)
        stderr = err.read().strip()
    if problem and problem != "timeout" and stderr:
        problem += ": " + stderr.splitlines()[-1]
    return phases, problem, wall


def _assemble(case: dict, phases: list[dict], problem: str | None, wall: float) -> dict:
    result = {"topology": case["topology"], "kind": case["kind"], "size": case["size"], "chips": None,
              "bytes": None, "algorithm": None, "cycles": None, "bound": None, "bound_name": None,
              "bounds": None, "efficiency": None, "synth_s": None, "peak_mib": None, "check": "off",
              "check_s": None, "baselines": {}, "worse_than": [], "wall_s": wall, "status": problem or "ok"}
    checked = case["check"]
    for phase in phases:
        kind = phase.pop("phase")
        if kind == "system":
            result.update(chips=phase["chips"], bytes=phase["bytes"], vector_bytes=phase["vector_bytes"],
                          clock_hz=phase["clock_hz"])
        elif kind == "auto":
            result.update(phase)
        elif kind == "bounds":
            result.update(phase)
        elif kind == "auto-check":
            result.update(check=phase["check"], check_s=phase["check_s"])
            if "check_error" in phase:
                result["check_error"] = phase["check_error"]
        elif kind == "baseline":
            result["baselines"][phase.pop("algorithm")] = phase
    if checked and result["check"] == "off":
        result["check"] = "not run"
    for algorithm in case["baselines"]:
        result["baselines"].setdefault(algorithm, {"error": problem or "not run"})
    bound = result["bound"]
    if result["cycles"] is not None and bound is not None:
        result["efficiency"] = bound / result["cycles"] if result["cycles"] else 1.0
        if bound > result["cycles"]:
            result["status"] = f"bound {bound} above achieved {result['cycles']}"
    for algorithm, base in result["baselines"].items():
        if base.get("cycles") is not None and bound is not None:
            base["efficiency"] = bound / base["cycles"] if base["cycles"] else 1.0
            if result["cycles"] is not None and result["cycles"] > base["cycles"]:
                result["worse_than"].append(algorithm)
        elif base.get("floor") and bound is not None:
            base["efficiency_at_most"] = bound / base["floor"]
    return result


# -- the table ------------------------------------------------------------------

COLUMNS = ("topology", "chips", "kind", "size", "algorithm", "cycles", "bound (name)", "efficiency", "ring eff",
           "greedy-shortest eff", "synth s", "peak MiB", "check")


def _size_label(result: dict) -> str:
    size = result["size"]
    if size == "vector":
        return f"1 vec ({result['bytes']} B)" if result.get("bytes") else "1 vec"
    return size


def _baseline_cell(result: dict, algorithm: str) -> str:
    base = result["baselines"].get(algorithm)
    if base is None:
        return "-"
    if "efficiency_at_most" in base:
        return f"<= {base['efficiency_at_most']:.2g} (link floor)"
    if "efficiency" not in base:
        error = base.get("error", "?")
        if error in ("timeout", "out of memory", "not run"):
            return error
        if error.startswith("skipped"):
            return "skipped"
        return "n/a" if "does not apply" in error else "error"
    cell = f"{base['efficiency']:.3f}"
    return cell + " **(beats auto)**" if algorithm in result["worse_than"] else cell


def _check_cell(result: dict) -> str:
    check = result["check"]
    if check in ("off", "not run"):
        return "off" if check == "off" else "-"
    parts = []
    if check == "ok":
        parts.append(f"ok {result['check_s']:.2f}s")
    else:
        parts.append(f"**{check.upper()}**" if check == "fail" else check)
    bases = [b for b in result["baselines"].values() if "check" in b]
    if bases:
        states = {b["check"] for b in bases}
        if "fail" in states:
            parts.append("baselines **FAIL**")
        else:
            parts.append("baselines " + "/".join(sorted(states)))
    return ", ".join(parts)


def row(result: dict) -> list[str]:
    def fmt(value, spec):
        return "-" if value is None else format(value, spec)

    if result["cycles"] is None:
        algorithm = f"**{result['status']}**"
    else:
        algorithm = result["algorithm"]
    bound = "-" if result["bound"] is None else f"{result['bound']} ({result['bound_name']})"
    efficiency = fmt(result["efficiency"], ".3f")
    return [result["topology"], fmt(result["chips"], "d"), result["kind"], _size_label(result), algorithm,
            fmt(result["cycles"], "d"), bound, efficiency, _baseline_cell(result, "ring"),
            _baseline_cell(result, "greedy-shortest"), fmt(result["synth_s"], ".2f"), fmt(result["peak_mib"], ".0f"),
            _check_cell(result)]


def table(results: list[dict]) -> str:
    rows = [list(COLUMNS)] + [row(r) for r in results]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    right = {1, 5, 7, 8, 9, 10, 11}

    def line(cells):
        return "| " + " | ".join(c.rjust(w) if i in right else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    rule = "| " + " | ".join(("-" * (w - 1) + ":") if i in right else "-" * w for i, w in enumerate(widths)) + " |"
    return "\n".join([line(rows[0]), rule] + [line(r) for r in rows[1:]])


# -- the targets ----------------------------------------------------------------


def targets(results: list[dict]) -> list[dict]:
    """The issue's targets, each with the cases it covers here and those that miss it."""
    found = []

    def label(r: dict) -> str:
        return f"{r['kind']} {r['topology']} {r['size']}"

    def target(name: str, cases: list[dict], miss, unmeasured=lambda r: None) -> None:
        misses = [f"{label(r)}: {why}" for r in cases if (why := miss(r))]
        gaps = [f"{label(r)}: {why}" for r in cases if (why := unmeasured(r))]
        found.append({"target": name, "cases": len(cases),
                      "met": None if not cases else not misses, "misses": misses, "unmeasured": gaps})

    def eff_miss(limit):
        def miss(r):
            if r["efficiency"] is None:
                return f"no result ({r['status']})"
            return f"{r['efficiency']:.3f}" if r["efficiency"] < limit else None
        return miss

    for kinds, limit in ((("all-gather", "reduce-scatter", "all-reduce"), 0.95), (("all-to-all",), 0.90)):
        cases = [r for r in results if r["kind"] in kinds and r.get("bytes") == EFF_TARGET_BYTES]
        target(f"efficiency >= {limit:.2f} for {', '.join(kinds)} at 1 MiB on every topology", cases,
               eff_miss(limit))

    def base_miss(r):
        if r["cycles"] is None:
            return f"no result ({r['status']})"
        if r["worse_than"]:
            return "worse than " + ", ".join(f"{b} ({r['baselines'][b]['cycles']} < {r['cycles']} cycles)"
                                            for b in r["worse_than"])
        return None

    def beaten_floor(r, base) -> bool:
        """A baseline not run whose cycles are known to be at least its `floor`, above auto's."""
        return r["cycles"] is not None and base.get("floor") is not None and r["cycles"] <= base["floor"]

    def base_gap(r):
        gone = [f"no {b} result ({v.get('error')})" for b, v in r["baselines"].items()
                if v.get("cycles") is None and "does not apply" not in str(v.get("error"))
                and not beaten_floor(r, v)]
        return "; ".join(gone) if gone and r["cycles"] is not None else None

    target("never worse than either baseline (ring, greedy-shortest)", list(results), base_miss, base_gap)
    for kind, limit in SYNTH_TARGET_S.items():
        cases = [r for r in results if r["kind"] == kind and (r["chips"] or 0) >= BIG_CHIPS]

        def synth_miss(r, limit=limit):
            if r["synth_s"] is None:
                return f"no result ({r['status']})"
            if r["synth_s"] <= limit:
                return None
            return f"{r['synth_s']:.1f} s wall ({r.get('synth_cpu_s', 0):.1f} s CPU)"

        target(f"synthesis <= {limit:g} s for {kind} at {BIG_CHIPS}+ chips", cases, synth_miss)
    return found


def targets_text(found: list[dict]) -> str:
    lines = []
    for t in found:
        state = "not measured" if t["met"] is None else "met" if t["met"] else "NOT met"
        gaps = t.get("unmeasured", [])
        note = f", {len(gaps)} of them not comparable" if gaps else ""
        lines.append(f"- {t['target']}: **{state}** ({t['cases']} cases{note})")
        lines += [f"  - missed: {m}" for m in t["misses"]]
        lines += [f"  - not comparable: {m}" for m in gaps]
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------


def _split(values: list[str] | None, sep: str | None) -> list[str] | None:
    if values is None:
        return None
    out = []
    for value in values:
        out += [v for v in (value.split(sep) if sep else [value]) if v]
    return out


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.collectives", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"only {' and '.join(QUICK_TOPOLOGIES)} (a smoke test)")
    parser.add_argument("--kinds", nargs="+", metavar="KIND",
                        help=f"collectives, space or comma separated (default: {' '.join(KINDS)})")
    parser.add_argument("--topologies", nargs="+", metavar="TOPOLOGY",
                        help="topologies, space separated (commas belong to dragonfly specs)")
    parser.add_argument("--sizes", nargs="+", metavar="SIZE",
                        help="bytes per chip, as `lockstep collective --bytes` takes them (default: vector 1MiB)")
    check = parser.add_mutually_exclusive_group()
    check.add_argument("--check", action="store_true", help="run check_schedule on every schedule of every case")
    check.add_argument("--no-check", action="store_true", help="run no check_schedule at all")
    parser.add_argument("--check-max-chips", type=int, default=DEFAULT_CHECK_MAX_CHIPS, metavar="N",
                        help=f"without --check, check only systems up to N chips (default {DEFAULT_CHECK_MAX_CHIPS})")
    parser.add_argument("--no-baselines", action="store_true", help="skip the ring and greedy-shortest runs")
    parser.add_argument("--timeout", type=float, default=900.0, metavar="SECONDS",
                        help="wall-clock limit per case (auto, bounds, baselines, checks together; default 900)")
    parser.add_argument("--ring-a2a-max-chips", type=int, default=DEFAULT_RING_A2A_MAX_CHIPS, metavar="N",
                        help="skip the ring all-to-all baseline above N chips "
                             f"(default {DEFAULT_RING_A2A_MAX_CHIPS}; 0 = never skip)")
    parser.add_argument("--phase-timeout", type=float, default=120.0, metavar="SECONDS",
                        help="limit on each baseline synthesis and each check inside a case (default 120; 0 = none)")
    parser.add_argument("--memory-limit", type=float, default=8.0, metavar="GIB",
                        help="address-space limit of each case's subprocess (default 8 GiB; 0 = none)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT.relative_to(ROOT)})")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="cases run at once (default 1; more shortens the run but makes timings noisier)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker:
        run_case(json.loads(args.worker), sys.stdout)
        return 0
    kinds = _split(args.kinds, ",") or list(KINDS)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        print(f"bench: unknown collective {', '.join(unknown)} (known: {', '.join(KINDS)})", file=sys.stderr)
        return 2
    topologies = _split(args.topologies, None) or list(QUICK_TOPOLOGIES if args.quick else TOPOLOGIES)
    sizes = _split(args.sizes, ",") or list(SIZES)
    baselines = [] if args.no_baselines else list(BASELINES)

    from compiler.system import load_system  # fail fast on a bad topology, and count chips for the check rule

    chips = {}
    for topology in topologies:
        try:
            chips[topology] = len(load_system(topology=topology).alive_chips())
        except Exception as err:  # noqa: BLE001 - any bad spec is reported the same way
            print(f"bench: bad topology '{topology}': {err}", file=sys.stderr)
            return 2

    cases = []
    for topology in topologies:
        do_check = not args.no_check and (args.check or chips[topology] <= args.check_max_chips)
        for kind in kinds:
            for size in sizes:
                cases.append({"topology": topology, "kind": kind, "size": size, "check": do_check,
                              "baselines": baselines, "phase_timeout": args.phase_timeout,
                              "memory_limit_gib": args.memory_limit,
                              "ring_a2a_max_chips": args.ring_a2a_max_chips})

    meta = {
        "command": "python -m bench.collectives " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": _git_commit(),
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cpus",
        "jobs": args.jobs,
        "timeout_s": args.timeout,
        "ring_a2a_max_chips": args.ring_a2a_max_chips,
        "phase_timeout_s": args.phase_timeout,
        "memory_limit_gib": args.memory_limit,
        "memory": "peak_mib = growth of the worker's ru_maxrss (resident-set high-water mark) across the auto "
                  "synthesis, MiB; maxrss_mib = the worker's whole high-water mark by then",
        "check": "all" if args.check else "none" if args.no_check else f"systems up to {args.check_max_chips} chips",
    }
    results: list[dict] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    done: dict[int, dict] = {}

    def finish(index: int, outcome: tuple[list[dict], str | None, float]) -> None:
        case = cases[index]
        result = _assemble(case, *outcome)
        done[index] = result
        if not args.quiet:
            eff = "-" if result["efficiency"] is None else f"{result['efficiency']:.3f}"
            print(f"[{len(done)}/{len(cases)}] {case['topology']} {case['kind']} {case['size']}: "
                  f"{result['algorithm']} eff {eff}, {result['wall_s']:.1f} s wall, {result['status']}",
                  file=sys.stderr, flush=True)
        ordered = [done[j] for j in sorted(done)]
        args.out.write_text(json.dumps({"meta": {**meta, "wall_s": time.perf_counter() - started},
                                        "results": ordered, "targets": targets(ordered)}, indent=1) + "\n")

    if args.jobs <= 1:
        for index, case in enumerate(cases):
            finish(index, _run_subprocess(case, args.timeout))
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(args.jobs) as pool:
            futures = {pool.submit(_run_subprocess, case, args.timeout): index for index, case in enumerate(cases)}
            for future in futures:  # in case order; each case's timeout is its own
                finish(futures[future], future.result())
    results = [done[j] for j in sorted(done)]

    print(table(results))
    print()
    print(targets_text(targets(results)))
    print(f"\n{len(results)} cases in {time.perf_counter() - started:.0f} s; results in {args.out}")
    broken = [r for r in results
              if r["check"] == "fail" or any(b.get("check") == "fail" for b in r["baselines"].values())
              or r["status"].startswith(("bound", "exit"))]
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
