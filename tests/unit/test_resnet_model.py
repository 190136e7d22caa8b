"""`lockstep model resnet`: ResNet-50 has the published parameter count and torchvision's v1.5
layout, a --no-weights file points every parameter at an absent file, and the tiny preset runs on
the machine matching onnxruntime (1 chip; 2 chips tensor-parallel; int8 weights), which also
checks the numbers of its stem's relu -> max pool without a padding mask
(tests/lit/passes/normalise_conv.mlir shows the IR)."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, shape_inference
from onnx_cases import assert_matches, run_json

from compiler.cli import main
from compiler.models.resnet import BUFFERS, PRESETS

RESNET50_PARAMS = 25_557_032  # torchvision resnet50, sum(p.numel() for p in model.parameters())


def generate(capsys, tmp_path: Path, preset: str, *args: str) -> Path:
    path = tmp_path / f"{preset}.onnx"
    assert main(["model", "resnet", "--preset", preset, *args, "-o", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {path}")
    return path


def test_resnet50_has_the_published_parameter_count_and_no_weight_data(capsys, tmp_path):
    path = generate(capsys, tmp_path, "resnet50", "--no-weights")
    assert path.stat().st_size < 2**20 and not (tmp_path / "resnet50.onnx.data").exists()
    inits = onnx.load(path, load_external_data=False).graph.initializer
    floats = [t for t in inits if t.data_type == TensorProto.FLOAT]
    assert all(t.data_location == TensorProto.EXTERNAL for t in floats)
    params = sum(int(np.prod(t.dims)) for t in floats if not t.name.endswith(BUFFERS))
    assert params == RESNET50_PARAMS == PRESETS["resnet50"].params()


def test_resnet50_layout_is_torchvision_v1_5(capsys, tmp_path):
    path = generate(capsys, tmp_path, "resnet50", "--no-weights", "--batch", "2", "--image", "160")
    graph = onnx.load(path, load_external_data=False).graph
    convs = {n.name: n for n in graph.node if n.op_type == "Conv"}
    assert len(convs) == 1 + 3 * (3 + 4 + 6 + 3) + 4  # stem, three per bottleneck, four projections
    strides = {name: next(a.ints for a in n.attribute if a.name == "strides") for name, n in convs.items()}
    strided = sorted(name for name, s in strides.items() if list(s) == [2, 2])
    # v1.5: the 3x3 conv of each stage's first block carries the stride (v1 put it on conv1)
    assert strided == ["/conv1/Conv", *(f"/layer{i}.0/{c}/Conv" for i in (2, 3, 4) for c in ("conv2", "downsample.0"))]
    assert sum(n.op_type == "BatchNormalization" for n in graph.node) == len(convs)
    inferred = shape_inference.infer_shapes(onnx.load(path, load_external_data=False)).graph
    dims = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in inferred.value_info}
    assert dims["/layer4.2/Relu_output_0"] == [2, 2048, 5, 5]  # 160 / 32
    assert [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim] == [2, 1000]


@pytest.mark.parametrize("argv, message", [
    (["--image", "0"], "--image must be at least 1"),
    (["--batch", "0"], "--batch must be at least 1"),
])
def test_bad_options_are_one_line(capsys, tmp_path, argv, message):
    assert main(["model", "resnet", "--preset", "tiny", *argv, "-o", str(tmp_path / "t.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lockstep: error: ") and err.count("\n") == 1 and message in err


@pytest.mark.parametrize("chips, extra", [(1, []), (2, ["--strategy", "tensor"]), (1, ["--weights", "int8"])],
                         ids=["1chip", "2chips-tensor", "1chip-int8"])
def test_tiny_matches_onnxruntime(capsys, tmp_path, chips, extra):
    path = generate(capsys, tmp_path, "tiny")
    result = run_json(capsys, str(path), chips, extra=extra)
    assert_matches(result)



def test_missing_output_directory_is_one_line(capsys, tmp_path):
    out = tmp_path / "nowhere" / "r.onnx"
    assert main(["model", "resnet", "--preset", "tiny", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lockstep: error: ") and err.count("\n") == 1 and "does not exist" in err
