"""Elementwise ONNX ops end to end: import, normalise, kernel-free lowering, runtime vs onnxruntime.

Unary primitives (one VXM op each), Pow, the variadic Sum/Max/Min/Mean with
broadcasting, Gelu (opset 20, both approximations) and inference Dropout. Each
model runs on 1 chip and on 2 chips tensor-parallel, where the op follows the
column-split matmul that feeds it (no gather before it).
"""

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from compiler.errors import LockstepError
from compiler.onnx_import import import_model
from dialects import tops
from passes.normalise import NormalisePass
from onnx_cases import assert_matches, run_json, save, tensor

RNG = np.random.default_rng(7)
W = RNG.standard_normal((64, 96)).astype(np.float32)



def after_matmul(tmp_path: Path, op_nodes, opset=17, extra_inits=()) -> str:
    """x [4, 64] @ W [64, 96] -> h, then the nodes under test read h and write y [4, 96]."""
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"), *op_nodes]
    return save(tmp_path / "m.onnx", nodes, {"x": [4, 64]}, {"y": [4, 96]}, [tensor("w", W), *extra_inits], opset)


def normalised_ops(model: str) -> list[str]:
    module = import_model(model)
    NormalisePass().apply(None, module)  # type: ignore[arg-type]
    return [op.name for op in module.walk() if op.name.startswith("tops.")]


@pytest.mark.parametrize("chips", [1, 2])
@pytest.mark.parametrize("op", ["Neg", "Abs", "Erf", "Cos", "Sin", "Reciprocal"])
def test_unary(capsys, tmp_path, op, chips):
    model = after_matmul(tmp_path, [helper.make_node(op, ["h"], ["y"])])
    assert_matches(run_json(capsys, model, chips))


@pytest.mark.parametrize("op", ["Log", "Sqrt"])
def test_unary_of_positive_values(capsys, tmp_path, op):
    model = save(tmp_path / "m.onnx", [helper.make_node(op, ["x"], ["y"])], {"x": [3, 700]}, {"y": [3, 700]})
    x = (RNG.random((3, 700)) * 10 + 1e-3).astype(np.float32)
    assert_matches(run_json(capsys, model, 1, {"x": x}))


@pytest.mark.parametrize("chips", [1, 2])
def test_pow_square_becomes_mul_and_int_exponents_convert(capsys, tmp_path, chips):
    nodes = [helper.make_node("Pow", ["h", "two"], ["sq"]), helper.make_node("Pow", ["h", "three"], ["cube"]),
             helper.make_node("Add", ["sq", "cube"], ["y"])]
    model = after_matmul(tmp_path, nodes, 15, [tensor("two", 2.0), tensor("three", 3, np.int64)])
    ops = normalised_ops(model)
    assert ops.count("tops.pow") == 1 and "tops.mul" in ops  # x ** 2 is x * x
    assert_matches(run_json(capsys, model, chips))


def test_pow_of_two_run_time_tensors(capsys, tmp_path):
    model = save(tmp_path / "m.onnx", [helper.make_node("Pow", ["x", "e"], ["y"])],
                 {"x": [2, 50], "e": [50]}, {"y": [2, 50]})
    x = (RNG.random((2, 50)) * 3 + 0.1).astype(np.float32)
    e = RNG.standard_normal(50).astype(np.float32)
    assert_matches(run_json(capsys, model, 1, {"x": x, "e": e}))


@pytest.mark.parametrize("op", ["Sum", "Max", "Min", "Mean"])
def test_variadic_with_broadcasting(capsys, tmp_path, op):
    model = save(tmp_path / "m.onnx", [helper.make_node(op, ["a", "b", "c"], ["y"])],
                 {"a": [3, 40], "b": [40], "c": [3, 1]}, {"y": [3, 40]}, opset=13)
    assert_matches(run_json(capsys, model, 1))


