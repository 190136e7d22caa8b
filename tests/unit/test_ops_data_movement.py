"""Data-movement ONNX ops end to end: import, normalise, kernel-free lowering, runtime vs onnxruntime.

Concat, Split, Slice, Squeeze, Unsqueeze, Flatten, Expand, Gather (constant indices),
Identity, Reshape and the folded shape ops (Shape, ConstantOfShape, Range), in their
opset 9-23 attribute/input variants. The data is computed on the machine (a matmul
feeds it), so on 2 chips (tensor strategy) the sharded matmul output is all-gathered
before the op, which then runs replicated. Lowering: whole unchanged vectors are MEM
copies, everything else SXM lane moves (passes/lower_select.py).
"""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from compiler.errors import LockstepError
from compiler.onnx_import import import_model
from passes.normalise import NormalisePass
from onnx_cases import run_json, save, tensor

RNG = np.random.default_rng(11)
INT_MAX = np.iinfo(np.int64).max



def ints(name: str, value) -> onnx.TensorProto:
    return tensor(name, value, np.int64)



def computed(tmp_path: Path, shape, nodes, outputs=("y",), inits=(), opset=17, k=16) -> str:
    """x [..., k] @ W [k, shape[-1]] -> h of `shape` (computed on the machine), then `nodes`."""
    w = RNG.standard_normal((k, shape[-1])).astype(np.float32)
    mm = helper.make_node("MatMul", ["x", "w"], ["h"], name="mm")
    return save(tmp_path / "m.onnx", [mm, *nodes], {"x": [*shape[:-1], k]}, outputs,
                [tensor("w", w), *inits], opset)



def check(capsys, model: str, chips: int) -> dict:
    result = run_json(capsys, model, chips)
    assert result["max_rel_error"] <= 1e-4, result
    assert result["cycles_predicted"] == result["cycles_measured"], result
    assert result["ok"]
    return result


def normalised_ops(model: str) -> list[str]:
    module = import_model(model)
    NormalisePass().apply(None, module)  # type: ignore[arg-type]
    return [op.name for op in module.walk() if op.name.startswith("tops.")]


CHIPS = pytest.mark.parametrize("chips", [1, 2])

# ------------------------------------------------------------------ Concat


@CHIPS
@pytest.mark.parametrize("axis,shape", [(0, [3, 5, 40]), (1, [3, 5, 40]), (-1, [3, 5, 40]), (-1, [2, 700])])
def test_concat(capsys, tmp_path, chips, axis, shape):
    """h with itself, a constant and h again, along rows (whole-vector copies) or lanes (moves)."""
    other = list(shape)
    other[axis] = 3
    node = helper.make_node("Concat", ["h", "c", "h"], ["y"], axis=axis)
    model = computed(tmp_path, shape, [node], inits=[tensor("c", RNG.standard_normal(other))])
    check(capsys, model, chips)
    assert "tops.concat" in normalised_ops(model)


@CHIPS
def test_concat_lane_aligned_is_copies(capsys, tmp_path, chips):
    """Operands 320 wide: every result vector is a source vector, so no SXM lane moves."""
    model = computed(tmp_path, [2, 320], [helper.make_node("Concat", ["h", "h"], ["y"], axis=1)])
    check(capsys, model, chips)


# ------------------------------------------------------------------ Split


@CHIPS
@pytest.mark.parametrize("opset,variant", [(11, "attribute"), (11, "equal"), (13, "input"), (18, "num_outputs")])
def test_split(capsys, tmp_path, chips, opset, variant):
    inits, attrs, inputs = [], {"axis": 1}, ["h"]
    sizes = {"attribute": [2, 3, 2], "equal": None, "input": [4, 1, 2], "num_outputs": None}[variant]
    if variant == "attribute":
        attrs["split"] = sizes
    elif variant == "input":
        inits, inputs = [ints("split", sizes)], ["h", "split"]
    elif variant == "num_outputs":
        attrs["num_outputs"] = 3  # 7 = 3 + 3 + 1
    shape = [4, 6 if variant == "equal" else 7, 24]
    outputs = ["y0", "y1", "y2"]
    model = computed(tmp_path, shape, [helper.make_node("Split", inputs, outputs, **attrs)], outputs, inits, opset)
    check(capsys, model, chips)


@CHIPS
def test_split_last_axis(capsys, tmp_path, chips):
    node = helper.make_node("Split", ["h", "split"], ["a", "b"], axis=-1)
    model = computed(tmp_path, [3, 400], [node], ["a", "b"], [ints("split", [330, 70])], opset=13)
    check(capsys, model, chips)


# ------------------------------------------------------------------ Slice


SLICES = {
    # name: (starts, ends, axes, steps)
    "rows": ([1], [3], [0], None),
    "lanes_offset": ([5], [29], [1], None),
    "negative_clamped": ([-4, -100], [INT_MAX, -2], [0, -1], None),
    "steps": ([0, 1], [6, 30], [0, 1], [2, 3]),
    "negative_steps": ([-1, 25], [-INT_MAX, 2], [0, 1], [-2, -4]),
    "no_axes": ([1, 2], [5, 20], None, None),
}


