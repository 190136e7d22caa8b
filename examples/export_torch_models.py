"""PyTorch versions of the example architectures, exported to examples/torch/*.onnx.

The same small sizes as the hand-built graphs of examples/models/, written the way
PyTorch users write them (nn.Linear, nn.LayerNorm, nn.BatchNorm2d, view/transpose,
masked_fill, F.scaled_dot_product_attention, ...) and exported by
torch.onnx.export(dynamo=True, opset 18) as torch_export.py says, under
torch.manual_seed(SEED) (PyTorch's default initialisation, except the batch norm
statistics and norm weights, which are randomised so they matter):

- cnn: Conv + BatchNorm + ReLU stem, a residual block, MaxPool, a strided
  Conv + BN + ReLU, AvgPool, AdaptiveAvgPool(1), flatten, Linear.
- gpt2_block (nanoGPT style, pre-LN): fused QKV Linear split into heads, a
  causal `tril` buffer applied with masked_fill(-inf), softmax, @V, output
  projection, residual; LayerNorm, GELU (tanh) MLP, residual.
- bert_layer (post-LN): Q, K, V Linear, the int64 `attention_mask` input [1, S]
  (1 = attend) turned into an additive (1 - mask) * -10000 term, softmax attention,
  LayerNorm, GELU (erf) MLP, LayerNorm.
- llama_prefill, llama_decode (Llama / Hugging Face style): RMSNorm (x * rsqrt(mean(x^2) + eps)),
  rotary embeddings (cos/sin of positions times inv_freq, rotate_half),
  grouped-query attention (repeat_kv by expand + reshape) through
  F.scaled_dot_product_attention (is_causal in prefill), SiLU-gated MLP. Prefill
  numbers the positions itself; decode is one token whose position is the int64
  input `cache_position` [1] (as in Hugging Face), with the KV cache past_k, past_v
  [1, KV_HEADS, PAST, hd] as inputs, so its rotary angles are computed at run time.
  Both return the new present_k, present_v.

Each is written twice: NAME.onnx is the default export (static shapes, the exporter's
optimiser on); NAME_dynamic.onnx has symbolic batch and sequence (or cache) dimensions
and optimize=False, the rawest graph a user can bring: shape subgraphs on Shape of the
symbolic dimensions, the causal mask built with Trilu, torch.split as SplitToSequence,
CastLike, Constant nodes. It runs with --shape (e.g. --shape input=2,8,64).

Needs the optional extra: pip install -e '.[export]'
Run: python examples/export_torch_models.py
"""
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.export import Dim

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_export import describe, export  # noqa: E402

SEED = 0
OUT = Path(__file__).resolve().parent / "torch"
SEQ, DIM = 16, 64


def randomise_(norm: nn.Module) -> None:
    """Default init leaves norms the identity (weight 1, bias 0, mean 0, var 1): perturb them."""
    with torch.no_grad():
        for name, tensor in [*norm.named_parameters(), *norm.named_buffers()]:
            if name == "num_batches_tracked":
                continue
            if name == "running_var":
                tensor.copy_(0.5 + torch.rand_like(tensor))
            else:
                tensor.add_(0.1 * torch.randn_like(tensor))


# ------------------------------------------------------------------ CNN

