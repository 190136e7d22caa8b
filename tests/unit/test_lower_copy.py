"""`lower-to-chip` lowers an op once per group and copies the instructions to the group's other
chips (Lowering.copy_lowering, ChipBuilder.copy_ops): the copies must be exactly what lowering
each chip by its rule gives."""

import io
from pathlib import Path

import pytest
from xdsl.dialects.builtin import TensorType, f32
from xdsl.ir import Block
from xdsl.printer import Printer

from compiler.onnx_import import import_model
from compiler.pipeline import compile_passes, context
from compiler.system import load_system
from dialects.chip import InputOp, VxmOp
from passes.chip_builder import ChipBuilder, SramTop
from passes.lower_to_chip import Lowering

MODELS = Path(__file__).resolve().parents[2] / "examples" / "models"


def lowered(model: Path, chips: int) -> str:
    """The module after lower-to-chip, printed."""
    module = import_model(model)
    for step in compile_passes("tensor", chips, f"fc:{chips}"):
        step.apply(context(), module)
        if step.name == "lower-to-chip":
            break
    text = io.StringIO()
    Printer(stream=text).print_op(module)
    return text.getvalue()


@pytest.mark.parametrize("model", ["cnn.onnx", "gpt2_block.onnx"])
def test_copied_lowering_equals_lowering_every_chip(monkeypatch, model):
    copies: list[bool] = []
    copy_lowering = Lowering.copy_lowering

    def counted(self, *args):
        placed = copy_lowering(self, *args)
        copies.append(placed is not None)
        return placed

    monkeypatch.setattr(Lowering, "copy_lowering", counted)
    copied = lowered(MODELS / model, 4)
    assert copies and all(copies)  # every op of a 4-chip group after its first chip was copied
    monkeypatch.setattr(Lowering, "copy_lowering", lambda *_: None)  # each chip by its rule
    assert copied == lowered(MODELS / model, 4)


def test_copy_ops_renames_tokens_and_chip():
    block = Block()
    builder = ChipBuilder(load_system("fc:2"), block, SramTop(None, load_system("fc:2")))
    x0, x1 = (builder.add(InputOp("x", core, 0, TensorType(f32, [4]), None)) for core in (0, 1))
    first = VxmOp(0, 3, {"lhs": (5, 1, (x0,)), "rhs": (9, 0, (x0,))}, dst=(20, 1), fields={"op": "add", "lanes": 4})
    builder.add_op(first)
    then = VxmOp(0, 3, {"lhs": (20, 1, (first.results[0],))}, dst=(30, 1), fields={"op": "exp", "lanes": 4})
    builder.add_op(then)
    renamed = {x0: x1}
    builder.copy_ops([first, then], 1, renamed)
    expected = Block()
    built = VxmOp(1, 3, {"lhs": (5, 1, (x1,)), "rhs": (9, 0, (x1,))}, dst=(20, 1), fields={"op": "add", "lanes": 4})
    expected.add_op(built)
    expected.add_op(VxmOp(1, 3, {"lhs": (20, 1, (built.results[0],))}, dst=(30, 1), fields={"op": "exp", "lanes": 4}))
    copies = list(block.ops)[-2:]
    for copy, want in zip(copies, expected.ops):
        assert copy.properties == want.properties and copy.attributes == want.attributes
        copy.verify()
    assert list(copies[0].operands) == [x1, x1]
    assert list(copies[1].operands) == [copies[0].results[0]]
    assert renamed[then.results[0]] is copies[1].results[0]
