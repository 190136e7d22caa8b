"""compiler/stream_text.py: the fast stream writer writes byte for byte what xDSL's Printer
writes, and the fast reader builds what xDSL's Parser builds, on the streams of compiled
example programs (every op kind and optional field among them); whatever either does not
know goes to xDSL, and a malformed file still gets the parser's file:line:col."""

from io import StringIO
from pathlib import Path

import onnx
import pytest
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.ir import Operation, Region
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import ParseError

from compiler.errors import LockstepError
from compiler.pipeline import CompileOptions, compile_model
from compiler.stream_text import (
    FastPathMiss,
    context,
    parse_stream_module,
    print_stream_module,
    read_stream_module,
    stream_text,
)
from compiler.models.llama import PRESETS, llama_model
from compiler.system import load_system
from dialects.chip import JoinOp, StreamOp, i64_attr
from passes.emit_streams import write_streams
from runtime.program import parse_module

ROOT = Path(__file__).resolve().parents[2]
CASES = {
    "mlp-1": ("mlp.onnx", CompileOptions(chips=1)),
    "mlp-pipeline-4": ("mlp.onnx", CompileOptions(chips=4, strategy="pipeline")),
    "mlp-int8-2": ("mlp.onnx", CompileOptions(chips=2, strategy="tensor", weights="int8")),
    "gpt2-tensor-4": ("models/gpt2_block.onnx", CompileOptions(chips=4, strategy="tensor")),
    "llama-decode-shape-only-4": ("models/llama_decode.onnx", CompileOptions(chips=4, strategy="tensor", shape_only=True)),
    # a cache as long as its rows are wide: held transposed (chip.input and chip.output `perm`)
    "tiny-gqa-decode-2": (None, CompileOptions(chips=2, strategy="tensor")),
    "cnn-tensor-2": ("models/cnn.onnx", CompileOptions(chips=2, strategy="tensor")),
}


@pytest.fixture(scope="module")
def streams(tmp_path_factory) -> dict[str, list[StreamOp]]:
    generated = tmp_path_factory.mktemp("models") / "tiny_gqa_decode.onnx"
    onnx.save(llama_model(PRESETS["tiny-gqa"], "decode", 1, 1, 16, seed=1), generated)
    compiled = {name: compile_model(generated if model is None else ROOT / "examples" / model, options)
                for name, (model, options) in CASES.items()}
    return {name: [op for op in c.module.ops if isinstance(op, StreamOp)] for name, c in compiled.items()}


def xdsl_text(stream: StreamOp) -> str:
    out = StringIO()
    Printer(stream=out, print_debuginfo=True).print_op(ModuleOp([stream.clone()]))
    return out.getvalue()


def xdsl_parse(text: str) -> ModuleOp:
    return Parser(context(), text).parse_module()


def features(op: Operation) -> set[str]:
    """The op's kind and the optional parts of its format it uses."""
    found = {op.name}
    found |= {f"{op.name} {name}" for name in ("acc_addr", "merge_addr", "rhs_addr", "int8", "offsets", "perm", "cycle")
              if name in op.properties}
    if op.name == "chip.preload":
        found.add(f"preload {type(op.properties['data']).__name__}")
    return found


def test_the_examples_hold_every_op_kind_and_optional_field(streams):
    """Otherwise the equality tests below would not exercise every format."""
    seen = set().union(*(features(op) for group in streams.values() for stream in group for op in stream.walk()))
    kinds = {"chip.vxm", "chip.mxm_load", "chip.mxm_matmul", "chip.sxm_move", "chip.sxm_reduce", "chip.sxm_transpose",
             "chip.mem_copy", "chip.send", "chip.recv", "chip.preload", "chip.input", "chip.output", "chip.join"}
    optional = {"chip.mxm_matmul acc_addr", "chip.sxm_move merge_addr", "chip.vxm rhs_addr", "chip.mxm_load int8",
                "chip.input offsets", "chip.output offsets", "chip.input perm", "chip.output perm", "preload AbsentAttr", "preload DenseIntOrFPElementsAttr"}
    assert kinds | optional <= seen, sorted(kinds | optional - seen)


@pytest.mark.parametrize("case", CASES)
def test_writer_matches_xdsl_printer_byte_for_byte(streams, case):
    for stream in streams[case]:
        assert stream_text(stream) == xdsl_text(stream)


