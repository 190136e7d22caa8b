"""Grouped-query attention without the KV repeat (passes/normalise_attention.py): after
normalise no repeated K or V is left, and the emitted program still matches onnxruntime
on one chip and split by heads."""

import numpy as np
import onnxruntime as ort
import pytest
from onnx import helper
from xdsl.context import Context

from compiler.onnx_import import import_model
from compiler.tops_eval import evaluate, main_function
from dialects import tops
from passes.normalise import NormalisePass
from onnx_cases import assert_matches, run_json, save, tensor

HD = 4  # head size


def attention_model(tmp_path, heads: int, kv: int, rows: int, keys: int, tiled: bool = False) -> str:
    """softmax(Q @ repeat(K)^T) @ repeat(V) with Llama's repeat_kv (head h reads KV head
    h // G), or with `tiled` a repeat whose new axis comes first (head h reads h % KV)."""
    group = heads // kv
    wide = [1, group, kv, keys, HD] if tiled else [1, kv, group, keys, HD]
    unit = [1, 1, kv, keys, HD] if tiled else [1, kv, 1, keys, HD]
    inits = [tensor("unit", unit, np.int64), tensor("wide", wide, np.int64),
             tensor("heads", [1, heads, keys, HD], np.int64)]
    nodes = []
    for x in "kv":
        nodes += [helper.make_node("Reshape", [x, "unit"], [f"{x}5"]),
                  helper.make_node("Expand", [f"{x}5", "wide"], [f"{x}b"]),
                  helper.make_node("Reshape", [f"{x}b", "heads"], [f"{x}r"])]
    nodes += [helper.make_node("Transpose", ["kr"], ["kt"], perm=[0, 1, 3, 2]),
              helper.make_node("MatMul", ["q", "kt"], ["s"]),
              helper.make_node("Softmax", ["s"], ["p"], axis=-1),
              helper.make_node("MatMul", ["p", "vr"], ["y"])]
    inputs = {"q": [1, heads, rows, HD], "k": [1, kv, keys, HD], "v": [1, kv, keys, HD]}
    return save(tmp_path / "gqa.onnx", nodes, inputs, {"y": [1, heads, rows, HD]}, inits)


def feeds(model: str, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    session = ort.InferenceSession(model)
    return {i.name: rng.standard_normal(i.shape).astype(np.float32) for i in session.get_inputs()}


@pytest.mark.parametrize("rows", [1, 3])
def test_repeat_is_gone_and_numerics_match_onnxruntime(tmp_path, rows):
    model = attention_model(tmp_path, heads=8, kv=2, rows=rows, keys=5)
    inputs = feeds(model)
    expected = ort.InferenceSession(model).run(["y"], inputs)[0]
    module = import_model(model)
    NormalisePass().apply(Context(), module)
    module.verify()
    ops = list(main_function(module).body.block.ops)
    assert not any(isinstance(op, tops.BroadcastOp) for op in ops)
    matmuls = [op for op in ops if isinstance(op, tops.MatmulOp)]
    assert [tops.shape_of(op.rhs)[:2] for op in matmuls] == [(1, 2), (1, 2)]  # batched on the KV heads
    np.testing.assert_allclose(evaluate(module, inputs)["y"], expected, rtol=1e-5, atol=1e-6)


def test_tiled_repeat_is_left_alone(tmp_path):
    model = attention_model(tmp_path, heads=8, kv=2, rows=1, keys=5, tiled=True)
    inputs = feeds(model)
    module = import_model(model)
    NormalisePass().apply(Context(), module)
    ops = list(main_function(module).body.block.ops)
    assert sum(isinstance(op, tops.BroadcastOp) for op in ops) == 2
    expected = ort.InferenceSession(model).run(["y"], inputs)[0]
    np.testing.assert_allclose(evaluate(module, inputs)["y"], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("chips, extra", [(1, []), (2, ["--strategy", "tensor"])])
def test_grouped_attention_runs(tmp_path, capsys, chips, extra):
    model = attention_model(tmp_path, heads=4, kv=2, rows=2, keys=5)
    assert_matches(run_json(capsys, model, chips, feeds(model), extra))
