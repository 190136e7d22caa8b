"""`lockstep`: the compiler driver (compile a model, run it on the runtime, check it)."""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from compiler.dumps import PassDumper
from compiler.errors import LockstepError
from compiler.pipeline import CompileOptions, compile_model, write_program
from compiler.quantize import WEIGHTS
from passes.partition import STRATEGIES

REL_TOLERANCE = 1e-4


def parse_shape(text: str) -> tuple[str, list[int]]:
    name, sep, dims = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return name, [int(d) for d in dims.replace("x", ",").split(",")]
    except ValueError:
        raise LockstepError(f"--shape takes NAME=D0,D1,...; got '{text}'") from None


def add_system_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--system", help="a preset (single, node8, ring8, torus4x4) or a system TOML file")
    parser.add_argument("--chips", type=int, help="how many chips to compile for")
    parser.add_argument("--topology", help="fc, ring, torus, or explicit: fc:8, ring:4, torus:4x4")
    parser.add_argument("--strategy", default="auto", choices=STRATEGIES,
                        help="how to partition (default auto: the fastest by the cost model, reason in the report)")
    parser.add_argument("--group", type=int, default=8,
                        help="chips per tensor-parallel group under --strategy hybrid (default 8, a node)")
    parser.add_argument("--weights", default="fp32", choices=WEIGHTS,
                        help="int8: weight-only int8 quantization, per-output-channel scales (default fp32)")
    parser.add_argument("--shape", action="append", default=[], metavar="NAME=DIMS",
                        help="fix an input's dynamic dimensions, e.g. --shape input=1,784")
    parser.add_argument("--shape-only", action="store_true",
                        help="ignore the weights' values (as when their external data is absent): "
                             "the program can be timed, not run with numbers")
    parser.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass")
    parser.add_argument("--print-ir-after", action="append", default=[], metavar="PASS",
                        help="print the IR after PASS (repeatable)")
    parser.add_argument("--dump-dir", type=Path, help="write the IR after every pass to DIR/NN-pass.mlir")
    parser.add_argument("--print-debuginfo", action="store_true", help="print locations (ONNX node names) in dumps")


def options_of(args: argparse.Namespace) -> CompileOptions:
    return CompileOptions(args.system, args.chips, args.topology, args.strategy,
                          dict(parse_shape(s) for s in args.shape), args.shape_only, args.group,
                          weights=args.weights)


def dumper_of(args: argparse.Namespace) -> PassDumper | None:
    after = frozenset(p for item in args.print_ir_after for p in item.split(","))
    if not (args.print_ir_after_all or after or args.dump_dir):
        return None
    return PassDumper(args.print_ir_after_all, after, args.dump_dir, debuginfo=args.print_debuginfo)


def report_pass(name: str, seconds: float) -> None:
    """`-v`: one line per pass on stderr as it finishes, with the peak memory so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"lockstep: {name}: {seconds:.1f} s, peak {peak:.0f} MiB", file=sys.stderr, flush=True)


def cmd_compile(args: argparse.Namespace) -> int:
    progress = report_pass if args.verbose else None
    compiled = compile_model(args.model, options_of(args), dumper_of(args), progress)
    start = time.perf_counter()
    write_program(compiled, args.output)
    if progress is not None:
        progress("write", time.perf_counter() - start)
    if args.json:
        print(json.dumps(compiled.report, indent=2))
    else:
        r = compiled.report
        print(f"compiled {args.model} for {r['chips']} chip(s) ({r['strategy']}) into {args.output}: "
              f"{r['cycles']} cycles = {r['latency_us']:.3f} us, efficiency {r['efficiency']:.2f}")
        if "partition_reason" in r:
            print(f"partition: {r['partition_reason']}")
    return 0


def input_dtypes(model: str | None) -> dict[str, np.dtype]:
    """The numpy dtype of each graph input of the ONNX model (empty without a readable model)."""
    import onnx

    if not model or not Path(model).exists():
        return {}
    try:
        graph = onnx.load_model(model, load_external_data=False).graph
    except Exception:  # the compile step reports unreadable models
        return {}
    out = {}
    for value in graph.input:
        elem = value.type.tensor_type.elem_type if value.type.HasField("tensor_type") else 0
        if elem:
            out[value.name] = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem))
    return out


def random_input(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Random values of the input's own element type: small integers for integer inputs (exact in
    float32, and non-negative for unsigned ones), 0/1 for bool, standard normal otherwise."""
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        low = 0 if dtype.kind == "u" else -8
        return rng.integers(low, 9, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype if dtype.kind == "f" else np.float32)


