"""BERT encoder models as ONNX: the layer examples/models/bert_layer.py builds one of, and
BERT-Large (24 layers) for the published 4-chip comparison (docs/scale.md).

One layer (post-LN): Q, K, V projections split into heads, scaled Q K^T plus an additive
attention mask built from the `attention_mask` input (a key is attended where its mask value
is > 0, else -10000 is added, via Greater + Where), softmax, @V, merged heads, output
projection, residual, LayerNorm; GELU (erf form) MLP, residual, LayerNorm.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from compiler.models.graph import Graph, attention_heads, merge_heads


@dataclass(frozen=True)
class BertConfig:
    hidden: int
    heads: int
    ffn: int

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


BERT_LARGE = BertConfig(1024, 16, 4096)  # Devlin et al. 2019: 24 layers, 340M parameters


def layer_norm(g: Graph, x: str, dim: int, name: str, eps: float = 1e-5) -> str:
    scale = g.param((dim,), f"{name}.weight", lambda: (1.0 + 0.1 * g.rng.standard_normal(dim)).astype(np.float32))
    bias = g.param((dim,), f"{name}.bias", lambda: (0.1 * g.rng.standard_normal(dim)).astype(np.float32))
    return g.op("LayerNormalization", [x, scale, bias], f"{name}/LayerNormalization", axis=-1, epsilon=eps)


def gelu_erf(g: Graph, x: str, name: str) -> str:
    """0.5 x (1 + erf(x / sqrt 2)), the exact GELU (BERT)."""
    scaled = g.op("Div", [x, g.scalar(np.sqrt(2.0), f"{name}.sqrt2")], f"{name}/Div")
    erf = g.op("Erf", [scaled], f"{name}/Erf")
    one = g.op("Add", [erf, g.scalar(1.0, f"{name}.one")], f"{name}/Add")
    half = g.op("Mul", [x, g.scalar(0.5, f"{name}.half")], f"{name}/Mul")
    return g.op("Mul", [half, one], f"{name}/Mul_1")


def additive_mask(g: Graph, seq: int) -> str:
    """0 where `attention_mask` > 0, else -10000, as [1, 1, 1, seq] (built once per graph)."""
    if any(node.name == "/mask/Reshape" for node in g.nodes):
        return "/mask/Reshape_output_0"
    keep = g.op("Greater", ["attention_mask", g.scalar(0.0, "/mask/zero")], "/mask/Greater")
    additive = g.op("Where", [keep, g.scalar(0.0, "/mask/kept"), g.scalar(-10000.0, "/mask/masked")], "/mask/Where")
    return g.op("Reshape", [additive, g.shape([1, 1, 1, seq], "/mask/shape")], "/mask/Reshape")


def encoder_layer(g: Graph, cfg: BertConfig, x: str, seq: int, prefix: str = "") -> str:
    dim, heads, hd = cfg.hidden, cfg.heads, cfg.head_dim
    q = attention_heads(g, g.linear(x, dim, dim, f"{prefix}/attention/self/query"), seq, heads, hd,
                        f"{prefix}/attention/q")
    kt = attention_heads(g, g.linear(x, dim, dim, f"{prefix}/attention/self/key"), seq, heads, hd,
                         f"{prefix}/attention/k", perm=(0, 2, 3, 1))
    v = attention_heads(g, g.linear(x, dim, dim, f"{prefix}/attention/self/value"), seq, heads, hd,
                        f"{prefix}/attention/v")
    additive = additive_mask(g, seq)
    scores = g.op("MatMul", [q, kt], f"{prefix}/attention/self/MatMul")
    scores = g.op("Div", [scores, g.scalar(np.sqrt(hd), f"{prefix}/attention/self/sqrt_d")],
                  f"{prefix}/attention/self/Div")
    scores = g.op("Add", [scores, additive], f"{prefix}/attention/self/Add")
    probs = g.op("Softmax", [scores], f"{prefix}/attention/self/Softmax", axis=-1)
    context = merge_heads(g, g.op("MatMul", [probs, v], f"{prefix}/attention/self/MatMul_1"), seq, dim,
                          f"{prefix}/attention/merge")
    attn = g.linear(context, dim, dim, f"{prefix}/attention/output/dense")
    x = layer_norm(g, g.op("Add", [attn, x], f"{prefix}/attention/output/Add"), dim,
                   f"{prefix}/attention/output/LayerNorm", 1e-12)
    h = gelu_erf(g, g.linear(x, dim, cfg.ffn, f"{prefix}/intermediate/dense"), f"{prefix}/intermediate/gelu")
    h = g.linear(h, cfg.ffn, dim, f"{prefix}/output/dense")
    return layer_norm(g, g.op("Add", [h, x], f"{prefix}/output/Add"), dim, f"{prefix}/output/LayerNorm", 1e-12)


def bert_model(cfg: BertConfig, layers: int, seq: int, name: str, seed: int = 1,
               external: str | None = None) -> onnx.ModelProto:
    """`layers` encoder layers on `seq` tokens (input [1, seq, hidden] and attention_mask [1, seq]);
    layer i's nodes are named `/encoder/layer.i/...` (just `/...` for a single layer)."""
    g = Graph(seed, external)
    x = "input"
    for i in range(layers):
        x = encoder_layer(g, cfg, x, seq, f"/encoder/layer.{i}" if layers > 1 else "")
    return g.model(name, {"input": [1, seq, cfg.hidden], "attention_mask": [1, seq]}, {"output": x},
                   {"output": [1, seq, cfg.hidden]})
