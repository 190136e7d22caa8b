"""A small ONNX graph builder (onnx.helper + numpy) shared by the model generators and the example
scripts of examples/models/.

Parameters (weights, norms' scales, biases) go through `Graph.param`: with `external=None` they are
seeded random arrays stored in the file; with `external="NAME"` they are ONNX external-data
references into NAME (offset and length per tensor, the file itself never written), so a 70B model
is a few hundred KiB of graph and its weights are never allocated.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from compiler.errors import LockstepError

OPSET = 17
IR_VERSION = 10  # onnxruntime refuses the IR version make_model writes by default
PROTOBUF_LIMIT = 2**31 - 1  # one ModelProto (the .onnx file with inline weights) cannot be larger


class Graph:
    """Nodes and initializers in program order; every helper returns its output's name."""

    def __init__(self, seed: int, external: str | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.external = external
        self.external_bytes = 0  # the next external tensor's offset: the absent file's length so far

    def const(self, array, name: str | None = None) -> str:
        name = name or f"const{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def const_once(self, name: str, make: Callable[[], np.ndarray]) -> str:
        """A constant shared by every user of `name` (created by the first)."""
        if not any(init.name == name for init in self.inits):
            self.const(make(), name)
        return name

    def param(self, shape: tuple[int, ...], name: str, make: Callable[[], np.ndarray]) -> str:
        """A float32 parameter: `make()` (drawing from self.rng) inline, or an external reference."""
        if self.external is None:
            return self.const(make(), name)
        tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=shape,
                             data_location=TensorProto.EXTERNAL)
        length = 4 * int(np.prod(shape, dtype=np.int64))
        for key, value in (("location", self.external), ("offset", self.external_bytes), ("length", length)):
            tensor.external_data.add(key=key, value=str(value))
        self.external_bytes += length
        self.inits.append(tensor)
        return name

    def weight(self, shape, name: str, scale: float | None = None) -> str:
        scale = scale if scale is not None else 1.0 / np.sqrt(shape[0])
        return self.param(tuple(shape), name,
                          lambda: (self.rng.standard_normal(shape) * scale).astype(np.float32))

    def op(self, kind: str, inputs: list[str], name: str, outputs: int = 1, **attrs) -> str | list[str]:
        outs = [f"{name}_output_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(kind, inputs, outs, name=name, **attrs))
        return outs[0] if outputs == 1 else outs

    def linear(self, x: str, n_in: int, n_out: int, name: str, bias: bool = True) -> str:
        y = self.op("MatMul", [x, self.weight((n_in, n_out), f"{name}.weight")], f"{name}/MatMul")
        if bias:
            b = self.param((n_out,), f"{name}.bias",
                           lambda: (self.rng.standard_normal(n_out) * 0.02).astype(np.float32))
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
        check(model)
        return model


def save_model(model: onnx.ModelProto, path: Path) -> None:
    """Write `model` to `path`; a missing directory or a failed write is one error line."""
    if not path.parent.is_dir():
        raise LockstepError(f"cannot write '{path}': directory '{path.parent}' does not exist")
    try:
        onnx.save(model, path)
    except OSError as err:
        raise LockstepError(f"cannot write '{path}': {err.strerror or err}") from None


def external_files(model: onnx.ModelProto) -> dict[str, int]:
    """Each external-data file the model's initializers name, with the length they need."""
    files: dict[str, int] = {}
    for tensor in model.graph.initializer:
        if tensor.data_location == TensorProto.EXTERNAL:
            info = {entry.key: entry.value for entry in tensor.external_data}
            end = int(info.get("offset", 0)) + int(info["length"])
            files[info["location"]] = max(files.get(info["location"], 0), end)
    return files


def check(model: onnx.ModelProto) -> None:
    """onnx.checker with shape inference. The checker insists that external-data files exist
    (onnx/onnx#3598) though it never reads them, so a model with absent weights is checked from a
    temporary directory beside sparse placeholders of the declared lengths (no data is written)."""
    files = external_files(model)
    if not files:
        onnx.checker.check_model(model, full_check=True)
        return
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "model.onnx"
        path.write_bytes(model.SerializeToString())
        for location, length in files.items():
            with open(Path(scratch) / location, "wb") as placeholder:
                os.truncate(placeholder.fileno(), length)
        onnx.checker.check_model(str(path), full_check=True)


def attention_heads(g: Graph, x: str, seq: int, heads: int, head_dim: int, name: str, perm=(0, 2, 1, 3)) -> str:
    """[1, S, H*hd] -> [1, H, S, hd] (perm (0, 2, 3, 1) gives K^T: [1, H, hd, S])."""
    split = g.op("Reshape", [x, g.shape([1, seq, heads, head_dim], f"{name}.shape")], f"{name}/Reshape")
    return g.op("Transpose", [split], f"{name}/Transpose", perm=list(perm))


def merge_heads(g: Graph, x: str, seq: int, dim: int, name: str) -> str:
    """[1, H, S, hd] -> [1, S, H*hd]."""
    moved = g.op("Transpose", [x], f"{name}/Transpose", perm=[0, 2, 1, 3])
    return g.op("Reshape", [moved, g.shape([1, seq, dim], f"{name}.shape")], f"{name}/Reshape")
