"""Integer tensors ride in the machine as exact float32 values (|x| <= 2**24): integer Div
truncates toward zero, Cast from float to int truncates, everything else is float arithmetic
on integral values. Checked against onnxruntime (which computes in the integer types)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper

from compiler.backend import LockstepBackend
from compiler.cli import main


def make(nodes, inputs, outputs, opset=17) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "ints",
        [helper.make_tensor_value_info(n, t, s) for n, (t, s) in inputs.items()],
        [helper.make_tensor_value_info(n, t, s) for n, (t, s) in outputs.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    return model


def ort(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


@pytest.mark.parametrize("elem, dtype", [(TensorProto.INT32, np.int32), (TensorProto.INT64, np.int64)])
def test_integer_div_truncates_toward_zero_with_negative_operands(elem, dtype):
    model = make([helper.make_node("Div", ["a", "b"], ["q"])], {"a": (elem, [8]), "b": (elem, [8])},
                 {"q": (elem, [8])})
    a = np.array([7, -7, 7, -7, 9, -1, 0, 16777215], dtype)
    b = np.array([2, 2, -2, -2, 3, 4, -5, 2], dtype)
    (got,) = LockstepBackend.prepare(model).run([a, b])
    (want,) = ort(model, {"a": a, "b": b})
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, [3, -3, -3, 3, 3, 0, 0, 8388607])  # C-style truncation


def test_cast_float_to_int_truncates_and_back():
    nodes = [helper.make_node("Cast", ["x"], ["i"], to=TensorProto.INT32),
             helper.make_node("Cast", ["i"], ["f"], to=TensorProto.FLOAT)]
    model = make(nodes, {"x": (TensorProto.FLOAT, [6])}, {"i": (TensorProto.INT32, [6]), "f": (TensorProto.FLOAT, [6])})
    x = np.array([2.7, -2.7, 0.5, -0.5, 3.0, -1e6 - 0.25], np.float32)
    got = LockstepBackend.prepare(model).run([x])
    want = ort(model, {"x": x})
    assert got[0].dtype == np.int32
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], [2, -2, 0, 0, 3, -1000000])


def test_cast_int_to_bool_and_int64_to_int8():
    nodes = [helper.make_node("Cast", ["i"], ["b"], to=TensorProto.BOOL),
             helper.make_node("Cast", ["i"], ["n"], to=TensorProto.INT8)]
    model = make(nodes, {"i": (TensorProto.INT64, [4])}, {"b": (TensorProto.BOOL, [4]), "n": (TensorProto.INT8, [4])})
    i = np.array([0, 3, -2, 0], np.int64)
    got = LockstepBackend.prepare(model).run([i])
    want = ort(model, {"i": i})
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


def test_integer_pow_is_exact():
    model = make([helper.make_node("Pow", ["x", "y"], ["z"])], {"x": (TensorProto.INT64, [5]), "y": (TensorProto.INT64, [5])},
                 {"z": (TensorProto.INT64, [5])}, opset=15)
    x, y = np.array([3, -3, 7, 2, 5], np.int64), np.array([6, 3, 8, 23, 0], np.int64)
    (got,) = LockstepBackend.prepare(model).run([x, y])
    np.testing.assert_array_equal(got, x**y)


def test_large_integer_inputs_are_rejected():
    from compiler.errors import LockstepError

    model = make([helper.make_node("Neg", ["x"], ["y"])], {"x": (TensorProto.INT64, [2])}, {"y": (TensorProto.INT64, [2])})
    with pytest.raises(LockstepError, match="beyond 2\\*\\*24"):
        LockstepBackend.prepare(model).run([np.array([1, 2**24 + 1], np.int64)])


def test_integer_model_end_to_end_through_lockstep_run_check(capsys, tmp_path: Path):
    """An int64 model through `lockstep run --check`: random integer inputs of the model's
    element types, fed to onnxruntime as int64 and to the machine as exact float32."""
    nodes = [
        helper.make_node("Div", ["a", "b_safe"], ["q"]),
        helper.make_node("Max", ["q", "a"], ["m"]),
        helper.make_node("Less", ["m", "b"], ["lt"]),
        helper.make_node("Where", ["lt", "m", "b"], ["w"]),
        helper.make_node("ReduceSum", ["w", "axes"], ["s"], keepdims=0),
        helper.make_node("Mul", ["s", "two"], ["y"]),
    ]
    graph = helper.make_graph(
        [helper.make_node("Abs", ["b"], ["b_abs"]), helper.make_node("Add", ["b_abs", "one"], ["b_safe"]), *nodes],
        "ints",
        [helper.make_tensor_value_info("a", TensorProto.INT64, [4, 6]),
         helper.make_tensor_value_info("b", TensorProto.INT64, [4, 6])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [4]),
         helper.make_tensor_value_info("lt", TensorProto.BOOL, [4, 6])],
        [onnx.numpy_helper.from_array(np.array([1], np.int64), "axes"),
         onnx.numpy_helper.from_array(np.array(1, np.int64), "one"),
         onnx.numpy_helper.from_array(np.array(-2, np.int64), "two")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    path = tmp_path / "ints.onnx"
    onnx.save(model, path)
    code = main(["run", str(path), "--check", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["ok"], out
    assert out["max_abs_error"] == 0.0
    assert out["cycles_predicted"] == out["cycles_measured"]
