"""`lockstep model llama`: the presets' parameter counts are the published ones, --no-weights files
are small, valid and point every weight at an absent external file with exact offsets, the tiny
presets run on the machine matching onnxruntime, and a prefill and a decode step of the same
weights agree (rotary positions, caches and the causal mask line up)."""

import json
import os
import tracemalloc
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto

from compiler.cli import main
from compiler.models.llama import PRESETS, llama_model

# Published totals (Llama 2 paper; Meta's Llama 3 model cards), embedding table and lm_head included
# (neither model ties them): the graph holds everything but the embedding, which the host reads.
PUBLISHED = {"llama2-7b": 6.74e9, "llama2-70b": 6.9e10, "llama3-8b": 8.0e9, "llama3-70b": 7.06e10}


def generate(capsys, tmp_path: Path, preset: str, *args: str) -> Path:
    path = tmp_path / f"{preset}.onnx"
    assert main(["model", "llama", "--preset", preset, *args, "-o", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {path}")
    return path


def external(tensor: onnx.TensorProto) -> dict[str, str]:
    return {entry.key: entry.value for entry in tensor.external_data}


def numel(tensor: onnx.TensorProto) -> int:
    return int(np.prod(tensor.dims, dtype=np.int64))


@pytest.mark.parametrize("preset", list(PUBLISHED))
def test_parameter_counts_match_the_published_totals(capsys, tmp_path, preset):
    path = generate(capsys, tmp_path, preset, "--no-weights")
    graph = onnx.load(path, load_external_data=False).graph
    weights = [t for t in graph.initializer if t.data_location == TensorProto.EXTERNAL]
    cfg = PRESETS[preset]
    # per layer two RMSNorm scales and seven projections; the final norm and lm_head
    assert len(weights) == 9 * cfg.layers + 2 and all(t.name.endswith(".weight") for t in weights)
    in_graph = sum(numel(t) for t in weights)
    assert in_graph == cfg.graph_params()
    assert in_graph + cfg.vocab * cfg.hidden == cfg.total_params()
    assert cfg.total_params() == pytest.approx(PUBLISHED[preset], rel=5e-3)


def test_no_weights_70b_is_small_valid_and_points_at_an_absent_file(capsys, tmp_path):
    path = generate(capsys, tmp_path, "llama2-70b", "--no-weights", "--context", "4096")
    assert path.stat().st_size < 2 * 2**20
    data = tmp_path / "llama2-70b.onnx.data"
    assert not data.exists()
    model = onnx.load(path, load_external_data=False)
    tensors = [t for t in model.graph.initializer if t.data_location == TensorProto.EXTERNAL]
    assert {t.name for t in tensors} == {t.name for t in model.graph.initializer if t.name.endswith(".weight")}
    offset = 0
    for tensor in sorted(tensors, key=lambda t: int(external(t)["offset"])):
        info = external(tensor)
        assert info["location"] == data.name and not tensor.HasField("raw_data")
        assert int(info["offset"]) == offset and int(info["length"]) == 4 * numel(tensor)
        offset += int(info["length"])
    assert offset == 4 * PRESETS["llama2-70b"].graph_params()
    inline = sum(len(t.raw_data) for t in model.graph.initializer)
    assert inline < 2**20  # rotary tables, eps, shapes
    cfg = PRESETS["llama2-70b"]
    assert len({n.name.split("/")[2] for n in model.graph.node if n.name.startswith("/model/layers.")}) == 80
    inputs = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in model.graph.input}
    assert inputs["past_k_79"] == [1, cfg.kv_heads, 4096, cfg.head_dim] and len(inputs) == 1 + 2 * 80
    # the checker wants the external file to exist (it never reads it): a sparse one of that length
    with open(data, "wb") as placeholder:
        os.truncate(placeholder.fileno(), offset)
    onnx.checker.check_model(str(path), full_check=True)


def test_no_weights_generation_never_allocates_the_weights():
    tracemalloc.start()
    try:
        llama_model(PRESETS["llama2-70b"], "llama2-70b", 80, 1, 4096, external="w.data")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20  # the weights would be 275 GB as float32


def test_inline_weights_past_2_gib_are_refused(capsys, tmp_path):
    out = tmp_path / "big.onnx"
    assert main(["model", "llama", "--preset", "llama2-7b", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lockstep: error: ") and err.count("\n") == 1 and "--no-weights" in err
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["--prefill", "--context", "8"], "--context"),
    (["--seq", "8"], "--seq"),
    (["--layers", "0"], "--layers must be at least 1"),
    (["--prefill", "--seq", "0"], "--seq must be at least 1"),
    (["--prefill", "--seq", "50000"], "causal mask"),  # 2.3 GiB of constants
])
def test_bad_options_are_one_line(capsys, tmp_path, argv, message):
    assert main(["model", "llama", "--preset", "tiny", *argv, "-o", str(tmp_path / "t.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lockstep: error: ") and err.count("\n") == 1 and message in err


@pytest.mark.parametrize("chips", [1, 8])
@pytest.mark.parametrize("step", [["--context", "8"], ["--prefill", "--seq", "4"]], ids=["decode", "prefill"])
@pytest.mark.parametrize("preset", ["tiny", "tiny-gqa"])
def test_tiny_presets_match_onnxruntime(capsys, tmp_path, preset, step, chips):
    path = generate(capsys, tmp_path, preset, *step)
    code = main(["run", str(path), "--chips", str(chips), "--check", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["max_rel_error"] <= 1e-4, result
    assert result["cycles_predicted"] == result["cycles_measured"], result
    assert code == 0 and result["ok"], result


def run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


@pytest.mark.parametrize("preset", ["tiny", "tiny-gqa"])
def test_decode_after_prefill_reproduces_the_prefill(preset):
    """Prefill S tokens; prefill S-1 then decode the last with their caches: same last logits."""
    cfg, seq = PRESETS[preset], 6
    x = np.random.default_rng(1).standard_normal((1, seq, cfg.hidden)).astype(np.float32)
    full = run(llama_model(cfg, "full", cfg.layers, seq, 0, seed=3), {"inputs_embeds": x})
    first = run(llama_model(cfg, "first", cfg.layers, seq - 1, 0, seed=3), {"inputs_embeds": x[:, :-1]})
    caches = {f"past_{kv}_{i}": first[f"present_{kv}_{i}"] for i in range(cfg.layers) for kv in "kv"}
    step = run(llama_model(cfg, "step", cfg.layers, 1, seq - 1, seed=3), {"inputs_embeds": x[:, -1:], **caches})
    np.testing.assert_allclose(step["logits"][0, 0], full["logits"][0, -1], rtol=1e-4, atol=1e-4)
    for i in range(cfg.layers):
        np.testing.assert_allclose(step[f"present_k_{i}"], full[f"present_k_{i}"], rtol=1e-4, atol=1e-5)
    assert 0.3 < float(full["logits"].std()) < 3  # the weights' scales keep activations O(1)


def doc_rows(header: str) -> dict[str, list[str]]:
    """The rows (by first cell) of the docs/models.md table whose header starts with `header`."""
    lines = (Path(__file__).resolve().parents[2] / "docs" / "models.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_the_docs_tables_are_the_presets():
    presets = doc_rows("| preset | hidden")
    assert list(presets) == list(PRESETS)
    for name, cfg in PRESETS.items():
        fields = (cfg.hidden, cfg.layers, cfg.heads, cfg.kv_heads, cfg.ffn, cfg.vocab, cfg.rope_theta, cfg.rms_eps,
                  cfg.context)
        assert [float(c) for c in presets[name]] == [float(f) for f in fields], name
    counts = doc_rows("| preset | per layer")
    assert list(counts) == list(PUBLISHED)
    for name, row in counts.items():
        cfg = PRESETS[name]
        assert [int(c.replace(",", "")) for c in row[:4]] == [
            cfg.layer_params(), cfg.graph_params(), cfg.vocab * cfg.hidden, cfg.total_params()]
        assert float(row[4]) == PUBLISHED[name]


def test_bert_large_shape_only():
    """BERT-Large's 24 encoder layers (no embeddings), every weight external: 302.3M parameters."""
    from compiler.models.bert import BERT_LARGE, bert_model

    d, f = BERT_LARGE.hidden, BERT_LARGE.ffn
    per_layer = 4 * (d * d + d) + (d * f + f) + (f * d + d) + 2 * 2 * d
    model = bert_model(BERT_LARGE, 24, 128, "bert_large", external="bert_large.onnx.data")
    external = [t for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert sum(int(np.prod(t.dims)) for t in external) == 24 * per_layer
    assert {n.name.split("/")[2] for n in model.graph.node if n.name.startswith("/encoder/")} == {
        f"layer.{i}" for i in range(24)}
