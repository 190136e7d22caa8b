"""The ONNX importer: every supported op imports with the right types and locations,
computes what onnxruntime computes (before and after `normalise`), and every kind of
bad input is one LockstepError naming what is wrong."""
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, NameLoc

from compiler.errors import LockstepError
from compiler.onnx_import import import_model, import_model_bytes
from compiler.tops_eval import evaluate, main_function
from dialects import tops
from passes.normalise import NormalisePass

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RNG = np.random.default_rng(0)


def model(nodes, inputs, outputs, initializers=(), opset=17) -> onnx.ModelProto:
    """A model from nodes, `{name: shape}` float inputs/outputs and numpy initializers."""
    graph = helper.make_graph(
        nodes,
        "test",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs.items()],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in dict(initializers).items()],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 10
    return m


def weights(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def load(m: onnx.ModelProto, **overrides) -> ModuleOp:
    module = import_model_bytes(m.SerializeToString(), overrides or None)
    module.verify()
    return module


def ops_of(module: ModuleOp) -> list:
    return [op for op in main_function(module).body.block.ops][:-1]


def location(op) -> str:
    assert isinstance(op.location, NameLoc)
    return op.location.desc.data


# name -> (model, whether `normalise` can handle it)
CASES = {
    "matmul": model(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], {"x": [2, 3]}, {"y": [2, 4]}, {"w": weights(3, 4)}
    ),
    "matmul_vector_lhs": model([helper.make_node("MatMul", ["x", "w"], ["y"])], {"x": [3], "w": [3, 4]}, {"y": [4]}),
    "matmul_vector_rhs": model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], {"x": [2, 5, 3], "w": [3]}, {"y": [2, 5]}
    ),
    "matmul_batched_a": model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], {"x": [2, 5, 3]}, {"y": [2, 5, 4]}, {"w": weights(3, 4)}
    ),
    "matmul_broadcast_constant_b": model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        {"x": [5, 3]},
        {"y": [2, 5, 4]},
        {"w": np.broadcast_to(weights(3, 4), (2, 3, 4)).copy()},
    ),
    "gemm_plain": model(
        [helper.make_node("Gemm", ["a", "b"], ["y"])], {"a": [2, 3], "b": [3, 4]}, {"y": [2, 4]}
    ),
    "gemm_trans_scaled": model(
        [helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=1, transB=1, alpha=0.5, beta=-2.0)],
        {"a": [3, 2]},
        {"y": [2, 4]},
        {"b": weights(4, 3), "c": weights(4)},
    ),
    "gemm_scalar_c": model(
        [helper.make_node("Gemm", ["a", "b", "c"], ["y"], beta=3.0)],
        {"a": [2, 3], "b": [3, 4], "c": [1, 1]},
        {"y": [2, 4]},
    ),
    "binary_broadcast": model(
        [
            helper.make_node("Add", ["x", "b"], ["s"]),
            helper.make_node("Sub", ["s", "z"], ["d"]),
            helper.make_node("Mul", ["d", "k"], ["m"]),
            helper.make_node("Div", ["m", "q"], ["y"]),
        ],
        {"x": [2, 1, 3], "z": [4, 1]},
        {"y": [2, 4, 3]},
        {"b": weights(3), "k": weights(2, 1, 1), "q": np.full((3,), 2.0, np.float32)},
    ),
    "unary": model(
        [
            helper.make_node("Relu", ["x"], ["r"]),
            helper.make_node("Sigmoid", ["r"], ["s"]),
            helper.make_node("Tanh", ["s"], ["t"]),
            helper.make_node("Exp", ["t"], ["y"]),
        ],
        {"x": [2, 3]},
        {"y": [2, 3]},
    ),
    "softmax_opset13_default": model([helper.make_node("Softmax", ["x"], ["y"])], {"x": [2, 3, 4]}, {"y": [2, 3, 4]}),
    "softmax_opset13_axis0": model(
        [helper.make_node("Softmax", ["x"], ["y"], axis=0)], {"x": [2, 3, 4]}, {"y": [2, 3, 4]}
    ),
    "softmax_opset11_default": model(
        [helper.make_node("Softmax", ["x"], ["y"])], {"x": [2, 3, 4]}, {"y": [2, 3, 4]}, opset=11
    ),
    "softmax_opset11_last": model(
        [helper.make_node("Softmax", ["x"], ["y"], axis=-1)], {"x": [2, 3, 4]}, {"y": [2, 3, 4]}, opset=11
    ),
    "reshape_zero_and_minus_one": model(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])],
        {"x": [2, 3, 4]},
        {"y": [2, 12]},
        {"shape": np.array([0, -1], np.int64)},
    ),
    "reshape_constant_node": model(
        [
            helper.make_node(
                "Constant", [], ["shape"], name="shape_const", value=numpy_helper.from_array(np.array([4, 6]))
            ),
            helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape"),
        ],
        {"x": [2, 3, 4]},
        {"y": [4, 6]},
    ),
    "transpose": model(
        [helper.make_node("Transpose", ["x"], ["t"]), helper.make_node("Transpose", ["t"], ["y"], perm=[1, 0, 2])],
        {"x": [2, 3, 4]},
        {"y": [3, 4, 2]},
    ),
    "identity_and_constants": model(
        [
            helper.make_node("Identity", ["x"], ["i"]),
            helper.make_node("Constant", [], ["c1"], value_float=2.0),
            helper.make_node("Constant", [], ["c2"], value_floats=[1.0, 2.0, 3.0]),
            helper.make_node("Constant", [], ["c3"], value=numpy_helper.from_array(weights(2, 3))),
            helper.make_node("Mul", ["i", "c1"], ["m"]),
            helper.make_node("Add", ["m", "c2"], ["a"]),
            helper.make_node("Sub", ["a", "c3"], ["y"]),
        ],
        {"x": [2, 3]},
        {"y": [2, 3]},
    ),
}


