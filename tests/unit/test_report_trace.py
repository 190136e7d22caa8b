"""`lockstep report` and `lockstep trace` on the MLP compiled for 1 and 4 chips."""

import json
from collections import defaultdict
from pathlib import Path

import pytest

from compiler.cli import main

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "examples" / "mlp.onnx"
KINDS = ("mxm", "vxm", "sxm", "mem")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[int, Path]:
    out = {}
    for chips in (1, 4):
        directory = tmp_path_factory.mktemp(f"mlp{chips}")
        assert main(["compile", str(MLP), "--chips", str(chips), "--strategy", "tensor", "-o", str(directory)]) == 0
        out[chips] = directory
    return out


def report_json(capsys, directory: Path) -> dict:
    capsys.readouterr()
    assert main(["report", str(directory), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def trace_of(capsys, directory: Path, tmp_path: Path) -> dict:
    path = tmp_path / f"{directory.name}.json"
    capsys.readouterr()
    assert main(["trace", str(directory), "-o", str(path)]) == 0
    assert str(path) in capsys.readouterr().out
    return json.loads(path.read_text())


@pytest.mark.parametrize("chips", [1, 4])
def test_report_table(capsys, compiled, chips):
    capsys.readouterr()
    assert main(["report", str(compiled[chips])]) == 0
    table = capsys.readouterr().out
    compiler_report = json.loads((compiled[chips] / "report.json").read_text())
    for kind in KINDS:
        assert f"\n  {kind} " in table
    for bound in compiler_report["lower_bounds"]:
        assert bound in table
    assert table.count("<- binding") == 1
    assert "efficiency" in table and "busiest links" in table
    assert f"cycles    {compiler_report['cycles']}" in table
    for chip in range(chips):
        assert f"chip {chip}" in table
    assert ("no chip-to-chip traffic" in table) == (chips == 1)


@pytest.mark.parametrize("chips", [1, 4])
def test_report_json(capsys, compiled, chips):
    r = report_json(capsys, compiled[chips])
    compiler_report = json.loads((compiled[chips] / "report.json").read_text())
    # figures from the streams agree with what the compiler predicted
    assert r["cycles"] == compiler_report["cycles"]
    assert r["chips"] == chips
    assert r["latency_us"] == pytest.approx(compiler_report["latency_us"])
    assert r["lower_bounds"] == compiler_report["lower_bounds"]
    bounds = r["lower_bounds"]
    assert bounds[r["binding_bound"]] == max(bounds.values())
    assert r["efficiency"] == pytest.approx(max(bounds.values()) / r["cycles"])
    assert 0 < r["efficiency"] <= 1
    util = r["utilization"]
    assert set(util["by_kind"]) == set(KINDS)
    assert 0 <= util["overall"] <= 1
    for kind, figures in util["by_kind"].items():
        assert 0 <= figures["utilization"] <= 1
        assert figures["issue_slots"] == compiler_report["unit_issues"].get(kind, 0)
    assert util["by_kind"]["mxm"]["utilization"] > 0
    assert len(util["by_chip"]) == chips
    for chip in util["by_chip"]:
        assert 0 <= chip["utilization"] <= 1
        assert all(0 <= u <= 1 for u in chip["by_kind"].values())
        assert 0 < chip["sram_bytes"] <= max(compiler_report["sram_bytes_per_chip"])
        assert 0 < chip["sram_fraction"] <= 1
    if chips == 1:
        assert r["busiest_links"] == [] and r["links_used"] == 0
    else:
        assert r["busiest_links"] and r["links_used"] >= len(r["busiest_links"])
        busy = [link["busy_cycles"] for link in r["busiest_links"]]
        assert busy == sorted(busy, reverse=True)
        for link in r["busiest_links"]:
            assert 0 < link["utilization"] <= 1
            assert link["src"] != link["dst"] and link["link"] == f"{link['src']}->{link['dst']} p{link['port']}"
        assert busy[0] <= bounds["busiest_link"]


@pytest.mark.parametrize("chips", [1, 4])
def test_trace(capsys, compiled, chips, tmp_path):
    trace = trace_of(capsys, compiled[chips], tmp_path)
    events = trace["traceEvents"]
    clock = trace["otherData"]["clock_hz"]
    meta = [e for e in events if e["ph"] == "M"]
    slices = [e for e in events if e["ph"] == "X"]
    processes = {e["pid"]: e["args"]["name"] for e in meta if e["name"] == "process_name"}
    assert processes == {chip: f"chip {chip}" for chip in range(chips)}
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in meta if e["name"] == "thread_name"}
    # every slice sits on a labelled track of a labelled chip
    for event in slices:
        assert (event["pid"], event["tid"]) in threads
        assert event["ts"] >= 0 and event["dur"] >= 0
        args = event["args"]
        assert args["end_cycle"] > args["cycle"] >= 0
        assert event["ts"] == pytest.approx(args["cycle"] / clock * 1e6)
        assert event["dur"] == pytest.approx((args["end_cycle"] - args["cycle"]) / clock * 1e6)
        assert args["repeat"] >= 1 and args["stride"] >= 1 and args["op"].startswith("chip.")
    # every unit used has its track, named after the unit
    for chip in range(chips):
        text = (compiled[chips] / f"chip{chip}.mlir").read_text()
        units = {line.split('unit "')[1].split('"')[0] for line in text.splitlines() if 'unit "' in line}
        named = {name for (pid, _), name in threads.items() if pid == chip}
        assert {u for u in units if not u.startswith("c2c")} <= named
    names = {e["name"] for e in slices}
    assert {"/fc1/Gemm", "/fc2/Gemm", "/fc3/Gemm", "/relu1/Relu"} <= names
    assert all(e["name"].startswith("/") for e in slices), names
    # repeat forms are one slice each, never one per vector
    loads = [e for e in slices if e["args"]["op"] == "chip.mxm_load"]
    assert loads and all(e["args"]["end_cycle"] - e["args"]["cycle"] == e["args"]["repeat"] for e in loads)
    links = [e for e in slices if e["cat"] == "link"]
    if chips == 1:
        assert not links
        return
    assert links
    by_track = defaultdict(list)
    for event in links:
        src, dst, port = event["pid"], event["args"]["to"], event["args"]["port"]
        assert threads[src, event["tid"]].startswith(f"link {src}->{dst} p{port}")
        by_track[src, event["tid"]].append((event["args"]["cycle"], event["args"]["end_cycle"]))
        assert event["args"]["end_cycle"] == event["args"]["cycle"] + (event["args"]["repeat"] - 1) * event["args"]["stride"] + event["args"]["ser"]
    for spans in by_track.values():  # the compiler's promise: one vector at a time on a link
        spans.sort()
        assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:])), spans
    # and per vector, across the whole link (a spilled-over track included)
    per_link = defaultdict(list)
    for event in links:
        a = event["args"]
        key = (event["pid"], a["to"], a["port"])
        per_link[key] += [(a["cycle"] + i * a["stride"], a["cycle"] + i * a["stride"] + a["ser"]) for i in range(a["repeat"])]
    for vectors in per_link.values():
        vectors.sort()
        assert all(end <= start for (_, end), (start, _) in zip(vectors, vectors[1:]))
    recvs = [e for e in slices if e["cat"] == "recv"]
    assert len(recvs) == len(links)


@pytest.mark.parametrize("command", ["report", "trace"])
def test_errors(capsys, tmp_path, command):
    extra = ["-o", str(tmp_path / "t.json")] if command == "trace" else []
    for target, what in ((tmp_path / "missing", "does not exist"), (tmp_path, "not a compiled directory"),
                         (Path(MLP), "not a directory")):
        capsys.readouterr()
        assert main([command, str(target), *extra]) == 1
        err = capsys.readouterr().err
        assert err.startswith("lockstep: error: ") and what in err
        assert err.count("\n") == 1
