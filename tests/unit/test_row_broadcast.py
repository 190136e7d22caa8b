"""Row-broadcast constants (a bias, LayerNorm gamma and beta, int8 scales over many rows):
`normalise` and `quantize-weights` mark them, `place` stores one row, the elementwise ops read
it with address step 0, and the numbers still match onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_cases import assert_matches, run_json
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import PassPipeline

from compiler.cost_model import CostModel
from compiler.layout import Layout
from compiler.onnx_import import import_model
from compiler.pipeline import compile_passes, context
from compiler.system import load_system
from dialects import tops
from dialects.part import SRAM_TOP
from passes.partition import main_function
from passes.place import stored_as_row

ROWS, WIDTH = 256, 400  # 400 lanes: two vectors a row, the second partly used


def layer_norm_model(path: Path) -> Path:
    """y = LayerNorm(x @ w + bias) * gamma + beta over [1, ROWS, WIDTH]."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((WIDTH, WIDTH)).astype(np.float32) * 0.05, "w"),
        numpy_helper.from_array(rng.standard_normal(WIDTH).astype(np.float32), "bias"),
        numpy_helper.from_array(rng.standard_normal(WIDTH).astype(np.float32), "gamma"),
        numpy_helper.from_array(rng.standard_normal(WIDTH).astype(np.float32), "beta"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="proj"),
        helper.make_node("Add", ["h", "bias"], ["hb"], name="bias_add"),
        helper.make_node("LayerNormalization", ["hb", "gamma", "beta"], ["y"], name="ln", axis=-1),
    ]
    graph = helper.make_graph(
        nodes, "ln", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, ROWS, WIDTH])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, ROWS, WIDTH])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return path


def placed(model: Path, chips: int, weights: str, keep_marks: bool) -> ModuleOp:
    """The model through `place` (tensor partition); without `keep_marks` the row-broadcast
    marks are dropped before `partition`, so every constant is stored whole."""
    module = import_model(model)
    passes = compile_passes("tensor", chips, load_system(None, chips, None).spec, weights=weights)
    names = [p.name for p in passes]
    PassPipeline(passes[: names.index("partition")]).apply(context(), module)
    if not keep_marks:
        for op in main_function(module).body.block.ops:
            op.attributes.pop(tops.ROW_BROADCAST, None)
    PassPipeline(passes[names.index("partition"): names.index("place") + 1]).apply(context(), module)
    return module


def peak(module: ModuleOp) -> int:
    return max(module.attributes[SRAM_TOP].get_values())  # type: ignore[union-attr]


@pytest.mark.parametrize("chips, weights", [(1, "fp32"), (2, "int8")])
def test_row_broadcasts_are_stored_as_one_row(tmp_path, chips, weights):
    model = layer_norm_model(tmp_path / "ln.onnx")
    module = placed(model, chips, weights, keep_marks=True)
    lanes = load_system(None, chips, None).lanes
    rows = [op.results[0] for op in main_function(module).body.block.ops
            if op.results and stored_as_row(op.results[0])]
    # bias, gamma, beta (and the int8 scales), each [1, ROWS, width] on a chip: one row stored
    assert len(rows) >= (4 if weights == "int8" else 3)
    saved = sum(Layout(tuple(v.type.get_shape()), lanes).vectors - Layout(tuple(v.type.get_shape()), lanes).vpr
                for v in rows)
    assert peak(module) <= peak(placed(model, chips, weights, keep_marks=False)) - saved
    system = load_system(None, chips, None)
    assert CostModel(system).estimate(module, "tensor", 0, chips).sram_bytes == peak(module) * system.vector_bytes


@pytest.mark.parametrize("extra", [["--strategy", "replicated"], ["--strategy", "tensor"],
                                   ["--strategy", "tensor", "--weights", "int8"],
                                   ["--strategy", "pipeline"]])
def test_a_layer_norm_over_many_rows_matches_onnxruntime(tmp_path, capsys, extra):
    model = layer_norm_model(tmp_path / "ln.onnx")
    assert_matches(run_json(capsys, str(model), 2, extra=extra), 1e-4)
