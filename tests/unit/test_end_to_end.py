"""End to end: ONNX in, streams out, run on the runtime, compared with onnxruntime."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from compiler.cli import main
from compiler.pipeline import CompileOptions, compile_model, compile_system

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "examples" / "mlp.onnx"
MLP_SOFTMAX = ROOT / "examples" / "mlp_matmul.onnx"


def run_json(capsys, *argv: str) -> dict:
    code = main(["run", *argv, "--check", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == (0 if out["ok"] else 1)
    return out


def assert_matches(result: dict) -> None:
    assert result["max_rel_error"] <= 1e-4, result
    assert result["cycles_predicted"] == result["cycles_measured"], result
    assert result["cycles_measured"] > 0
    assert result["ok"]


@pytest.mark.parametrize("chips", [1, 2, 4, 8])
@pytest.mark.parametrize("strategy", ["tensor", "pipeline"])
def test_mlp_matches_onnxruntime(capsys, chips, strategy):
    assert_matches(run_json(capsys, str(MLP), "--chips", str(chips), "--strategy", strategy))


@pytest.mark.parametrize("system", ["node8", "ring8", "torus4x4"])
def test_mlp_on_presets(capsys, system):
    assert_matches(run_json(capsys, str(MLP), "--system", system))


def test_some_chips_of_the_576_chip_system(capsys):
    """`--system groq576 --chips 8` runs on the first node of the wired system, not on a resized one."""
    assert_matches(run_json(capsys, str(MLP), "--system", "groq576", "--chips", "8", "--strategy", "tensor"))
    compiled = compile_model(MLP, CompileOptions(system="groq576", chips=8, strategy="tensor"))
    assert compiled.system.chips == 576 and compiled.report["chips"] == 8
    # The chips not taken are out of service: nothing relays through them.
    assert compile_system(CompileOptions(system="groq576", chips=144)).alive_chips() == list(range(144))


def test_replicated_and_softmax_model(capsys):
    assert_matches(run_json(capsys, str(MLP_SOFTMAX), "--chips", "2", "--strategy", "replicated"))
    assert_matches(run_json(capsys, str(MLP_SOFTMAX), "--chips", "4", "--strategy", "tensor"))


def shape_ops_model(path: Path) -> Path:
    """Reshape, transpose (last axis moving), broadcast and a wide softmax: the data-movement rules."""
    rng = np.random.default_rng(1)
    w = helper.make_tensor("w", TensorProto.FLOAT, [350, 400], rng.standard_normal((350, 400)).astype(np.float32).ravel())
    b = helper.make_tensor("b", TensorProto.FLOAT, [3, 1], rng.standard_normal((3, 1)).astype(np.float32).ravel())
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [3, 350])
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], name="t", perm=[0, 2, 1]),  # [3, 7, 50] -> [3, 50, 7]
        helper.make_node("Reshape", ["t", "shape"], ["r"], name="r"),  # [3, 350]
        helper.make_node("MatMul", ["r", "w"], ["m"], name="m"),  # [3, 400]
        helper.make_node("Add", ["m", "b"], ["a"], name="a"),  # broadcast [3, 1]
        helper.make_node("Softmax", ["a"], ["y"], name="s", axis=-1),
    ]
    graph = helper.make_graph(
        nodes, "shapes", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 7, 50])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 400])], [w, b, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("chips", [1, 2])
def test_data_movement_ops(capsys, tmp_path, chips):
    model = shape_ops_model(tmp_path / "shapes.onnx")
    assert_matches(run_json(capsys, str(model), "--chips", str(chips)))


def test_compile_verbose_says_each_pass_as_it_finishes(capsys, tmp_path):
    assert main(["compile", str(MLP), "--chips", "2", "-o", str(tmp_path / "out"), "--json", "-v"]) == 0
    captured = capsys.readouterr()
    timed = json.loads(captured.out)["pass_seconds"]
    said = [line.split(":")[1].strip() for line in captured.err.splitlines()]
    assert said == [*timed, "write"]  # once each: the last pass was once timed twice, the second time ~0 s


def test_compile_writes_streams_and_report(capsys, tmp_path):
    assert main(["compile", str(MLP), "--chips", "4", "--strategy", "tensor", "-o", str(tmp_path / "out"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("chips", "cycles", "latency_us", "sram_bytes_per_chip", "transfers"):
        assert key in report
    assert report["chips"] == 4 and len(report["sram_bytes_per_chip"]) == 4
    assert report["transfers"] > 0
    assert sorted(p.name for p in (tmp_path / "out").glob("chip*.mlir")) == [f"chip{i}.mlir" for i in range(4)]
    assert all(bound <= report["cycles"] for bound in report["lower_bounds"].values())
    # the directory runs by itself, with inputs from a file, and writes outputs by name
    x = np.random.default_rng(3).standard_normal((1, 784)).astype(np.float32)
    np.savez(tmp_path / "in.npz", input=x)
    assert main(["run", str(tmp_path / "out"), "--inputs", str(tmp_path / "in.npz"),
                 "--outputs", str(tmp_path / "out.npz"), "--check", "--json"]) == 0
    with np.load(tmp_path / "out.npz") as outputs:
        assert outputs["output"].shape == (1, 10)


def test_test_data_set_directory(capsys, tmp_path):
    from onnx import numpy_helper
    import onnxruntime

    x = np.random.default_rng(4).standard_normal((1, 784)).astype(np.float32)
    (y,) = onnxruntime.InferenceSession(str(MLP)).run(None, {"input": x})
    data = tmp_path / "test_data_set_0"
    data.mkdir()
    (data / "input_0.pb").write_bytes(numpy_helper.from_array(x, "input").SerializeToString())
    (data / "output_0.pb").write_bytes(numpy_helper.from_array(y, "output").SerializeToString())
    assert_matches(run_json(capsys, str(MLP), "--chips", "2", "--inputs", str(data)))


def test_compile_dumps_every_pass(capsys, tmp_path):
    dumps = tmp_path / "dumps"
    assert main(["compile", str(MLP), "--chips", "2", "-o", str(tmp_path / "out"), "--dump-dir", str(dumps),
                 "--print-ir-after", "partition", "--print-debuginfo"]) == 0
    names = sorted(p.name for p in dumps.iterdir())
    assert names[0] == "00-input.mlir" and names[-1].endswith("-emit-streams.mlir")
    for step in ("normalise", "partition", "place", "lower-to-chip", "lower-collectives", "schedule", "verify-schedule"):
        assert any(name.endswith(f"-{step}.mlir") for name in names), step
    err = capsys.readouterr().err
    assert "IR Dump After partition" in err and 'loc("/fc1/Gemm")' in err


MLP_TORCH = ROOT / "examples" / "mlp_torch.onnx"  # written by examples/export_torch_mlp.py (torch.onnx.export)


@pytest.mark.parametrize("chips", [1, 2, 4, 8])
@pytest.mark.parametrize("strategy", ["tensor", "pipeline"])
def test_torch_exported_mlp_matches_onnxruntime(capsys, chips, strategy):
    assert_matches(run_json(capsys, str(MLP_TORCH), "--chips", str(chips), "--strategy", strategy))
