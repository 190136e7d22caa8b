"""GPT-2 transformer block (pre-LN): LayerNorm, causal self-attention with a fused QKV
projection split into heads, scaled Q K^T plus an additive causal mask (a constant with
large negative values), softmax, @V, merged heads, output projection, residual;
LayerNorm, GELU (tanh form) MLP, residual. Seeded; writes examples/models/gpt2_block.onnx.

Run: python examples/models/gpt2_block.py
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Graph, attention_heads, gelu_tanh, layer_norm, merge_heads, save  # noqa: E402

SEQ, DIM, HEADS, FFN = 16, 64, 4, 256
HEAD_DIM = DIM // HEADS


def gpt2_block(seed: int = 0):
    g = Graph(seed)
    x = "input"
    h = layer_norm(g, x, DIM, "/ln_1")
    qkv = g.linear(h, DIM, 3 * DIM, "/attn/c_attn")
    q, k, v = g.op("Split", [qkv, g.shape([DIM] * 3, "/attn/split")], "/attn/Split", outputs=3, axis=-1)
    q = attention_heads(g, q, SEQ, HEADS, HEAD_DIM, "/attn/q")
    kt = attention_heads(g, k, SEQ, HEADS, HEAD_DIM, "/attn/k", perm=(0, 2, 3, 1))
    v = attention_heads(g, v, SEQ, HEADS, HEAD_DIM, "/attn/v")
    scores = g.op("MatMul", [q, kt], "/attn/MatMul")
    scores = g.op("Mul", [scores, g.scalar(1 / np.sqrt(HEAD_DIM), "/attn/scale")], "/attn/Mul")
    mask = np.triu(np.full((SEQ, SEQ), -1e9, dtype=np.float32), k=1)
    scores = g.op("Add", [scores, g.const(mask, "/attn/causal_mask")], "/attn/Add")
    probs = g.op("Softmax", [scores], "/attn/Softmax", axis=-1)
    context = merge_heads(g, g.op("MatMul", [probs, v], "/attn/MatMul_1"), SEQ, DIM, "/attn/merge")
    attn = g.linear(context, DIM, DIM, "/attn/c_proj")
    x = g.op("Add", [x, attn], "/Add")
    h = layer_norm(g, x, DIM, "/ln_2")
    h = gelu_tanh(g, g.linear(h, DIM, FFN, "/mlp/c_fc"), "/mlp/act")
    y = g.op("Add", [x, g.linear(h, FFN, DIM, "/mlp/c_proj")], "/Add_1")
    return g.model("gpt2_block", {"input": [1, SEQ, DIM]}, {"output": y}, {"output": [1, SEQ, DIM]})


if __name__ == "__main__":
    print(save(gpt2_block(), "gpt2_block"))
