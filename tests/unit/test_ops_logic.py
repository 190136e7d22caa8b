"""Predicates, logic, Where and Cast end to end (runtime vs onnxruntime).

Inside the machine everything is fp32: a boolean is 0.0 (false) or 1.0 (true),
and Cast FLOAT -> BOOL -> FLOAT is x != 0 as 0.0 / 1.0. Where is exact also
when the discarded operand is inf or NaN (two selections and an add, never
c * x + (1 - c) * y).
"""

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from compiler.errors import LockstepError
from compiler.onnx_import import import_model
from onnx_cases import assert_matches, run_json, save, tensor

RNG = np.random.default_rng(11)
W = RNG.standard_normal((64, 96)).astype(np.float32)



def after_matmul(tmp_path: Path, op_nodes, opset=17, extra_inits=()) -> str:
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"), *op_nodes]
    return save(tmp_path / "m.onnx", nodes, {"x": [4, 64]}, {"y": [4, 96]}, [tensor("w", W), *extra_inits], opset)


@pytest.mark.parametrize("chips", [1, 2])
@pytest.mark.parametrize("op", ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"])
def test_comparisons_cast_to_float(capsys, tmp_path, op, chips):
    # h compared with a rounded copy of itself so that Equal is true somewhere
    nodes = [helper.make_node("Relu", ["h"], ["r"]), helper.make_node(op, ["h", "r"], ["c"]),
             helper.make_node("Cast", ["c"], ["y"], to=TensorProto.FLOAT)]
    assert_matches(run_json(capsys, after_matmul(tmp_path, nodes, 16), chips))


@pytest.mark.parametrize("chips", [1, 2])
def test_not_and_or_xor(capsys, tmp_path, chips):
    nodes = [helper.make_node("Greater", ["h", "zero"], ["pos"]), helper.make_node("Less", ["h", "one"], ["small"]),
             helper.make_node("Not", ["pos"], ["neg"]), helper.make_node("And", ["neg", "small"], ["a"]),
             helper.make_node("Or", ["a", "pos"], ["o"]), helper.make_node("Xor", ["o", "small"], ["x2"]),
             helper.make_node("Cast", ["a"], ["fa"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["x2"], ["fx"], to=TensorProto.FLOAT),
             helper.make_node("Sum", ["fa", "fx", "fx"], ["y"])]
    model = after_matmul(tmp_path, nodes, 13, [tensor("zero", 0.0), tensor("one", 1.0)])
    assert_matches(run_json(capsys, model, chips))


@pytest.mark.parametrize("chips", [1, 2])
def test_where_masks_with_minus_infinity_before_softmax(capsys, tmp_path, chips):
    """The attention-mask pattern: masked scores are -inf, softmax makes them 0."""
    nodes = [helper.make_node("Greater", ["h", "limit"], ["keep"]),
             helper.make_node("Where", ["keep", "h", "ninf"], ["masked"]),
             helper.make_node("Softmax", ["masked"], ["y"], axis=-1)]
    model = after_matmul(tmp_path, nodes, 13, [tensor("limit", -0.5), tensor("ninf", -np.inf)])
    assert_matches(run_json(capsys, model, chips))


def test_where_ignores_inf_and_nan_in_the_discarded_operand(capsys, tmp_path):
    """x holds inf and NaN exactly where the condition discards it; y likewise; output finite."""
    nodes = [helper.make_node("Greater", ["c", "zero"], ["keep"]), helper.make_node("Where", ["keep", "x", "z"], ["y"])]
    model = save(tmp_path / "m.onnx", nodes, {"c": [3, 50], "x": [3, 50], "z": [50]}, {"y": [3, 50]},
                 [tensor("zero", 0.0)], 16)
    c = RNG.standard_normal((3, 50)).astype(np.float32)
    c[:, 0] = 1.0  # column 0 keeps x, so z[0] may be inf
    x = RNG.standard_normal((3, 50)).astype(np.float32)
    z = RNG.standard_normal(50).astype(np.float32)
    x[c <= 0] = np.where(RNG.random(int((c <= 0).sum())) < 0.5, np.inf, np.nan)
    z[0] = -np.inf
    assert_matches(run_json(capsys, model, 1, {"c": c, "x": x, "z": z}))


def test_isnan_and_where_replace_nans(capsys, tmp_path):
    nodes = [helper.make_node("IsNaN", ["x"], ["bad"]), helper.make_node("Where", ["bad", "zero", "x"], ["clean"]),
             helper.make_node("Cast", ["bad"], ["flag"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["clean", "flag"], ["y"])]
    model = save(tmp_path / "m.onnx", nodes, {"x": [2, 400]}, {"y": [2, 400]}, [tensor("zero", 0.0)], 13)
    x = RNG.standard_normal((2, 400)).astype(np.float32)
    x[RNG.random((2, 400)) < 0.2] = np.nan
    assert_matches(run_json(capsys, model, 1, {"x": x}))


@pytest.mark.parametrize("chips", [1, 2])
def test_cast_float_bool_float_and_castlike(capsys, tmp_path, chips):
    nodes = [helper.make_node("Relu", ["h"], ["r"]), helper.make_node("Cast", ["r"], ["b"], to=TensorProto.BOOL),
             helper.make_node("Cast", ["b"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("Less", ["h", "zero"], ["n"]), helper.make_node("CastLike", ["n", "h"], ["g"]),
             helper.make_node("Cast", ["h"], ["same"], to=TensorProto.FLOAT),
             helper.make_node("Sum", ["f", "g", "same"], ["y"])]
    model = after_matmul(tmp_path, nodes, 19, [tensor("zero", 0.0)])
    assert_matches(run_json(capsys, model, chips))


def test_bool_constant_condition(capsys, tmp_path):
    cond = RNG.random((3, 8)) < 0.5
    nodes = [helper.make_node("Where", ["cond", "x", "v"], ["y"])]
    model = save(tmp_path / "m.onnx", nodes, {"x": [3, 8], "v": [8]}, {"y": [3, 8]},
                 [tensor("cond", cond, np.bool_)], 16)
    assert_matches(run_json(capsys, model, 1))


def test_integer_where_and_equal_still_fold_as_shape_computations(capsys, tmp_path):
    """Reshape target computed by Equal/Where on int64 constants (exporter style)."""
    nodes = [helper.make_node("Equal", ["shape", "zero"], ["is0"]),
             helper.make_node("Where", ["is0", "ones", "shape"], ["target"]),
             helper.make_node("Reshape", ["x", "target"], ["y"])]
    inits = [tensor("shape", [0, 12], np.int64), tensor("zero", [0], np.int64), tensor("ones", [2, 2], np.int64)]
    model = save(tmp_path / "m.onnx", nodes, {"x": [2, 3, 4]}, {"y": [2, 12]}, inits, 16)
    assert_matches(run_json(capsys, model, 1))


def test_run_time_cast_to_float16_is_refused(tmp_path):
    nodes = [helper.make_node("Cast", ["x"], ["h"], to=TensorProto.FLOAT16, name="to_half"),
             helper.make_node("Cast", ["h"], ["y"], to=TensorProto.FLOAT)]
    model = save(tmp_path / "m.onnx", nodes, {"x": [2, 3]}, {"y": [2, 3]})
    with pytest.raises(LockstepError, match="node 'to_half' .*to FLOAT16; the machine computes in float32"):
        import_model(model)


def test_bool_graph_inputs_and_outputs_through_the_backend():
    """Bool edges are f32 0.0 / 1.0 inside; the ONNX backend converts at the host boundary."""
    import onnxruntime

    from compiler.backend import LockstepBackend

    nodes = [helper.make_node("Greater", ["x", "zero"], ["pos"]), helper.make_node("And", ["pos", "m"], ["both"]),
             helper.make_node("Where", ["m", "x", "zero"], ["y"])]
    graph = helper.make_graph(
        nodes, "bools",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 5]), helper.make_tensor_value_info("m", TensorProto.BOOL, [5])],
        [helper.make_tensor_value_info("both", TensorProto.BOOL, [3, 5]), helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 5])],
        [tensor("zero", 0.0)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])
    model.ir_version = 10
    x, m = RNG.standard_normal((3, 5)).astype(np.float32), RNG.random(5) < 0.5
    both, y = LockstepBackend.prepare(model).run([x, m])
    want_both, want_y = onnxruntime.InferenceSession(model.SerializeToString()).run(None, {"x": x, "m": m})
    assert both.dtype == np.bool_ and (both == want_both).all()
    np.testing.assert_array_equal(y, want_y)
