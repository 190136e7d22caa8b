"""Llama-family decoder models as ONNX (`lockstep model llama`), and the decoder layer that
examples/models/llama_layer.py builds one of.

One layer:
- RMSNorm (x / sqrt(mean(x^2) + eps) * g, decomposed: RMSNormalization is opset 23),
- rotary embeddings: constant cos/sin tables for the step's positions, rotate-half by Slice, Neg
  and Concat, q * cos + rotate_half(q) * sin,
- grouped-query attention: KV heads < heads, each K/V head repeated for its group by
  Reshape + Expand + Reshape,
- a causal mask (Where on a constant boolean table) when the step has more than one token,
- SiLU-gated MLP: down(silu(gate(x)) * up(x)), residuals.

A model is N layers, a final RMSNorm and the lm_head matmul producing logits. Its input is the
tokens' hidden states `inputs_embeds` [1, S, D]: the embedding lookup is a run-time Gather on token
ids, which the compiler refuses by design, so the host does it. A step is a prefill (S tokens at
positions 0..S-1, no cache, causal mask) or a decode (one token at position L, per-layer caches
past_k_i, past_v_i [1, KV, L, hd] as inputs). Both output `logits` [1, S, vocab] and the caches
present_k_i, present_v_i [1, KV, L + S, hd].
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from compiler.errors import LockstepError
from compiler.models.graph import (
    PROTOBUF_LIMIT,
    Graph,
    attention_heads,
    merge_heads,
    save_model,
)
from compiler.performance import STEP_KEY, TOKENS_KEY

INPUT = "inputs_embeds"
GRAPH_ROOM = 2**26  # what the size estimates leave out: nodes, shapes, headers (80 layers: about 1 MiB)


@dataclass(frozen=True)
class LlamaConfig:
    """Hyper-parameters; `context` is the published maximum sequence length (the default step)."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    rope_theta: float
    rms_eps: float
    context: int

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def layer_params(self) -> int:
        """Two RMSNorm scales, Q and O (D x D), K and V (D x KV*hd), gate, up and down (D x F)."""
        kv = self.kv_heads * self.head_dim
        return 2 * self.hidden + 2 * self.hidden * self.hidden + 2 * self.hidden * kv + 3 * self.hidden * self.ffn

    def graph_params(self, layers: int | None = None) -> int:
        """The parameters in the generated graph: the layers, the final norm and lm_head."""
        layers = self.layers if layers is None else layers
        return layers * self.layer_params() + self.hidden + self.hidden * self.vocab

    def total_params(self) -> int:
        """As published: the graph's plus the embedding table the host reads (not tied to lm_head)."""
        return self.graph_params() + self.vocab * self.hidden


# Llama 2 (Touvron et al. 2023, table 1 and the released params) and Llama 3 (Meta's released
# config.json). The tiny presets are small enough to carry weights and run in the tests.
PRESETS: dict[str, LlamaConfig] = {
    "llama2-7b": LlamaConfig(4096, 32, 32, 32, 11008, 32000, 10000.0, 1e-5, 4096),
    "llama2-70b": LlamaConfig(8192, 80, 64, 8, 28672, 32000, 10000.0, 1e-5, 4096),
    "llama3-8b": LlamaConfig(4096, 32, 32, 8, 14336, 128256, 500000.0, 1e-5, 8192),
    "llama3-70b": LlamaConfig(8192, 80, 64, 8, 28672, 128256, 500000.0, 1e-5, 8192),
    "tiny": LlamaConfig(64, 2, 4, 4, 128, 256, 10000.0, 1e-5, 16),
    "tiny-gqa": LlamaConfig(128, 2, 8, 2, 256, 256, 500000.0, 1e-5, 16),
}


def rms_norm(g: Graph, x: str, dim: int, eps: float, name: str) -> str:
    square = g.op("Mul", [x, x], f"{name}/Mul")
    mean = g.op("ReduceMean", [square], f"{name}/ReduceMean", axes=[-1], keepdims=1)
    root = g.op("Sqrt", [g.op("Add", [mean, g.scalar(eps, f"{name}.eps")], f"{name}/Add")], f"{name}/Sqrt")
    normed = g.op("Div", [x, root], f"{name}/Div")
    weight = g.param((dim,), f"{name}.weight", lambda: (1.0 + 0.1 * g.rng.standard_normal(dim)).astype(np.float32))
    return g.op("Mul", [normed, weight], f"{name}/Mul_1")


