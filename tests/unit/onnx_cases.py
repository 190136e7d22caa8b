"""Shared by the operator tests: build small ONNX models, run them on the runtime, check the result."""

import json
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from compiler.cli import main


def tensor(name: str, value, dtype=np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype), name)


def save(path: Path, nodes, inputs: Mapping, outputs: Mapping | Iterable[str], inits=(), opset=17) -> str:
    """Write a float32 model; `outputs` maps names to shapes, or just names (shapes inferred)."""
    shapes = outputs if isinstance(outputs, Mapping) else {name: None for name in outputs}
    graph = helper.make_graph(
        nodes, "ops",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in shapes.items()],
        list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10  # onnxruntime refuses what make_model writes by default
    onnx.save(model, path)
    return str(path)


def run_json(capsys, model: str, chips: int = 1, inputs: dict | None = None, extra: Iterable[str] = ()) -> dict:
    """`lockstep run MODEL --check --json` on `chips` chips (seeded random inputs unless given),
    with `extra` arguments (--strategy, --shape, ...)."""
    argv = ["run", model, "--check", "--json", "--chips", str(chips), *extra]
    with tempfile.TemporaryDirectory() as scratch:
        if inputs is not None:
            np.savez(Path(scratch) / "inputs.npz", **inputs)
            argv += ["--inputs", str(Path(scratch) / "inputs.npz")]
        code = main(argv)
    out = json.loads(capsys.readouterr().out)
    assert code == (0 if out["ok"] else 1)
    return out


def assert_matches(result: dict, tolerance: float = 1e-4) -> None:
    assert result["max_rel_error"] <= tolerance, result
    assert result["cycles_predicted"] == result["cycles_measured"], result
    assert result["ok"]
