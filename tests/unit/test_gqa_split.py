"""Grouped-query attention on more chips than KV heads (passes/partition_heads.py): each chip
computes only its own query heads, not its KV head's whole group. tiny-gqa has 8 query heads
and 2 KV heads; on 4 and 8 chips (tensor, and tensor inside the groups of `hybrid`) the query
projection splits by query heads, the attention matmuls run on each chip's rows of its group
and the output projection takes its rows by query heads, and the numbers match onnxruntime."""

from pathlib import Path

import onnx
import pytest
from onnx_cases import assert_matches, run_json

from compiler.models.llama import PRESETS, llama_model
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
