"""`lockstep collective`: its report, its table, the exported schedule, and one-line errors."""

from __future__ import annotations

import json

import pytest

from compiler.cli import main
from compiler.collectives.check import check_schedule
from compiler.collectives.export import from_json
from compiler.system import load_system

pytest.importorskip("compiler.collectives.synthesize")


def run(capsys, *argv):
    code = main(["collective", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_report(capsys, tmp_path):
    path = tmp_path / "schedule.json"
    code, out, err = run(capsys, "all-gather", "--topology", "torus:3x3", "--bytes", "64KiB", "--json",
                         "--export-schedule", str(path))
    assert code == 0, err
    report = json.loads(out)
    for key in ("cycles", "lower_bound_cycles", "efficiency", "synthesis_seconds", "bounds", "binding_bound",
                "algorithm", "chips", "hops"):
        assert key in report, key
    assert report["chips"] == 9 and report["bytes"] == 65536
    assert set(report["bounds"]) == {"injection", "ejection", "bisection", "ramp", "latency"}
    assert report["lower_bound_cycles"] == max(report["bounds"].values()) == report["bounds"][report["binding_bound"]]
    assert report["lower_bound_cycles"] <= report["cycles"]
    assert report["efficiency"] == pytest.approx(report["lower_bound_cycles"] / report["cycles"])
    data = json.loads(path.read_text())
    assert data["kind"] == "all-gather" and data["chips"] == 9 and len(data["hops"]) == report["hops"]
    schedule = from_json(data)
    check_schedule(schedule, load_system("torus:3x3"))
    assert schedule.cycles == report["cycles"]


def test_table(capsys):
    code, out, _ = run(capsys, "all-to-all", "--topology", "ring:4", "--bytes", "vector")
    assert code == 0
    assert "all-to-all of 1280 bytes on 4 chips (ring:4)" in out
    lines = out.splitlines()
    assert lines[1].split()[0] == "achieved"
    named = {line.split()[0] for line in lines[2:-1]}
    assert named == {"injection", "ejection", "bisection", "hop_bytes", "latency"}
    assert sum("<- binding" in line for line in lines) == 1
    assert lines[-1].lstrip().startswith("efficiency")


def test_system_preset_and_algorithm(capsys):
    code, out, err = run(capsys, "all-reduce", "--system", "ring8", "--bytes", "4vectors", "--algorithm", "ring",
                         "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["algorithm"] == "ring" and report["bytes"] == 4 * 1280 and report["chips"] == 8


@pytest.mark.parametrize(
    "argv,message",
    [
        (["gossip", "--topology", "ring:4", "--bytes", "1"], "unknown collective 'gossip'"),
        (["all-gather", "--bytes", "1"], "give --topology"),
        (["all-gather", "--topology", "ring:4"], "give --bytes"),
        (["all-gather", "--topology", "ring:4/fail=0-9", "--bytes", "1"], "lockstep: error:"),
        (["all-gather", "--topology", "ring:4", "--bytes", "12XB"], "unknown unit 'XB'"),
        (["all-gather", "--topology", "ring:4", "--bytes", "lots"], "--bytes takes a size"),
        (["all-gather", "--topology", "ring:4", "--bytes", "0"], "at least 1 byte"),
        (["all-gather", "--topology", "hypercube:4", "--bytes", "1"], "unknown topology"),
        (["all-gather", "--system", "nowhere.toml", "--bytes", "1"], "does not exist"),
        (["all-gather", "--topology", "ring:4", "--bytes", "1", "--algorithm", "magic"], "unknown algorithm 'magic'"),
    ],
)
def test_errors_are_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert err.startswith("lockstep: error: ") and err.count("\n") == 1, err
    assert message in err, err


def test_a_broken_schedule_is_an_error(capsys, monkeypatch):
    from compiler.collectives import synthesize as synth

    real = synth.synthesize

    def broken(*args, **kwargs):
        schedule = real(*args, **kwargs)
        schedule.hops.arrive[0] -= 1
        return schedule

    monkeypatch.setattr(synth, "synthesize", broken)
    code, out, err = run(capsys, "broadcast", "--topology", "fc:4", "--bytes", "vector")
    assert code == 1 and out == ""
    assert "lockstep: error: the" in err and "schedule is broken: hop 0" in err and "arrives at" in err


def test_export_to_an_unwritable_path(capsys, tmp_path):
    code, _, err = run(capsys, "broadcast", "--topology", "fc:4", "--bytes", "1", "--export-schedule",
                       str(tmp_path / "missing" / "x.json"))
    assert code == 1 and "cannot write the schedule" in err
