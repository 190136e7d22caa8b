"""Grouped-query attention on more chips than KV heads (passes/partition_heads.py): each chip
computes only its own query heads, not its KV head's whole group. tiny-gqa has 8 query heads
and 2 KV heads; on 4 and 8 chips (tensor, and tensor inside the groups of `hybrid`) the query
projection splits by query heads, the attention matmuls run on each chip's rows of its group
and the output projection takes its rows by query heads, and the numbers match onnxruntime.
When a KV head's chips would each hold more weight tiles of it than a split of the K and V
projections by rows gives them, those split by rows and an all-reduce sums K and V."""

from pathlib import Path

import onnx
import pytest
from onnx_cases import assert_matches, run_json

from compiler.models.llama import PRESETS, LlamaConfig, llama_model
from compiler.pipeline import CompileOptions, compile_model
from passes.partition_heads import head_blocks, kv_heads_of
from passes.partition_layout import Shard

CONTEXT = 8
ATTENTION = "/model/layers.{layer}/self_attn/"


@pytest.mark.parametrize("chips, heads, group, blocks", [
    (64, [64], 8, 64),  # Llama-2-70B on 64 chips: a query head each
    (8, [8], 4, 8),
    (4, [8], 4, 4),  # 2 query heads of one group each
    (2, [8], 4, 2),  # whole groups
    (16, [24], 4, 2),  # blocks of 3 would straddle groups of 4: 2 blocks of 3 whole groups
    (16, [24], 1, 8),  # no groups: the most blocks dividing chips and heads
])
def test_head_blocks(chips, heads, group, blocks):
    assert head_blocks(chips, heads, group) == blocks


def test_kv_heads_of_runs_inside_one_group():
    two_each = Shard(1, ((0, 1), (2, 3), (4, 5), (6, 7)))
    assert kv_heads_of(two_each, 4) == Shard(1, ((0,), (0,), (1,), (1,)))
    assert kv_heads_of(Shard(1, ((0,), (0,), (1,), (1,))), 2) == Shard(1, ((0,), (0,), (0,), (0,)))
    assert kv_heads_of(two_each, 2) is None  # whole groups
    assert kv_heads_of(Shard(1, ((0, 1, 2), (3, 4, 5))), 4) is None  # 3 to 5 straddle two groups
    assert kv_heads_of(Shard(1, ((0, 2), (1, 3))), 4) is None  # not consecutive


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """tiny-gqa, 2 layers: a decode step after CONTEXT tokens and a prefill of 4."""
    folder = tmp_path_factory.mktemp("gqa")
    steps = {"decode": ("step", 1, CONTEXT), "prefill": ("full", 4, 0)}
    for name, (kind, seq, context) in steps.items():
        onnx.save(llama_model(PRESETS["tiny-gqa"], kind, 2, seq, context, seed=7), folder / f"{name}.onnx")
    return {name: folder / f"{name}.onnx" for name in steps}


@pytest.mark.parametrize("step, chips, extra", [
    ("decode", 8, ["--strategy", "hybrid", "--group", "4"]),
    ("decode", 16, ["--strategy", "hybrid", "--group", "8"]),
    ("prefill", 4, ["--strategy", "tensor"]),
    ("prefill", 8, ["--strategy", "tensor"]),
])
def test_query_heads_split_in_groups_match_onnxruntime(capsys, tiny, step, chips, extra):
    assert_matches(run_json(capsys, str(tiny[step]), chips, extra=extra))


@pytest.mark.parametrize("chips, q_split, kv_split", [
    (4, "column", "column by heads, 2 chips per head block"),
    (8, "column", "column by heads, 4 chips per head block"),
])
def test_each_chip_computes_only_its_query_heads(tiny, chips, q_split, kv_split):
    report = compile_model(tiny["decode"], CompileOptions(chips=chips, strategy="tensor")).report
    splits = {entry["node"]: entry["split"] for entry in report["partition"]}
    for layer in range(2):
        at = ATTENTION.format(layer=layer)
        assert splits[f"{at}q_proj/MatMul"] == q_split
        assert splits[f"{at}k_proj/MatMul"] == splits[f"{at}v_proj/MatMul"] == kv_split
        assert splits[f"{at}MatMul"] == splits[f"{at}MatMul_1"] == "query heads in group"
        assert splits[f"{at}o_proj/MatMul"] == "row"


# Rows of 640 (2 tiles of 320), 8 query heads of 80 in 2 groups: K and V are [640, 160].
WIDE = LlamaConfig(640, 1, 8, 2, 320, 64, 10000.0, 1e-5, 16)


@pytest.fixture(scope="module")
def wide(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("wide") / "decode.onnx"
    onnx.save(llama_model(WIDE, "step", 1, 1, CONTEXT, seed=3), path)
    return path


@pytest.mark.parametrize("chips, strategy, group, kv_split", [
    # 2 KV heads on 2 chips: no copies, a head each (plain column blocks, 2 tiles a chip).
    (2, "tensor", 2, "column"),
    # each KV head on 2 chips: by heads 2 tiles a chip, by rows [160, 160] in 1.
    (4, "tensor", 4, "row in each KV head's 2 chips"),
    # the same inside groups of 4, in two pipeline stages (the cut may fall between x and K).
    (8, "hybrid", 4, "row in each KV head's 2 chips"),
])
def test_kv_projections_split_by_rows_when_heads_are_shared(capsys, wide, chips, strategy, group, kv_split):
    report = compile_model(wide, CompileOptions(chips=chips, strategy=strategy, group=group)).report
    splits = {entry["node"]: entry["split"] for entry in report["partition"]}
    at = ATTENTION.format(layer=0)
    assert splits[f"{at}k_proj/MatMul"].startswith(kv_split)
    assert splits[f"{at}v_proj/MatMul"].startswith(kv_split)
    extra = ["--strategy", strategy, "--group", str(group)]
    assert_matches(run_json(capsys, str(wide), chips, extra=extra))
