"""The collective benchmark harness (bench/collectives.py) still runs: its quick
mode on fc:8, one vector, one collective, end to end through a worker subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_fc8_one_vector(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "collectives.py"), "--quick", "--topologies", "fc:8",
         "--kinds", "all-gather", "--sizes", "vector", "--check", "--timeout", "60", "--quiet", "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "| fc:8 " in proc.stdout and "greedy-shortest eff" in proc.stdout
    data = json.loads(out.read_text())
    [result] = data["results"]
    assert result["status"] == "ok" and result["chips"] == 8 and result["kind"] == "all-gather"
    assert result["bytes"] == result["vector_bytes"]
    assert result["bound"] <= result["cycles"] and 0 < result["efficiency"] <= 1
    assert result["check"] == "ok" and result["synth_s"] >= 0 and result["peak_mib"] >= 0
    assert set(result["baselines"]) == {"ring", "greedy-shortest"}
    for base in result["baselines"].values():
        assert base["check"] == "ok" and base["cycles"] >= result["bound"]
    assert result["worse_than"] == [b for b, v in result["baselines"].items() if v["cycles"] < result["cycles"]]
    assert {t["target"].split(" ")[0] for t in data["targets"]} >= {"efficiency", "never", "synthesis"}


def test_a_skipped_ring_counts_by_its_floor(tmp_path):
    """A ring all-to-all too big to schedule is compared by its link floor: the worker records it,
    and the baseline target counts it as measured only when auto is at or below it."""
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "collectives.py"), "--topologies", "torus:4x4", "--kinds", "all-to-all",
         "--sizes", "vector", "--ring-a2a-max-chips", "8", "--timeout", "60", "--quiet", "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "(link floor)" in proc.stdout
    data = json.loads(out.read_text())
    [result] = data["results"]
    ring = result["baselines"]["ring"]
    assert "cycles" not in ring and ring["error"].startswith("skipped")
    assert result["cycles"] <= ring["floor"] and ring["efficiency_at_most"] == result["bound"] / ring["floor"]
    [never] = [t for t in data["targets"] if t["target"].startswith("never")]
    assert never["met"] and never["unmeasured"] == []

    from bench.collectives import targets

    slower = {**result, "cycles": ring["floor"] + 1}
    [never] = [t for t in targets([slower]) if t["target"].startswith("never")]
    assert len(never["unmeasured"]) == 1 and "no ring result" in never["unmeasured"][0]
