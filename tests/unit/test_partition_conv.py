"""Convolutions and pools under `--strategy tensor` (passes/partition_conv.py): every conv and
pool case of test_ops_conv_pool.py, run after a 3x3 conv whose output is split by rows, so
the case's windows are built from row tiles plus halo rows from the neighbouring chips
where they tile evenly (and whole, after an all-gather, where they do not); the runtime
matches onnxruntime and its cycles match the schedule."""

import json

import pytest
from onnx import helper
from onnx_cases import assert_matches, tensor
from test_ops_conv_pool import CONVS, POOLS, RNG, save

from compiler.cli import main
from compiler.pipeline import CompileOptions, compile_model


def after_a_row_split_conv(tmp_path, x_shape, node: helper.NodeProto, inits=()) -> str:
    """x -> conv 3x3 pad 1 (same channels, split by output rows) -> relu -> `node` (reads "r")."""
    c = x_shape[1]
    first = helper.make_node("Conv", ["x", "w0"], ["h"], pads=[1, 1, 1, 1], name="first")
    relu = helper.make_node("Relu", ["h"], ["r"])
    w0 = tensor("w0", RNG.standard_normal((c, c, 3, 3)) * 0.3)
    return save(tmp_path / "m.onnx", [first, relu, node], {"x": list(x_shape)}, [w0, *inits])


def run_tensor(capsys, model: str, chips: int) -> dict:
    code = main(["run", model, "--chips", str(chips), "--strategy", "tensor", "--check", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == (0 if out["ok"] else 1)
    return out


HALOS = {  # x shape, output channels, kernel, attributes, halo rows on 2 and on 4 chips
    "3x3": ([1, 4, 8, 8], 4, [3, 3], {"pads": [1, 1, 1, 1]}, "1+1"),
    "stride2": ([1, 4, 8, 8], 4, [3, 3], {"strides": [2, 2], "pads": [1, 1, 1, 1]}, "1+0"),
    "dilated": ([1, 4, 8, 8], 4, [3, 3], {"dilations": [2, 2], "pads": [2, 2, 2, 2]}, "2+2"),
    "asymmetric": ([1, 4, 8, 8], 4, [3, 3], {"pads": [0, 1, 2, 1]}, "0+2"),
    "5x5": ([1, 4, 8, 8], 4, [5, 5], {"pads": [2, 2, 2, 2]}, "2+2"),
    "depthwise": ([1, 4, 8, 8], 4, [3, 3], {"group": 4, "pads": [1, 1, 1, 1]}, "1+1"),
}


def conv_case(tmp_path, x_shape, m: int, kernel, attrs) -> str:
    group = attrs.get("group", 1)
    w = tensor("w", RNG.standard_normal((m, x_shape[1] // group, *kernel)))
    node = helper.make_node("Conv", ["r", "w"], ["y"], name="conv", **attrs)
    return after_a_row_split_conv(tmp_path, x_shape, node, [w])


@pytest.mark.parametrize("case", sorted(CONVS))
def test_conv_after_row_split(capsys, tmp_path, case):
    assert_matches(run_tensor(capsys, conv_case(tmp_path, *CONVS[case]), 2))


@pytest.mark.parametrize("chips", [2, 4])
@pytest.mark.parametrize("case", sorted(HALOS))
def test_conv_on_row_tiles_with_halos(capsys, tmp_path, case, chips):
    """Each chip's windows read halo rows above and below its tile, as deep as the kernel,
    dilation, stride and pads make them."""
    *conv, halo = HALOS[case]
    model = conv_case(tmp_path, *conv)
    report = compile_model(model, CompileOptions(chips=chips, strategy="tensor")).report
    assert {e["node"]: e["split"] for e in report["partition"]}["conv"] == f"spatial rows, halo {halo}"
    assert_matches(run_tensor(capsys, model, chips))


@pytest.mark.parametrize("chips", [2, 4])
@pytest.mark.parametrize("case", sorted(POOLS))
def test_pool_after_row_split(capsys, tmp_path, case, chips):
    op, attrs = POOLS[case]
    node = helper.make_node(op, ["r"], ["y"], **attrs)
    assert_matches(run_tensor(capsys, after_a_row_split_conv(tmp_path, [1, 3, 8, 8], node), chips))
