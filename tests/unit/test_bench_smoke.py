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
