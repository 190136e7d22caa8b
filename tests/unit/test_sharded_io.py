"""Graph inputs and outputs held in slices (passes/host_io.py): a decode step's KV cache stays
split by KV heads across chips. Each chip holds only its heads of the past cache (the host
writes that slice) and the host reads the present cache piece by piece from the chips holding
it; the decode steps match onnxruntime on 1, 2, 4 and 8 chips. The runtime assembles the
pieces by their offsets and refuses shards that do not tile their tensor."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx_cases import assert_matches, run_json

from compiler.models.llama import PRESETS, llama_model
from compiler.errors import LockstepError
from compiler.pipeline import CompileOptions, compile_model
from compiler.system import load_system
from dialects.chip import InputOp, OutputOp, StreamOp
from runtime import BrokenPromise, Program, run
from runtime.program import parse_module

TORCH_DECODE = Path(__file__).resolve().parents[2] / "examples" / "torch" / "llama_decode.onnx"
CONTEXT = 16  # as long as a head is wide: the cache is held transposed (passes/normalise_kv_cache.py)


@pytest.fixture(scope="module")
def tiny_decode(tmp_path_factory) -> Path:
    """tiny-gqa (8 query heads, 2 KV heads, 2 layers), one decode step after CONTEXT tokens."""
    path = tmp_path_factory.mktemp("decode") / "tiny_gqa_decode.onnx"
    onnx.save(llama_model(PRESETS["tiny-gqa"], "decode", 2, 1, CONTEXT, seed=5), path)
    return path


@pytest.mark.parametrize("chips", [1, 2, 4, 8])
def test_tiny_gqa_decode_matches_onnxruntime(capsys, tiny_decode, chips):
    assert_matches(run_json(capsys, str(tiny_decode), chips, extra=["--strategy", "tensor"]))


@pytest.mark.parametrize("chips", [1, 2, 4, 8])
def test_torch_llama_decode_matches_onnxruntime(capsys, chips):
    assert_matches(run_json(capsys, str(TORCH_DECODE), chips, extra=["--strategy", "tensor"]), tolerance=1e-3)


def host_ops(path: Path, chips: int) -> list[InputOp | OutputOp]:
    compiled = compile_model(path, CompileOptions(chips=chips, strategy="tensor"))
    streams = [op for op in compiled.module.ops if isinstance(op, StreamOp)]
    return [op for s in streams for op in s.instructions() if isinstance(op, (InputOp, OutputOp))]


def boxes(ops: list[InputOp | OutputOp], kind: type, name: str) -> list[tuple[int, tuple[int, ...], tuple[int, ...]]]:
    """(chip, offsets, shape) of every piece of one tensor, by chip."""
    found = [(op.core.value.data, op.start, tuple(op.type.get_shape()))
             for op in ops if isinstance(op, kind) and op.tensor.data == name]
    return sorted(found)


@pytest.mark.parametrize("chips", [2, 4, 8])
def test_kv_cache_is_split_by_kv_heads(tiny_decode, chips):
    """2 KV heads: with 2 chips one head each, with 4 or 8 each head on 2 or 4 chips. Every
    chip is written only its head of the past cache; the host reads each head of the present
    cache once, from the first chip holding it. Both are held transposed, [.., head dim, positions]
    (passes/normalise_kv_cache.py)."""
    ops = host_ops(tiny_decode, chips)
    per_head = chips // 2
    for layer in range(2):
        for kv in "kv":
            past = boxes(ops, InputOp, f"past_{kv}_{layer}")
            assert past == [(c, (0, c // per_head, 0, 0), (1, 1, 16, CONTEXT)) for c in range(chips)]
            present = boxes(ops, OutputOp, f"present_{kv}_{layer}")
            assert present == [(h * per_head, (0, h, 0, 0), (1, 1, 16, CONTEXT + 1)) for h in range(2)]
    assert all(op.whole_shape == (1, 2, 16, CONTEXT) for op in ops if op.tensor.data.startswith("past"))
    assert {op.permutation for op in ops if op.tensor.data.startswith(("past", "present"))} == {(0, 1, 3, 2)}
    assert all(op.permutation is None for op in ops if op.tensor.data in ("inputs_embeds", "logits"))


def test_one_chip_keeps_the_whole_cache(tiny_decode):
    ops = host_ops(tiny_decode, 1)
    assert all(op.offsets is None and op.whole is None for op in ops)
    assert boxes(ops, OutputOp, "present_k_0") == [(0, (0, 0, 0, 0), (1, 2, 16, CONTEXT + 1))]


# -- the runtime, on hand-written streams ------------------------------------------------------

SYSTEM = load_system("fc:2")
LANES = SYSTEM.lanes


def stream(core: int, x_rows: int, x_at: int, y_rows: int, y_at: int, x_whole: int = 4, y_whole: int = 4) -> str:
    """Chip `core` copies its `x_rows` rows of input X (starting at row x_at of X's x_whole) to
    its piece of output Y (y_rows rows at row y_at of y_whole)."""
    return f"""builtin.module {{
  chip.stream core {core} "fc:2" {{
    %x = chip.input "X" core {core} at 0 : tensor<{x_rows}x{LANES}xf32> slice [{x_at}, 0] of tensor<{x_whole}x{LANES}xf32>
    %c = chip.mem_copy core {core} unit "mem0" cycle 0 repeat {y_rows} stride 1 dst [8, 1] src [0, 1] (%x)
    chip.output "Y" core {core} at 8 : tensor<{y_rows}x{LANES}xf32> slice [{y_at}, 0] of tensor<{y_whole}x{LANES}xf32> (%c)
  }}
}}"""


def execute(chip0: str, chip1: str, rows: int = 4) -> dict[str, np.ndarray]:
    program = Program.from_modules([parse_module(chip0), parse_module(chip1)], SYSTEM)
    x = np.arange(rows * LANES, dtype=np.float32).reshape(rows, LANES)
    return run(program, {"X": x}).outputs


def refused(chip0: str, chip1: str, rows: int = 4) -> str:
    with pytest.raises(BrokenPromise) as caught:
        execute(chip0, chip1, rows)
    return str(caught.value)


def test_pieces_are_written_and_assembled_by_their_offsets():
    x = np.arange(4 * LANES, dtype=np.float32).reshape(4, LANES)
    same = execute(stream(0, 2, 0, 2, 0), stream(1, 2, 2, 2, 2))
    np.testing.assert_array_equal(same["Y"], x)
    swapped = execute(stream(0, 2, 0, 2, 2), stream(1, 2, 2, 2, 0))
    np.testing.assert_array_equal(swapped["Y"], np.concatenate([x[2:], x[:2]]))


def test_an_input_slice_written_to_two_chips_is_a_copy():
    out = execute(stream(0, 2, 0, 2, 0, x_whole=2), stream(1, 2, 0, 2, 2, x_whole=2), rows=2)
    x = np.arange(2 * LANES, dtype=np.float32).reshape(2, LANES)
    np.testing.assert_array_equal(out["Y"], np.concatenate([x, x]))


def test_overlapping_output_shards_are_refused():
    message = refused(stream(0, 2, 0, 2, 0), stream(1, 2, 2, 2, 1))
    assert message == "output 'Y': the shards on chips 0 and 1 overlap (both hold element [1, 0])"


def test_an_output_with_a_gap_is_refused():
    message = refused(stream(0, 2, 0, 2, 0, y_whole=6), stream(1, 2, 2, 2, 4, y_whole=6))
    assert message == f"output 'Y': the shards on chips 0, 1 cover {4 * LANES} of its {6 * LANES} elements (a gap)"


def test_an_input_with_a_gap_is_refused():
    message = refused(stream(0, 2, 0, 2, 0, x_whole=6), stream(1, 2, 4, 2, 2, x_whole=6), rows=6)
    assert message == f"input 'X': the shards on chips 0, 1 cover {4 * LANES} of its {6 * LANES} elements (a gap)"


def test_overlapping_input_shards_are_refused():
    message = refused(stream(0, 2, 0, 2, 0), stream(1, 2, 1, 2, 2))
    assert message == "input 'X': the shards on chips 0 and 1 overlap (both hold element [1, 0])"


def test_a_shard_outside_its_tensor_is_refused():
    message = refused(stream(0, 2, 0, 2, 0), stream(1, 2, 2, 2, 3))
    assert message == f"output 'Y': the [2, {LANES}] shard at [3, 0] on chip 1 is outside the whole tensor [4, {LANES}]"


def test_two_chips_disagreeing_on_the_whole_tensor_are_refused():
    message = refused(stream(0, 2, 0, 2, 0), stream(1, 2, 2, 2, 2, y_whole=6))
    assert f"output 'Y' is [6, {LANES}] here but [4, {LANES}] elsewhere" in message


def turned(core: int, in_perm: str, out_perm: str) -> str:
    """Chip `core` copies the whole input X, held as its transpose [LANES, 4] when `in_perm`,
    to output Y, read as held or turned back by `out_perm`."""
    return f"""builtin.module {{
  chip.stream core {core} "fc:2" {{
    %x = chip.input "X" core {core} at 0 : tensor<{LANES}x4xf32>{in_perm}
    %c = chip.mem_copy core {core} unit "mem0" cycle 0 repeat {LANES} stride 1 dst [{LANES}, 1] src [0, 1] (%x)
    chip.output "Y" core {core} at {LANES} : tensor<{LANES}x4xf32>{out_perm} (%c)
  }}
}}"""


def test_the_host_moves_a_tensor_transposed_by_its_perm():
    """chip.input `perm` (a KV cache held transposed): the host writes X [4, LANES] as its
    transpose, and reads Y back through the inverse only when Y carries the perm too."""
    x = np.arange(4 * LANES, dtype=np.float32).reshape(4, LANES)
    empty = "builtin.module {\n  chip.stream core 1 \"fc:2\" {\n  }\n}"
    program = Program.from_modules([parse_module(turned(0, " perm [1, 0]", " perm [1, 0]")), parse_module(empty)],
                                   SYSTEM)
    assert program.inputs == {"X": (4, LANES)} and program.outputs == {"Y": (4, LANES)}
    np.testing.assert_array_equal(run(program, {"X": x}).outputs["Y"], x)
    program = Program.from_modules([parse_module(turned(0, " perm [1, 0]", "")), parse_module(empty)], SYSTEM)
    assert program.outputs == {"Y": (LANES, 4)}
    np.testing.assert_array_equal(run(program, {"X": x}).outputs["Y"], x.T)
    with pytest.raises(LockstepError, match=rf"input 'X' has shape \[{LANES}, 4\], the program needs \[4, {LANES}\]"):
        run(program, {"X": x.T})


def test_two_chips_disagreeing_on_a_perm_are_refused():
    message = refused(turned(0, " perm [1, 0]", ""), turned(1, "", ""))
    assert "input 'X' is moved as it is here but transposed by [1, 0] elsewhere" in message
