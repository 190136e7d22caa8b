"""The runtime's numbers: every chip instruction on small hand-written streams, against numpy."""

import numpy as np
import pytest
from scipy.special import erf

from compiler.system import load_system
from dialects.chip import VXM_BINARY, VXM_OPS, VXM_TRANSCENDENTAL
from runtime import Program, run
from runtime.program import parse_module

SINGLE = load_system("single")
LANES = SINGLE.lanes
LAT = SINGLE.latency
RNG = np.random.default_rng(0)


def stream(body: str, core: int = 0, system: str = "single") -> str:
    return f'builtin.module {{\n  chip.stream core {core} "{system}" {{\n{body}\n  }}\n}}'


def execute(streams: list[str], inputs: dict[str, np.ndarray], system=SINGLE, timing_only: bool = False):
    program = Program.from_modules([parse_module(text) for text in streams], system)
    return run(program, inputs, timing_only=timing_only)


def masked(values: np.ndarray, lanes: int) -> np.ndarray:
    out = values.astype(np.float32).copy()
    out[..., lanes:] = 0
    return out


VXM_NUMPY = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
    "max": np.maximum,
    "copy": lambda x, _: x,
    "neg": lambda x, _: -x,
    "relu": lambda x, _: np.maximum(x, 0),
    "sigmoid": lambda x, _: 1 / (1 + np.exp(-x)),
    "tanh": lambda x, _: np.tanh(x),
    "exp": lambda x, _: np.exp(x),
    "recip": lambda x, _: 1 / x,
    "min": np.minimum,
    "pow": lambda x, y: np.power(x, y),
    "abs": lambda x, _: np.abs(x),
    "trunc": lambda x, _: np.trunc(x),
    "round": lambda x, _: np.rint(x),
    "log": lambda x, _: np.log(x),
    "sqrt": lambda x, _: np.sqrt(x),
    "erf": lambda x, _: erf(x),
    "cos": lambda x, _: np.cos(x),
    "sin": lambda x, _: np.sin(x),
    "cmp_eq": lambda x, y: (x == y) * 1.0,
    "cmp_lt": lambda x, y: (x < y) * 1.0,
    "cmp_gt": lambda x, y: (x > y) * 1.0,
    "cmp_le": lambda x, y: (x <= y) * 1.0,
    "cmp_ge": lambda x, y: (x >= y) * 1.0,
    "isnan": lambda x, _: np.isnan(x) * 1.0,
    "not": lambda x, _: (x == 0) * 1.0,
    "and": lambda x, y: ((x != 0) & (y != 0)) * 1.0,
    "or": lambda x, y: ((x != 0) | (y != 0)) * 1.0,
    "xor": lambda x, y: ((x != 0) ^ (y != 0)) * 1.0,
    "to_bool": lambda x, _: (x != 0) * 1.0,
    "keep_if": lambda c, x: np.where(c != 0, x, 0),
    "keep_unless": lambda c, x: np.where(c != 0, 0, x),
}


@pytest.mark.parametrize("op", VXM_OPS)
def test_vxm_ops_zero_lanes_at_and_above_lanes(op):
    x = RNG.standard_normal((3, LANES)).astype(np.float32)
    y = (RNG.random((3, LANES)) + 0.5).astype(np.float32)
    binary = op in VXM_BINARY
    rhs = "rhs [3, 1] (%y)" if binary else ""
    latency = LAT["vxm_transcendental" if op in VXM_TRANSCENDENTAL else "vxm"]
    body = f"""
    %x = chip.input "X" core 0 at 0 : tensor<3x{LANES}xf32>
    %y = chip.input "Y" core 0 at 3 : tensor<3x{LANES}xf32>
    %r = chip.vxm "{op}" core 0 unit "vxm1" cycle 0 repeat 3 stride 2 lanes 100 dst [10, 1] lhs [0, 1] (%x) {rhs}
    chip.output "R" core 0 at 10 : tensor<3x{LANES}xf32> (%r)"""
    result = execute([stream(body)], {"X": x, "Y": y})
    with np.errstate(invalid="ignore"):  # log and sqrt of negative lanes are NaN on both sides
        expected = masked(VXM_NUMPY[op](x, y), 100)
    np.testing.assert_allclose(result.outputs["R"], expected, rtol=1e-6)
    assert result.cycles == 4 + latency
    assert result.vector_instructions == 3 and result.unit_busy == {"vxm": 3}