def rotary_tables(positions: np.ndarray, head_dim: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
    inv = 1.0 / theta ** (np.arange(0, head_dim, 2) / head_dim)
    angles = np.outer(positions, inv)
    angles = np.concatenate([angles, angles], axis=-1)  # [S, hd]
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def rotary(g: Graph, cfg: LlamaConfig, positions: np.ndarray) -> tuple[str, str]:
    """The cos and sin tables of the step's positions, shared by every layer."""
    cos_table, sin_table = rotary_tables(positions, cfg.head_dim, cfg.rope_theta)
    return g.const(cos_table, "/rotary/cos"), g.const(sin_table, "/rotary/sin")


def rotate(g: Graph, x: str, cos: str, sin: str, head_dim: int, name: str) -> str:
    """x * cos + rotate_half(x) * sin, rotate_half(x) = concat(-x2, x1) over the last axis."""
    half = head_dim // 2
    axis = g.shape([3], f"{name}.axis")
    x1 = g.op("Slice", [x, g.shape([0], f"{name}.s0"), g.shape([half], f"{name}.e0"), axis], f"{name}/Slice")
    x2 = g.op("Slice", [x, g.shape([half], f"{name}.s1"), g.shape([head_dim], f"{name}.e1"), axis], f"{name}/Slice_1")
    rotated = g.op("Concat", [g.op("Neg", [x2], f"{name}/Neg"), x1], f"{name}/Concat", axis=-1)
    return g.op("Add", [g.op("Mul", [x, cos], f"{name}/Mul"), g.op("Mul", [rotated, sin], f"{name}/Mul_1")],
                f"{name}/Add")


def repeat_kv(g: Graph, cfg: LlamaConfig, x: str, seq: int, name: str) -> str:
    """[1, KV, S, hd] -> [1, H, S, hd], head h reading KV head h // group."""
    group, kv, hd = cfg.heads // cfg.kv_heads, cfg.kv_heads, cfg.head_dim
    wide = g.op("Reshape", [x, g.shape([1, kv, 1, seq, hd], f"{name}.unsqueeze")], f"{name}/Reshape")
    wide = g.op("Expand", [wide, g.shape([1, kv, group, seq, hd], f"{name}.expand")], f"{name}/Expand")
    return g.op("Reshape", [wide, g.shape([1, cfg.heads, seq, hd], f"{name}.shape")], f"{name}/Reshape_1")


def decoder_layer(g: Graph, cfg: LlamaConfig, x: str, rope: tuple[str, str], seq: int, past: int,
                  cache: tuple[str, str] | None, prefix: str = "") -> tuple[str, str, str]:
    """One layer on `seq` tokens after `past` cached ones (`cache`: the past K and V inputs, or
    None when past is 0). Returns the output and the present K and V [1, KV, past + seq, hd]."""
    dim, hd, kv_dim = cfg.hidden, cfg.head_dim, cfg.kv_heads * cfg.head_dim
    total = past + seq
    cos, sin = rope
    attn = f"{prefix}/self_attn"
    h = rms_norm(g, x, dim, cfg.rms_eps, f"{prefix}/input_layernorm")
    q = attention_heads(g, g.linear(h, dim, dim, f"{attn}/q_proj", bias=False), seq, cfg.heads, hd, f"{attn}/q")
    k = attention_heads(g, g.linear(h, dim, kv_dim, f"{attn}/k_proj", bias=False), seq, cfg.kv_heads, hd,
                        f"{attn}/k")
    v = attention_heads(g, g.linear(h, dim, kv_dim, f"{attn}/v_proj", bias=False), seq, cfg.kv_heads, hd,
                        f"{attn}/v")
    q = rotate(g, q, cos, sin, hd, f"{attn}/rotary_q")
    k = rotate(g, k, cos, sin, hd, f"{attn}/rotary_k")
    if cache is not None:
        k = g.op("Concat", [cache[0], k], f"{attn}/cache/Concat", axis=2)
        v = g.op("Concat", [cache[1], v], f"{attn}/cache/Concat_1", axis=2)
    present_k, present_v = k, v
    kt = g.op("Transpose", [repeat_kv(g, cfg, k, total, f"{attn}/repeat_k")], f"{attn}/Transpose", perm=[0, 1, 3, 2])
    v = repeat_kv(g, cfg, v, total, f"{attn}/repeat_v")
    scores = g.op("MatMul", [q, kt], f"{attn}/MatMul")
    scores = g.op("Mul", [scores, g.scalar(1 / np.sqrt(hd), f"{attn}/scale")], f"{attn}/Mul")
    if seq > 1:
        # one table for every layer: token i (at position past + i) sees positions 0..past + i
        causal = g.const_once("/self_attn/causal", lambda: np.tril(np.ones((seq, total), dtype=bool), k=past))
        scores = g.op("Where", [causal, scores, g.scalar(-1e9, f"{attn}/min")], f"{attn}/Where")
    probs = g.op("Softmax", [scores], f"{attn}/Softmax", axis=-1)
    context = merge_heads(g, g.op("MatMul", [probs, v], f"{attn}/MatMul_1"), seq, dim, f"{attn}/merge")
    x = g.op("Add", [x, g.linear(context, dim, dim, f"{attn}/o_proj", bias=False)], f"{prefix}/Add")
    h = rms_norm(g, x, dim, cfg.rms_eps, f"{prefix}/post_attention_layernorm")
    gate = g.linear(h, dim, cfg.ffn, f"{prefix}/mlp/gate_proj", bias=False)
    silu = g.op("Mul", [gate, g.op("Sigmoid", [gate], f"{prefix}/mlp/act/Sigmoid")], f"{prefix}/mlp/act/Mul")
    up = g.linear(h, dim, cfg.ffn, f"{prefix}/mlp/up_proj", bias=False)
    down = g.linear(g.op("Mul", [silu, up], f"{prefix}/mlp/Mul"), cfg.ffn, dim, f"{prefix}/mlp/down_proj", bias=False)
    return g.op("Add", [x, down], f"{prefix}/Add_1"), present_k, present_v


def llama_model(cfg: LlamaConfig, name: str, layers: int, seq: int, past: int, seed: int = 0,
                external: str | None = None) -> onnx.ModelProto:
    """`layers` decoder layers, the final norm and lm_head for one step of `seq` tokens after
    `past` cached ones; `external` names the (absent) weights file, None for seeded weights."""
    g = Graph(seed, external)
    rope = rotary(g, cfg, np.arange(past, past + seq))
    kv_shape = [1, cfg.kv_heads, past + seq, cfg.head_dim]
    inputs = {INPUT: [1, seq, cfg.hidden]}
    presents: dict[str, str] = {}
    x = INPUT
    for i in range(layers):
        cache = (f"past_k_{i}", f"past_v_{i}") if past else None
        if cache:
            inputs.update({c: [1, cfg.kv_heads, past, cfg.head_dim] for c in cache})
        x, presents[f"present_k_{i}"], presents[f"present_v_{i}"] = decoder_layer(
            g, cfg, x, rope, seq, past, cache, f"/model/layers.{i}")
    h = rms_norm(g, x, cfg.hidden, cfg.rms_eps, "/model/norm")
    outputs = {"logits": g.linear(h, cfg.hidden, cfg.vocab, "/lm_head", bias=False), **presents}
    shapes = {"logits": [1, seq, cfg.vocab], **{p: kv_shape for p in presents}}
    model = g.model(name, inputs, outputs, shapes)
    # which step this is, for the per-token figures of the report (compiler/performance.py)
    onnx.helper.set_model_props(model, {STEP_KEY: "decode" if past else "prefill", TOKENS_KEY: str(seq)})
    return model


def write_llama(preset: str, path: Path, layers: int | None = None, decode: bool = True,
                length: int | None = None, weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    """Generate the preset's decode step at context `length` (one token after `length` cached) or
    prefill of `length` tokens (default: the preset's context) and save it to `path`: weights
    inline, or external in `<path name>.data`, which is not written. Refuses inline weights past
    protobuf's 2 GiB."""
    if preset not in PRESETS:
        raise LockstepError(f"unknown preset '{preset}' (known: {', '.join(PRESETS)})")
    cfg = PRESETS[preset]
    layers = cfg.layers if layers is None else layers
    length = cfg.context if length is None else length
    for what, value in (("--layers", layers), ("--context" if decode else "--seq", length)):
        if value < 1:
            raise LockstepError(f"{what} must be at least 1, got {value}")
    seq, past = (1, length) if decode else (length, 0)
    tables = seq * seq + 2 * 4 * seq * cfg.head_dim  # the prefill's causal mask (bool), cos and sin
    if not decode and tables > PROTOBUF_LIMIT - GRAPH_ROOM:
        raise LockstepError(f"a prefill of {seq} tokens needs {tables / 2**30:.1f} GiB of causal mask and "
                            f"rotary tables, over the 2 GiB one ONNX file holds; use a shorter --seq")
    name = f"{preset}_{layers}l_{'decode' if decode else 'prefill'}{length}"
    # shape only first (cheap: no weight is allocated), which also measures the inline file
    model = llama_model(cfg, name, layers, seq, past, seed, external=f"{path.name}.data")
    if weights:
        inline = model.ByteSize() + 4 * cfg.graph_params(layers)
        if inline > PROTOBUF_LIMIT - GRAPH_ROOM:
            raise LockstepError(
                f"{preset} with {layers} layers has {cfg.graph_params(layers):.3g} weights "
                f"({inline / 2**30:.1f} GiB as float32), over the 2 GiB one ONNX file holds; "
                f"use --no-weights (or fewer --layers)")
        model = llama_model(cfg, name, layers, seq, past, seed)
    save_model(model, path)
    return model