def run_onnxruntime(m: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def random_feeds(m: onnx.ModelProto) -> dict[str, np.ndarray]:
    initializers = {t.name for t in m.graph.initializer}
    return {
        v.name: weights(*[d.dim_value for d in v.type.tensor_type.shape.dim])
        for v in m.graph.input
        if v.name not in initializers
    }


@pytest.mark.parametrize("name", CASES)
def test_numerics_match_onnxruntime_before_and_after_normalise(name):
    m = CASES[name]
    feeds = random_feeds(m)
    expected = run_onnxruntime(m, feeds)
    module = load(m)
    imported = evaluate(module, feeds)
    NormalisePass().apply(Context(), module)
    module.verify()
    normalised = evaluate(module, feeds)
    for out, value in expected.items():
        np.testing.assert_allclose(imported[out], value, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(normalised[out], value, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("path", ["mlp.onnx", "mlp_matmul.onnx"])
def test_examples_match_onnxruntime(path):
    m = onnx.load(EXAMPLES / path)
    feeds = {"input": weights(1, 784)}
    expected = run_onnxruntime(m, feeds)["output"]
    module = import_model(EXAMPLES / path)
    NormalisePass().apply(Context(), module)
    np.testing.assert_allclose(evaluate(module, feeds)["output"], expected, rtol=1e-4, atol=1e-5)


def test_function_signature_carries_onnx_names():
    main = main_function(load(CASES["binary_broadcast"]))
    assert [str(t) for t in main.function_type.inputs] == ["tensor<2x1x3xf32>", "tensor<4x1xf32>"]
    assert [str(t) for t in main.function_type.outputs] == ["tensor<2x4x3xf32>"]
    assert [a.data["tops.name"].data for a in main.arg_attrs] == ["x", "z"]
    assert [a.data["tops.name"].data for a in main.res_attrs] == ["y"]


def test_mlp_example_structure_and_locations():
    ops = ops_of(import_model(EXAMPLES / "mlp.onnx"))
    gemms = [op for op in ops if isinstance(op, tops.GemmOp)]
    assert [location(op) for op in gemms] == ["/fc1/Gemm", "/fc2/Gemm", "/fc3/Gemm"]
    assert [tops.shape_of(op.b) for op in gemms] == [(512, 784), (256, 512), (10, 256)]
    assert all(op.trans_b.value.data and not op.trans_a.value.data for op in gemms)
    assert [location(op) for op in ops if isinstance(op, tops.ReluOp)] == ["/relu1/Relu", "/relu2/Relu"]
    assert {location(op) for op in ops if isinstance(op, tops.ConstantOp)} == {
        f"fc{i}.{kind}" for i in (1, 2, 3) for kind in ("weight", "bias")
    }


def test_unnamed_nodes_get_op_type_and_index():
    ops = ops_of(load(CASES["transpose"]))
    assert [location(op) for op in ops] == ["Transpose_0", "Transpose_1"]
    assert [op.permutation() for op in ops] == [(2, 1, 0), (1, 0, 2)]


def test_matmul_keeps_onnx_shapes():
    (op,) = ops_of(load(CASES["matmul_vector_rhs"]))
    assert isinstance(op, tops.MatmulOp)
    assert tops.shape_of(op.result) == (2, 5)


def test_gemm_properties():
    (b, c, op) = ops_of(load(CASES["gemm_trans_scaled"]))
    assert isinstance(op, tops.GemmOp) and isinstance(b, tops.ConstantOp) and isinstance(c, tops.ConstantOp)
    assert (op.alpha.value.data, op.beta.value.data) == (0.5, -2.0)
    assert op.trans_a.value.data and op.trans_b.value.data
    assert tops.shape_of(op.result) == (2, 4)


def test_old_softmax_is_coerced_to_2d():
    ops = ops_of(load(CASES["softmax_opset11_default"]))
    assert [type(op) for op in ops] == [tops.ReshapeOp, tops.SoftmaxOp, tops.ReshapeOp]
    assert tops.shape_of(ops[0].result) == (2, 12)
    assert ops[1].axis.value.data == 1
    assert (ops_of(load(CASES["softmax_opset13_default"]))[0]).axis.value.data == -1


def test_reshape_resolves_zero_and_minus_one():
    (op,) = ops_of(load(CASES["reshape_zero_and_minus_one"]))
    assert tops.shape_of(op.result) == (2, 12)
    (op,) = ops_of(load(CASES["reshape_constant_node"]))
    assert tops.shape_of(op.result) == (4, 6) and location(op) == "reshape"


def test_identity_forwards_and_constants_import():
    ops = ops_of(load(CASES["identity_and_constants"]))
    assert not any(op.name == "tops.identity" for op in ops)
    consts = [op for op in ops if isinstance(op, tops.ConstantOp)]
    assert [tops.shape_of(c.result) for c in consts] == [(), (3,), (2, 3)]
    assert [location(c) for c in consts] == ["Constant_1", "Constant_2", "Constant_3"]
    assert consts[0].array().tolist() == 2.0


def test_shape_override_fixes_dynamic_dimension():
    m = model([helper.make_node("Relu", ["x"], ["y"])], {"x": ["batch", 4]}, {"y": ["batch", 4]})
    main = main_function(load(m, x=[3, 4]))
    assert [str(t) for t in main.function_type.outputs] == ["tensor<3x4xf32>"]


# ------------------------------------------------------------------ errors


def error_of(m: onnx.ModelProto | bytes, **overrides) -> str:
    data = m if isinstance(m, bytes) else m.SerializeToString()
    with pytest.raises(LockstepError) as info:
        import_model_bytes(data, overrides or None)
    return str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(LockstepError, match="cannot read ONNX model .*missing.onnx"):
        import_model(tmp_path / "missing.onnx")


@pytest.mark.parametrize("data", [b"definitely not protobuf", b"", b"\x08\x07\x12\x03abc\xff\xff"])
def test_not_an_onnx_file(data):
    assert "is not an ONNX model" in error_of(data)


def test_not_an_onnx_file_on_disk(tmp_path):
    path = tmp_path / "text.onnx"
    path.write_text("hello")
    with pytest.raises(LockstepError, match="text.onnx' is not an ONNX model"):
        import_model(path)


def test_unsupported_op():
    conv = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="foo")
    m = model([conv], {"x": [1, 1, 3, 3], "w": [1, 1, 1, 1]}, {"y": [1, 1, 3, 3]})
    message = error_of(m)
    assert message.startswith("node 'foo' (op ConvTranspose) is not supported; supported ops: ")
    assert "MatMul" in message and "Softmax" in message


def test_unsupported_op_without_name_and_custom_domain():
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Frob", ["r"], ["y"], domain="acme")]
    m = model(nodes, {"x": [2]}, {"y": [2]})
    m.opset_import.append(helper.make_opsetid("acme", 1))
    assert error_of(m).startswith("node 'Frob_1' (op acme.Frob) is not supported")


def test_unsupported_element_type_input():
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [2])],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    assert error_of(m) == (
        "input 'x' has element type FLOAT16; the machine computes in float32 and carries float32, float64,"
        " bool and integer tensors (int8 ... uint64)"
    )