def test_variadic_single_input_and_sharded_operands(capsys, tmp_path):
    nodes = [helper.make_node("Sum", ["h"], ["s"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Max", ["s", "r", "floor"], ["m"]), helper.make_node("Min", ["m", "h"], ["y"])]
    model = after_matmul(tmp_path, nodes, 13, [tensor("floor", RNG.standard_normal(96))])
    for chips in (1, 2):
        assert_matches(run_json(capsys, model, chips))


@pytest.mark.parametrize("chips", [1, 2])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_opset20(capsys, tmp_path, approximate, chips):
    model = after_matmul(tmp_path, [helper.make_node("Gelu", ["h"], ["y"], approximate=approximate)], 20)
    ops = normalised_ops(model)
    assert "tops.gelu" not in ops and ("tops.erf" if approximate == "none" else "tops.tanh") in ops
    assert_matches(run_json(capsys, model, chips))


@pytest.mark.parametrize("chips", [1, 2])
def test_dropout_opset13_is_identity_and_its_mask_ones(capsys, tmp_path, chips):
    nodes = [helper.make_node("Dropout", ["h", "ratio", "training"], ["d", "mask"]),
             helper.make_node("Cast", ["mask"], ["m"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["d", "m"], ["y"])]
    model = after_matmul(tmp_path, nodes, 13, [tensor("ratio", 0.3), tensor("training", False, np.bool_)])
    assert_matches(run_json(capsys, model, chips))


@pytest.mark.parametrize("opset", [7, 10])
def test_dropout_before_opset12_attribute_forms(capsys, tmp_path, opset):
    """ratio as an attribute; the mask (float before opset 10, bool after) is all zeros, as
    onnxruntime writes it before opset 12 (the spec does not say), so y = d + mask = d."""
    mask = [helper.make_node("Add", ["d", "mask"], ["y"])] if opset < 10 else [
        helper.make_node("Cast", ["mask"], ["m"], to=TensorProto.FLOAT), helper.make_node("Add", ["d", "m"], ["y"])]
    model = after_matmul(tmp_path, [helper.make_node("Dropout", ["h"], ["d", "mask"], ratio=0.25), *mask], opset)
    assert_matches(run_json(capsys, model, 1))


def test_dropout_in_training_mode_is_refused(tmp_path):
    nodes = [helper.make_node("Dropout", ["x", "", "training"], ["y"], name="drop")]
    model = save(tmp_path / "m.onnx", nodes, {"x": [2, 3]}, {"y": [2, 3]}, [tensor("training", True, np.bool_)], 13)
    with pytest.raises(LockstepError, match="node 'drop' .*training mode"):
        import_model(model)


def test_new_unary_ops_fold_on_constants():
    """A constant operand is folded by normalise (tops_eval has every new op)."""
    nodes = [helper.make_node("Erf", ["c"], ["e"]), helper.make_node("Sqrt", ["c"], ["s"]),
             helper.make_node("Add", ["x", "e"], ["a"]), helper.make_node("Add", ["a", "s"], ["y"])]
    graph = helper.make_graph(nodes, "fold", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
                              [tensor("c", [[0.5, 1.0, 2.0]])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    from compiler.onnx_import import import_proto

    module = import_proto(model)
    NormalisePass().apply(None, module)  # type: ignore[arg-type]
    names = [op.name for op in module.walk() if isinstance(op, tops.TopsOp | tops.SameTypeOp)]
    assert "tops.erf" not in names and "tops.sqrt" not in names


def test_scalar_and_one_element_operands_broadcast_to_a_vector(capsys, tmp_path):
    """Rank-1 results: a run-time scalar exponent and a [1] bias broadcast to [3] (one row)."""
    nodes = [helper.make_node("Pow", ["x", "e"], ["p"]), helper.make_node("Add", ["p", "b"], ["y"])]
    model = save(tmp_path / "m.onnx", nodes, {"x": [3], "e": [], "b": [1]}, {"y": [3]})
    inputs = {"x": np.array([1.5, 2.0, 3.0], np.float32), "e": np.array(1.7, np.float32),
              "b": np.array([0.5], np.float32)}
    assert_matches(run_json(capsys, model, 1, inputs))
