"""Reductions and normalisations end to end (runtime vs onnxruntime), and their normal forms.

ReduceSum/Mean/Max/Min with axes as an attribute (before opset 13 / 18) or an
input (from then), keepdims and noop_with_empty_axes; normalise leaves only
reductions over the last axis (SXM lane reductions) or over axis 1 of
[outer, reduced, rows, width] (VXM ops across rows). LayerNormalization and
RMSNormalization decompose into them. Also the importer's folding of shape
computations (Shape, Range, ConstantOfShape), of reductions of zero-size tensors
(constants: the reduction's identity) and the pre-13 Softmax coercion.
"""


import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from compiler.errors import LockstepError
from compiler.onnx_import import import_model
from compiler.tops_eval import evaluate
from dialects import tops
from passes.normalise import NormalisePass, is_normal_reduction
from onnx_cases import assert_matches, run_json, save, tensor

RNG = np.random.default_rng(13)



def reduce_node(op: str, axes, keepdims: int, opset: int, **attrs):
    """Axes as an input from opset 13 (ReduceSum) / 18 (the others), an attribute before."""
    from_input = opset >= (13 if op == "ReduceSum" else 18)
    if axes is None:
        return helper.make_node(op, ["x"], ["y"], keepdims=keepdims, **attrs), []
    if from_input:
        return helper.make_node(op, ["x", "axes"], ["y"], keepdims=keepdims, **attrs), [tensor("axes", axes, np.int64)]
    return helper.make_node(op, ["x"], ["y"], axes=list(axes), keepdims=keepdims, **attrs), []


def out_shape(shape, axes, keepdims) -> list[int]:
    axes = [a % len(shape) for a in (range(len(shape)) if axes is None else axes)]
    return [1 if i in axes else d for i, d in enumerate(shape) if keepdims or i not in axes]


CASES = [
    # (shape, axes, keepdims): last axis (wide rows: 3 vectors per row), leading, middle,
    # non-contiguous, several trailing, all
    ([3, 5, 700], [-1], 1),
    ([3, 5, 7], [2], 0),
    ([4, 5, 7], [0], 0),
    ([4, 5, 700], [1], 1),
    ([2, 3, 4, 5], [0, 2], 0),
    ([2, 3, 4, 5], [2, 3], 1),
    ([2, 3, 4, 5], [0, 2, 3], 1),
    ([6, 9], None, 0),
]


@pytest.mark.parametrize("shape,axes,keepdims", CASES)
@pytest.mark.parametrize("op,opset", [("ReduceSum", 13), ("ReduceMean", 18), ("ReduceMax", 18), ("ReduceMin", 13)])
def test_reductions(capsys, tmp_path, op, opset, shape, axes, keepdims):
    node, inits = reduce_node(op, axes, keepdims, opset)
    model = save(tmp_path / "m.onnx", [node], {"x": shape}, {"y": out_shape(shape, axes, keepdims)}, inits, opset)
    assert_matches(run_json(capsys, model))


@pytest.mark.parametrize("op,opset", [("ReduceSum", 11), ("ReduceMean", 13), ("ReduceMax", 13), ("ReduceMin", 18)])
def test_axes_attribute_and_input_forms(capsys, tmp_path, op, opset):
    node, inits = reduce_node(op, [1], 0, opset)
    model = save(tmp_path / "m.onnx", [node], {"x": [3, 4, 5]}, {"y": [3, 5]}, inits, opset)
    assert_matches(run_json(capsys, model))


def test_noop_with_empty_axes(capsys, tmp_path):
    node = helper.make_node("ReduceSum", ["x"], ["y"], noop_with_empty_axes=1)
    model = save(tmp_path / "m.onnx", [node], {"x": [3, 4]}, {"y": [3, 4]}, opset=13)
    assert_matches(run_json(capsys, model))


def empty_set_model(op: str, axes, elem: int, opset: int = 18) -> onnx.ModelProto:
    """op(e, axes) of a zero-size input e [2, 0, 4], as float, plus a run-time input x when the
    result has elements."""
    reduce, inits = reduce_node(op, axes, 1, opset)
    reduce.input[0], reduce.output[0] = "e", "r"
    out = out_shape([2, 0, 4], axes, 1)
    nodes = [reduce, helper.make_node("Cast", ["r"], ["y" if 0 in out else "f"], to=TensorProto.FLOAT)]
    inputs = [helper.make_tensor_value_info("e", elem, [2, 0, 4])]
    if 0 not in out:
        nodes.append(helper.make_node("Add", ["f", "x"], ["y"]))
        inputs.append(helper.make_tensor_value_info("x", TensorProto.FLOAT, out))
    graph = helper.make_graph(nodes, "empty", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, out)],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    return model