def test_matmul_across_two_tiles_with_accumulate():
    """C = A @ B with K = 400 > 320 lanes: two planes, the second accumulating onto the first."""
    a = RNG.standard_normal((3, 400)).astype(np.float32)
    b = RNG.standard_normal((400, 5)).astype(np.float32)
    rows = np.zeros((400, LANES), dtype=np.float32)
    rows[:, :5] = b
    ready = 320 - 1 + LAT["mxm_load"]
    second = ready + LAT["mxm"] + 2  # the first product of row 2 has landed by then
    body = f"""
    %a = chip.input "A" core 0 at 0 : tensor<3x400xf32>
    %b = chip.input "B" core 0 at 100 : tensor<400x5xf32>
    %l0 = chip.mxm_load core 0 unit "mxm0" cycle 0 repeat 320 stride 1 src [100, 1] (%b)
    %l1 = chip.mxm_load core 0 unit "mxm1" cycle 0 repeat 80 stride 1 src [420, 1] (%b)
    %m0 = chip.mxm_matmul core 0 unit "mxm0" cycle {ready} repeat 3 stride 1 weights (%l0) dst [600, 1] src [0, 2] (%a)
    %m1 = chip.mxm_matmul core 0 unit "mxm1" cycle {second} repeat 3 stride 1 weights (%l1) dst [610, 1] src [1, 2] (%a) acc [600, 1] (%m0)
    chip.output "C" core 0 at 610 : tensor<3x5xf32> (%m1)"""
    result = execute([stream(body)], {"A": a, "B": b})
    np.testing.assert_allclose(result.outputs["C"], a @ b, rtol=1e-4, atol=1e-4)
    assert result.cycles == second + 2 + LAT["mxm"]


def test_matmul_zero_rows_below_a_partial_tile():
    x = RNG.standard_normal((1, LANES)).astype(np.float32)
    w = RNG.standard_normal((4, LANES)).astype(np.float32)
    body = f"""
    %x = chip.input "X" core 0 at 0 : tensor<1x{LANES}xf32>
    %w = chip.input "W" core 0 at 1 : tensor<4x{LANES}xf32>
    %l = chip.mxm_load core 0 unit "mxm2" cycle 0 repeat 4 stride 1 src [1, 1] (%w)
    %m = chip.mxm_matmul core 0 unit "mxm2" cycle 10 repeat 1 stride 1 weights (%l) dst [8, 1] src [0, 1] (%x)
    chip.output "Y" core 0 at 8 : tensor<1x{LANES}xf32> (%m)"""
    result = execute([stream(body)], {"X": x, "W": w})
    np.testing.assert_allclose(result.outputs["Y"], x[:, :4] @ w, rtol=1e-5, atol=1e-5)


def test_sxm_move_with_and_without_merge():
    x = RNG.standard_normal((2, LANES)).astype(np.float32)
    m = RNG.standard_normal((2, LANES)).astype(np.float32)
    body = f"""
    %x = chip.input "X" core 0 at 0 : tensor<2x{LANES}xf32>
    %m = chip.input "M" core 0 at 2 : tensor<2x{LANES}xf32>
    %a = chip.sxm_move core 0 unit "sxm0" cycle 0 repeat 2 stride 1 lanes 5 to 100 width 30 dst [10, 1] src [0, 1] (%x) merge [2, 1] (%m)
    %b = chip.sxm_move core 0 unit "sxm1" cycle 0 repeat 2 stride 1 lanes 0 to 290 width 30 dst [12, 1] src [0, 1] (%x)
    chip.output "A" core 0 at 10 : tensor<2x{LANES}xf32> (%a)
    chip.output "B" core 0 at 12 : tensor<2x{LANES}xf32> (%b)"""
    result = execute([stream(body)], {"X": x, "M": m})
    merged = m.copy()
    merged[:, 100:130] = x[:, 5:35]
    shifted = np.zeros_like(x)
    shifted[:, 290:320] = x[:, 0:30]
    np.testing.assert_array_equal(result.outputs["A"], merged)
    np.testing.assert_array_equal(result.outputs["B"], shifted)
    assert result.cycles == 1 + LAT["sxm"]


