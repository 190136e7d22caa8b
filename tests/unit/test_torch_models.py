"""Models exported by PyTorch (torch.onnx.export, dynamo, opset 18; examples/export_torch_models.py
wrote examples/torch/) run unchanged on 1 and 8 chips, matching onnxruntime with predicted ==
measured cycles; and the importer and normalise forms those exports need, each on a small model:
constant folding of ops without a converter (Trilu of a causal mask), SplitToSequence/SequenceAt,
the reshape-transpose-reshape K^T of scaled_dot_product_attention. No torch needed: the exports
are shipped."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx_cases import assert_matches, run_json, save, tensor
from xdsl.context import Context

from compiler.errors import LockstepError
from compiler.onnx_import import import_model
from compiler.tops_eval import main_function
from dialects import tops
from passes.normalise import NormalisePass

TORCH = Path(__file__).resolve().parents[2] / "examples" / "torch"
NAMES = ["cnn", "gpt2_block", "bert_layer", "llama_prefill", "llama_decode"]
# the _dynamic exports at other sizes than they were traced with: batch 2, a shorter sequence or cache
SHAPES = {
    "cnn": ["input=1,3,16,16"],  # batch 2 of a CNN only doubles the run time
    "gpt2_block": ["input=2,8,64"],
    "bert_layer": ["input=2,8,64", "attention_mask=2,8"],
    "llama_prefill": ["input=2,8,64"],
    "llama_decode": ["input=2,1,64", "past_k=2,2,7,16", "past_v=2,2,7,16"],
}


@pytest.mark.parametrize("chips, strategy", [(1, "auto"), (8, "auto"), (8, "tensor")])
@pytest.mark.parametrize("name", NAMES)
def test_export_matches_onnxruntime(capsys, name, chips, strategy):
    result = run_json(capsys, str(TORCH / f"{name}.onnx"), chips, extra=["--strategy", strategy])
    assert_matches(result, tolerance=1e-3)


@pytest.mark.parametrize("chips", [1, 8])
@pytest.mark.parametrize("name", NAMES)
def test_dynamic_unoptimised_export_matches_onnxruntime(capsys, name, chips):
    shapes = [arg for shape in SHAPES[name] for arg in ("--shape", shape)]
    assert_matches(run_json(capsys, str(TORCH / f"{name}_dynamic.onnx"), chips, extra=shapes), tolerance=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_shipped_files_are_the_exports_described(name):
    static, dynamic = (onnx.load(TORCH / f"{name}{suffix}.onnx") for suffix in ("", "_dynamic"))
    for model in (static, dynamic):
        assert model.producer_name == "pytorch"
        assert [(o.domain, o.version) for o in model.opset_import] == [("", 18)]
        assert not any(t.data_location == TensorProto.EXTERNAL for t in model.graph.initializer)
    dims = lambda m: [d for v in m.graph.input for d in v.type.tensor_type.shape.dim]  # noqa: E731
    assert all(d.HasField("dim_value") for d in dims(static))
    assert "batch" in {d.dim_param for d in dims(dynamic)}
    assert "Shape" in {n.op_type for n in dynamic.graph.node}  # the symbolic sizes are computed in the graph


def test_dynamic_exports_carry_the_raw_forms():
    ops = {name: {n.op_type for n in onnx.load(TORCH / f"{name}_dynamic.onnx").graph.node} for name in NAMES}
    assert {"SplitToSequence", "SequenceAt"} <= ops["gpt2_block"]  # torch.split, unoptimised
    assert "Trilu" in ops["llama_prefill"]  # the causal mask of scaled_dot_product_attention


# ------------------------------------------------------------ importer forms, one model each


def imported_ops(path: str, normalise: bool = False) -> list:
    module = import_model(path)
    if normalise:
        NormalisePass().apply(Context(), module)
    return list(main_function(module).body.block.ops)[:-1]


def kinds(ops: list) -> list[type]:
    return [type(op) for op in ops]


def test_op_without_converter_is_evaluated_on_constants(capsys, tmp_path):
    """The exporter's causal mask: Shape -> ConstantOfShape -> Trilu -> Equal -> Where, all folded."""
    nodes = [
        helper.make_node("Shape", ["x"], ["size"], start=1),
        helper.make_node("ConstantOfShape", ["size"], ["ones"], value=tensor("one", [1.0])),
        helper.make_node("Trilu", ["ones"], ["lower"], upper=0),
        helper.make_node("Equal", ["lower", "zero"], ["masked"]),
        helper.make_node("Where", ["masked", "minus_inf", "zero"], ["bias"]),
        helper.make_node("Add", ["x", "bias"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["y"], axis=-1),
    ]
    path = save(tmp_path / "mask.onnx", nodes, {"x": [2, 5, 5]}, {"y": [2, 5, 5]},
                [tensor("zero", 0.0), tensor("minus_inf", -np.inf)])
    assert kinds(imported_ops(path)) == [tops.ConstantOp, tops.AddOp, tops.SoftmaxOp]
    assert_matches(run_json(capsys, path))


@pytest.mark.parametrize("node", [
    helper.make_node("Trilu", ["x"], ["y"], name="t"),  # on a run-time value
    helper.make_node("RandomUniformLike", ["c"], ["y"], name="t"),  # not a function of its input
])
def test_op_without_converter_is_rejected_unless_evaluated(tmp_path, node):
    path = save(tmp_path / "m.onnx", [node], {"x": [3, 3]}, {"y": [3, 3]}, [tensor("c", np.ones((3, 3)))])
    with pytest.raises(LockstepError, match=rf"^node 't' \(op {node.op_type}\) is not supported; supported ops: "):
        import_model(path)


# SplitToSequence forms: (split initializer or None, attributes, positions taken by SequenceAt)
SEQUENCE_FORMS = {
    "scalar_split_last_part_smaller": (np.array(3, np.int64), {"axis": 1}, [0, -1]),
    "sizes": (np.array([2, 6], np.int64), {"axis": -1}, [1]),
    "unit_parts_without_axis": (None, {"axis": 1, "keepdims": 0}, [2, 7]),
}


@pytest.mark.parametrize("form", SEQUENCE_FORMS)
def test_split_to_sequence_and_sequence_at(capsys, tmp_path, form):
    split, attrs, positions = SEQUENCE_FORMS[form]
    inits = [tensor(f"p{i}", p, np.int64) for i, p in enumerate(positions)]
    inputs = ["x"]
    if split is not None:
        inits.append(tensor("split", split, np.int64))
        inputs.append("split")
    nodes = [helper.make_node("SplitToSequence", inputs, ["seq"], **attrs)]
    nodes += [helper.make_node("SequenceAt", ["seq", f"p{i}"], [f"y{i}"]) for i in range(len(positions))]
    path = save(tmp_path / "seq.onnx", nodes, {"x": [2, 8, 8]}, [f"y{i}" for i in range(len(positions))], inits,
                opset=18)
    assert_matches(run_json(capsys, path, inputs={"x": np.arange(128, dtype=np.float32).reshape(2, 8, 8)}))


def test_sequence_of_a_shape_is_evaluated(capsys, tmp_path):
    """SplitToSequence of a Shape (constants) folds too: Reshape sees [batch, -1]."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("SplitToSequence", ["shape", "one"], ["dims"]),
        helper.make_node("SequenceAt", ["dims", "zero"], ["batch"]),
        helper.make_node("Concat", ["batch", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    inits = [tensor(n, v, np.int64) for n, v in (("one", 1), ("zero", 0), ("minus_one", [-1]))]
    path = save(tmp_path / "flat.onnx", nodes, {"x": [3, 4, 5]}, {"y": [3, 20]}, inits, opset=18)
    assert kinds(imported_ops(path)) == [tops.ReshapeOp]
    assert_matches(run_json(capsys, path))


def test_sequence_position_out_of_range(tmp_path):
    nodes = [helper.make_node("SplitToSequence", ["x", "four"], ["seq"]),
             helper.make_node("SequenceAt", ["seq", "two"], ["y"], name="at")]
    path = save(tmp_path / "m.onnx", nodes, {"x": [8]}, ["y"], [tensor(n, v, np.int64) for n, v in
                                                                 (("four", 4), ("two", 2))], opset=18)
    with pytest.raises(LockstepError, match=r"^node 'at' \(op SequenceAt\): position 2 is out of range for 2 tensors"):
        import_model(path)


def sdpa_key_transpose(batch_shape: list[int], perm: list[int], back: list[int]) -> list:
    """x [1, 4, 8, 16] viewed as `batch_shape`, transposed by `perm`, viewed as `back`."""
    nodes = [
        helper.make_node("Reshape", ["x", "view"], ["v"]),
        helper.make_node("Transpose", ["v"], ["t"], perm=perm),
        helper.make_node("Reshape", ["t", "back"], ["y"]),
    ]
    return nodes, [tensor("view", batch_shape, np.int64), tensor("back", back, np.int64)]


@pytest.mark.parametrize("case", [
    # torch's K^T: [B*H, S, d] -> [B*H, d, S] between views from and to [B, H, ...]: one 4-D
    # transpose (the two views merge into none)
    ([4, 8, 16], [0, 2, 1], [1, 4, 16, 8], [(0, 1, 3, 2)], 0),
    # the merge of heads regroups axes the transpose moves: left alone
    ([1, 4, 8, 16], [0, 2, 1, 3], [1, 8, 64], [(0, 2, 1, 3)], 1),
])
def test_reshape_moves_before_a_transpose_of_trailing_axes(capsys, tmp_path, case):
    view, perm, back, transposes, reshapes = case
    nodes, inits = sdpa_key_transpose(view, perm, back)
    path = save(tmp_path / "kt.onnx", nodes, {"x": [1, 4, 8, 16]}, ["y"], inits)
    ops = imported_ops(path, normalise=True)
    assert [op.permutation() for op in ops if isinstance(op, tops.TransposeOp)] == transposes
    assert sum(isinstance(op, tops.ReshapeOp) for op in ops) == reshapes
    assert_matches(run_json(capsys, path))


def test_shared_transpose_is_not_moved(tmp_path):
    nodes, inits = sdpa_key_transpose([4, 8, 16], [0, 2, 1], [1, 4, 16, 8])
    nodes.append(helper.make_node("Relu", ["t"], ["z"]))
    path = save(tmp_path / "kt.onnx", nodes, {"x": [1, 4, 8, 16]}, ["y", "z"], inits)
    ops = imported_ops(path, normalise=True)
    assert [op.permutation() for op in ops if isinstance(op, tops.TransposeOp)] == [(0, 2, 1)]
