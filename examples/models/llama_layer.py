"""Llama decoder layer, two variants (seeded; writes examples/models/llama_prefill.onnx and
examples/models/llama_decode.onnx):

- RMSNorm (x / sqrt(mean(x^2) + eps) * g, decomposed: RMSNormalization is opset 23),
- rotary embeddings: constant cos/sin tables, rotate-half by Slice, Neg and Concat,
  q * cos + rotate_half(q) * sin,
- grouped-query attention: KV_HEADS < HEADS, each K/V head repeated for its group by
  Unsqueeze + Expand + Reshape,
- causal mask (prefill) with Where on a constant boolean table,
- SiLU-gated MLP: down(silu(gate(x)) * up(x)), residuals.

`prefill`: input [1, S, D] -> output, present_k, present_v.
`decode`: one token input [1, 1, D] at position L with a KV cache past_k, past_v
[1, KV_HEADS, L, hd] as inputs, concatenated with the token's k, v (the new present_*).

Run: python examples/models/llama_layer.py
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Graph, attention_heads, merge_heads, save  # noqa: E402

DIM, HEADS, KV_HEADS, FFN = 64, 4, 2, 128
HEAD_DIM = DIM // HEADS
PREFILL_SEQ, PAST = 16, 15
THETA = 10000.0


def rms_norm(g: Graph, x: str, name: str, eps: float = 1e-6) -> str:
    square = g.op("Mul", [x, x], f"{name}/Mul")
    mean = g.op("ReduceMean", [square], f"{name}/ReduceMean", axes=[-1], keepdims=1)
    root = g.op("Sqrt", [g.op("Add", [mean, g.scalar(eps, f"{name}.eps")], f"{name}/Add")], f"{name}/Sqrt")
    normed = g.op("Div", [x, root], f"{name}/Div")
    weight = g.const((1.0 + 0.1 * g.rng.standard_normal(DIM)).astype(np.float32), f"{name}.weight")
    return g.op("Mul", [normed, weight], f"{name}/Mul_1")


def rotary_tables(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inv = 1.0 / THETA ** (np.arange(0, HEAD_DIM, 2) / HEAD_DIM)
    angles = np.outer(positions, inv)
    angles = np.concatenate([angles, angles], axis=-1)  # [S, hd]
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def rotate(g: Graph, x: str, cos: str, sin: str, name: str) -> str:
    """x * cos + rotate_half(x) * sin, rotate_half(x) = concat(-x2, x1) over the last axis."""
    half = HEAD_DIM // 2
    axis = g.shape([3], f"{name}.axis")
    x1 = g.op("Slice", [x, g.shape([0], f"{name}.s0"), g.shape([half], f"{name}.e0"), axis], f"{name}/Slice")
    x2 = g.op("Slice", [x, g.shape([half], f"{name}.s1"), g.shape([HEAD_DIM], f"{name}.e1"), axis], f"{name}/Slice_1")
    rotated = g.op("Concat", [g.op("Neg", [x2], f"{name}/Neg"), x1], f"{name}/Concat", axis=-1)
    return g.op("Add", [g.op("Mul", [x, cos], f"{name}/Mul"), g.op("Mul", [rotated, sin], f"{name}/Mul_1")],
                f"{name}/Add")


def repeat_kv(g: Graph, x: str, seq: int, name: str) -> str:
    """[1, KV_HEADS, S, hd] -> [1, HEADS, S, hd], head h reading KV head h // group."""
    group = HEADS // KV_HEADS
    wide = g.op("Reshape", [x, g.shape([1, KV_HEADS, 1, seq, HEAD_DIM], f"{name}.unsqueeze")], f"{name}/Reshape")
    wide = g.op("Expand", [wide, g.shape([1, KV_HEADS, group, seq, HEAD_DIM], f"{name}.expand")], f"{name}/Expand")
    return g.op("Reshape", [wide, g.shape([1, HEADS, seq, HEAD_DIM], f"{name}.shape")], f"{name}/Reshape_1")


