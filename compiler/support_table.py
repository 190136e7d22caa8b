"""Which ONNX operators lockstep supports, measured on the ONNX backend node cases.

    python -m compiler.support_table [--out docs/supported_ops.md] [--ops Add,Relu] [--xfail-list]

Runs every node case of the operators in `OPS` through `compiler.backend.LockstepBackend`
(compile for one chip, run on the runtime, compare with the case's stored outputs) and writes
a markdown table in the manner of onnx-mlir's SupportedONNXOps page: operator, opsets the cases
cover, limits (free text kept in `LIMITS`), node cases passed / total, and the excluded cases
with their reasons. `--xfail-list` prints the cases that fail today, in the form
`tests/unit/test_backend_node_cases.py` keeps as its expected-failure list.

This module is also the one place that says which node cases lockstep is held to (`OPS`),
which it is not (`EXCLUDED`, a reason per pattern) and which graph inputs are compile-time
constants (`CONSTANT_INPUTS`); the pytest suite reads them from here.

The ONNX node cases are built in memory by the `onnx.backend.test.case.node` modules when they
are imported (`onnx.backend.test.loader.load_model_tests(kind="node")` imports all of them,
which takes about a minute); `node_cases` imports only the modules of the operators asked for.
"""
from __future__ import annotations

import argparse
import importlib
import re
import sys
import time
import unittest
import warnings
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

# operator -> the onnx.backend.test.case.node module whose exports build its cases
OPS: dict[str, str] = {
    "MatMul": "matmul",
    "Gemm": "gemm",
    "Conv": "conv",
    "Add": "add",
    "Sub": "sub",
    "Mul": "mul",
    "Div": "div",
    "Pow": "pow",
    "Sum": "sum",
    "Max": "max",
    "Min": "min",
    "Relu": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Erf": "erf",
    "Exp": "exp",
    "Log": "log",
    "Sqrt": "sqrt",
    "Reciprocal": "reciprocal",
    "Neg": "neg",
    "Abs": "abs",
    "Cos": "cos",
    "Sin": "sin",
    "Gelu": "gelu",
    "IsNaN": "isnan",
    "Where": "where",
    "Cast": "cast",
    "Equal": "equal",
    "Less": "less",
    "Greater": "greater",
    "Not": "not_",
    "And": "and_",
    "Softmax": "softmax",
    "LayerNormalization": "layernormalization",
    "RMSNormalization": "rmsnormalization",
    "BatchNormalization": "batch_normalization",
    "ReduceMean": "reducemean",
    "ReduceSum": "reducesum",
    "ReduceMax": "reducemax",
    "MaxPool": "maxpool",
    "AveragePool": "averagepool",
    "GlobalAveragePool": "globalaveragepool",
    "LRN": "lrn",
    "Reshape": "reshape",
    "Transpose": "transpose",
    "Concat": "concat",
    "Split": "split",
    "Slice": "slice",
    "Squeeze": "squeeze",
    "Unsqueeze": "unsqueeze",
    "Expand": "expand",
    "Gather": "gather",
    "Flatten": "flatten",
    "Shape": "shape",
    "ConstantOfShape": "constantofshape",
    "Range": "rangeop",
    "Constant": "constant",
    "Identity": "identity",
    "Dropout": "dropout",
}

