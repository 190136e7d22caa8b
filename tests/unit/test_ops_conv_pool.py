"""Conv, BatchNormalization, MaxPool, AveragePool (1-D, 2-D, 3-D), GlobalAveragePool/GlobalMaxPool
and LRN end to end: import, normalise (im2col + matmul / reductions, docs/conv.md), kernel-free
lowering, runtime vs onnxruntime, on 1 chip and on 2 chips tensor-parallel (a conv's
weight matrix split by output channel)."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from compiler.errors import LockstepError
from compiler.onnx_import import import_model
from compiler.tops_eval import evaluate
from dialects import tops
from passes.lower_windows import im2col_plan
from passes.normalise import NormalisePass
from onnx_cases import assert_matches, run_json, tensor

RNG = np.random.default_rng(11)



def save(path: Path, nodes, inputs, inits=(), opset=17) -> str:
    graph = helper.make_graph(
        nodes, "conv",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    onnx.save(model, path)
    return str(path)



def normalised(model: str):
    module = import_model(model)
    NormalisePass().apply(None, module)  # type: ignore[arg-type]
    return module


def op_names(module) -> list[str]:
    return [op.name for op in module.walk() if op.name.startswith("tops.")]


def conv_model(tmp_path: Path, x_shape, m: int, kernel, opset=17, bias=True, **attrs) -> str:
    group = attrs.get("group", 1)
    w = RNG.standard_normal((m, x_shape[1] // group, *kernel)).astype(np.float32)
    inputs = ["x", "w"] + (["b"] if bias else [])
    inits = [tensor("w", w)] + ([tensor("b", RNG.standard_normal(m))] if bias else [])
    node = helper.make_node("Conv", inputs, ["y"], name="conv", **attrs)
    return save(tmp_path / "conv.onnx", [node], {"x": list(x_shape)}, inits, opset)


CONVS = {
    "pad1": ([1, 4, 8, 8], 6, [3, 3], {"pads": [1, 1, 1, 1]}),
    "stride2": ([2, 3, 9, 7], 8, [3, 3], {"strides": [2, 2], "pads": [1, 1, 1, 1]}),
    "dilation": ([1, 4, 9, 9], 4, [3, 3], {"dilations": [2, 2], "pads": [2, 1, 0, 2]}),
    "asymmetric": ([1, 2, 7, 6], 4, [2, 3], {"pads": [0, 1, 2, 0], "strides": [1, 2]}),
    "same_upper": ([1, 3, 7, 8], 4, [4, 3], {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    "same_lower": ([1, 3, 7, 8], 4, [4, 3], {"auto_pad": "SAME_LOWER", "strides": [2, 1]}),
    "valid": ([1, 3, 7, 8], 4, [3, 2], {"auto_pad": "VALID"}),
    "groups": ([1, 4, 6, 6], 6, [3, 3], {"group": 2, "pads": [1, 1, 1, 1]}),
    "depthwise": ([1, 8, 6, 6], 8, [3, 3], {"group": 8, "pads": [1, 1, 1, 1]}),
    "depthwise_x2": ([1, 4, 6, 6], 8, [3, 3], {"group": 4, "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    "pointwise": ([2, 5, 4, 4], 6, [1, 1], {}),
    "pointwise_stride": ([1, 5, 5, 5], 4, [1, 1], {"strides": [2, 2]}),
    "wide_channels": ([1, 330, 3, 3], 4, [3, 3], {"pads": [1, 1, 1, 1]}),
}


@pytest.mark.parametrize("chips", [1, 2])
@pytest.mark.parametrize("case", sorted(CONVS))
def test_conv(capsys, tmp_path, case, chips):
    x_shape, m, kernel, attrs = CONVS[case]
    assert_matches(run_json(capsys, conv_model(tmp_path, x_shape, m, kernel, **attrs), chips))


@pytest.mark.parametrize("opset", [9, 11, 23])
def test_conv_opsets_and_no_bias(capsys, tmp_path, opset):
    model = conv_model(tmp_path, [1, 3, 6, 6], 4, [3, 3], opset=opset, bias=False, pads=[1, 1, 1, 1])
    assert_matches(run_json(capsys, model, 1))


def test_conv_1d(capsys, tmp_path):
    w = RNG.standard_normal((4, 3, 3)).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 2], strides=[2])
    assert_matches(run_json(capsys, save(tmp_path / "c.onnx", [node], {"x": [2, 3, 11]}, [tensor("w", w)]), 1))


def test_conv_lowers_to_im2col_and_one_matmul(tmp_path):
    module = normalised(conv_model(tmp_path, [1, 4, 8, 8], 6, [3, 3], pads=[1, 1, 1, 1]))
    names = op_names(module)
    assert names.count("tops.im2col") == 1 and names.count("tops.matmul") == 1
    assert "tops.conv" not in names
    # a 1x1 unit-stride conv reads the NHWC input as it is
    module = normalised(conv_model(tmp_path, [1, 4, 8, 8], 6, [1, 1]))
    assert "tops.im2col" not in op_names(module)


def bn_inits(channels: int, prefix: str = "") -> list[onnx.TensorProto]:
    return [tensor(prefix + "s", RNG.standard_normal(channels)), tensor(prefix + "bb", RNG.standard_normal(channels)),
            tensor(prefix + "m", RNG.standard_normal(channels)), tensor(prefix + "v", RNG.random(channels) + 0.5)]


def bn_node(x: str, y: str, prefix: str = "", **attrs):
    return helper.make_node("BatchNormalization", [x, prefix + "s", prefix + "bb", prefix + "m", prefix + "v"], [y],
                            **attrs)


@pytest.mark.parametrize("chips", [1, 2])
def test_batch_norm_folds_into_conv(capsys, tmp_path, chips):
    w = RNG.standard_normal((6, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["h"], pads=[1, 1, 1, 1], name="conv"),
             bn_node("h", "y", epsilon=1e-3)]
    model = save(tmp_path / "bn.onnx", nodes, {"x": [1, 3, 6, 6]}, [tensor("w", w), *bn_inits(6)])
    names = op_names(normalised(model))
    assert "tops.batch_norm" not in names and "tops.mul" not in names and names.count("tops.add") == 1
    assert_matches(run_json(capsys, model, chips))


@pytest.mark.parametrize("opset", [9, 15])
@pytest.mark.parametrize("shape", [[2, 5, 4, 3], [3, 5]])
def test_batch_norm_alone(capsys, tmp_path, opset, shape):
    model = save(tmp_path / "bn.onnx", [bn_node("x", "y")], {"x": shape}, bn_inits(5), opset)
    assert "tops.batch_norm" not in op_names(normalised(model))
    assert_matches(run_json(capsys, model, 1))


POOLS = {
    "max_2x2": ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]}),
    "max_pad": ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    "max_ceil": ("MaxPool", {"kernel_shape": [3, 2], "strides": [2, 2], "ceil_mode": 1}),
    "max_dilated": ("MaxPool", {"kernel_shape": [2, 2], "dilations": [2, 2], "pads": [1, 0, 1, 1]}),
    "max_same": ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    "avg": ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2]}),
    "avg_pad_excluded": ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    "avg_pad_included": ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    "avg_ceil": ("AveragePool", {"kernel_shape": [2, 3], "strides": [2, 2], "pads": [1, 0, 0, 1], "ceil_mode": 1}),
    "avg_ceil_included": ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1],
                                          "ceil_mode": 1, "count_include_pad": 1}),
    "avg_same_lower": ("AveragePool", {"kernel_shape": [2, 2], "auto_pad": "SAME_LOWER"}),
}


@pytest.mark.parametrize("chips", [1, 2])
@pytest.mark.parametrize("case", sorted(POOLS))
def test_pool(capsys, tmp_path, case, chips):
    op, attrs = POOLS[case]
    model = save(tmp_path / "p.onnx", [helper.make_node(op, ["x"], ["y"], **attrs)], {"x": [2, 3, 9, 8]})
    assert_matches(run_json(capsys, model, chips))


def test_max_pool_of_negative_values_ignores_padding(capsys, tmp_path):
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    nodes = [helper.make_node("Abs", ["x"], ["a"]), helper.make_node("Neg", ["a"], ["n"]), node]
    nodes[2].input[0] = "n"
    assert_matches(run_json(capsys, save(tmp_path / "p.onnx", nodes, {"x": [1, 2, 5, 5]}), 1))


def test_avg_pool_dilated_opset19(capsys, tmp_path):
    node = helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], dilations=[2, 1], pads=[1, 1, 1, 1],
                            count_include_pad=1)
    assert_matches(run_json(capsys, save(tmp_path / "p.onnx", [node], {"x": [1, 2, 7, 6]}, opset=19), 1))


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_pool_1d(capsys, tmp_path, op):
    node = helper.make_node(op, ["x"], ["y"], kernel_shape=[3], strides=[2], pads=[1, 1])
    assert_matches(run_json(capsys, save(tmp_path / "p.onnx", [node], {"x": [2, 3, 10]}), 1))


POOLS_3D = {
    "max_default": ("MaxPool", {"kernel_shape": [2, 2, 2]}),
    "max_pad_stride": ("MaxPool", {"kernel_shape": [3, 2, 3], "strides": [2, 1, 2], "pads": [1, 0, 1, 1, 1, 0]}),
    "max_dilated_ceil": ("MaxPool", {"kernel_shape": [2, 2, 2], "strides": [2, 2, 3], "dilations": [2, 1, 2],
                                     "ceil_mode": 1}),
    "max_same": ("MaxPool", {"kernel_shape": [3, 3, 2], "strides": [2, 2, 2], "auto_pad": "SAME_UPPER"}),
    "avg_pad_excluded": ("AveragePool", {"kernel_shape": [3, 3, 3], "pads": [1, 1, 1, 1, 1, 1]}),
    "avg_pad_included": ("AveragePool", {"kernel_shape": [2, 3, 3], "strides": [1, 2, 2], "pads": [1, 1, 0, 0, 1, 1],
                                         "count_include_pad": 1}),
    "avg_dilated_ceil": ("AveragePool", {"kernel_shape": [2, 2, 3], "strides": [3, 2, 3], "dilations": [2, 2, 1],
                                         "pads": [0, 1, 1, 1, 0, 1], "ceil_mode": 1}),
    "avg_ceil_included": ("AveragePool", {"kernel_shape": [3, 3, 3], "strides": [2, 2, 2], "pads": [1, 1, 1, 1, 1, 1],
                                          "ceil_mode": 1, "count_include_pad": 1}),
}


@pytest.mark.parametrize("chips", [1, 2])
@pytest.mark.parametrize("case", sorted(POOLS_3D))
def test_pool_3d(capsys, tmp_path, case, chips):
    op, attrs = POOLS_3D[case]
    model = save(tmp_path / "p.onnx", [helper.make_node(op, ["x"], ["y"], **attrs)], {"x": [2, 3, 6, 7, 8]}, opset=19)
    assert_matches(run_json(capsys, model, chips))


@pytest.mark.parametrize("case", sorted(POOLS_3D))
def test_pool_3d_reference_and_decomposition_match_onnxruntime(tmp_path, case):
    """The tops interpreter before normalise (compiler.windows.pool) and after it (im2col,
    reductions) against onnxruntime, also on a wide channel axis (the NHWC form)."""
    import onnxruntime

    op, attrs = POOLS_3D[case]
    for shape in ([2, 3, 6, 7, 8], [1, 40, 5, 4, 6]):
        model = save(tmp_path / "p.onnx", [helper.make_node(op, ["x"], ["y"], **attrs)], {"x": shape}, opset=19)
        x = RNG.standard_normal(shape).astype(np.float32)
        want = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        for module in (import_model(model), normalised(model)):
            np.testing.assert_allclose(evaluate(module, {"x": x})["y"], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape, channels_last", [([1, 3, 9, 10], False), ([1, 40, 5, 6], True),
                                                  ([1, 2, 4, 5, 6], False), ([1, 3, 10], False)])
def test_pool_layout_choice(tmp_path, shape, channels_last):
    """A pool of a graph input runs on the NCHW tensor (W along the lanes, no transposes)
    unless its channels outnumber the output columns (the NHWC windows have fewer rows)."""
    k = len(shape) - 2
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2] * k, strides=[2] * k)
    names = op_names(normalised(save(tmp_path / "p.onnx", [node], {"x": shape})))
    assert names.count("tops.im2col") == 1 and names.count("tops.reduce_max") == 1
    assert ("tops.transpose" in names) == channels_last


def test_windows_strided_along_the_lanes_read_a_deinterleaved_copy(capsys, tmp_path):
    """A stride-2 pool of NCHW data: each input row is first deinterleaved (even positions,
    then odd: a width-1 move per lane, cut into a piece per SXM unit), after which every
    window vector is one contiguous move of its OW lanes."""
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 3], strides=[2, 2], dilations=[1, 2])
    model = save(tmp_path / "p.onnx", [node], {"x": [1, 3, 8, 14]})
    op = next(o for o in normalised(model).walk() if isinstance(o, tops.Im2colOp))
    plan = im2col_plan(op, 320, 4)
    rows, taps, ow = 3 * 4, 6, 5
    assert {g.width for g in plan.windows} == {ow} and sum(g.run.count for g in plan.windows) == rows * taps
    assert {g.width for g in plan.deinterleave} == {1}
    assert sum(g.run.count for g in plan.deinterleave) == 3 * 8 * 14 and len(plan.deinterleave) == 14 * 4
    assert_matches(run_json(capsys, model, 1))


def test_pool_after_conv_stays_nhwc(tmp_path):
    """A pool of a conv's output pools the NHWC tensor the conv made, whatever its sizes:
    the only transposes left are the input's and the output's."""
    w = RNG.standard_normal((2, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("MaxPool", ["c"], ["y"], kernel_shape=[2, 2], strides=[2, 2])]
    names = op_names(normalised(save(tmp_path / "p.onnx", nodes, {"x": [1, 3, 12, 12]}, [tensor("w", w)])))
    assert names.count("tops.transpose") == 2


@pytest.mark.parametrize("chips", [1, 2])
@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pool(capsys, tmp_path, op, chips):
    model = save(tmp_path / "g.onnx", [helper.make_node(op, ["x"], ["y"])], {"x": [2, 5, 6, 7]})
    assert_matches(run_json(capsys, model, chips))


@pytest.mark.parametrize("chips", [1, 2])
@pytest.mark.parametrize("size", [1, 3, 5])
def test_lrn(capsys, tmp_path, size, chips):
    node = helper.make_node("LRN", ["x"], ["y"], size=size, alpha=0.02, beta=0.75, bias=1.5)
    assert_matches(run_json(capsys, save(tmp_path / "l.onnx", [node], {"x": [1, 6, 4, 5]}), chips))


def small_cnn(tmp_path: Path) -> str:
    """conv-bn-relu-maxpool, a residual block (conv-bn-relu-conv-bn + skip, relu), global
    average pool, flatten, gemm."""
    c = 8

    def w(name, shape):
        return tensor(name, RNG.standard_normal(shape) * 0.3)

    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        bn_node("c1", "n1", "bn1_"), helper.make_node("Relu", ["n1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
        bn_node("c2", "n2", "bn2_"), helper.make_node("Relu", ["n2"], ["r2"]),
        helper.make_node("Conv", ["r2", "w3"], ["c3"], pads=[1, 1, 1, 1], group=2, name="conv3"),
        bn_node("c3", "n3", "bn3_"),
        helper.make_node("Add", ["n3", "p1"], ["s"], name="residual"), helper.make_node("Relu", ["s"], ["r3"]),
        helper.make_node("GlobalAveragePool", ["r3"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1, name="fc"),
    ]
    inits = [w("w1", (c, 3, 3, 3)), w("b1", (c,)), *bn_inits(c, "bn1_"), w("w2", (c, c, 3, 3)), *bn_inits(c, "bn2_"),
             w("w3", (c, c // 2, 3, 3)), *bn_inits(c, "bn3_"), w("wf", (10, c)), w("bf", (10,))]
    return save(tmp_path / "cnn.onnx", nodes, {"x": [1, 3, 16, 16]}, inits)


@pytest.mark.parametrize("chips", [1, 2])
def test_small_cnn(capsys, tmp_path, chips):
    model = small_cnn(tmp_path)
    names = op_names(normalised(model))
    assert "tops.batch_norm" not in names and names.count("tops.matmul") == 4
    assert_matches(run_json(capsys, model, chips))


def test_normalised_cnn_matches_onnxruntime(tmp_path):
    import onnxruntime

    model = small_cnn(tmp_path)
    x = RNG.standard_normal((1, 3, 16, 16)).astype(np.float32)
    got = evaluate(normalised(model), {"x": x})["y"]
    want = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("node, message", [
    (helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2]), "Indices"),
    (helper.make_node("BatchNormalization", ["x", "s", "bb", "m", "v"], ["y", "rm", "rv"], training_mode=1), "training"),
])
def test_unsupported_forms(tmp_path, node, message):
    model = save(tmp_path / "e.onnx", [node], {"x": [1, 5, 4, 4]}, bn_inits(5), opset=15)
    with pytest.raises(LockstepError, match=message):
        import_model(model)


def test_conv_3d_is_reported(tmp_path):
    w = RNG.standard_normal((2, 2, 1, 1, 1)).astype(np.float32)
    model = save(tmp_path / "c.onnx", [helper.make_node("Conv", ["x", "w"], ["y"])], {"x": [1, 2, 3, 3, 3]},
                 [tensor("w", w)])
    with pytest.raises(LockstepError, match="1-D and 2-D"):
        import_model(model)