def test_integer_constant_beyond_2_pow_24_is_rejected():
    m = model([helper.make_node("Add", ["x", "k"], ["y"], name="add")], {"x": [2]}, {"y": [2]},
              {"k": np.array([2**24 + 1, 2], np.int64)})
    for value in (m.graph.input[0], m.graph.output[0]):
        value.type.tensor_type.elem_type = TensorProto.INT64
    assert error_of(m) == (
        "node 'add' (op Add): constant 'k' holds integers beyond 2**24 in magnitude, which float32"
        " (the machine's only number type) cannot hold exactly"
    )


def test_integer_types_are_erased_to_f32_with_truncating_div():
    """int64 edges become f32 tensors; integer Div is an f32 div followed by tops.trunc."""
    m = model([helper.make_node("Div", ["x", "k"], ["y"], name="div")], {"x": [3]}, {"y": [3]},
              {"k": np.array([2, -2, 3], np.int64)})
    for value in (m.graph.input[0], m.graph.output[0]):
        value.type.tensor_type.elem_type = TensorProto.INT64
    text = str(import_model_bytes(m.SerializeToString()))
    assert "tensor<3xf32>" in text and "tops.div" in text and "tops.trunc" in text


def test_dynamic_dimension_needs_override():
    m = model([helper.make_node("Relu", ["X"], ["y"])], {"X": ["batch", 784]}, {"y": ["batch", 784]})
    assert error_of(m) == "input 'X' has an unknown dimension 0 ('batch'); pass --shape X=1,784"