# Node cases lockstep is not held to: (regular expression searched in the case name, reason).
# The machine computes in float32 only (bool and integers ride in float32 as exact values,
# float64 rounded to float32, within the cases' rtol 1e-3), so element types float32 cannot
# carry are out, as are training-time behaviours of an
# inference machine and ONNX types that are not tensors.
EXCLUDED: list[tuple[str, str]] = [
    # exotic element types: no float8 / 4-bit / 2-bit / bfloat16 / float16 / string / complex units
    (r"FLOAT8|float8|_e8m0_", "float8 element types: the machine has no float8 arithmetic"),
    (r"FLOAT4E2M1", "float4 element type: the machine has no float4 arithmetic"),
    (r"U?INT4|_u?int4", "4-bit integer element types: not representable on the machine"),
    (r"U?INT2(_|$)|_u?int2(_|$)", "2-bit integer element types: not representable on the machine"),
    (r"BFLOAT16|bfloat16", "bfloat16: the machine computes in float32 only"),
    (r"FLOAT16|float16", "float16: the machine computes in float32 only"),
    (r"STRING|_string", "string tensors: not numbers"),
    (r"complex", "complex element types: not supported"),
    # training-mode variants: an inference machine has no training mode (random masks, batch statistics)
    (r"test_training_dropout", "training mode: random dropout masks are not reproducible, inference only"),
    (r"test_batchnorm_.*training_mode", "training mode: running statistics updates, inference only"),
    # non-tensor ONNX types
    (r"test_identity_sequence", "sequence type: only tensors flow on the machine"),
    (r"test_identity_opt", "optional type: only tensors flow on the machine"),
]

# Graph inputs that fix a shape (or, for Dropout, the op's semantics) are compile-time
# constants: the machine is statically compiled, so their values are bound when the case is
# run (as onnx-mlir's backend tests do with CONSTANT_INPUT). Positions are node input indices.
CONSTANT_INPUTS: dict[str, tuple[int, ...]] = {
    "Reshape": (1,),
    "Expand": (1,),
    "Slice": (1, 2, 3, 4),
    "Squeeze": (1,),
    "Unsqueeze": (1,),
    "Split": (1,),
    "ConstantOfShape": (0,),
    "Range": (0, 1, 2),
    "ReduceMean": (1,),
    "ReduceSum": (1,),
    "ReduceMax": (1,),
    "Dropout": (1, 2),
}

# Free text per operator: what lockstep does not cover even where its cases pass.
LIMITS: dict[str, str] = {
    "*": (
        "static shapes only; float32 arithmetic: bool and integer tensors ride as exact float32 values"
        " (|x| <= 2**24, larger integer constants and inputs are rejected; no wrap-around on overflow),"
        " float64 is rounded to float32"
    ),
    "Div": "integer Div truncates toward zero (exact for dividends below 2**24)",
    "Pow": "integer Pow rounds the float32 power to the nearest integer (truncates with a float exponent)",
    "Cast": "float to integer truncates toward zero (out-of-range values: undefined, as in ONNX); integer narrowing does not wrap",
    "ReduceMean": "axes must be a compile-time constant; float only (integer ReduceMean is rejected)",
    "MatMul": "B must be one [K, N] matrix (or constant, or broadcast): batched run-time B is not supported",
    "Reshape": "the target shape must be a compile-time constant",
    "Expand": "the target shape must be a compile-time constant",
    "Slice": "starts, ends, axes and steps must be compile-time constants",
    "Squeeze": "axes must be a compile-time constant",
    "Unsqueeze": "axes must be a compile-time constant",
    "Split": "split sizes must be a compile-time constant",
    "ConstantOfShape": "the shape must be a compile-time constant",
    "Range": "start, limit and delta must be compile-time constants",
    "Shape": "evaluated at compile time (shapes are static)",
    "ReduceSum": "axes must be a compile-time constant",
    "ReduceMax": "axes must be a compile-time constant",
    "Dropout": "inference only: ratio and training_mode must be compile-time constants",
    "BatchNormalization": "inference mode only",
}

EXPANDED = re.compile(r"_expanded(_ver\d+)?$")


@dataclass
class Case:
    op: str
    name: str  # test_..., without the device suffix
    test: object  # onnx.backend.test.case.test_case.TestCase
    excluded: str | None = None  # the reason, when excluded

    @property
    def input_elements(self) -> int:
        """How many numbers the case feeds in (its size, roughly its compile and run cost)."""
        import numpy as np

        return sum(int(np.asarray(a).size) for a in self.test.data_sets[0][0])

    @property
    def opset(self) -> int:
        versions = [o.version for o in self.test.model.opset_import if o.domain in ("", "ai.onnx")]
        return versions[0] if versions else 1