def load_inputs(
    source: str | None, wanted: dict[str, tuple[int, ...]], dtypes: dict[str, np.dtype] | None = None
) -> dict[str, np.ndarray]:
    """Host inputs, each of the model's element type (`dtypes`, float32 where unknown)."""
    dtypes = dtypes or {}
    if source is None:
        rng = np.random.default_rng(0)
        return {
            name: random_input(rng, shape, dtypes.get(name, np.dtype(np.float32))) for name, shape in wanted.items()
        }
    path = Path(source)
    if path.is_dir():
        return test_data_inputs(path, list(wanted))
    if not path.exists():
        raise LockstepError(f"inputs file '{source}' does not exist")
    try:
        with np.load(path) as data:
            return {name: np.asarray(data[name], dtype=dtypes.get(name, np.float32)) for name in data.files}
    except (OSError, ValueError) as err:
        raise LockstepError(f"cannot read inputs from '{source}': {err}") from None


def machine_inputs(inputs: dict[str, np.ndarray], dtypes: dict[str, np.dtype]) -> dict[str, np.ndarray]:
    """The float32 arrays the machine reads (bool and integers exactly; see compiler.backend)."""
    from onnx import helper

    from compiler.backend import _Value, to_machine

    def value(name: str) -> _Value:
        dtype = dtypes.get(name)
        return _Value(name, helper.np_dtype_to_tensor_dtype(dtype) if dtype is not None else 1)

    return {name: to_machine(value(name), array) for name, array in inputs.items()}


def read_tensors(directory: Path, prefix: str) -> list[tuple[str, np.ndarray]]:
    import onnx
    from onnx import numpy_helper

    out = []
    for file in sorted(directory.glob(f"{prefix}_*.pb"), key=lambda p: int(p.stem.split("_")[1])):
        tensor = onnx.TensorProto()
        tensor.ParseFromString(file.read_bytes())
        out.append((tensor.name, numpy_helper.to_array(tensor)))
    return out


def test_data_inputs(directory: Path, names: list[str]) -> dict[str, np.ndarray]:
    tensors = read_tensors(directory, "input")
    if not tensors:
        raise LockstepError(f"'{directory}' holds no input_N.pb files")
    return {(name or names[i]): array for i, (name, array) in enumerate(tensors)}  # the stored element types


def reference_outputs(model: str | bytes, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, inputs)))