def test_override_of_unknown_input():
    m = CASES["unary"]
    assert "'nope', which is not a graph input" in error_of(m, nope=[1])


def test_override_with_wrong_rank():
    assert "rank 2" in error_of(CASES["unary"], x=[6])


def test_reshape_with_shape_from_graph_input():
    m = model([helper.make_node("Reshape", ["x", "s"], ["y"], name="r")], {"x": [2, 3]}, {"y": [6]})
    m.graph.input.append(helper.make_tensor_value_info("s", TensorProto.INT64, [1]))
    assert error_of(m) == "node 'r' (op Reshape) needs a constant shape, but 's' is a graph input"


def test_int64_run_time_shape_is_rejected():
    m = model(
        [helper.make_node("Identity", ["s"], ["t"]), helper.make_node("Reshape", ["x", "t"], ["y"], name="r")],
        {"x": [2, 3]},
        {"y": [6]},
    )
    m.graph.input.append(helper.make_tensor_value_info("s", TensorProto.INT64, [1]))
    # int64 run-time values are carried (as exact f32), but a shape must be a constant
    assert error_of(m) == "node 'r' (op Reshape) needs a constant shape, but 't' is computed at run time"


def test_inconsistent_shapes_are_reported():
    m = model([helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")], {"a": [2, 3], "b": [4, 5]}, {"y": [2, 5]})
    message = error_of(m)
    assert "mm" in message or "MatMul" in message


# ------------------------------------------- what framework exporters emit


def _int64(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


# name -> (model, input shape overrides): the op forms torch.onnx.export writes around an MLP
EXPORTER_CASES = {
    # legacy exporter, nn.Flatten: Flatten(axis=1); opset 11 form too
    "flatten": (
        model([helper.make_node("Flatten", ["x"], ["y"], axis=1)], {"x": [2, 3, 4]}, {"y": [2, 12]}),
        {},
    ),
    "flatten_opset11_negative_axis": (
        model([helper.make_node("Flatten", ["x"], ["y"], axis=-1)], {"x": [2, 3, 4]}, {"y": [6, 4]}, opset=11),
        {},
    ),
    # legacy exporter, x.view(x.size(0), -1) with a dynamic batch:
    # Shape -> Gather -> Unsqueeze -> Concat -> Reshape, and Unsqueeze/Squeeze on the result
    "legacy_view_of_symbolic_batch": (
        model(
            [
                helper.make_node("Shape", ["x"], ["s"]),
                helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, np.int64))),
                helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
                helper.make_node("Constant", [], ["axes"], value=numpy_helper.from_array(_int64(0))),
                helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
                helper.make_node("Constant", [], ["minus1"], value=numpy_helper.from_array(_int64(-1))),
                helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
                helper.make_node("Reshape", ["x", "target"], ["flat"], allowzero=0),
                helper.make_node("MatMul", ["flat", "w"], ["m"]),
                helper.make_node("Unsqueeze", ["m", "axes1"], ["u"]),
                helper.make_node("Squeeze", ["u", "axes1"], ["y"]),
            ],
            {"x": ["batch", 1, 4, 3]},
            {"y": ["batch", 5]},
            {"w": weights(12, 5), "axes1": _int64(1)},
        ),
        {"x": [3, 1, 4, 3]},
    ),
    # dynamo exporter with optimize=False and a dynamic batch: Shape(start, end) -> Squeeze,
    # a Reshape of the int64 shape itself, integer arithmetic and Cast
    "dynamo_unoptimised_shape_chain": (
        model(
            [
                helper.make_node("Shape", ["x"], ["n"], start=0, end=1),
                helper.make_node("Squeeze", ["n"], ["n0"]),
                helper.make_node("Constant", [], ["one"], value=numpy_helper.from_array(_int64(1))),
                helper.make_node("Reshape", ["n0", "one"], ["n1"]),
                helper.make_node("Size", ["x"], ["size"]),
                helper.make_node("Div", ["size", "n0"], ["rest"]),
                helper.make_node("Reshape", ["rest", "one"], ["rest1"]),
                helper.make_node("Concat", ["n1", "rest1"], ["target"], axis=0),
                helper.make_node("Reshape", ["x", "target"], ["flat"]),
                helper.make_node("Cast", ["flat"], ["c"], to=TensorProto.FLOAT),
                helper.make_node("Cast", ["scale64"], ["scale"], to=TensorProto.FLOAT),
                helper.make_node("Mul", ["c", "scale"], ["y"]),
            ],
            {"x": ["batch", 2, 3]},
            {"y": ["batch", 6]},
            {"scale64": np.array([2.0], np.float64)},
        ),
        {"x": [4, 2, 3]},
    ),
    "expand_run_time_value": (
        model(
            [helper.make_node("Expand", ["x", "shape"], ["y"])],
            {"x": [3, 1]},
            {"y": [2, 3, 4]},
            {"shape": _int64(2, 1, 4)},
        ),
        {},
    ),
    "expand_constant": (
        model(
            [
                helper.make_node("ConstantOfShape", ["shape"], ["ones"], value=numpy_helper.from_array(
                    np.array([1.5], np.float32))),
                helper.make_node("Expand", ["b", "shape"], ["bb"]),
                helper.make_node("Add", ["ones", "bb"], ["s"]),
                helper.make_node("Add", ["x", "s"], ["y"]),
            ],
            {"x": [2, 3]},
            {"y": [2, 3]},
            {"shape": _int64(2, 3), "b": weights(3)},
        ),
        {},
    ),
}


