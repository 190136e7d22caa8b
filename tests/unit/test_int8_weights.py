"""Weight-only int8 quantization: the numbers (compiler/quantize.py), the oracle model, the
`quantize-weights` pass, the runtime's packed int8 reads, and whole models run with
`--weights int8` against onnxruntime on the same dequantized weights."""

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_cases import run_json

from compiler.cli import main
from compiler.errors import LockstepError
from compiler.models.llama import write_llama
from compiler.onnx_import import import_model
from compiler.pipeline import context
from compiler.quantize import dequantize, dequantized_model, quantize_per_channel
from compiler.system import load_system
from dialects import tops
from passes.normalise import NormalisePass
from passes.quantize_weights import QuantizeWeightsPass, quantized_nodes
from runtime import BrokenPromise, Program, run
from runtime.program import parse_module

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "examples" / "mlp.onnx"


# -- the numbers -------------------------------------------------------------------


def test_quantize_per_channel_bounds_and_scales():
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((300, 40)) * np.logspace(-4, 4, 40)).astype(np.float32)
    w[:, 7] = 0.0
    q, scale = quantize_per_channel(w)
    assert q.dtype == np.int8 and q.shape == w.shape
    assert scale.dtype == np.float32 and scale.shape == (40,)
    assert np.abs(q).max() <= 127
    assert scale[7] == 1.0 and not q[:, 7].any()  # an all-zero column
    nonzero = np.arange(40) != 7
    assert np.all(np.abs(q[:, nonzero]).max(axis=0) == 127)  # every other column's peak is +-127
    np.testing.assert_array_equal(scale, np.where(nonzero, np.abs(w).max(axis=0) / np.float32(127), 1))
    error = np.abs(dequantize(q, scale) - w)
    assert np.all(error <= scale / 2 * (1 + 1e-6))  # within half a step of the original


def test_weights_on_the_grid_are_represented_exactly():
    """Columns that are integers times a power of two (peak 127 steps) dequantize to themselves."""
    rng = np.random.default_rng(1)
    steps = rng.integers(-127, 128, size=(64, 5)).astype(np.float32)
    steps[0] = 127
    w = steps * np.float32(2.0) ** np.arange(-3, 2, dtype=np.float32)
    q, scale = quantize_per_channel(w)
    np.testing.assert_array_equal(q, steps.astype(np.int8))
    np.testing.assert_array_equal(dequantize(q, scale), w)


def test_ties_round_half_to_even():
    w = np.array([[127.0], [2.5], [3.5], [-2.5], [0.5]], dtype=np.float32)  # scale 1
    q, scale = quantize_per_channel(w)
    assert scale[0] == 1.0
    assert q[:, 0].tolist() == [127, 2, 4, -2, 0]


# -- the oracle model ------------------------------------------------------------------


