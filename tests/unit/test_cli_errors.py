"""Bad input: one clear line on stderr, a non-zero exit, never a traceback."""

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from compiler.cli import main

ROOT = Path(__file__).resolve().parents[2]
MLP = str(ROOT / "examples" / "mlp.onnx")


def fails(capsys, *argv: str) -> str:
    assert main(list(argv)) == 1
    err = capsys.readouterr().err
    assert err.startswith("lockstep: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_missing_model(capsys, tmp_path):
    assert "does not exist" in fails(capsys, "run", str(tmp_path / "nope.onnx"))


def test_not_onnx(capsys, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_text("this is not a protobuf")
    assert "bad.onnx" in fails(capsys, "compile", str(bad), "-o", str(tmp_path / "o"))


def test_unsupported_op_names_node(capsys, tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Floor", ["x"], ["y"], name="my_floor")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.save(model, tmp_path / "floor.onnx")
    err = fails(capsys, "compile", str(tmp_path / "floor.onnx"), "-o", str(tmp_path / "o"))
    assert "my_floor" in err and "Floor" in err and "MatMul" in err


def test_unknown_preset(capsys, tmp_path):
    assert "nosuch" in fails(capsys, "compile", MLP, "--system", "nosuch", "-o", str(tmp_path / "o"))


def test_model_too_big_for_sram_says_by_how_much(capsys, tmp_path):
    from compiler.system import load_system

    text = load_system("single").to_toml().replace("sram_bytes = 230686720", "sram_bytes = 409600")
    assert "sram_bytes = 409600" in text
    (tmp_path / "tiny.toml").write_text(text)
    err = fails(capsys, "compile", MLP, "--system", str(tmp_path / "tiny.toml"), "-o", str(tmp_path / "o"))
    assert "does not fit in SRAM" in err and "over by" in err


def test_dynamic_dimension_needs_shape(capsys, tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="r")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.save(model, tmp_path / "dyn.onnx")
    assert "--shape" in fails(capsys, "compile", str(tmp_path / "dyn.onnx"), "-o", str(tmp_path / "o"))
    assert main(["run", str(tmp_path / "dyn.onnx"), "--shape", "x=2,3", "--check", "--json"]) == 0


@pytest.mark.parametrize("argv", [["--chips", "9", "--topology", "fc:8"], ["--strategy", "tensor", "--chips", "0"]])
def test_impossible_system_requests(capsys, tmp_path, argv):
    fails(capsys, "compile", MLP, *argv, "-o", str(tmp_path / "o"))


def test_more_chips_than_a_wired_system_has(capsys, tmp_path):
    err = fails(capsys, "compile", MLP, "--system", "groq576", "--chips", "600", "-o", str(tmp_path / "o"))
    assert "576 chips in service, fewer than the 600 asked for" in err