def _fixed(m: onnx.ModelProto, overrides: dict[str, list[int]]) -> onnx.ModelProto:
    """The model with its symbolic input dimensions fixed, for onnxruntime and random_feeds."""
    fixed = onnx.ModelProto()
    fixed.CopyFrom(m)
    for v in fixed.graph.input:
        for dim, size in zip(v.type.tensor_type.shape.dim, overrides.get(v.name, [])):
            dim.Clear()
            dim.dim_value = size
    return fixed


@pytest.mark.parametrize("name", EXPORTER_CASES)
def test_exporter_forms_match_onnxruntime_before_and_after_normalise(name):
    m, overrides = EXPORTER_CASES[name]
    feeds = random_feeds(_fixed(m, overrides))
    expected = run_onnxruntime(m, feeds)
    module = load(m, **overrides)
    imported = evaluate(module, feeds)
    NormalisePass().apply(Context(), module)
    module.verify()
    normalised = evaluate(module, feeds)
    for out, value in expected.items():
        np.testing.assert_allclose(imported[out], value, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(normalised[out], value, rtol=1e-5, atol=1e-6)


def test_shape_computations_leave_no_ops_behind():
    m, overrides = EXPORTER_CASES["legacy_view_of_symbolic_batch"]
    ops = ops_of(load(m, **overrides))
    # Shape/Gather/Unsqueeze/Concat are evaluated: only the data path remains
    assert [type(op) for op in ops] == [tops.ReshapeOp, tops.ConstantOp, tops.MatmulOp, tops.ReshapeOp, tops.ReshapeOp]
    assert [tops.shape_of(op.result) for op in ops if isinstance(op, tops.ReshapeOp)] == [(3, 12), (3, 1, 5), (3, 5)]
    m, overrides = EXPORTER_CASES["dynamo_unoptimised_shape_chain"]
    ops = ops_of(load(m, **overrides))
    assert [type(op) for op in ops] == [tops.ReshapeOp, tops.ConstantOp, tops.MulOp]  # the float32 Cast is the value
    assert tops.shape_of(ops[0].result) == (4, 6)


def test_flatten_is_a_reshape_named_after_its_node():
    m = model([helper.make_node("Flatten", ["x"], ["y"], name="/f/Flatten")], {"x": [1, 1, 28, 28]}, {"y": [1, 784]})
    (op,) = ops_of(load(m))
    assert isinstance(op, tops.ReshapeOp) and tops.shape_of(op.result) == (1, 784) and location(op) == "/f/Flatten"


def test_shape_op_on_run_time_data_is_rejected():
    m = model(
        [helper.make_node("Range", ["x", "limit", "delta"], ["y"], name="g")], {"x": []}, {"y": [None]},
        {"limit": np.float32(4), "delta": np.float32(1)},
    )
    assert error_of(m) == (
        "node 'g' (op Range) is only supported on constants (shape computations), but 'x' is computed at run time"
    )


def test_cast_of_run_time_value_to_float16_is_rejected():
    m = model([helper.make_node("Cast", ["x"], ["y"], name="c", to=TensorProto.FLOAT16)], {"x": [2]}, {"y": [2]})
    m.graph.output[0].type.tensor_type.elem_type = TensorProto.FLOAT16
    assert error_of(m) == (
        "node 'c' (op Cast) casts a run-time value to FLOAT16; the machine computes in float32 and carries"
        " float32, float64, bool and integer tensors (int8 ... uint64)"
    )


def test_torch_export_matches_onnxruntime():
    """examples/mlp_torch.onnx, written by torch.onnx.export (dynamo, opset 18): Gemm/Relu only."""
    m = onnx.load(EXAMPLES / "mlp_torch.onnx", load_external_data=False)
    assert [n.op_type for n in m.graph.node] == ["Gemm", "Relu", "Gemm", "Relu", "Gemm"]
    assert not any(t.data_location == TensorProto.EXTERNAL for t in m.graph.initializer)  # one self-contained file
    feeds = {"input": weights(1, 784)}
    expected = run_onnxruntime(m, feeds)["output"]
    module = import_model(EXAMPLES / "mlp_torch.onnx")
    gemms = [op for op in ops_of(module) if isinstance(op, tops.GemmOp)]
    assert [location(op) for op in gemms] == ["node_linear", "node_linear_1", "node_linear_2"]
    NormalisePass().apply(Context(), module)
    np.testing.assert_allclose(evaluate(module, feeds)["output"], expected, rtol=1e-4, atol=1e-5)
