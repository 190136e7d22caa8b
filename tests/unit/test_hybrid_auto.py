"""The `hybrid` partition (tensor parallel groups in a pipeline) and the `auto` choice by the cost model."""

import re
from pathlib import Path

import pytest
from onnx_cases import run_json

from compiler.cost_model import CostModel, candidates
from compiler.errors import LockstepError
from compiler.group_collectives import group_system
from compiler.onnx_import import import_model
from compiler.pipeline import CompileOptions, compile_model, context
from compiler.registry import lockstep_passes
from compiler.system import load_system
from passes.partition import partition_as
from passes.partition_hybrid import local_order, stage_groups

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "examples" / "mlp.onnx"
MODELS = ROOT / "examples" / "models"


@pytest.mark.parametrize("model, group", [(MODELS / "gpt2_block.onnx", 4), (MODELS / "llama_decode.onnx", 2)])
def test_hybrid_matches_onnxruntime(capsys, model, group):
    out = run_json(capsys, str(model), 8, extra=["--strategy", "hybrid", "--group", str(group)])
    assert out["ok"] and out["max_rel_error"] <= 1e-4
    assert out["cycles_predicted"] == out["cycles_measured"]


def test_hybrid_report_names_stages():
    report = compile_model(MLP, CompileOptions(chips=4, strategy="hybrid", group=2)).report
    assert report["strategy"] == "hybrid group=2"
    splits = [c["split"] for c in report["partition"]]
    assert splits[0].endswith("stage 0") and splits[-1].endswith("stage 1")


def normalised(model: Path):
    module = import_model(model)
    lockstep_passes()["normalise"]()().apply(context(), module)
    return module


def estimate(module, strategy: str, group: int, chips: int, system):
    copy = module.clone()
    partition_as(copy, strategy, group, tuple(range(chips)))
    return CostModel(system).estimate(copy, strategy, group, chips)


def test_estimate_ranks_like_the_compiled_cycles():
    """On the MLP over 4 chips: one chip < tensor < pipeline, by estimate and by schedule."""
    system = load_system(chips=4)
    module = normalised(MLP)
    est = {s: estimate(module, s, 0, n, system).cycles for s, n in (("replicated", 1), ("tensor", 4), ("pipeline", 4))}
    real = {s: compile_model(MLP, CompileOptions(chips=n, strategy=s)).report["cycles"]
            for s, n in (("replicated", 1), ("tensor", 4), ("pipeline", 4))}
    assert sorted(est, key=est.get) == sorted(real, key=real.get) == ["replicated", "tensor", "pipeline"]


def test_estimated_sram_is_what_place_allocates():
    """Every value's own space, as `place` allocates; the lowering's scratch vectors come on top."""
    system = load_system(chips=2)
    est = estimate(normalised(MLP), "tensor", 0, 2, system)
    report = compile_model(MLP, CompileOptions(chips=2, strategy="tensor")).report
    assert 0 <= max(report["sram_bytes_per_chip"]) - est.sram_bytes <= 0.01 * est.sram_bytes


def test_auto_picks_the_fastest_and_says_why():
    report = compile_model(MLP, CompileOptions(chips=4)).report
    assert report["strategy"] == "replicated" and report["chips"] == 1
    reason = report["partition_reason"]
    assert reason.startswith("one chip (1 of 4 chips)")
    for label in ("tensor on 4", "pipeline on 4", "hybrid group=2 on 4"):
        assert label in reason


def test_candidates_cover_groups_that_divide():
    assert ("hybrid", 8, 576) in candidates(576) and ("hybrid", 72, 576) in candidates(576)
    assert all(576 % g == 0 for s, g, _ in candidates(576) if s == "hybrid")
    assert candidates(1) == [("replicated", 0, 1)]


def test_auto_refuses_when_nothing_fits(tmp_path):
    small = load_system("single").to_toml().replace("sram_bytes = 230686720", "sram_bytes = 409600")
    path = tmp_path / "small.toml"
    path.write_text(small)
    with pytest.raises(LockstepError, match=r"does not fit in SRAM on 1 chip in any partition: the least hungry, one chip, needs .*over by") as refused:
        compile_model(MLP, CompileOptions(system=str(path)))
    need, have, over = map(float, re.findall(r"(\d+\.\d+) MiB", str(refused.value)))
    assert have == pytest.approx(409600 / 2**20, abs=0.01)
    assert over == pytest.approx(need - have, abs=0.01) and over > 0