def compare(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> tuple[float, float]:
    abs_err = rel_err = 0.0
    for name, expected in want.items():
        if name not in got:
            raise LockstepError(f"the program does not produce output '{name}'")
        expected = np.asarray(expected, dtype=np.float64)  # integer and bool outputs compare as numbers
        diff = float(np.max(np.abs(got[name] - expected))) if expected.size else 0.0
        scale = float(np.max(np.abs(expected))) if expected.size else 1.0
        abs_err, rel_err = max(abs_err, diff), max(rel_err, diff / max(scale, 1e-30))
    return abs_err, rel_err


def cmd_run(args: argparse.Namespace) -> int:
    from runtime import Program, run

    target = Path(args.target)
    if args.check and args.timing_only:
        raise LockstepError("--check compares numbers, which --timing-only does not compute")
    if not target.exists():
        raise LockstepError(f"'{target}' does not exist")
    with tempfile.TemporaryDirectory() as scratch:
        if target.is_dir():
            directory, model = target, None
        else:
            compiled = compile_model(target, options_of(args), dumper_of(args))
            directory, model = Path(scratch), str(target)
            write_program(compiled, directory)
        report = json.loads((directory / "report.json").read_text())
        model = model or report.get("model")
        program = Program.load(directory)
        if args.timing_only:
            inputs, result = {}, run(program, {}, timing_only=True)
        else:
            dtypes = input_dtypes(model)
            inputs = load_inputs(args.inputs, program.inputs, dtypes)
            result = run(program, machine_inputs(inputs, dtypes))
    if args.outputs:
        np.savez(args.outputs, **result.outputs)
    summary = {
        "ok": True,
        "cycles_predicted": report["cycles"],
        "cycles_measured": result.cycles,
        "latency_us": report["latency_us"],
        "vector_instructions": result.vector_instructions,
        "simulation_seconds": result.seconds,
        "max_abs_error": None,
        "max_rel_error": None,
    }
    summary["ok"] = summary["cycles_predicted"] == summary["cycles_measured"]
    if args.check:
        expected = expected_outputs(args.inputs, model, inputs, report.get("quantized_matmuls"))
        abs_err, rel_err = compare(result.outputs, expected)
        summary.update(max_abs_error=abs_err, max_rel_error=rel_err)
        summary["ok"] = summary["ok"] and rel_err <= REL_TOLERANCE
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(" ".join(f"{k}={v}" for k, v in summary.items()))
    return 0 if summary["ok"] else 1


def expected_outputs(inputs_source: str | None, model: str | None, inputs: dict[str, np.ndarray],
                     quantized: list[str] | None = None):
    """The reference outputs; for an int8 program (`quantized`: its int8 matmuls' nodes), onnxruntime's
    on the model with the same dequantized weights (compiler/quantize.py), never stored fp32 outputs."""
    if quantized is None and inputs_source and Path(inputs_source).is_dir():
        stored = read_tensors(Path(inputs_source), "output")
        if stored:
            return dict(stored)
    if not model or not Path(model).exists():
        raise LockstepError("--check needs the ONNX model (or output_N.pb files beside the inputs)")
    if quantized is not None:
        import onnx

        from compiler.quantize import dequantized_model

        return reference_outputs(dequantized_model(onnx.load(model), quantized).SerializeToString(), inputs)
    return reference_outputs(model, inputs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lockstep", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    compile_cmd = commands.add_parser("compile", help="compile an ONNX model into per-chip streams")
    compile_cmd.add_argument("model")
    add_system_options(compile_cmd)
    compile_cmd.add_argument("-o", "--output", type=Path, required=True, help="directory for the streams")
    compile_cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    compile_cmd.add_argument("-v", "--verbose", action="store_true",
                             help="say on stderr when each pass finishes, its seconds and the peak memory")
    compile_cmd.set_defaults(handler=cmd_compile)
    run_cmd = commands.add_parser("run", help="run a model or a compiled directory on the runtime")
    run_cmd.add_argument("target", help="MODEL.onnx (compiled first) or a directory from `lockstep compile`")
    add_system_options(run_cmd)
    run_cmd.add_argument("--inputs", help="FILE.npz keyed by input name, or an ONNX test_data_set directory")
    run_cmd.add_argument("--outputs", help="write the outputs to FILE.npz")
    run_cmd.add_argument("--check", action="store_true", help="compare with onnxruntime; exit 1 on a mismatch")
    run_cmd.add_argument("--timing-only", action="store_true",
                         help="check every timing promise and count cycles, compute no numbers (no inputs needed)")
    run_cmd.add_argument("--json", action="store_true", help="print the result as JSON")
    run_cmd.set_defaults(handler=cmd_run)
    from compiler.report import add_report_parser
    from compiler.trace import add_trace_parser

    add_report_parser(commands)
    add_trace_parser(commands)
    from compiler.collective_cmd import add_arguments as add_collective_arguments

    add_collective_arguments(commands.add_parser("collective", help="synthesise, check and bound a collective's schedule"))
    from compiler.models.cli import add_model_parser

    add_model_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except LockstepError as err:
        print(f"lockstep: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