@pytest.mark.parametrize("op", ["sum", "max"])
def test_sxm_reduce(op):
    x = RNG.standard_normal((3, LANES)).astype(np.float32)
    body = f"""
    %x = chip.input "X" core 0 at 0 : tensor<3x{LANES}xf32>
    %r = chip.sxm_reduce "{op}" core 0 unit "sxm0" cycle 0 repeat 3 stride 1 first 10 width 50 lanes 7 dst [10, 1] src [0, 1] (%x)
    chip.output "R" core 0 at 10 : tensor<3x{LANES}xf32> (%r)"""
    result = execute([stream(body)], {"X": x})
    expected = np.zeros_like(x)
    expected[:, :7] = getattr(np, op)(x[:, 10:60], axis=1, keepdims=True)
    np.testing.assert_allclose(result.outputs["R"], expected, rtol=1e-5)


def test_sxm_transpose_lands_one_vector_per_cycle():
    x = RNG.standard_normal((4, LANES)).astype(np.float32)
    last = 3 * 2
    body = f"""
    %x = chip.input "X" core 0 at 0 : tensor<4x{LANES}xf32>
    %t = chip.sxm_transpose core 0 unit "sxm3" cycle 0 repeat 4 stride 2 width 6 dst [20, 1] src [0, 1] (%x)
    chip.output "T" core 0 at 20 : tensor<6x{LANES}xf32> (%t)"""
    result = execute([stream(body)], {"X": x})
    expected = np.zeros((6, LANES), dtype=np.float32)
    expected[:, :4] = x[:, :6].T
    np.testing.assert_array_equal(result.outputs["T"], expected)
    assert result.cycles == last + LAT["sxm_transpose"] + 5


def test_mem_copy_with_strided_addresses():
    x = RNG.standard_normal((4, LANES)).astype(np.float32)
    body = f"""
    %x = chip.input "X" core 0 at 0 : tensor<4x{LANES}xf32>
    %c = chip.mem_copy core 0 unit "mem1" cycle 3 repeat 4 stride 1 dst [13, -1] src [0, 1] (%x)
    chip.output "C" core 0 at 10 : tensor<4x{LANES}xf32> (%c)"""
    result = execute([stream(body)], {"X": x})
    np.testing.assert_array_equal(result.outputs["C"], x[::-1])
    assert result.cycles == 6 + LAT["mem"]


def test_send_recv_between_two_chips():
    system = load_system("fc:2")
    link = system.link(0, 1, 0)
    ser, hop = system.serialization_cycles(link), system.hop_latency(link)
    x = RNG.standard_normal((3, 7)).astype(np.float32)
    sender = stream(f"""
    %x = chip.input "X" core 0 at 0 : tensor<3x7xf32>
    %s = chip.send core 0 unit "c2c0" cycle 5 repeat 3 stride {ser} to 1 port 0 src [0, 1] (%x)""", core=0, system="fc:2")
    arrive = 5 + ser + hop
    receiver = stream(f"""
    %r = chip.recv core 1 unit "c2c0" cycle {arrive} repeat 3 stride {ser} from 0 port 0 dst [50, 1]
    %n = chip.vxm "neg" core 1 unit "vxm0" cycle {arrive + 2 * ser} repeat 3 stride 1 lanes 7 dst [60, 1] lhs [50, 1] (%r)
    chip.output "Y" core 1 at 60 : tensor<3x7xf32> (%n)""", core=1, system="fc:2")
    result = execute([sender, receiver], {"X": x}, system=system)
    np.testing.assert_array_equal(result.outputs["Y"], -x)
    assert result.cycles == arrive + 2 * ser + 2 + LAT["vxm"]
    assert result.unit_busy == {"c2c": 6, "vxm": 3}


@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 400), (1, 320)])
def test_preload_input_output_layout_round_trip(shape):
    x = RNG.standard_normal(shape).astype(np.float32)
    consts = RNG.standard_normal((2, LANES)).astype(np.float32)
    values = ", ".join("[" + ", ".join(f"{v:.9e}" for v in row) + "]" for row in consts)
    tensor = f"tensor<{''.join(f'{d}x' for d in shape)}f32>"
    body = f"""
    %x = chip.input "X" core 0 at 0 : {tensor}
    %p = chip.preload core 0 at 1000 dense<[{values}]> : tensor<2x{LANES}xf32>
    chip.output "Y" core 0 at 0 : {tensor} (%x)
    chip.output "P" core 0 at 1000 : tensor<2x{LANES}xf32> (%p)"""
    result = execute([stream(body)], {"X": x})
    np.testing.assert_array_equal(result.outputs["Y"], x)
    np.testing.assert_array_equal(result.outputs["P"], consts)
    assert result.cycles == 0


