"""BERT encoder layer (post-LN): Q, K, V projections split into heads, scaled Q K^T plus an
additive attention mask built from the `attention_mask` input (a key is attended where its
mask value is > 0, else -10000 is added, via Greater + Where), softmax, @V, merged heads,
output projection, residual, LayerNorm; GELU (erf form) MLP, residual, LayerNorm.
Seeded; writes examples/models/bert_layer.onnx.

Run: python examples/models/bert_layer.py
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

from compiler.models.bert import BertConfig, bert_model  # noqa: E402

SEQ, DIM, HEADS, FFN = 16, 64, 8, 256


def bert_layer(seed: int = 1):
    return bert_model(BertConfig(DIM, HEADS, FFN), 1, SEQ, "bert_layer", seed)


if __name__ == "__main__":
    print(save(bert_layer(), "bert_layer"))