@pytest.mark.parametrize("op, axes, elem", [
    ("ReduceSum", [1], TensorProto.FLOAT), ("ReduceMax", [1], TensorProto.FLOAT), ("ReduceMin", [0, 1], TensorProto.FLOAT),
    ("ReduceMax", [1], TensorProto.BOOL), ("ReduceMin", [1], TensorProto.INT8), ("ReduceSum", [2], TensorProto.FLOAT),
])
def test_reduction_of_an_empty_set_is_its_identity(tmp_path, op, axes, elem):
    """A reduction of a zero-size tensor is a constant: the identity of the reduction (0,
    -inf / +inf, False, the int8 extremes) where the reduced axes are empty, an empty tensor
    where a kept axis is; a run-time value then adds to it like to any constant. Checked
    against onnxruntime (the onnx reference for bool, which onnxruntime's ReduceMax lacks)."""
    import onnxruntime
    from onnx.reference import ReferenceEvaluator

    from compiler.backend import LockstepBackend

    model = empty_set_model(op, axes, elem, opset=20 if elem == TensorProto.BOOL else 18)  # bool ReduceMax: opset 20
    feeds = {"e": np.zeros((2, 0, 4), helper.tensor_dtype_to_np_dtype(elem))}
    if len(model.graph.input) > 1:
        feeds["x"] = RNG.standard_normal(out_shape([2, 0, 4], axes, 1)).astype(np.float32)
    if elem == TensorProto.BOOL:
        want = ReferenceEvaluator(model).run(None, feeds)[0]
    else:
        want = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            None, feeds)[0]
    got = LockstepBackend.run_model(model, feeds)[0]
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    onnx.save(model, tmp_path / "m.onnx")
    assert not [o for o in import_model(str(tmp_path / "m.onnx")).walk() if isinstance(o, tops.ReduceOp)]


def test_empty_max_of_wide_integers_is_rejected(tmp_path):
    """int32's lowest value (the identity of an empty max) is beyond float32's exact integers."""
    onnx.save(empty_set_model("ReduceMax", [1], TensorProto.INT32), tmp_path / "m.onnx")
    with pytest.raises(LockstepError, match=r"ReduceMax.*beyond 2\*\*24"):
        import_model(str(tmp_path / "m.onnx"))


@pytest.mark.parametrize("shape,axes,keepdims", CASES)
def test_normal_forms(tmp_path, shape, axes, keepdims):
    """Only normal reductions survive normalise, and they compute what the ONNX op does."""
    node, inits = reduce_node("ReduceMean", axes, keepdims, 18)
    model = import_model(save(tmp_path / "m.onnx", [node], {"x": shape}, {"y": out_shape(shape, axes, keepdims)},
                              inits, 18))
    x = {"x": RNG.standard_normal(shape).astype(np.float32)}
    before = evaluate(model, x)["y"]
    NormalisePass().apply(None, model)  # type: ignore[arg-type]
    reductions = [op for op in model.walk() if isinstance(op, tops.ReduceOp)]
    assert reductions and all(is_normal_reduction(op) and not isinstance(op, tops.ReduceMeanOp) for op in reductions)
    np.testing.assert_allclose(evaluate(model, x)["y"], before, rtol=1e-5, atol=1e-6)


def test_reductions_after_a_sharded_matmul(capsys, tmp_path):
    """On 2 chips the column-split matmul's output is gathered before the reductions."""
    w = tensor("w", RNG.standard_normal((32, 96)))
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]),
             helper.make_node("ReduceMax", ["h", "last"], ["m"], keepdims=1),
             helper.make_node("ReduceSum", ["h", "first"], ["s"], keepdims=1),
             helper.make_node("Sub", ["h", "m"], ["d"]), helper.make_node("Add", ["d", "s"], ["y"])]
    model = save(tmp_path / "m.onnx", nodes, {"x": [4, 32]}, {"y": [4, 96]},
                 [w, tensor("last", [-1], np.int64), tensor("first", [0], np.int64)], 18)
    for chips in (1, 2):
        assert_matches(run_json(capsys, model, chips))


