"""BERT encoder layer (post-LN): Q, K, V projections split into heads, scaled Q K^T plus an
additive attention mask built from the `attention_mask` input (a key is attended where its
mask value is > 0, else -10000 is added, via Greater + Where), softmax, @V, merged heads,
output projection, residual, LayerNorm; GELU (erf form) MLP, residual, LayerNorm.
Seeded; writes examples/models/bert_layer.onnx.

Run: python examples/models/bert_layer.py
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Graph, attention_heads, gelu_erf, layer_norm, merge_heads, save  # noqa: E402

SEQ, DIM, HEADS, FFN = 16, 64, 8, 256
HEAD_DIM = DIM // HEADS


def bert_layer(seed: int = 1):
    g = Graph(seed)
    x = "input"
    q = attention_heads(g, g.linear(x, DIM, DIM, "/attention/self/query"), SEQ, HEADS, HEAD_DIM, "/attention/q")
    kt = attention_heads(g, g.linear(x, DIM, DIM, "/attention/self/key"), SEQ, HEADS, HEAD_DIM, "/attention/k",
                         perm=(0, 2, 3, 1))
    v = attention_heads(g, g.linear(x, DIM, DIM, "/attention/self/value"), SEQ, HEADS, HEAD_DIM, "/attention/v")
    keep = g.op("Greater", ["attention_mask", g.scalar(0.0, "/mask/zero")], "/mask/Greater")
    additive = g.op("Where", [keep, g.scalar(0.0, "/mask/kept"), g.scalar(-10000.0, "/mask/masked")], "/mask/Where")
    additive = g.op("Reshape", [additive, g.shape([1, 1, 1, SEQ], "/mask/shape")], "/mask/Reshape")
    scores = g.op("MatMul", [q, kt], "/attention/self/MatMul")
    scores = g.op("Div", [scores, g.scalar(np.sqrt(HEAD_DIM), "/attention/self/sqrt_d")], "/attention/self/Div")
    scores = g.op("Add", [scores, additive], "/attention/self/Add")
    probs = g.op("Softmax", [scores], "/attention/self/Softmax", axis=-1)
    context = merge_heads(g, g.op("MatMul", [probs, v], "/attention/self/MatMul_1"), SEQ, DIM, "/attention/merge")
    attn = g.linear(context, DIM, DIM, "/attention/output/dense")
    x = layer_norm(g, g.op("Add", [attn, x], "/attention/output/Add"), DIM, "/attention/output/LayerNorm", 1e-12)
    h = gelu_erf(g, g.linear(x, DIM, FFN, "/intermediate/dense"), "/intermediate/gelu")
    h = g.linear(h, FFN, DIM, "/output/dense")
    y = layer_norm(g, g.op("Add", [h, x], "/output/Add"), DIM, "/output/LayerNorm", 1e-12)
    return g.model("bert_layer", {"input": [1, SEQ, DIM], "attention_mask": [1, SEQ]}, {"output": y},
                   {"output": [1, SEQ, DIM]})


if __name__ == "__main__":
    print(save(bert_layer(), "bert_layer"))