def small_model() -> onnx.ModelProto:
    """MatMul by w (which an Add reads too), Gemm with transB by g: two weights, one shared constant."""
    rng = np.random.default_rng(2)
    w = rng.standard_normal((6, 5)).astype(np.float32)
    g = rng.standard_normal((3, 5)).astype(np.float32)  # Gemm B with transB: output channels are rows
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["m"], name="mm"),
        helper.make_node("Gemm", ["m", "g"], ["y"], name="gemm", transB=1),
        helper.make_node("Add", ["z", "w"], ["s"], name="add"),
    ]
    graph = helper.make_graph(
        nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6]),
                         helper.make_tensor_value_info("z", TensorProto.FLOAT, [6, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("s", TensorProto.FLOAT, [6, 5])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(g, "g")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_dequantized_model_replaces_exactly_the_weights():
    model = small_model()
    original = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    oracle = dequantized_model(model, expect=["mm", "gemm"])
    values = {t.name: numpy_helper.to_array(t) for t in oracle.graph.initializer}
    mm, gemm, add = oracle.graph.node
    np.testing.assert_array_equal(values[mm.input[1]], dequantize(*quantize_per_channel(original["w"])))
    q, scale = quantize_per_channel(original["g"].T)  # the compiler's B is g transposed
    np.testing.assert_array_equal(values[gemm.input[1]], dequantize(q, scale).T)
    assert add.input[1] == "w" and "w" in values and "g" not in values  # the other reader keeps w
    assert model.graph.node[0].input[1] == "w"  # the model given is not changed


def test_dequantized_model_refuses_to_mirror_what_the_compiler_did_not():
    with pytest.raises(LockstepError, match="left in fp32 at gemm"):
        dequantized_model(small_model(), expect=["mm"])
    with pytest.raises(LockstepError, match="derived by the compiler at lrn"):
        dequantized_model(small_model(), expect=["mm", "gemm", "lrn"])


# -- the pass -----------------------------------------------------------------------------


def quantized_module(path: Path, shape_only: bool = False):
    module = import_model(path, shape_only=shape_only)
    ctx = context()
    NormalisePass().apply(ctx, module)
    QuantizeWeightsPass().apply(ctx, module)
    module.verify()
    return module


def test_the_pass_quantizes_every_matmul_weight(tmp_path):
    model = tmp_path / "small.onnx"
    onnx.save(small_model(), model)
    module = quantized_module(model)
    assert quantized_nodes(module) == ["mm", "gemm"]
    ops = list(module.body.block.first_op.body.block.ops)
    for matmul in (op for op in ops if isinstance(op, tops.MatmulOp)):
        assert matmul.rhs.owner.is_int8
        (use,) = matmul.result.uses
        assert isinstance(use.operation, tops.MulOp)
        scales = use.operation.rhs.owner.array()
        assert scales.shape == tops.shape_of(matmul.result)
        assert np.all(scales == scales[0])  # one scale per column, the same in every row
    f32 = [op for op in ops if isinstance(op, tops.ConstantOp) and not op.is_int8 and op.array().shape == (6, 5)]
    assert len(f32) == 1  # the Add still reads the f32 original


def test_absent_weights_quantize_to_absent_constants(tmp_path):
    module = quantized_module(MLP, shape_only=True)
    constants = [op for op in module.body.block.first_op.body.block.ops if isinstance(op, tops.ConstantOp)]
    int8 = [c for c in constants if c.is_int8]
    assert len(int8) == 3 and all(c.is_absent for c in int8)
    assert quantized_nodes(module) == ["/fc1/Gemm", "/fc2/Gemm", "/fc3/Gemm"]


# -- the runtime's packed reads ---------------------------------------------------------------

SYSTEM = load_system("single")
LANES = SYSTEM.lanes
READY = 8  # the last load row issues at 4, the tile is ready mxm_load later
assert READY >= 4 + SYSTEM.latency["mxm_load"]
CODES = np.arange(7 * LANES, dtype=np.int64).reshape(7, LANES) % 255 - 127  # 7 int8 vectors


def int8_stream(load: str, extra: str = "") -> str:
    data = ", ".join("[" + ", ".join(map(str, row)) + "]" for row in CODES)
    return f"""builtin.module {{
  chip.stream core 0 "single" {{
    %x = chip.input "X" core 0 at 0 : tensor<3x{LANES}xf32>
    %f = chip.input "F" core 0 at 10 : tensor<3x{LANES}xf32>
    %w = chip.preload core 0 at 4 dense<[{data}]> : tensor<7x{LANES}xi8>
    %l = chip.mxm_load core 0 unit "mxm0" cycle 0 repeat 3 stride 2 {load}
    %m = chip.mxm_matmul core 0 unit "mxm0" cycle {READY} repeat 3 stride 1 weights (%l) dst [20, 1] src [0, 1] (%x)
    {extra}
    chip.output "Y" core 0 at 20 : tensor<3x{LANES}xf32> (%m)
  }}
}}"""


def run_int8(load: str, extra: str = ""):
    inputs = {"X": np.eye(3, LANES, dtype=np.float32), "F": np.ones((3, LANES), np.float32)}
    return run(Program.from_modules([parse_module(int8_stream(load, extra))], SYSTEM), inputs)


@pytest.mark.parametrize("first, step", [(1, 2), (4, 1), (0, 3)])
def test_an_int8_load_reads_its_byte_planes(first, step):
    """Preload at address 4: int8 vector v is byte plane v % 4 of address 4 + v // 4."""
    result = run_int8(f"int8 src [{16 + first}, {step}] (%w)")
    rows = first + step * np.arange(3)
    np.testing.assert_array_equal(result.outputs["Y"], CODES[rows].astype(np.float32))


def test_the_unused_planes_of_the_last_address_read_as_zeros():
    result = run_int8("int8 src [21, 1] (%w)")  # vectors 5, 6 and 7, the padding plane of address 5
    np.testing.assert_array_equal(result.outputs["Y"][:2], CODES[5:7].astype(np.float32))
    assert not result.outputs["Y"][2].any()


def test_an_int8_read_past_the_preload_reads_nothing():
    with pytest.raises(BrokenPromise, match=r"reads address 6 \(iteration 2\) where nothing has been written"):
        run_int8("int8 src [20, 2] (%w)")  # vectors 4, 6 and 8: address 6


def test_an_int8_load_past_the_end_of_sram_names_its_iteration():
    top = SYSTEM.sram_vectors
    with pytest.raises(BrokenPromise, match=f"iteration 2 reads address {top}, outside SRAM"):
        run_int8(f"int8 src [{4 * top - 2}, 1] (%w)")  # planes 2, 3 of the last address, then past it


def test_an_int8_load_of_fp32_data_is_refused():
    with pytest.raises(BrokenPromise, match=r"int8 load reads byte plane 0 of address 10, which holds fp32 data"):
        run_int8("int8 src [40, 4] (%f)")


def test_fp32_reads_of_int8_data_are_refused():
    vxm = f'%v = chip.vxm "relu" core 0 unit "vxm0" cycle 0 repeat 1 stride 1 lanes {LANES} dst [30, 1] lhs [5, 1] (%w)'
    with pytest.raises(BrokenPromise, match="operand 'lhs' reads address 5 as fp32, but it holds int8 vectors"):
        run_int8("int8 src [16, 1] (%w)", vxm)


# -- whole models ----------------------------------------------------------------------------


def assert_exact(result: dict) -> None:
    assert result["max_rel_error"] <= 1e-3, result
    assert result["cycles_predicted"] == result["cycles_measured"] > 0, result


@pytest.mark.parametrize("chips", [1, 4])
def test_int8_mlp_computes_the_dequantized_model(capsys, chips):
    assert_exact(run_json(capsys, str(MLP), chips, extra=["--weights", "int8", "--strategy", "tensor"]))


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("llama") / "tiny.onnx"
    write_llama("tiny", path)
    return path


@pytest.mark.parametrize("chips", [1, 4])
def test_int8_tiny_llama_computes_the_dequantized_model(capsys, tiny_llama, chips):
    assert_exact(run_json(capsys, str(tiny_llama), chips, extra=["--weights", "int8", "--strategy", "tensor"]))


def compile_report(capsys, model: Path, out: Path, *argv: str) -> dict:
    assert main(["compile", str(model), "-o", str(out), "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_int8_matmuls_are_split_like_fp32_ones(capsys, tmp_path, tiny_llama):
    split = {w: [p["split"] for p in compile_report(capsys, tiny_llama, tmp_path / w, "--chips", "4",
                                                   "--strategy", "tensor", "--weights", w)["partition"]]
             for w in ("fp32", "int8")}
    assert split["int8"] == split["fp32"]
    assert {"column", "row", "heads"} <= set(split["int8"])


def test_int8_differs_from_the_fp32_model(capsys, tmp_path):
    """The outputs are the dequantized model's, measurably away from the fp32 model's."""
    inputs, outputs = tmp_path / "x.npz", tmp_path / "y.npz"
    x = {"input": np.random.default_rng(3).standard_normal((1, 784)).astype(np.float32)}
    np.savez(inputs, **x)
    assert main(["run", str(MLP), "--weights", "int8", "--inputs", str(inputs), "--outputs", str(outputs)]) == 0
    capsys.readouterr()
    (got,) = np.load(outputs).values()
    model = onnx.load(MLP)
    fp32 = onnxruntime.InferenceSession(str(MLP)).run(None, x)[0]
    oracle = onnxruntime.InferenceSession(dequantized_model(model).SerializeToString()).run(None, x)[0]
    assert np.abs(got - oracle).max() <= 1e-5 * np.abs(oracle).max()
    assert np.abs(got - fp32).max() > 1e-3 * np.abs(fp32).max()


def sram_bytes(capsys, tmp_path, weights: str) -> int:
    return compile_report(capsys, MLP, tmp_path / weights, "--weights", weights, "--chips", "1")["sram_bytes_per_chip"][0]


def test_int8_weights_take_a_quarter_of_the_sram(capsys, tmp_path):
    model = onnx.load(MLP)
    lanes, vector = SYSTEM.lanes, SYSTEM.vector_bytes
    # Gemm transB: the compiler's B is [K, N] = the weight transposed; each row takes ceil(N / lanes) vectors
    weights = sum(k * -(-n // lanes) * vector for n, k in
                  (t.dims for t in model.graph.initializer if len(t.dims) == 2))
    fp32, int8 = sram_bytes(capsys, tmp_path, "fp32"), sram_bytes(capsys, tmp_path, "int8")
    rest = fp32 - weights  # activations, biases
    assert 0.25 <= (int8 - rest) / weights < 0.27, (fp32, int8, weights)