def excluding_pattern(name: str) -> str | None:
    """The first EXCLUDED pattern that matches the case name."""
    return next((pattern for pattern, _ in EXCLUDED if re.search(pattern, name)), None)


def exclusion(name: str) -> str | None:
    """Why the case is excluded, or None."""
    pattern = excluding_pattern(name)
    return dict(EXCLUDED)[pattern] if pattern else None


@contextmanager
def _collecting() -> Iterable[list]:
    """The node cases that the exports run inside this block add (and nothing else)."""
    import onnx.backend.test.case.node as node_cases_module

    saved = node_cases_module._NodeTestCases
    fresh: list = []
    node_cases_module._NodeTestCases = fresh
    try:
        yield fresh
    finally:
        node_cases_module._NodeTestCases = saved


def _export(module_name: str) -> list:
    """The node cases one `onnx.backend.test.case.node` module builds."""
    from onnx.backend.test.case.base import Base

    qualified = f"onnx.backend.test.case.node.{module_name}"
    with warnings.catch_warnings(), _collecting() as cases:
        warnings.simplefilter("ignore")
        if qualified in sys.modules:  # already imported: run its exports again
            import onnx.backend.test.case.node as node_cases_module
            import numpy as np

            module = sys.modules[qualified]
            names = node_cases_module._existing_names
            for obj in vars(module).values():
                if isinstance(obj, type) and issubclass(obj, Base) and obj is not Base and obj.__module__ == qualified:
                    for key, value in vars(obj).items():
                        if key.startswith("export") and isinstance(value, staticmethod):
                            np.random.seed(0)
                            snapshot = dict(names)
                            names.clear()  # expect() refuses names it has seen
                            try:
                                getattr(obj, key)()
                            finally:
                                names.clear()
                                names.update(snapshot)
        else:
            importlib.import_module(qualified)
    return list(cases)


_CACHE: dict[str, list[Case]] = {}


def node_cases(ops: Iterable[str] | None = None) -> dict[str, list[Case]]:
    """op -> its node cases (expanded function variants included), in ONNX's order."""
    result = {}
    for op in ops or OPS:
        if op not in OPS:
            raise KeyError(f"unknown operator '{op}'; known: {', '.join(OPS)}")
        if op not in _CACHE:
            _CACHE[op] = [Case(op, t.name, t, exclusion(t.name)) for t in _export(OPS[op])]
        result[op] = _CACHE[op]
    return result


def constant_inputs(case: Case, by_name: dict[str, Case]) -> list[str]:
    """Names of the case's graph inputs that are compile-time constants (see CONSTANT_INPUTS)."""
    positions = CONSTANT_INPUTS.get(case.op, ())
    if not positions:
        return []
    base = by_name.get(EXPANDED.sub("", case.name), case)
    nodes = [n for n in base.test.model.graph.node if n.op_type == case.op]
    if not nodes:
        return []
    node_inputs = list(nodes[0].input)
    graph_inputs = {v.name for v in case.test.model.graph.input}
    return [node_inputs[i] for i in positions if i < len(node_inputs) and node_inputs[i] in graph_inputs]


def test_kwargs(cases: dict[str, list[Case]]) -> dict[str, dict]:
    """Per case name, the keyword arguments the runner passes to `prepare`."""
    by_name = {c.name: c for group in cases.values() for c in group}
    kwargs = {}
    for case in by_name.values():
        names = constant_inputs(case, by_name)
        if names:
            kwargs[case.name] = {"constant_inputs": names}
    return kwargs


