"""A small ONNX graph builder shared by the example model scripts (onnx.helper + numpy)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 10  # onnxruntime refuses the IR version make_model writes by default
HERE = Path(__file__).resolve().parent


class Graph:
    """Nodes and initializers in program order; every helper returns its output's name."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def const(self, array, name: str | None = None) -> str:
        name = name or f"const{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, shape, name: str, scale: float | None = None) -> str:
        scale = scale if scale is not None else 1.0 / np.sqrt(shape[0])
        return self.const((self.rng.standard_normal(shape) * scale).astype(np.float32), name)

    def op(self, kind: str, inputs: list[str], name: str, outputs: int = 1, **attrs) -> str | list[str]:
        outs = [f"{name}_output_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(kind, inputs, outs, name=name, **attrs))
        return outs[0] if outputs == 1 else outs

    def linear(self, x: str, n_in: int, n_out: int, name: str, bias: bool = True) -> str:
        y = self.op("MatMul", [x, self.weight((n_in, n_out), f"{name}.weight")], f"{name}/MatMul")
        if bias:
            b = self.const((self.rng.standard_normal(n_out) * 0.02).astype(np.float32), f"{name}.bias")
            y = self.op("Add", [y, b], f"{name}/Add")
        return y

    def shape(self, dims, name: str) -> str:
        return self.const(np.array(dims, dtype=np.int64), name)

    def scalar(self, value: float, name: str) -> str:
        return self.const(np.array(value, dtype=np.float32), name)

    def model(self, name: str, inputs: dict[str, list[int]], outputs: dict[str, str],
              out_shapes: dict[str, list[int]]) -> onnx.ModelProto:
        """`outputs` maps graph output names to the values they are (renamed via Identity)."""
        for out, value in outputs.items():
            self.nodes.append(helper.make_node("Identity", [value], [out], name=f"{out}/Identity"))
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info(k, TensorProto.FLOAT, v) for k, v in inputs.items()],
            [helper.make_tensor_value_info(k, TensorProto.FLOAT, out_shapes[k]) for k in outputs],
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="lockstep")
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model, full_check=True)
        return model


def layer_norm(g: Graph, x: str, dim: int, name: str, eps: float = 1e-5) -> str:
    scale = g.const((1.0 + 0.1 * g.rng.standard_normal(dim)).astype(np.float32), f"{name}.weight")
    bias = g.const((0.1 * g.rng.standard_normal(dim)).astype(np.float32), f"{name}.bias")
    return g.op("LayerNormalization", [x, scale, bias], f"{name}/LayerNormalization", axis=-1, epsilon=eps)


def attention_heads(g: Graph, x: str, seq: int, heads: int, head_dim: int, name: str, perm=(0, 2, 1, 3)) -> str:
    """[1, S, H*hd] -> [1, H, S, hd] (perm (0, 2, 3, 1) gives K^T: [1, H, hd, S])."""
    split = g.op("Reshape", [x, g.shape([1, seq, heads, head_dim], f"{name}.shape")], f"{name}/Reshape")
    return g.op("Transpose", [split], f"{name}/Transpose", perm=list(perm))


def merge_heads(g: Graph, x: str, seq: int, dim: int, name: str) -> str:
    """[1, H, S, hd] -> [1, S, H*hd]."""
    moved = g.op("Transpose", [x], f"{name}/Transpose", perm=[0, 2, 1, 3])
    return g.op("Reshape", [moved, g.shape([1, seq, dim], f"{name}.shape")], f"{name}/Reshape")


def gelu_erf(g: Graph, x: str, name: str) -> str:
    """0.5 x (1 + erf(x / sqrt 2)), the exact GELU (BERT)."""
    scaled = g.op("Div", [x, g.scalar(np.sqrt(2.0), f"{name}.sqrt2")], f"{name}/Div")
    erf = g.op("Erf", [scaled], f"{name}/Erf")
    one = g.op("Add", [erf, g.scalar(1.0, f"{name}.one")], f"{name}/Add")
    half = g.op("Mul", [x, g.scalar(0.5, f"{name}.half")], f"{name}/Mul")
    return g.op("Mul", [half, one], f"{name}/Mul_1")


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
