"""Scale benchmark: compile time, peak memory and time per pass of Llama decode steps on up to
576 chips, and the runtime's simulated instructions per second (timing only and with numbers).

    python -m bench.scale                      # every case of issue 5 (hours on 2 cores: see --timeout)
    python -m bench.scale --quick              # small cases only (~2 min)
    python -m bench.scale --cases 70b-2 7b-64  # by name (see --list)

Each case runs in a fresh subprocess (peak memory is that process's resident-set high-water
mark, `ru_maxrss`), stopped after `--timeout` seconds. A compile case generates the model with
`lockstep model llama ... --no-weights` (shape-only: the weights are never materialised), compiles
it with int8 weights and the `auto` partition, writes the streams, then replays them on the
timing-only runtime, which must measure the compiler's cycle count. A numbers case compiles a
model that has weights and runs it with numbers. Results go to JSON (`--out`, default
bench/results/scale.json, rewritten after every case) and a markdown table to stdout.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


MID = "mid"
"""A one-layer Llama block of width 1024 (8 heads, 2 KV heads, FFN 2816, vocabulary 4096) with
weights: big enough that the runtime's numbers rate is not its per-op overhead."""


@dataclass(frozen=True)
class Case:
    name: str
    preset: str
    layers: int | None  # None: the preset's
    chips: int
    context: int = 4096
    numbers: bool = False  # run with numbers (the model then has weights)
    system: str | None = None  # None: what --chips alone selects


CASES = (
    Case("70b-2", "llama2-70b", 2, 576),
    Case("70b-8", "llama2-70b", 8, 576),
    Case("70b-80", "llama2-70b", None, 576),
    # Fewer than 576 chips: the first ones of the 576-chip system (8 nodes of a rack, 2 racks, 4 racks).
    Case("7b-64", "llama2-7b", None, 64, system="groq576"),
    Case("7b-144", "llama2-7b", None, 144, system="groq576"),
    Case("7b-288", "llama2-7b", None, 288, system="groq576"),
    Case("7b-576", "llama2-7b", None, 576),
    Case("mid-8-numbers", MID, 1, 8, context=512, numbers=True),
)
QUICK = ("7b-1layer-8", "mid-8-numbers")
EXTRA = (Case("7b-1layer-8", "llama2-7b", 1, 8),)


def run_case(case: Case) -> dict:
    """In the child process: generate, compile, write, replay; every figure of the row."""
    import onnx

    from compiler.models.llama import LlamaConfig, llama_model, write_llama
    from compiler.pipeline import CompileOptions, compile_model, write_program
    from runtime import Program, run

    out: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        model = Path(scratch) / "model.onnx"
        start = time.perf_counter()
        if case.preset == MID:
            mid = LlamaConfig(1024, 1, 8, 2, 2816, 4096, 10000.0, 1e-5, case.context)
            onnx.save(llama_model(mid, MID, 1, 1, case.context), model)
        else:
            write_llama(case.preset, model, layers=case.layers, decode=True, length=case.context,
                        weights=case.numbers)
        out["generate_seconds"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        compiled = compile_model(model, CompileOptions(system=case.system, chips=case.chips, weights="int8"))
        directory = Path(scratch) / "program"
        write_program(compiled, directory)
        out["compile_seconds"] = round(time.perf_counter() - start, 2)
        report = compiled.report
        out["pass_seconds"] = report["pass_seconds"]
        out["peak_mib_compile"] = round(_peak_mib(), 1)
        for key in ("strategy", "chips", "cycles", "latency_us", "efficiency", "tokens_per_second_per_user",
                    "vector_instructions"):
            out[key] = report.get(key)
        out["stream_mib"] = round(sum(f.stat().st_size for f in directory.iterdir()) / 2**20, 1)
        del compiled
        start = time.perf_counter()
        program = Program.load(directory)
        out["runtime_load_seconds"] = round(time.perf_counter() - start, 2)
        timed = run(program, {}, timing_only=True)
        out["cycles_measured"] = timed.cycles
        out["timing_only_instructions_per_second"] = round(timed.vector_instructions / max(timed.seconds, 1e-9))
        if case.numbers:
            import numpy as np

            rng = np.random.default_rng(0)
            inputs = {name: rng.standard_normal(shape).astype(np.float32) for name, shape in program.inputs.items()}
            full = run(program, inputs)
            out["numbers_instructions_per_second"] = round(full.vector_instructions / max(full.seconds, 1e-9))
    out["peak_mib"] = round(_peak_mib(), 1)
    return out


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(name: str) -> None:
    case = next(c for c in (*CASES, *EXTRA) if c.name == name)
    print(json.dumps(run_case(case)))


def parent(cases: list[Case], timeout: float, out_path: Path) -> list[dict]:
    rows = []
    for case in cases:
        start = time.perf_counter()
        row: dict = {**asdict(case)}
        try:
            done = subprocess.run([sys.executable, "-m", "bench.scale", "--child", case.name], cwd=ROOT,
                                  capture_output=True, text=True, timeout=timeout)
            if done.returncode == 0:
                row.update(json.loads(done.stdout.strip().splitlines()[-1]))
            else:
                row["error"] = (done.stderr.strip().splitlines() or ["failed"])[-1]
        except subprocess.TimeoutExpired:
            row["error"] = f"did not finish in {timeout:.0f} s"
        row["wall_seconds"] = round(time.perf_counter() - start, 1)
        rows.append(row)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                                        "date": time.strftime("%Y-%m-%d"), "cases": rows}, indent=2) + "\n")
        print(f"{case.name}: {row.get('error') or 'ok'} ({row['wall_seconds']} s)", file=sys.stderr)
    return rows


def table(rows: list[dict]) -> str:
    head = ("| case | chips used | strategy | compile s | peak MiB | cycles (= measured) | tokens/s/user "
            "| efficiency | timing-only instr/s | numbers instr/s |")
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['name']} | | | {r['error']} | | | | | | |")
            continue
        same = "yes" if r["cycles"] == r["cycles_measured"] else f"NO: {r['cycles_measured']}"
        tps = r.get("tokens_per_second_per_user")
        lines.append(
            f"| {r['name']} | {r['chips']} of {_asked(r)} | {r['strategy']} "
            f"| {r['compile_seconds']} | {r['peak_mib']} | {r['cycles']} ({same}) "
            f"| {'' if tps is None else f'{tps:.0f}'} | {r['efficiency']:.2f} "
            f"| {r['timing_only_instructions_per_second']:,} | {r.get('numbers_instructions_per_second', '') or ''} |"
        )
    return "\n".join(lines)


def _asked(row: dict) -> int:
    return next(c.chips for c in (*CASES, *EXTRA) if c.name == row["name"])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="*", help="case names (default: every case of the issue)")
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--list", action="store_true", help="list the cases")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per case (default 1800)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "scale.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    every = {c.name: c for c in (*CASES, *EXTRA)}
    if args.list:
        print("\n".join(f"{c.name}: {c.preset}, {c.layers or 'all'} layers, {c.chips} chips" for c in every.values()))
        return None
    names = args.cases or (QUICK if args.quick else [c.name for c in CASES])
    unknown = [n for n in names if n not in every]
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)} (see --list)")
    print(table(parent([every[n] for n in names], args.timeout, args.out)))
    return None


if __name__ == "__main__":
    main()
