"""compiler.backend: the ONNX Backend API over the lockstep compiler and runtime."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from compiler.backend import LockstepBackend, LockstepRep, from_machine, to_machine, _Value
from compiler.errors import LockstepError


def model(nodes, inputs, outputs, initializers=(), opset=17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    proto.ir_version = 10  # make_model writes 14, which onnxruntime refuses
    return proto


def tensor(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def relu_add() -> onnx.ModelProto:
    """y = x + relu(x), z = relu(x); the outputs are listed z-last so order matters."""
    nodes = [helper.make_node("Relu", ["x"], ["z"], name="r"), helper.make_node("Add", ["x", "z"], ["y"], name="a")]
    return model(nodes, [tensor("x", [2, 3])], [tensor("y", [2, 3]), tensor("z", [2, 3])])


def test_prepare_and_run_a_tiny_model():
    rep = LockstepBackend.prepare(relu_add())
    assert isinstance(rep, LockstepRep)
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    y, z = rep.run([x])
    np.testing.assert_allclose(z, np.maximum(x, 0), rtol=1e-6)
    np.testing.assert_allclose(y, x + np.maximum(x, 0), rtol=1e-6)
    assert y.dtype == np.float32
    # the runtime measured what the compiler predicted, on one chip
    assert rep.report["chips"] == 1
    assert rep.last_result.cycles == rep.report["cycles"] > 0
    # the same program runs again, with inputs by name or as one array
    again = rep.run({"x": 2 * x})
    np.testing.assert_allclose(again["z"], np.maximum(2 * x, 0), rtol=1e-6)
    np.testing.assert_allclose(rep.run(x)[1], z)


def test_outputs_come_in_the_graph_order_with_names():
    nodes = [
        helper.make_node("Relu", ["x"], ["first"], name="r"),
        helper.make_node("Exp", ["x"], ["second"], name="e"),
        helper.make_node("Neg", ["x"], ["third"], name="n"),
    ]
    outputs = [tensor("third", [4, 5]), tensor("first", [4, 5]), tensor("second", [4, 5])]
    x = np.linspace(-2, 2, 20, dtype=np.float32).reshape(4, 5)
    result = LockstepBackend.run_model(model(nodes, [tensor("x", [4, 5])], outputs), [x])
    assert result._fields == ("third", "first", "second")
    np.testing.assert_allclose(result[0], -x)
    np.testing.assert_allclose(result[1], np.maximum(x, 0))
    np.testing.assert_allclose(result[2], np.exp(x), rtol=1e-5)
    np.testing.assert_allclose(result["second"], result[2])


def test_an_unsupported_op_is_an_exception_naming_it():
    nodes = [helper.make_node("Det", ["x"], ["y"], name="det")]
    with pytest.raises(LockstepError, match=r"node 'det' \(op Det\) is not supported"):
        LockstepBackend.prepare(model(nodes, [tensor("x", [3, 3])], [tensor("y", [])]))


def test_wrong_inputs_are_errors():
    rep = LockstepBackend.prepare(relu_add())
    with pytest.raises(LockstepError, match="missing input"):
        rep.run([])
    with pytest.raises(LockstepError, match="unknown input"):
        rep.run({"x": np.zeros((2, 3), np.float32), "w": np.zeros(1, np.float32)})
    with pytest.raises(LockstepError, match="shape"):
        rep.run([np.zeros((3, 2), np.float32)])


@pytest.mark.parametrize("strategy", ["tensor", "pipeline"])
def test_two_chips(strategy):
    rng = np.random.default_rng(1)
    w1 = rng.standard_normal((16, 32)).astype(np.float32)
    w2 = rng.standard_normal((32, 8)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
        helper.make_node("Relu", ["h"], ["a"], name="relu"),
        helper.make_node("MatMul", ["a", "w2"], ["y"], name="fc2"),
    ]
    inits = [onnx.numpy_helper.from_array(w1, "w1"), onnx.numpy_helper.from_array(w2, "w2")]
    proto = model(nodes, [tensor("x", [4, 16])], [tensor("y", [4, 8])], inits)
    rep = LockstepBackend.prepare(proto, chips=2, strategy=strategy)
    assert rep.report["chips"] == 2 and rep.report["strategy"] == strategy
    x = rng.standard_normal((4, 16)).astype(np.float32)
    (y,) = rep.run([x])
    np.testing.assert_allclose(y, np.maximum(x @ w1, 0) @ w2, rtol=1e-4, atol=1e-4)
    assert rep.last_result.cycles == rep.report["cycles"]


def test_constant_inputs_are_bound_when_run():
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")]
    proto = model(nodes, [tensor("x", [2, 6]), tensor("shape", [2], TensorProto.INT64)], [tensor("y", None)])
    with pytest.raises(LockstepError, match="needs a constant shape"):
        LockstepBackend.prepare(proto)
    rep = LockstepBackend.prepare(proto, constant_inputs=["shape"])
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    (y,) = rep.run([x, np.array([3, 4], np.int64)])
    np.testing.assert_array_equal(y, x.reshape(3, 4))
    (y,) = rep.run([x, np.array([4, -1], np.int64)])
    np.testing.assert_array_equal(y, x.reshape(4, 3))
    assert len(rep._programs) == 2  # one program per distinct constant value
    with pytest.raises(LockstepError, match="constant input 'nope' is not a graph input"):
        LockstepBackend.prepare(proto, constant_inputs=["nope"])
    assert LockstepBackend.prepare(proto, constant_inputs=[1]).constant_inputs == ["shape"]


def test_devices():
    assert LockstepBackend.supports_device("CPU")
    assert not LockstepBackend.supports_device("CUDA")
    with pytest.raises(LockstepError, match="device 'CUDA'"):
        LockstepBackend.prepare(relu_add(), "CUDA")


# ------------------------------------------------- the float32 host boundary


def test_inputs_convert_to_float32_exactly_or_float64_rounded():
    v = _Value("x", TensorProto.INT64)
    np.testing.assert_array_equal(to_machine(v, np.array([True, False])), [1.0, 0.0])
    np.testing.assert_array_equal(to_machine(v, np.array([-3, 2**24], np.int64)), [-3.0, 2.0**24])
    assert to_machine(v, np.array([255], np.uint8)).dtype == np.float32
    assert to_machine(v, np.array([0.5], np.float64)).dtype == np.float32
    with pytest.raises(LockstepError, match=r"input 'x' \(int64\) holds integers beyond 2\*\*24"):
        to_machine(v, np.array([2**24 + 1], np.int64))
    # float64 is carried as float32: rounded to nearest, only values beyond float32's range raise
    assert to_machine(v, np.array([0.1], np.float64)).tolist() == [np.float32(0.1)]
    with pytest.raises(LockstepError, match="beyond the range of float32"):
        to_machine(v, np.array([1e300], np.float64))
    with pytest.raises(LockstepError, match=r"input .x. \(<U1\) has element type <U1; the machine computes in float32"):
        to_machine(v, np.array(["a"]))


def test_outputs_convert_back_to_the_declared_type_only_when_exact():
    as_bool = from_machine(_Value("m", TensorProto.BOOL), np.array([0.0, 1.0], np.float32))
    assert as_bool.dtype == np.bool_ and as_bool.tolist() == [False, True]
    as_int = from_machine(_Value("i", TensorProto.INT64), np.array([-2.0, 7.0], np.float32))
    assert as_int.dtype == np.int64 and as_int.tolist() == [-2, 7]
    assert from_machine(_Value("d", TensorProto.DOUBLE), np.ones(2, np.float32)).dtype == np.float64
    with pytest.raises(LockstepError, match="other than 0 and 1"):
        from_machine(_Value("m", TensorProto.BOOL), np.array([0.5], np.float32))
    with pytest.raises(LockstepError, match="non-integral"):
        from_machine(_Value("i", TensorProto.INT32), np.array([1.5], np.float32))
    with pytest.raises(LockstepError, match="outside the range of uint8"):
        from_machine(_Value("u", TensorProto.UINT8), np.array([256.0], np.float32))
    with pytest.raises(LockstepError, match="cannot produce this element type"):
        from_machine(_Value("h", TensorProto.FLOAT16), np.ones(1, np.float32))


# ------------------------------------------------- the support table generator


def test_support_table_runs_the_node_cases_of_an_op(tmp_path):
    from compiler.support_table import exclusion, main

    out = tmp_path / "ops.md"
    assert main(["--ops", "Neg,Identity", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| Neg | 13 |  | 2 / 2 |" in text
    assert "| Identity | 25 |  | 1 / 1 |" in text
    assert "`test_identity_sequence`" in text and "sequence type" in text  # excluded, with its reason
    assert exclusion("test_cast_FLOAT_to_FLOAT8E4M3FN") and exclusion("test_max_float16")
    assert exclusion("test_training_dropout_mask") and not exclusion("test_dropout_default_mask")
    assert exclusion("test_add_int8") is None and exclusion("test_cast_FLOAT_to_INT4")


def test_support_table_rewrites_the_xfail_block(tmp_path):
    from compiler.support_table import update_xfails

    path = tmp_path / "t.py"
    path.write_text('a = 1\nXFAIL = {\n    "old_cpu",\n}\nb = 2\n')
    update_xfails(path, '    "new_cpu",\n    "other_cpu",\n')
    assert path.read_text() == 'a = 1\nXFAIL = {\n    "new_cpu",\n    "other_cpu",\n}\nb = 2\n'


def test_via_text_runs_the_printed_and_parsed_streams_like_lockstep_run():
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    in_memory = LockstepBackend.prepare(relu_add(), chips=2, strategy="pipeline")
    via_text = LockstepBackend.prepare(relu_add(), chips=2, strategy="pipeline", via_text=True)
    for a, b in zip(in_memory.run([x]), via_text.run([x])):
        np.testing.assert_array_equal(a, b)
    assert in_memory.last_result.cycles == via_text.last_result.cycles == via_text.report["cycles"]