@pytest.mark.parametrize("case", CASES)
def test_reader_builds_what_xdsl_parser_builds(streams, case):
    for stream in streams[case]:
        text = xdsl_text(stream)
        fast, slow = read_stream_module(text), xdsl_parse(text)
        assert xdsl_text(next(iter(fast.ops))) == text
        fast_ops, slow_ops = list(fast.walk()), list(slow.walk())
        assert len(fast_ops) == len(slow_ops)
        for mine, theirs in zip(fast_ops, slow_ops):
            assert type(mine) is type(theirs)
            assert mine.properties == theirs.properties and mine.attributes == theirs.attributes
            assert mine.location == theirs.location
            assert str(mine) == str(theirs)  # what runtime errors quote


def test_write_streams_files_are_xdsl_text(streams, tmp_path):
    module = ModuleOp([stream.clone() for stream in streams["mlp-pipeline-4"]])
    paths = write_streams(module, tmp_path, load_system(None, 4, None))
    for stream, path in zip(module.ops, paths):
        assert path.read_text() == xdsl_text(stream) + "\n"


STREAM = """builtin.module {
  chip.stream core 0 "single" attributes {schedule.cycles = 9 : i64} {
    %0 = chip.input "X" core 0 at 0 : tensor<1x4xf32> loc("X")
    %1 = chip.join core 0(%0, %2) loc("/fc/Gemm")
    %2 = chip.vxm "relu" core 0 unit "vxm0" cycle 0 repeat 1 stride 1 lanes 4 dst[1, 1] lhs[0, 1] (%0) loc(unknown)
    chip.output "Y" core 0 at 1 : tensor<1x4xf32>(%1) loc("Y")
  } loc(unknown)
} loc(unknown)"""


def test_reader_resolves_a_token_named_before_its_op():
    fast = read_stream_module(STREAM)
    assert xdsl_text(next(iter(fast.ops))) == STREAM
    join = next(op for op in fast.walk() if isinstance(op, JoinOp))
    assert [part.owner.name for part in join.parts] == ["chip.input", "chip.vxm"]


def test_an_idle_chips_stream_round_trips():
    stream = StreamOp.create(properties={"core": i64_attr(3), "system": StringAttr("single")}, regions=[Region()])
    text = xdsl_text(stream)
    assert stream_text(stream) == text
    assert xdsl_text(next(iter(read_stream_module(text).ops))) == text


@pytest.mark.parametrize("edits, fast", [
    ([('lhs[0, 1] (%0)', 'lhs[0, 1] (%0) {note = 1 : i64}')], False),  # an attribute, printed in attr-dict
    ([('"relu"', '"re\\22lu"')], False),  # an escaped string
    ([('%2 = chip.vxm', '%r = chip.vxm'), ('(%0, %2)', '(%0, %r)')], False),  # a named value
    ([('loc("Y")', 'loc("y.onnx":3:4)')], True),  # another kind of location: xDSL reads just that
])
def test_reader_hands_what_it_does_not_know_to_xdsl(edits, fast):
    text = STREAM
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    expected = xdsl_text(next(iter(xdsl_parse(text).ops)))
    if fast:
        assert xdsl_text(next(iter(read_stream_module(text).ops))) == expected
    else:
        with pytest.raises(FastPathMiss):
            read_stream_module(text)
    assert xdsl_text(next(iter(parse_stream_module(text).ops))) == expected


def test_writer_hands_streams_it_does_not_know_to_xdsl():
    stream = next(iter(xdsl_parse(STREAM).ops))
    vxm = next(op for op in stream.walk() if op.name == "chip.vxm")
    vxm.results[0].name_hint = "relu"
    vxm.attributes["note"] = i64_attr(1)
    with pytest.raises(FastPathMiss):
        stream_text(stream)
    out = StringIO()
    print_stream_module(stream, out)
    assert out.getvalue() == xdsl_text(stream)
    assert "%relu = chip.vxm" in out.getvalue() and "{note = 1 : i64}" in out.getvalue()


@pytest.mark.parametrize("bad", [
    ('repeat 1 stride 1 lanes', 'repeat 1 stride lanes'),  # a missing number
    ('(%0, %2)', '(%0, %7)'),  # an undefined token
    ('chip.vxm "relu"', 'chip.vmx "relu"'),  # an unknown op
    ('%2 = chip.vxm', '%0 = chip.vxm'),  # a value defined twice
])
def test_malformed_stream_gets_the_parsers_file_line_and_column(bad):
    text = STREAM.replace(*bad)
    with pytest.raises(ParseError) as theirs:
        Parser(context(), text, "bad.mlir").parse_module()
    with pytest.raises(LockstepError) as ours:
        parse_module(text, "bad.mlir")
    assert str(ours.value) == f"{theirs.value.span.get_location()}: {theirs.value.msg}"
    assert str(ours.value).startswith("bad.mlir:")
