"""Llama decoder layer, two variants (seeded; writes examples/models/llama_prefill.onnx and
examples/models/llama_decode.onnx). The layer is compiler/models/llama.py's `decoder_layer` (the
one `lockstep model llama` stacks): RMSNorm, rotary embeddings from constant cos/sin tables,
grouped-query attention (KV_HEADS < HEADS), causal mask (prefill), SiLU-gated MLP, residuals.

`prefill`: input [1, S, D] -> output, present_k, present_v.
`decode`: one token input [1, 1, D] at position L with a KV cache past_k, past_v
[1, KV_HEADS, L, hd] as inputs, concatenated with the token's k, v (the new present_*).

Run: python examples/models/llama_layer.py
"""
import sys
from pathlib import Path

import numpy as np

from compiler.models.llama import LlamaConfig, decoder_layer, rotary

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Graph, save  # noqa: E402

PREFILL_SEQ, PAST = 16, 15
CONFIG = LlamaConfig(hidden=64, layers=1, heads=4, kv_heads=2, ffn=128, vocab=0, rope_theta=10000.0,
                     rms_eps=1e-6, context=PREFILL_SEQ)


def llama_layer(decode: bool, seed: int = 2):
    g = Graph(seed)
    seq, past = (1, PAST) if decode else (PREFILL_SEQ, 0)
    rope = rotary(g, CONFIG, np.arange(past, past + seq))
    y, present_k, present_v = decoder_layer(g, CONFIG, "input", rope, seq, past,
                                            ("past_k", "past_v") if decode else None)
    inputs = {"input": [1, seq, CONFIG.hidden]}
    if decode:
        cache = [1, CONFIG.kv_heads, PAST, CONFIG.head_dim]
        inputs.update(past_k=cache, past_v=cache)
    kv = [1, CONFIG.kv_heads, past + seq, CONFIG.head_dim]
    return g.model("llama_decode" if decode else "llama_prefill", inputs,
                   {"output": y, "present_k": present_k, "present_v": present_v},
                   {"output": [1, seq, CONFIG.hidden], "present_k": kv, "present_v": kv})


if __name__ == "__main__":
    print(save(llama_layer(decode=False), "llama_prefill"))
    print(save(llama_layer(decode=True), "llama_decode"))
