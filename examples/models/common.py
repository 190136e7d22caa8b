"""Helpers of the example model scripts; the graph builder itself is compiler/models/graph.py
(shared with `lockstep model`), re-exported here."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from compiler.models.graph import Graph, attention_heads, merge_heads
from compiler.models.bert import gelu_erf, layer_norm

__all__ = ["Graph", "attention_heads", "gelu_erf", "gelu_tanh", "layer_norm", "merge_heads", "save"]

HERE = Path(__file__).resolve().parent


def gelu_tanh(g: Graph, x: str, name: str) -> str:
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), GPT-2's gelu_new."""
    cube = g.op("Mul", [g.op("Mul", [x, x], f"{name}/Mul"), x], f"{name}/Mul_1")
    inner = g.op("Add", [x, g.op("Mul", [cube, g.scalar(0.044715, f"{name}.c")], f"{name}/Mul_2")], f"{name}/Add")
    t = g.op("Tanh", [g.op("Mul", [inner, g.scalar(np.sqrt(2 / np.pi), f"{name}.k")], f"{name}/Mul_3")], f"{name}/Tanh")
    one = g.op("Add", [t, g.scalar(1.0, f"{name}.one")], f"{name}/Add_1")
    return g.op("Mul", [g.op("Mul", [x, g.scalar(0.5, f"{name}.half")], f"{name}/Mul_4"), one], f"{name}/Mul_5")


def save(model: onnx.ModelProto, name: str) -> Path:
    path = HERE / f"{name}.onnx"
    onnx.save(model, path)
    return path