def backend_test(
    backend: type, parent_module: str | None, ops: Iterable[str] | None = None, largest: int | None = None
):
    """An `onnx.backend.test.BackendTest` holding only the node cases of `ops` (CPU only),
    with the exclusions applied; `.include`/`.xfail` work as usual on it. With `largest`,
    cases feeding in more numbers than that are skipped (a quick run)."""
    import onnx.backend.test

    cases = node_cases(ops)
    selected = [c.test for group in cases.values() for c in group]

    def load(data_dir: str = "", kind: str | None = None) -> list:
        return list(selected) if kind == "node" else []

    with mock.patch("onnx.backend.test.runner.load_model_tests", load):
        runner = onnx.backend.test.BackendTest(backend, parent_module, test_kwargs(cases))
    for category in runner._test_items.values():
        for name in [n for n in category if not n.endswith("_cpu")]:
            del category[name]  # lockstep has no CUDA; 'CPU' is its runtime
    items = runner._test_items["NodeModel"]
    for case in (c for group in cases.values() for c in group):
        if case.excluded:
            item = items[f"{case.name}_cpu"]
            item.func = unittest.skip(f"excluded: {case.excluded}")(item.func)
        elif largest is not None and case.input_elements > largest:
            item = items[f"{case.name}_cpu"]
            why = f"large case ({case.input_elements} input numbers > {largest}): LOCKSTEP_NODE_CASES=all runs it"
            item.func = unittest.skip(why)(item.func)
    return runner


# ------------------------------------------------------------------ running and reporting


@dataclass
class Outcome:
    case: Case
    status: str  # passed, failed, excluded
    message: str = ""
    seconds: float = 0.0


@dataclass
class OpSummary:
    op: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def counted(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != "excluded"]

    @property
    def passed(self) -> int:
        return sum(o.status == "passed" for o in self.outcomes)

    @property
    def opsets(self) -> list[int]:
        return sorted({o.case.opset for o in self.counted})


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    line = next((ln for ln in text.splitlines() if ln.strip()), text).strip()
    line = line.split("; supported ops:")[0]  # the importer's list of every op it knows
    return f"{type(err).__name__}: {line}"[:200]


def run_cases(ops: Iterable[str] | None = None, progress: bool = False) -> list[OpSummary]:
    """Run every node case of `ops` the way the pytest suite does; excluded cases are not run."""
    from compiler.backend import LockstepBackend

    runner = backend_test(LockstepBackend, None, ops)
    cases = node_cases(ops)
    functions = {name: item.func for group in runner._test_items.values() for name, item in group.items()}
    holder = unittest.TestCase()
    summaries = []
    for op, group in cases.items():
        summary = OpSummary(op)
        for case in group:
            if case.excluded:
                summary.outcomes.append(Outcome(case, "excluded", case.excluded))
                continue
            start = time.perf_counter()
            try:
                functions[f"{case.name}_cpu"](holder)
                outcome = Outcome(case, "passed")
            except Exception as err:  # noqa: BLE001 - every failure is a data point
                outcome = Outcome(case, "failed", _first_line(err))
            outcome.seconds = time.perf_counter() - start
            summary.outcomes.append(outcome)
            if progress:
                print(f"{outcome.status:8s} {outcome.seconds:6.2f}s {case.name} {outcome.message}", file=sys.stderr)
        summaries.append(summary)
    return summaries