def llama_layer(decode: bool, seed: int = 2):
    g = Graph(seed)
    seq = 1 if decode else PREFILL_SEQ
    total = PAST + 1 if decode else PREFILL_SEQ
    positions = np.arange(PAST, PAST + 1) if decode else np.arange(PREFILL_SEQ)
    cos_table, sin_table = rotary_tables(positions)
    cos, sin = g.const(cos_table, "/rotary/cos"), g.const(sin_table, "/rotary/sin")
    x = "input"
    h = rms_norm(g, x, "/input_layernorm")
    q = attention_heads(g, g.linear(h, DIM, DIM, "/self_attn/q_proj", bias=False), seq, HEADS, HEAD_DIM, "/self_attn/q")
    k = attention_heads(g, g.linear(h, DIM, KV_HEADS * HEAD_DIM, "/self_attn/k_proj", bias=False), seq, KV_HEADS,
                        HEAD_DIM, "/self_attn/k")
    v = attention_heads(g, g.linear(h, DIM, KV_HEADS * HEAD_DIM, "/self_attn/v_proj", bias=False), seq, KV_HEADS,
                        HEAD_DIM, "/self_attn/v")
    q = rotate(g, q, cos, sin, "/self_attn/rotary_q")
    k = rotate(g, k, cos, sin, "/self_attn/rotary_k")
    if decode:
        k = g.op("Concat", ["past_k", k], "/self_attn/cache/Concat", axis=2)
        v = g.op("Concat", ["past_v", v], "/self_attn/cache/Concat_1", axis=2)
    present_k, present_v = k, v
    kt = g.op("Transpose", [repeat_kv(g, k, total, "/self_attn/repeat_k")], "/self_attn/Transpose", perm=[0, 1, 3, 2])
    v = repeat_kv(g, v, total, "/self_attn/repeat_v")
    scores = g.op("MatMul", [q, kt], "/self_attn/MatMul")
    scores = g.op("Mul", [scores, g.scalar(1 / np.sqrt(HEAD_DIM), "/self_attn/scale")], "/self_attn/Mul")
    if not decode:
        causal = g.const(np.tril(np.ones((seq, total), dtype=bool)), "/self_attn/causal")
        scores = g.op("Where", [causal, scores, g.scalar(-1e9, "/self_attn/min")], "/self_attn/Where")
    probs = g.op("Softmax", [scores], "/self_attn/Softmax", axis=-1)
    context = merge_heads(g, g.op("MatMul", [probs, v], "/self_attn/MatMul_1"), seq, DIM, "/self_attn/merge")
    x = g.op("Add", [x, g.linear(context, DIM, DIM, "/self_attn/o_proj", bias=False)], "/Add")
    h = rms_norm(g, x, "/post_attention_layernorm")
    gate = g.linear(h, DIM, FFN, "/mlp/gate_proj", bias=False)
    silu = g.op("Mul", [gate, g.op("Sigmoid", [gate], "/mlp/act/Sigmoid")], "/mlp/act/Mul")
    up = g.linear(h, DIM, FFN, "/mlp/up_proj", bias=False)
    down = g.linear(g.op("Mul", [silu, up], "/mlp/Mul"), FFN, DIM, "/mlp/down_proj", bias=False)
    y = g.op("Add", [x, down], "/Add_1")
    inputs = {"input": [1, seq, DIM]}
    if decode:
        inputs.update(past_k=[1, KV_HEADS, PAST, HEAD_DIM], past_v=[1, KV_HEADS, PAST, HEAD_DIM])
    kv = [1, KV_HEADS, total, HEAD_DIM]
    return g.model("llama_decode" if decode else "llama_prefill", inputs,
                   {"output": y, "present_k": present_k, "present_v": present_v},
                   {"output": [1, seq, DIM], "present_k": kv, "present_v": kv})


if __name__ == "__main__":
    print(save(llama_layer(decode=False), "llama_prefill"))
    print(save(llama_layer(decode=True), "llama_decode"))