class ConvBN(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int = 1, relu: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        randomise_(self.bn)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(self.conv(x))
        return F.relu(y) if self.relu else y


class CNN(nn.Module):
    def __init__(self, channels: int = 3, classes: int = 10) -> None:
        super().__init__()
        self.stem = ConvBN(channels, 16)
        self.block1_a = ConvBN(16, 16)
        self.block1_b = ConvBN(16, 16, relu=False)
        self.pool = nn.MaxPool2d(2)
        self.block2 = ConvBN(16, 32, stride=2)
        self.pool2 = nn.AvgPool2d(2, stride=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = F.relu(self.block1_b(self.block1_a(x)) + x)
        x = self.pool2(self.block2(self.pool(x)))
        return self.fc(torch.flatten(self.gap(x), 1))


# ------------------------------------------------------------------ attention helpers

def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """[B, S, H*hd] -> [B, H, S, hd]."""
    b, s, d = x.shape
    return x.view(b, s, heads, d // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """[B, H, S, hd] -> [B, S, H*hd]."""
    b, h, s, hd = x.shape
    return x.transpose(1, 2).contiguous().view(b, s, h * hd)


# ------------------------------------------------------------------ GPT-2

class GPT2Block(nn.Module):
    def __init__(self, heads: int = 4, ffn: int = 256) -> None:
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(DIM), nn.LayerNorm(DIM)
        randomise_(self.ln_1)
        randomise_(self.ln_2)
        self.c_attn = nn.Linear(DIM, 3 * DIM)
        self.c_proj = nn.Linear(DIM, DIM)
        self.c_fc = nn.Linear(DIM, ffn)
        self.mlp_proj = nn.Linear(ffn, DIM)
        self.register_buffer("bias", torch.tril(torch.ones(SEQ, SEQ)).view(1, 1, SEQ, SEQ))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.size(1)
        q, k, v = self.c_attn(self.ln_1(x)).split(DIM, dim=2)
        q, k, v = (split_heads(z, self.heads) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :t, :t] == 0, float("-inf"))
        x = x + self.c_proj(merge_heads(F.softmax(att, dim=-1) @ v))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


# ------------------------------------------------------------------ BERT

class BertLayer(nn.Module):
    def __init__(self, heads: int = 8, ffn: int = 256) -> None:
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = nn.Linear(DIM, DIM), nn.Linear(DIM, DIM), nn.Linear(DIM, DIM)
        self.dense = nn.Linear(DIM, DIM)
        self.attention_norm = nn.LayerNorm(DIM, eps=1e-12)
        self.intermediate = nn.Linear(DIM, ffn)
        self.output = nn.Linear(ffn, DIM)
        self.output_norm = nn.LayerNorm(DIM, eps=1e-12)
        randomise_(self.attention_norm)
        randomise_(self.output_norm)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        q, k, v = (split_heads(f(x), self.heads) for f in (self.query, self.key, self.value))
        extended = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.size(-1)) + extended
        context = merge_heads(F.softmax(scores, dim=-1) @ v)
        x = self.attention_norm(self.dense(context) + x)
        return self.output_norm(self.output(F.gelu(self.intermediate(x))) + x)


# ------------------------------------------------------------------ Llama

LLAMA_HEADS, LLAMA_KV_HEADS, LLAMA_FFN, PAST, THETA = 4, 2, 128, 15, 10000.0


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps
        randomise_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """[B, KV, S, hd] -> [B, KV * groups, S, hd], head h reading KV head h // groups."""
    b, kv, s, hd = x.shape
    return x[:, :, None, :, :].expand(b, kv, groups, s, hd).reshape(b, kv * groups, s, hd)


class LlamaLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head_dim = DIM // LLAMA_HEADS
        kv_dim = LLAMA_KV_HEADS * self.head_dim
        self.input_layernorm, self.post_attention_layernorm = RMSNorm(DIM), RMSNorm(DIM)
        self.q_proj = nn.Linear(DIM, DIM, bias=False)
        self.k_proj = nn.Linear(DIM, kv_dim, bias=False)
        self.v_proj = nn.Linear(DIM, kv_dim, bias=False)
        self.o_proj = nn.Linear(DIM, DIM, bias=False)
        self.gate_proj = nn.Linear(DIM, LLAMA_FFN, bias=False)
        self.up_proj = nn.Linear(DIM, LLAMA_FFN, bias=False)
        self.down_proj = nn.Linear(LLAMA_FFN, DIM, bias=False)
        inv_freq = 1.0 / THETA ** (torch.arange(0, self.head_dim, 2, dtype=torch.float32) / self.head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x: torch.Tensor, positions: torch.Tensor, past_k: torch.Tensor | None = None,
                past_v: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.input_layernorm(x)
        q = split_heads(self.q_proj(h), LLAMA_HEADS)
        k = split_heads(self.k_proj(h), LLAMA_KV_HEADS)
        v = split_heads(self.v_proj(h), LLAMA_KV_HEADS)
        angles = torch.outer(positions.to(torch.float32), self.inv_freq)
        angles = torch.cat((angles, angles), dim=-1)
        cos, sin = angles.cos(), angles.sin()
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if past_k is not None:
            k, v = torch.cat((past_k, k), dim=2), torch.cat((past_v, v), dim=2)
        groups = LLAMA_HEADS // LLAMA_KV_HEADS
        context = F.scaled_dot_product_attention(q, repeat_kv(k, groups), repeat_kv(v, groups),
                                                 is_causal=past_k is None)
        x = x + self.o_proj(merge_heads(context))
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h)), k, v