def markdown(summaries: Sequence[OpSummary]) -> str:
    import onnx

    total = sum(len(s.counted) for s in summaries)
    passed = sum(s.passed for s in summaries)
    lines = [
        "# Supported ONNX operators",
        "",
        "Generated by `python -m compiler.support_table --out docs/supported_ops.md` from the ONNX",
        f"backend node cases of onnx {onnx.__version__}: every case is compiled for one chip with",
        "`compiler.backend.LockstepBackend`, run on the runtime (which checks every timing promise",
        "and that the measured cycle count is the predicted one) and compared with the outputs the",
        "case carries. Do not edit by hand; rerun the generator.",
        "",
        f"All operators: {passed} of {total} node cases pass.",
        "",
        f"Limits that hold for every operator: {LIMITS['*']}.",
        "Graph inputs that fix a shape are bound as compile-time constants when a case runs (the",
        "machine is statically compiled): " + ", ".join(
            f"{op} input{'s' if len(pos) > 1 else ''} {', '.join(map(str, pos))}" for op, pos in CONSTANT_INPUTS.items()
        ) + ".",
        "",
        "| Op | Opsets of the cases | Limits | Node cases passed |",
        "|---|---|---|---|",
    ]
    for s in summaries:
        opsets = ", ".join(map(str, s.opsets)) or "-"
        count = f"{s.passed} / {len(s.counted)}"
        lines.append(f"| {s.op} | {opsets} | {LIMITS.get(s.op, '')} | {count} |")
    lines += ["", "## Failing node cases", "", "The first line of each failure, today.", ""]
    failing = [o for s in summaries for o in s.outcomes if o.status == "failed"]
    if failing:
        lines += ["| Op | Case | Failure |", "|---|---|---|"]
        lines += [f"| {o.case.op} | `{o.case.name}` | {_cell(o.message)} |" for o in failing]
    else:
        lines.append("None.")
    lines += ["", "## Excluded node cases", "", "Not counted above, with the reason per pattern.", ""]
    lines += ["| Pattern | Reason | Cases |", "|---|---|---|"]
    excluded = [o.case for s in summaries for o in s.outcomes if o.status == "excluded"]
    for pattern, reason in EXCLUDED:
        names = [c.name for c in excluded if excluding_pattern(c.name) == pattern]
        if names:
            lines.append(f"| `{_cell(pattern)}` | {reason} | {len(names)}: {', '.join(f'`{n}`' for n in names)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def xfail_list(summaries: Sequence[OpSummary]) -> str:
    names = [f"{o.case.name}_cpu" for s in summaries for o in s.outcomes if o.status == "failed"]
    return "\n".join(f'    "{n}",' for n in names) + "\n"


def update_xfails(path: Path, body: str) -> None:
    """Replace the lines between the XFAIL block's `XFAIL = {` and `}` in the test file."""
    lines = path.read_text().splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("XFAIL = {"))
        end = next(i for i in range(start, len(lines)) if lines[i].startswith("}"))
    except StopIteration:
        raise SystemExit(f"{path} has no 'XFAIL = {{' ... '}}' block") from None
    path.write_text("".join(lines[: start + 1]) + body + "".join(lines[end:]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compiler.support_table", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write the markdown table here (default: stdout)")
    parser.add_argument("--ops", help="comma-separated operators (default: all of OPS)")
    parser.add_argument("--xfail-list", action="store_true", help="print today's failing cases as a Python list body")
    parser.add_argument("--update-xfails", type=Path, metavar="TEST_FILE",
                        help="rewrite the XFAIL block of TEST_FILE (tests/unit/test_backend_node_cases.py) from today's failures")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every case's outcome and time")
    args = parser.parse_args(argv)
    ops = [op.strip() for op in args.ops.split(",")] if args.ops else None
    if ops and args.update_xfails:
        parser.error("--update-xfails needs every operator's cases: drop --ops")
    start = time.perf_counter()
    try:
        summaries = run_cases(ops, progress=args.verbose)
    except KeyError as err:
        print(f"support_table: error: {err.args[0]}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    if args.xfail_list:
        sys.stdout.write(xfail_list(summaries))
    if args.update_xfails:
        failing = sum(o.status == "failed" for s in summaries for o in s.outcomes)
        update_xfails(args.update_xfails, xfail_list(summaries))
        print(f"wrote {failing} expected failures into {args.update_xfails}", file=sys.stderr)
    text = markdown(summaries)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        passed = sum(s.passed for s in summaries)
        total = sum(len(s.counted) for s in summaries)
        print(f"wrote {args.out}: {passed} of {total} node cases pass ({seconds:.0f} s)", file=sys.stderr)
    elif not (args.xfail_list or args.update_xfails):
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