def with_sram(tmp_path: Path, chips: int, sram_bytes: int) -> str:
    text = load_system(chips=chips).to_toml().replace("sram_bytes = 230686720", f"sram_bytes = {sram_bytes}")
    path = tmp_path / "system.toml"
    path.write_text(text)
    return str(path)


def test_auto_drops_a_candidate_whose_scratch_overflows(tmp_path):
    """On 4 chips with SRAM exactly the size of tensor's estimate (one chip's does not fit), tensor is
    the fastest that fits by estimate, but its all-reduce needs scratch: it is dropped once lowered
    and the next fastest that fits, hybrid group=2, compiled instead."""
    system = load_system(chips=4)
    module = normalised(MLP)
    tensor = estimate(module, "tensor", 0, 4, system)
    assert compile_model(MLP, CompileOptions(chips=4, strategy="tensor")).report["sram_bytes_per_chip"][0] > tensor.sram_bytes
    report = compile_model(MLP, CompileOptions(system=with_sram(tmp_path, 4, tensor.sram_bytes))).report
    assert report["strategy"] == "hybrid group=2"
    [dropped] = report["partition_dropped"]
    assert dropped["strategy"] == "tensor" and "does not fit in SRAM" in dropped["error"]
    assert "tensor on 4: ~" in report["partition_reason"] and "did not fit once lowered" in report["partition_reason"]


def test_auto_refuses_when_the_candidates_that_fit_overflow_once_lowered(tmp_path):
    system = load_system(chips=2)
    tensor = estimate(normalised(MLP), "tensor", 0, 2, system)
    # on 2 chips only tensor fits by estimate (no hybrid groups there), and not once lowered
    with pytest.raises(LockstepError, match=r"over by 0.\d\d MiB\); tensor fitted until lowered"):
        compile_model(MLP, CompileOptions(system=with_sram(tmp_path, 2, tensor.sram_bytes)))


@pytest.mark.parametrize("group", [8, 16, 32, 64])
def test_groups_of_the_576_preset_stay_inside_racks(group):
    """Every group but the leftovers lies in one rack of 72; the leftovers are whole nodes."""
    system = load_system(chips=576)
    groups = stage_groups(local_order(system, system.alive_chips(), group), group)
    assert sorted(c for g in groups for c in g) == list(range(576))
    in_one_rack = [g for g in groups if len({c // 72 for c in g}) == 1]
    assert len(in_one_rack) == 8 * (72 // group)
    assert all(len({c // 8 for c in g}) == group // 8 for g in groups)  # whole nodes only


def test_without_levels_of_links_groups_are_consecutive():
    system = load_system(topology="torus:4x4")
    assert local_order(system, system.alive_chips(), 4) == tuple(range(16))


def test_the_576_preset_groups_of_64_are_connected_and_wired_alike():
    """The 64-chip groups' own links connect each of them (no relays), so their all-reduces are
    synthesized on the rack and shared by the eight groups wired alike."""
    system = load_system(chips=576)
    groups = stage_groups(local_order(system, system.alive_chips(), 64), 64)
    locals_ = [group_system(system, g) for g in groups]
    assert all(local is not None and len(local.members) == 64 for local in locals_)
    assert len({local.system for local in locals_[:8]}) == 1


def test_only_constants_and_their_splits_weigh_in_a_stage_cut():
    """A split of a computed value (grouped-query attention's V cut to each chip's KV head) is no
    weight: counting it let a stage cut fall between the two attention matmuls on Llama-2-70B
    over 576 chips, which sent the V cache across racks (1,019,497 cycles instead of 75,837)."""
    import numpy as np
    from xdsl.dialects.builtin import TensorType, f32
    from xdsl.dialects.test import TestOp

    from dialects import tops
    from dialects.part import SplitOp
    from passes.partition_hybrid import weight_bytes

    whole = TensorType(f32, [4, 8])
    computed = TestOp(result_types=[whole]).results[0]
    constant = tops.ConstantOp.from_array(np.zeros((4, 8), dtype=np.float32)).results[0]
    half = TensorType(f32, [4, 4])
    split_computed = SplitOp(computed, 1, [0, 1], half).results[0]
    split_constant = SplitOp(constant, 1, [0, 1], half).results[0]
    reader = TestOp(operands=[split_computed, split_constant, constant], result_types=[])
    assert weight_bytes(reader) == 4 * 16 + 4 * 32