class LlamaPrefill(LlamaLayer):
    """The whole prompt at positions 0 ... S-1, numbered inside the model."""

    def forward(self, x: torch.Tensor):
        return super().forward(x, torch.arange(x.shape[1]))


class LlamaDecode(LlamaLayer):
    """One decode step: the token's position and the cache are inputs."""

    def forward(self, x: torch.Tensor, cache_position: torch.Tensor, past_k: torch.Tensor, past_v: torch.Tensor):
        return super().forward(x, cache_position, past_k, past_v)


# ------------------------------------------------------------------ export

def inputs_for(name: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    normal = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    head_dim = DIM // LLAMA_HEADS
    if name == "cnn":
        return {"input": normal(1, 3, 16, 16)}
    if name == "bert_layer":
        mask = np.ones((1, SEQ), np.int64)
        mask[0, -3:] = 0  # padding at the end
        return {"input": normal(1, SEQ, DIM), "attention_mask": mask}
    if name == "llama_decode":
        return {"input": normal(1, 1, DIM), "cache_position": np.array([PAST], np.int64),
                "past_k": normal(1, LLAMA_KV_HEADS, PAST, head_dim),
                "past_v": normal(1, LLAMA_KV_HEADS, PAST, head_dim)}
    return {"input": normal(1, SEQ, DIM)}


BATCH, SEQUENCE, CACHE = Dim("batch"), Dim("seq", max=SEQ), Dim("past")  # GPT-2's causal buffer is SEQ x SEQ
TOKENS = {"input": {0: BATCH, 1: SEQUENCE}}
WITH_CACHE = ["output", "present_k", "present_v"]
# name -> (module, outputs, symbolic dimensions of the _dynamic export)
MODELS: dict[str, tuple[type[nn.Module], list[str], dict[str, dict[int, Dim]]]] = {
    "cnn": (CNN, ["output"], {"input": {0: BATCH}}),
    "gpt2_block": (GPT2Block, ["output"], TOKENS),
    "bert_layer": (BertLayer, ["output"], {**TOKENS, "attention_mask": {0: BATCH, 1: SEQUENCE}}),
    "llama_prefill": (LlamaPrefill, WITH_CACHE, TOKENS),
    "llama_decode": (LlamaDecode, WITH_CACHE, {"input": {0: BATCH}, "past_k": {0: BATCH, 2: CACHE},
                                            "past_v": {0: BATCH, 2: CACHE}}),
}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, (cls, outputs, dynamic) in MODELS.items():
        for path, variant in ((OUT / f"{name}.onnx", {}),
                              (OUT / f"{name}_dynamic.onnx", {"dynamic": dynamic, "optimize": False})):
            torch.manual_seed(SEED)
            proto = export(cls(), inputs_for(name, np.random.default_rng(SEED)), outputs, path, **variant)
            print(describe(path, proto))


if __name__ == "__main__":
    main()