def test_interleaved_ops_that_read_each_other_are_evaluated_per_iteration():
    """A's iteration i reads B's iteration i-1 and B's iteration i reads A's iteration i: a dataflow
    cycle between two ops, which the numbers resolve one iteration at a time."""
    x = RNG.standard_normal((1, LANES)).astype(np.float32)
    step = 2 * LAT["vxm"]
    body = f"""
    %x = chip.input "X" core 0 at 0 : tensor<1x{LANES}xf32>
    %c = chip.mem_copy core 0 unit "mem0" cycle 0 repeat 1 stride 1 dst [100, 1] src [0, 1] (%x)
    %j = chip.join core 0 (%c, %b)
    %a = chip.vxm "add" core 0 unit "vxm0" cycle {LAT['mem']} repeat 3 stride {step} lanes {LANES} dst [200, 1] lhs [100, 1] (%j) rhs [0, 0] (%x)
    %b = chip.vxm "mul" core 0 unit "vxm1" cycle {LAT['mem'] + LAT['vxm']} repeat 3 stride {step} lanes {LANES} dst [101, 1] lhs [200, 1] (%a) rhs [0, 0] (%x)
    chip.output "B" core 0 at 101 : tensor<3x{LANES}xf32> (%b)"""
    result = execute([stream(body)], {"X": x})
    expected, value = [], x[0]
    for _ in range(3):
        value = (value + x[0]) * x[0]
        expected.append(value)
    np.testing.assert_allclose(result.outputs["B"], np.array(expected), rtol=1e-5)


def test_timing_only_skips_numbers_and_inputs():
    body = f"""
    %x = chip.input "X" core 0 at 0 : tensor<1x{LANES}xf32>
    %c = chip.mem_copy core 0 unit "mem0" cycle 0 repeat 1 stride 1 dst [1, 1] src [0, 1] (%x)
    chip.output "Y" core 0 at 1 : tensor<1x{LANES}xf32> (%c)"""
    result = execute([stream(body)], {}, timing_only=True)
    assert result.outputs == {} and result.cycles == LAT["mem"]


def test_an_idle_program_takes_no_cycles():
    idle = stream('    %x = chip.input "X" core 0 at 0 : tensor<1xf32>')
    assert execute([idle], {"X": np.zeros(1)}).cycles == 0
    assert run(Program.from_modules([], SINGLE), {}).cycles == 0
    assert execute([stream("")], {}).cycles == 0  # an empty body parses back with no block


@pytest.mark.parametrize(
    "inputs, message",
    [({}, "missing input"), ({"X": np.zeros((1, LANES)), "Z": np.zeros(1)}, "unknown input"), ({"X": np.zeros(3)}, "has shape")],
)
def test_bad_inputs_are_rejected(inputs, message):
    from compiler.errors import LockstepError

    body = f"""
    %x = chip.input "X" core 0 at 0 : tensor<1x{LANES}xf32>
    chip.output "Y" core 0 at 0 : tensor<1x{LANES}xf32> (%x)"""
    with pytest.raises(LockstepError, match=message):
        execute([stream(body)], inputs)


def test_load_reads_a_program_directory(tmp_path):
    (tmp_path / "system.toml").write_text(load_system("fc:2").to_toml())
    for core in (0, 1):
        body = f"""
    %x = chip.input "X" core {core} at 0 : tensor<2x3xf32>
    chip.output "Y{core}" core {core} at 0 : tensor<2x3xf32> (%x)"""
        (tmp_path / f"chip{core}.mlir").write_text(stream(body, core, "fc:2"))
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    result = run(Program.load(tmp_path), {"X": x})
    np.testing.assert_array_equal(result.outputs["Y1"], x)


def test_load_names_file_line_and_column_of_a_syntax_error(tmp_path):
    from compiler.errors import LockstepError

    (tmp_path / "system.toml").write_text(SINGLE.to_toml())
    (tmp_path / "chip0.mlir").write_text(stream('    %x = chip.input "X" core 0 at : tensor<1xf32>'))
    with pytest.raises(LockstepError, match=r"chip0\.mlir:3:35: "):
        Program.load(tmp_path)
