"""Predicted performance (compiler/performance.py): per-token figures, the critical path's
breakdown and pipeline stages, in report.json and `lockstep report`."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from compiler.cli import main
from compiler.models.llama import write_llama
from compiler.performance import CATEGORIES, Timed, critical_nodes, decoder_step, latency_breakdown
from compiler.report import load_compiled
from dialects.chip import ChipInstruction, RecvOp, SendOp
from passes.timing import ready_cycle

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "examples" / "mlp.onnx"
LLAMA_DECODE = ROOT / "examples" / "models" / "llama_decode.onnx"
PREFILL_TOKENS = 8


def compile_to(directory: Path, model: Path, *options: str) -> dict:
    assert main(["compile", str(model), "-o", str(directory), *options]) == 0
    return json.loads((directory / "report.json").read_text())


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[str, Path]:
    """name -> compiled directory."""
    root = tmp_path_factory.mktemp("perf")
    prefill = root / "prefill.onnx"
    write_llama("tiny", prefill, layers=1, decode=False, length=PREFILL_TOKENS)
    cases = {
        "mlp1": (MLP, ()),
        "mlp_pipeline2": (MLP, ("--chips", "2", "--strategy", "pipeline")),
        "decode_pipeline2": (LLAMA_DECODE, ("--chips", "2", "--strategy", "pipeline")),
        "prefill_hybrid4": (prefill, ("--chips", "4", "--strategy", "hybrid", "--group", "2")),
    }
    out = {}
    for name, (model, options) in cases.items():
        out[name] = root / name
        compile_to(out[name], model, *options)
    return out


def report_of(directory: Path) -> dict:
    return json.loads((directory / "report.json").read_text())


def report_json(capsys, directory: Path) -> dict:
    capsys.readouterr()
    assert main(["report", str(directory), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", ["mlp1", "mlp_pipeline2", "decode_pipeline2", "prefill_hybrid4"])
def test_breakdown_sums_to_cycles(compiled, name):
    r = report_of(compiled[name])
    parts = r["latency_breakdown_cycles"]
    assert set(parts) == set(CATEGORIES)
    assert all(v >= 0 for v in parts.values())
    assert sum(parts.values()) == r["cycles"]
    nodes = r["critical_path_nodes"]
    assert nodes and [n["cycles"] for n in nodes] == sorted((n["cycles"] for n in nodes), reverse=True)
    assert sum(n["cycles"] for n in nodes) <= r["cycles"] - parts["wait"]


def test_mlp_on_one_chip_is_matmul_and_vector_work(compiled):
    r = report_of(compiled["mlp1"])
    parts = r["latency_breakdown_cycles"]
    assert parts["network"] == 0
    assert parts["mxm"] + parts["vxm"] > r["cycles"] / 2
    assert parts["mxm"] > 0 and parts["vxm"] > 0
    assert r["pipeline"] is None  # tensor strategy: no stages
    assert r["step"] is None and r["tokens_per_second_per_user"] is None and r["per_token_latency_us"] is None


def stream_busy(directory: Path, chips: list[int]) -> int:
    """Cycles in which some instruction of `chips` is between its first issue and its last landing,
    counted one cycle at a time from the emitted streams (sends and receives cross stages)."""
    compiled = load_compiled(directory)
    program, system = compiled.program, compiled.system
    busy: set[int] = set()
    for op, chip in zip(program.names.ops, program.names.chip):
        if chip in chips and isinstance(op, ChipInstruction) and not isinstance(op, SendOp | RecvOp):
            cycle = op.cycle.value.data
            busy.update(range(cycle, ready_cycle(op, cycle, system)))
    return len(busy)


def test_two_chip_pipeline_has_network_time_and_idle_stages(compiled):
    r = report_of(compiled["mlp_pipeline2"])
    assert r["latency_breakdown_cycles"]["network"] > 0
    pipe = r["pipeline"]
    assert pipe["stages"] == 2 and pipe["stage_chips"] == [[0], [1]]
    for chips, busy, fraction in zip(pipe["stage_chips"], pipe["stage_busy_cycles"], pipe["stage_busy_fraction"]):
        assert 0 < fraction < 1
        assert fraction == pytest.approx(busy / r["cycles"])
        # one chip per stage: the stage's busy cycles are its chip's, as the streams show them
        assert busy == stream_busy(compiled["mlp_pipeline2"], chips)


def test_hybrid_stages_are_groups(compiled):
    pipe = report_of(compiled["prefill_hybrid4"])["pipeline"]
    assert pipe["stages"] == 2 and pipe["stage_chips"] == [[0, 1], [2, 3]]
    assert all(0 < f < 1 for f in pipe["stage_busy_fraction"])


def test_decode_model_tokens_per_second(compiled, capsys):
    r = report_of(compiled["decode_pipeline2"])
    assert r["step"]["kind"] == "decode" and r["step"]["tokens"] == 1
    assert "past_k" in r["step"]["rule"]
    assert r["per_token_latency_us"] == pytest.approx(r["latency_us"])
    assert r["tokens_per_second_per_user"] == pytest.approx(1e6 / r["latency_us"])
    assert r["time_to_first_token_us"] is None
    shown = report_json(capsys, compiled["decode_pipeline2"])
    for key in ("per_token_latency_us", "tokens_per_second_per_user", "latency_breakdown_cycles", "pipeline", "step"):
        assert shown[key] == pytest.approx(r[key]) if isinstance(r[key], float) else shown[key] == r[key]


def test_prefill_from_metadata(compiled):
    r = report_of(compiled["prefill_hybrid4"])
    assert r["step"]["kind"] == "prefill" and r["step"]["tokens"] == PREFILL_TOKENS
    assert "metadata" in r["step"]["rule"]
    assert r["per_token_latency_us"] == pytest.approx(r["latency_us"] / PREFILL_TOKENS)
    assert r["time_to_first_token_us"] == pytest.approx(r["latency_us"])
    assert r["tokens_per_second_per_user"] is None


def test_report_table_shows_performance(compiled, capsys):
    capsys.readouterr()
    assert main(["report", str(compiled["decode_pipeline2"])]) == 0
    table = capsys.readouterr().out
    r = report_of(compiled["decode_pipeline2"])
    assert "tokens/s per user" in table and f"{r['tokens_per_second_per_user']:,.1f}" in table
    assert "latency breakdown" in table and re.search(rf"\n  total +{r['cycles']}\n", table)
    for name in CATEGORIES:
        assert f"\n  {name} " in table
    top = r["critical_path_nodes"][0]
    assert "where the critical path works most" in table
    assert re.search(rf"\n  {re.escape(top['node'])} +{top['cycles']} ", table)
    assert "pipeline: 2 stages" in table
    assert main(["report", str(compiled["mlp1"])]) == 0
    table = capsys.readouterr().out
    assert "not a decoder step" in table and "pipeline:" not in table


def test_malformed_recorded_step_is_one_line(compiled, capsys, tmp_path):
    directory = tmp_path / "copy"
    directory.mkdir()
    for file in compiled["mlp1"].iterdir():
        (directory / file.name).write_bytes(file.read_bytes())
    report = report_of(directory)
    report["step"] = {"kind": "decode", "tokens": 0, "rule": "edited"}
    (directory / "report.json").write_text(json.dumps(report))
    capsys.readouterr()
    assert main(["report", str(directory)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lockstep: error: report.json: 'step'") and err.count("\n") == 1


# -- the walk and the step rule on their own --------------------------------------------------------


def timed(rows: list[tuple[int, int, str, int, int, int]]) -> Timed:
    """rows of (start, ready, category, producer, holder, freed)."""
    start, ready, cat, producer, holder, freed = zip(*rows)
    ints = lambda xs: np.asarray(xs, dtype=np.int64)  # noqa: E731
    zeros = ints([0] * len(rows))
    return Timed(ints(start), ints(ready), ints([CATEGORIES.index(c) for c in cat]), zeros, zeros,
                 ints(producer), ints(holder), ints(freed))


def test_walk_follows_latest_operand_or_unit_holder():
    t = timed([
        (0, 10, "mxm", -1, -1, 0),  # 0: a load
        (10, 30, "network", 0, -1, 0),  # 1: sends what 0 made
        (2, 24, "vxm", -1, -1, 0),  # 2: holds the unit 3 needs until cycle 20 (its last issue: 19)
        (25, 40, "sxm", 0, 2, 20),  # 3: its operand landed at 10, its unit was free at 20: waited 5 more
        (40, 45, "memory", 3, -1, 0),  # 4: lands last
    ])
    # path: 4 <- 3 (operand) <- 2 (unit holder, entered where it freed the unit: cycle 20) <- start
    assert latency_breakdown(t) == {"mxm": 0, "vxm": 18, "sxm": 15, "memory": 5, "network": 0, "wait": 7}


def test_critical_nodes_rank_the_path_work_by_onnx_node():
    t = timed([
        (0, 10, "mxm", -1, -1, 0),
        (10, 30, "network", 0, -1, 0),
        (2, 24, "vxm", -1, -1, 0),
        (25, 40, "sxm", 0, 2, 20),
        (40, 45, "memory", 3, -1, 0),
    ])
    t.nodes = ["/a", "/b", "/c", "/c", None]
    # on the path: 4 (5 memory, unnamed), 3 (15 sxm, /c), 2 (18 vxm, /c); 0 and 1 are off it
    assert critical_nodes(t) == [{"node": "/c", "cycles": 33, "part": "vxm"},
                                 {"node": "(unnamed)", "cycles": 5, "part": "memory"}]
    assert critical_nodes(t, top=1) == [{"node": "/c", "cycles": 33, "part": "vxm"}]


def model_with(inputs: list[str], props: dict[str, str] | None = None):
    graph = helper.make_graph(
        [helper.make_node("Identity", [inputs[0]], ["y"])], "g",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 4]) for name in inputs],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph)
    if props:
        helper.set_model_props(model, props)
    return model


def test_step_rule():
    assert decoder_step(model_with(["x"])) is None
    for cache in ("past_k", "past_key_values.0.key", "PAST_K_3"):
        step = decoder_step(model_with(["x", cache]))
        assert (step.kind, step.tokens) == ("decode", 1)
    step = decoder_step(model_with(["x", "past_k"], {"lockstep.step": "prefill", "lockstep.tokens": "16"}))
    assert (step.kind, step.tokens) == ("prefill", 16)  # metadata decides over input names
    assert decoder_step(model_with(["x"], {"lockstep.step": "prefill", "lockstep.tokens": "many"})) is None
    assert decoder_step(model_with(["x"], {"lockstep.step": "encode"})) is None
