"""Shape-only models: weights whose values the compiler never sees, timed by the timing-only runtime."""

import json
from pathlib import Path

import onnx
import pytest
from onnx import external_data_helper

from compiler.cli import main
from compiler.errors import LockstepError
from compiler.onnx_import import import_model
from dialects import tops

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "examples" / "mlp.onnx"


def json_of(capsys, *argv: str) -> dict:
    code = main([*argv, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    return out


def external_mlp(directory: Path, keep_data: bool) -> Path:
    """examples/mlp.onnx with every weight in an external file, which is then kept or deleted."""
    model = onnx.load(MLP)
    external_data_helper.convert_model_to_external_data(model, location="mlp.weights", size_threshold=0)
    path = directory / "mlp_external.onnx"
    onnx.save(model, path)
    if not keep_data:
        (directory / "mlp.weights").unlink()
    return path


def absent_constants(module) -> list[tops.ConstantOp]:
    return [op for op in module.walk() if isinstance(op, tops.ConstantOp) and op.is_absent]


def test_missing_external_data_gives_absent_weights(tmp_path):
    module = import_model(external_mlp(tmp_path, keep_data=False))
    absent = absent_constants(module)
    assert absent and all(len(op.result.type.get_shape()) >= 1 for op in absent)
    assert "#tops.absent<tensor<" in str(module)


def test_present_external_data_is_read(capsys, tmp_path):
    path = external_mlp(tmp_path, keep_data=True)
    assert not absent_constants(import_model(path))
    out = json_of(capsys, "run", str(path), "--chips", "2", "--check")
    assert out["ok"] and out["max_rel_error"] <= 1e-4


@pytest.mark.parametrize("chips", ["1", "4"])
def test_shape_only_times_exactly_like_the_full_program(capsys, tmp_path, chips):
    full = json_of(capsys, "run", str(MLP), "--chips", chips, "--check")
    flagged = json_of(capsys, "run", str(MLP), "--chips", chips, "--shape-only", "--timing-only")
    missing = json_of(capsys, "run", str(external_mlp(tmp_path, keep_data=False)), "--chips", chips, "--timing-only")
    assert full["cycles_measured"] == flagged["cycles_measured"] == missing["cycles_measured"]
    assert flagged["cycles_predicted"] == flagged["cycles_measured"]
    assert flagged["max_rel_error"] is None


def test_shape_only_streams_carry_no_weights(capsys, tmp_path):
    main(["compile", str(MLP), "--chips", "2", "--shape-only", "-o", str(tmp_path / "out")])
    capsys.readouterr()
    stream = (tmp_path / "out" / "chip0.mlir").read_text()
    assert "chip.preload core 0 at" in stream and "#tops.absent<tensor<" in stream
    assert "dense<" not in stream.split("chip.preload", 1)[1].split("\n", 1)[0]


def test_numbers_refused_on_a_shape_only_program(capsys, tmp_path):
    main(["compile", str(MLP), "--shape-only", "-o", str(tmp_path / "out")])
    capsys.readouterr()
    assert main(["run", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "chip.preload" in err and "has no data" in err and "--timing-only" in err


def test_check_and_timing_only_conflict(capsys):
    assert main(["run", str(MLP), "--check", "--timing-only"]) == 1
    assert "--timing-only" in capsys.readouterr().err


def test_a_shape_computed_from_an_absent_weight_is_refused(tmp_path):
    """Reshape's shape must be known: reading it from a weight with absent values is an error."""
    from onnx import TensorProto, helper

    shape = helper.make_tensor("shape", TensorProto.FLOAT, [2], [2.0, 3.0])
    graph = helper.make_graph(
        [helper.make_node("Cast", ["shape"], ["s64"], name="cast", to=TensorProto.INT64),
         helper.make_node("Reshape", ["x", "s64"], ["y"], name="reshape")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], [shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    with pytest.raises(LockstepError, match="shape"):
        import_model(path, shape_only=True)


@pytest.mark.parametrize("model", ["cnn", "gpt2_block", "llama_decode"])
def test_shape_only_example_models_time_like_the_real_ones(model):
    """Folding (BatchNorm into Conv, transposed weights) keeps absent values absent, so the
    program is the same one: equal cycles on the timing-only runtime."""
    from compiler.pipeline import CompileOptions, compile_model

    path = ROOT / "examples" / "models" / f"{model}.onnx"
    full = compile_model(path, CompileOptions()).report["cycles"]
    shaped = compile_model(path, CompileOptions(shape_only=True)).report["cycles"]
    assert shaped == full