@pytest.mark.parametrize("chips", [1, 2])
def test_layer_normalization_after_matmul(capsys, tmp_path, chips):
    w = tensor("w", RNG.standard_normal((32, 400)))
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]),
             helper.make_node("LayerNormalization", ["h", "scale", "bias"], ["y"], axis=-1, epsilon=1e-5)]
    inits = [w, tensor("scale", RNG.standard_normal(400)), tensor("bias", RNG.standard_normal(400))]
    model = save(tmp_path / "m.onnx", nodes, {"x": [3, 32]}, {"y": [3, 400]}, inits, 17)
    assert_matches(run_json(capsys, model, chips))


def test_layer_normalization_over_two_axes_with_mean_and_inv_std_dev(capsys, tmp_path):
    nodes = [helper.make_node("LayerNormalization", ["x", "scale"], ["y", "mean", "inv"], axis=1, epsilon=1e-3)]
    model = save(tmp_path / "m.onnx", nodes, {"x": [3, 5, 7]},
                 {"y": [3, 5, 7], "mean": [3, 1, 1], "inv": [3, 1, 1]}, [tensor("scale", RNG.standard_normal((5, 7)))])
    assert_matches(run_json(capsys, model))


def test_rms_normalization_opset23(capsys, tmp_path):
    nodes = [helper.make_node("RMSNormalization", ["x", "scale"], ["y"], axis=-1, epsilon=1e-6)]
    model = save(tmp_path / "m.onnx", nodes, {"x": [2, 5, 700]}, {"y": [2, 5, 700]},
                 [tensor("scale", RNG.standard_normal(700))], 23)
    assert_matches(run_json(capsys, model))


def test_softmax_before_opset13_coerces_to_2d(capsys, tmp_path):
    model = save(tmp_path / "m.onnx", [helper.make_node("Softmax", ["x"], ["y"])], {"x": [2, 3, 4]},
                 {"y": [2, 3, 4]}, opset=11)
    assert_matches(run_json(capsys, model))


def test_shape_range_and_constant_of_shape_fold(capsys, tmp_path):
    """y = x + Range(0, width) + ConstantOfShape(Shape(x), 0.5): all constants by import time."""
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("ConstantOfShape", ["shape"], ["half"], value=tensor("v", [0.5])),
             helper.make_node("Shape", ["x"], ["width"], start=-1),
             helper.make_node("Squeeze", ["width", "zero"], ["n"]),
             helper.make_node("Range", ["start", "n", "step"], ["ramp_i"]),
             helper.make_node("Cast", ["ramp_i"], ["ramp"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["x", "ramp"], ["a"]), helper.make_node("Add", ["a", "half"], ["y"])]
    inits = [tensor("zero", [0], np.int64), tensor("start", 0, np.int64), tensor("step", 1, np.int64)]
    model = save(tmp_path / "m.onnx", nodes, {"x": [3, 6]}, {"y": [3, 6]}, inits, 15)
    module = import_model(model)
    assert {op.name for op in module.walk() if op.name.startswith("tops.")} == {"tops.constant", "tops.add"}
    assert_matches(run_json(capsys, model))


def test_transformer_mlp_block_partitions_with_one_all_reduce(capsys, tmp_path):
    """LayerNorm -> MatMul -> Gelu -> MatMul -> residual -> RMSNorm: on 2 chips the elementwise
    Gelu chain follows the column split, the only collective is the second matmul's all-reduce."""
    from passes.partition import PartitionPass

    inits = [tensor("g", RNG.standard_normal(64)), tensor("b", RNG.standard_normal(64)),
             tensor("w1", RNG.standard_normal((64, 128)) * 0.1), tensor("w2", RNG.standard_normal((128, 64)) * 0.1),
             tensor("s", RNG.standard_normal(64))]
    nodes = [helper.make_node("LayerNormalization", ["x", "g", "b"], ["n"]), helper.make_node("MatMul", ["n", "w1"], ["h"]),
             helper.make_node("Gelu", ["h"], ["a"]), helper.make_node("MatMul", ["a", "w2"], ["o"]),
             helper.make_node("Add", ["x", "o"], ["r"]), helper.make_node("RMSNormalization", ["r", "s"], ["y"])]
    model = save(tmp_path / "m.onnx", nodes, {"x": [2, 8, 64]}, {"y": [2, 8, 64]}, inits, 23)
    module = import_model(model)
    NormalisePass().apply(None, module)  # type: ignore[arg-type]
    PartitionPass(chips=2, strategy="tensor").apply(None, module)  # type: ignore[arg-type]
    collectives = [op.name for op in module.walk() if op.name in ("part.all_gather", "part.all_reduce")]
    assert collectives == ["part.all_reduce"]
    for chips in (1, 2, 4):
        assert_matches(run_json(capsys, model, chips))
