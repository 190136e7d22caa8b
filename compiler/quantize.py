"""Weight-only int8 quantization: the numbers, shared by the `quantize-weights` pass and the
oracle `lockstep run --check --weights int8` compares against.

Per output channel and symmetric: a weight [K, N] (output channel n is column n) becomes
q int8 [K, N] and scale f32 [N] with scale[n] = max|w[:, n]| / 127 (1 for an all-zero
column) and q = round-half-even(w / scale) clipped to [-127, 127], all in f32. The compiled
model computes (A @ q) * scale: the int8 products are exact in the fp32 MXM and accumulate
in fp32. The oracle is the ONNX model whose weights are replaced by q * scale (f32), run by
onnxruntime: the same real-valued product, rounded in another order.

`dequantized_model` finds at the ONNX level the weights `quantize-weights` finds after
`normalise`: a constant (initializer or Constant node) that is MatMul's B (rank 1 or 2),
Gemm's B, or Conv's W (whose output channel is axis 0; the compiler's [KH*KW*C, M] matrix
holds the same values per column, zeros added for groups).
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import onnx
from onnx import numpy_helper

from compiler.errors import LockstepError

QMAX = 127
WEIGHTS = ("fp32", "int8")
"""What `--weights` may ask for."""


def quantize_per_channel(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(q int8 [K, N], scale f32 [N]) of a weight w [K, N]: w ~ q * scale, column by column."""
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"quantize_per_channel takes a [K, N] matrix, not shape {list(w.shape)}")
    peak = np.max(np.abs(w), axis=0, initial=np.float32(0))
    scale = np.where(peak > 0, peak / np.float32(QMAX), np.float32(1)).astype(np.float32)
    q = np.clip(np.rint(w / scale), -QMAX, QMAX).astype(np.int8)  # rint: round half to even
    return q, scale


def dequantize(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The f32 weights an int8 weight stands for: q * scale, per column."""
    return (q.astype(np.float32) * scale).astype(np.float32)


def _channels_last(w: np.ndarray, axis: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """w as a [rest, channels] matrix (channel axis last), and the axis order to undo it."""
    order = tuple(a for a in range(w.ndim) if a != axis) + (axis,)
    return np.transpose(w, order).reshape(-1, w.shape[axis]), order


def dequantized_weight(w: np.ndarray, axis: int | None) -> np.ndarray:
    """q * scale of a weight quantized per channel along `axis` (None: one channel, MatMul's
    1-D B, a [K, 1] matrix to the compiler), in w's own shape."""
    if axis is None:
        return dequantize(*quantize_per_channel(w.reshape(-1, 1))).reshape(w.shape)
    matrix, order = _channels_last(w, axis)
    moved = dequantize(*quantize_per_channel(matrix)).reshape([w.shape[a] for a in order])
    return np.transpose(moved, np.argsort(order))


_NOT_A_WEIGHT = -1


def _weight_axis(node: onnx.NodeProto, rank: int) -> int | None:
    """The output-channel axis of the node's input 1 (None: all one channel), or _NOT_A_WEIGHT
    if the compiler does not quantize it."""
    if node.op_type == "MatMul":
        return {1: None, 2: 1}.get(rank, _NOT_A_WEIGHT)
    if node.op_type == "Gemm":
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    if node.op_type == "Conv":
        return 0
    return _NOT_A_WEIGHT


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """Float constants by value name: initializers and Constant nodes' tensors."""
    out = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            out[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return {name: a for name, a in out.items() if a.dtype.kind == "f"}


def _drop_unread_initializers(graph: onnx.GraphProto) -> None:
    """Originals no node reads any more (onnxruntime warns about each)."""
    read = {name for node in graph.node for name in node.input} | {v.name for v in graph.output}
    kept = [t for t in graph.initializer if t.name in read]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def node_name(node: onnx.NodeProto, index: int) -> str:
    """The name the importer gives a node (and the compiler's ops keep as their location)."""
    return node.name or f"{node.op_type}_{index}"


def dequantized_model(model: onnx.ModelProto, expect: Collection[str] | None = None) -> onnx.ModelProto:
    """A copy of `model` whose int8-quantized weights are q * scale (f32): every node that reads a
    quantized weight reads a new initializer holding its dequantized values (other readers of
    the same constant keep the original). With `expect` (the node names the compiler
    quantized), an oracle that would not mirror the compiler exactly is an error."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    constants = _constants(graph)
    done: dict[tuple[str, int], str] = {}
    mirrored = []
    for index, node in enumerate(graph.node):
        if len(node.input) < 2 or node.input[1] not in constants:
            continue
        weight = constants[node.input[1]]
        axis = _weight_axis(node, weight.ndim)
        if axis == _NOT_A_WEIGHT:
            continue
        key = (node.input[1], axis)
        if key not in done:
            done[key] = f"{node.input[1]}.int8_dequantized.{axis}"
            graph.initializer.append(numpy_helper.from_array(dequantized_weight(weight, axis), done[key]))
        node.input[1] = done[key]
        mirrored.append(node_name(node, index))
    _drop_unread_initializers(graph)
    if expect is not None and set(expect) != set(mirrored):
        only_compiler = sorted(set(expect) - set(mirrored))
        only_oracle = sorted(set(mirrored) - set(expect))
        raise LockstepError(
            "the int8 oracle cannot mirror the compiler's quantization: "
            + "; ".join(filter(None, [
                only_compiler and f"weights derived by the compiler at {', '.join(only_compiler)}",
                only_oracle and f"weights the compiler left in fp32 at {', '.join(only_oracle)}",
            ]))
        )
    return out