@CHIPS
@pytest.mark.parametrize("name", sorted(SLICES))
def test_slice(capsys, tmp_path, chips, name):
    starts, ends, axes, steps = SLICES[name]
    inits = [ints("starts", starts), ints("ends", ends)]
    inputs = ["h", "starts", "ends"]
    if axes is not None or steps is not None:
        inits.append(ints("axes", axes if axes is not None else range(len(starts))))
        inputs.append("axes")
    if steps is not None:
        inits.append(ints("steps", steps))
        inputs.append("steps")
    model = computed(tmp_path, [6, 30], [helper.make_node("Slice", inputs, ["y"])], inits=inits, opset=13)
    check(capsys, model, chips)


@CHIPS
def test_slice_opset9_attributes(capsys, tmp_path, chips):
    node = helper.make_node("Slice", ["h"], ["y"], starts=[1, -20], ends=[3, 1000], axes=[0, 1])
    model = computed(tmp_path, [4, 30], [node], opset=9)
    check(capsys, model, chips)


@CHIPS
def test_slice_wide_rows(capsys, tmp_path, chips):
    """A 700-wide row sliced at lane 5 (moves across vector boundaries) and rank 3."""
    node = helper.make_node("Slice", ["h", "s", "e", "a"], ["y"])
    model = computed(tmp_path, [2, 3, 700], [node], inits=[ints("s", [1, 5]), ints("e", [3, 690]), ints("a", [1, 2])])
    check(capsys, model, chips)


# ---------------------------------------------------- Squeeze, Unsqueeze, Flatten, Expand


@CHIPS
@pytest.mark.parametrize("opset", [11, 13])
def test_squeeze_unsqueeze(capsys, tmp_path, chips, opset):
    if opset < 13:
        nodes = [helper.make_node("Unsqueeze", ["h"], ["u"], axes=[0, 3]),
                 helper.make_node("Squeeze", ["u"], ["y"], axes=[0])]
        inits = []
    else:
        nodes = [helper.make_node("Unsqueeze", ["h", "ua"], ["u"]), helper.make_node("Squeeze", ["u", "sa"], ["y"])]
        inits = [ints("ua", [0, -1]), ints("sa", [0])]
    model = computed(tmp_path, [3, 8], nodes, inits=inits, opset=opset)
    check(capsys, model, chips)


@CHIPS
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_flatten(capsys, tmp_path, chips, axis):
    model = computed(tmp_path, [2, 3, 8], [helper.make_node("Flatten", ["h"], ["y"], axis=axis)], opset=13)
    check(capsys, model, chips)


@CHIPS
@pytest.mark.parametrize("target", [[2, 4, 3], [4, 1]])
def test_expand(capsys, tmp_path, chips, target):
    node = helper.make_node("Expand", ["h", "shape"], ["y"])
    model = computed(tmp_path, [4, 1], [node], inits=[ints("shape", target)])
    check(capsys, model, chips)


# ------------------------------------------------------------------ Gather


GATHERS = {
    # name: (shape, axis, indices)
    "rows": ([5, 24], 0, [3, 0, 3, -1]),
    "rows_2d_indices": ([5, 24], 0, [[1, 2], [4, 0]]),
    "scalar_index_middle_axis": ([2, 5, 24], 1, 0),
    "last_axis": ([3, 24], 1, [23, 0, -2, 5, 5]),
    "last_axis_wide": ([2, 700], -1, [[650, 3], [320, 319]]),
}


@CHIPS
@pytest.mark.parametrize("name", sorted(GATHERS))
def test_gather(capsys, tmp_path, chips, name):
    shape, axis, indices = GATHERS[name]
    node = helper.make_node("Gather", ["h", "i"], ["y"], axis=axis)
    model = computed(tmp_path, shape, [node], inits=[ints("i", indices)])
    check(capsys, model, chips)
    assert "tops.gather" in normalised_ops(model)


def test_gather_of_constant_table_is_folded(tmp_path):
    table = tensor("t", RNG.standard_normal((10, 8)))
    nodes = [helper.make_node("Gather", ["t", "i"], ["g"]), helper.make_node("Add", ["x", "g"], ["y"])]
    model = save(tmp_path / "m.onnx", nodes, {"x": [3, 8]}, ["y"], [table, ints("i", [2, 7, 2])])
    assert normalised_ops(model) == ["tops.constant", "tops.add"]


def test_gather_with_runtime_indices_is_rejected(tmp_path):
    """An embedding lookup (indices are a graph input): a clear error naming the node."""
    graph = helper.make_graph(
        [helper.make_node("Gather", ["t", "ids"], ["y"], name="embed")], "g",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])],
        [tensor("t", RNG.standard_normal((10, 8)))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.save(model, tmp_path / "m.onnx")
    with pytest.raises(LockstepError, match="node 'embed' \\(op Gather\\) indexes with 'ids'.*run time"):
        import_model(tmp_path / "m.onnx")


# ------------------------------------------- Identity, Reshape, folded shape ops


@CHIPS
def test_identity_and_reshape(capsys, tmp_path, chips):
    nodes = [helper.make_node("Identity", ["h"], ["i"]),
             helper.make_node("Reshape", ["i", "s1"], ["r"]),
             helper.make_node("Reshape", ["r", "s2"], ["y"], allowzero=1)]
    inits = [ints("s1", [0, -1, 4]), ints("s2", [4, 18])]
    model = computed(tmp_path, [3, 24], nodes, inits=inits, opset=14)
    check(capsys, model, chips)


@CHIPS
def test_shape_constant_of_shape_range(capsys, tmp_path, chips):
    """Shape -> ConstantOfShape and a float Range fold to constants added to h."""
    nodes = [
        helper.make_node("Shape", ["h"], ["s"]),
        helper.make_node("ConstantOfShape", ["s"], ["c"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5])),
        helper.make_node("Range", ["r0", "r1", "r2"], ["r"]),
        helper.make_node("Add", ["h", "c"], ["a"]),
        helper.make_node("Add", ["a", "r"], ["y"]),
    ]
    inits = [tensor("r0", 1.0), tensor("r1", 7.0), tensor("r2", 0.5)]
    model = computed(tmp_path, [3, 12], nodes, inits=inits)
    check(capsys, model, chips)
    assert "tops.constant" in normalised_ops(model)


# ------------------------------------------------------------ a small chain


@CHIPS
def test_attention_style_chain(capsys, tmp_path, chips):
    """Split q/k/v off one projection, transpose heads, concat back: the usual model glue."""
    nodes = [
        helper.make_node("Split", ["h"], ["q", "k", "v"], axis=-1, num_outputs=3),
        helper.make_node("Reshape", ["q", "hs"], ["qh"]),
        helper.make_node("Transpose", ["qh"], ["qt"], perm=[1, 0, 2]),
        helper.make_node("Gather", ["qt", "zero"], ["q0"], axis=0),
        helper.make_node("Concat", ["q0", "k", "v"], ["y"], axis=-1),
    ]
    inits = [ints("hs", [4, 2, 8]), ints("zero", 0)]
    model = computed(tmp_path, [4, 48], nodes, inits=inits, opset=18)
    check(capsys, model, chips)


# ------------------------------------------------------------ partitioning


def partitioned_ops(model: str) -> list[str]:
    from passes.partition import PartitionPass

    module = import_model(model)
    NormalisePass().apply(None, module)  # type: ignore[arg-type]
    PartitionPass(chips=2, strategy="tensor").apply(None, module)  # type: ignore[arg-type]
    return [op.name for op in module.walk() if op.name.startswith(("tops.", "part."))]


@CHIPS
def test_row_slice_keeps_column_sharding(capsys, tmp_path, chips):
    """h is sharded by columns; slicing rows keeps it so, and the next matmul splits its
    weight by rows with an all-reduce (no all-gather anywhere)."""
    nodes = [helper.make_node("Slice", ["h", "s", "e"], ["t"]), helper.make_node("MatMul", ["t", "w2"], ["y"])]
    inits = [ints("s", [1]), ints("e", [4]), tensor("w2", RNG.standard_normal((24, 8)))]
    model = computed(tmp_path, [5, 24], nodes, inits=inits)
    ops = partitioned_ops(model)
    assert "part.all_gather" not in ops and "part.all_reduce" in ops
    check(capsys, model, chips)


def test_data_movement_across_the_sharded_axis_gathers(tmp_path):
    model = computed(tmp_path, [5, 24], [helper.make_node("Concat", ["h", "h"], ["y"], axis=1)])
    assert partitioned_ops(model).index("part.all_gather") < partitioned_ops(model).index("tops.concat")


@CHIPS
def test_folded_constant_as_graph_output(capsys, tmp_path, chips):
    """ConstantOfShape folds to a constant that is itself a graph output (next to a computed one)."""
    value = helper.make_tensor("v", TensorProto.FLOAT, [1], [1.5])
    nodes = [helper.make_node("ConstantOfShape", ["s"], ["c"], value=value), helper.make_node("Relu", ["h"], ["y"])]
    model = computed(tmp_path, [2, 8], nodes, ["c", "y"], [ints("s", [2, 3])])
    check(capsys, model, chips)


@pytest.mark.parametrize("op", ["Slice", "Split"])
def test_empty_results_are_constants(capsys, tmp_path, op):
    """A zero-size result holds no numbers: it is an empty constant, nothing runs for it."""
    if op == "Slice":
        node, inits = helper.make_node("Slice", ["h", "s", "e"], ["y"], name="n"), [ints("s", [5]), ints("e", [9])]
    else:
        node, inits = helper.make_node("Split", ["h", "split"], ["y", "z"], name="n", axis=1), [ints("split", [0, 8])]
    model = computed(tmp_path, [2, 8], [node], ["y"], inits, opset=18)
    assert normalised_ops(model)[-1] == "tops.constant"
    check(capsys, model, 1)
