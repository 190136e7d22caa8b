"""ONNX front end: an ONNX model file becomes a `tops` module (`func.func @main`).

Every op keeps its ONNX node name as a `NameLoc`, function arguments and results
carry `{tops.name = "<onnx name>"}`, initializers become `tops.constant`.
Shape computations that exporters emit (Shape, Gather, Concat, Cast, ... on
values whose shapes are static, and integer arithmetic) are evaluated here, so
Reshape sees a constant target; Flatten, Squeeze and Unsqueeze become reshapes.
Shapes must be static (an input's unknown dimensions are fixed with
`shape_overrides`), and only float32 tensors are accepted. Anything the
importer cannot represent raises `LockstepError` with one sentence naming it.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import AttributeProto, TensorProto, numpy_helper
from onnx.reference import ReferenceEvaluator
from xdsl.builder import Builder
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    ModuleOp,
    NameLoc,
    NoneAttr,
    StringAttr,
)
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.rewriter import InsertPoint

from compiler.errors import LockstepError
from dialects import tops

ONNX_DOMAINS = ("", "ai.onnx")


@dataclass
class Node:
    """What an op converter sees of one ONNX node."""

    proto: onnx.NodeProto
    name: str
    opset: int
    attrs: dict[str, object]

    def describe(self) -> str:
        return f"node '{self.name}' (op {self.proto.op_type})"


@dataclass
class Importer:
    """Walks the graph in order, mapping ONNX value names to SSA values or constants."""

    builder: Builder
    values: dict[str, SSAValue] = field(default_factory=dict)
    # constants (initializers, Constant nodes) by value name: (array, name for the location)
    constants: dict[str, tuple[np.ndarray, str]] = field(default_factory=dict)

    def emit(self, op: Operation, node_name: str) -> SSAValue:
        op.location = NameLoc(StringAttr(node_name), NoneAttr())
        self.builder.insert(op)
        return op.results[0]

    def value(self, name: str, user: str) -> SSAValue:
        """The float32 tensor named `name`; constants are materialised at their first use."""
        if name in self.values:
            return self.values[name]
        if name not in self.constants:
            raise LockstepError(
                f"{user} uses '{name}', which is not an input, an initializer or an earlier node's output"
            )
        array, loc = self.constants[name]
        if array.dtype != np.float32:
            raise LockstepError(
                f"{user} uses '{name}' of element type {array.dtype}; only float32 tensors are supported"
            )
        self.values[name] = self.emit(tops.ConstantOp.from_array(array), loc)
        return self.values[name]

    def constant(self, name: str, user: str) -> np.ndarray:
        if name not in self.constants:
            raise LockstepError(f"{user} needs a constant shape, but '{name}' is computed at run time")
        return self.constants[name][0]


# ---------------------------------------------------------------- op converters

Converter = Callable[[Importer, Node], list[SSAValue] | None]


def _inputs(imp: Importer, node: Node) -> list[SSAValue]:
    return [imp.value(name, node.describe()) for name in node.proto.input if name]


def _binary(op: type[tops.BinaryOp]) -> Converter:
    def convert(imp: Importer, node: Node) -> list[SSAValue]:
        lhs, rhs = _inputs(imp, node)
        if tops.broadcast_shapes(tops.shape_of(lhs), tops.shape_of(rhs)) is None:
            raise LockstepError(
                f"{node.describe()}: shapes {tops.fmt(tops.shape_of(lhs))} and"
                f" {tops.fmt(tops.shape_of(rhs))} do not broadcast"
            )
        return [imp.emit(op(lhs, rhs), node.name)]

    return convert


def _unary(op: type[tops.UnaryOp]) -> Converter:
    def convert(imp: Importer, node: Node) -> list[SSAValue]:
        (x,) = _inputs(imp, node)
        return [imp.emit(op(x), node.name)]

    return convert


def _matmul(imp: Importer, node: Node) -> list[SSAValue]:
    a, b = _inputs(imp, node)
    shape = tops.matmul_shape(tops.shape_of(a), tops.shape_of(b))
    if isinstance(shape, str):
        raise LockstepError(f"{node.describe()}: {shape}")
    return [imp.emit(tops.MatmulOp(a, b), node.name)]


def _gemm(imp: Importer, node: Node) -> list[SSAValue]:
    a, b, *c = _inputs(imp, node)
    trans_a, trans_b = bool(node.attrs.get("transA", 0)), bool(node.attrs.get("transB", 0))
    shape = tops.gemm_shape(tops.shape_of(a), tops.shape_of(b), trans_a, trans_b)
    if isinstance(shape, str):
        raise LockstepError(f"{node.describe()}: {shape}")
    if c and not tops.broadcasts_to(tops.shape_of(c[0]), shape):
        raise LockstepError(
            f"{node.describe()}: C of shape {tops.fmt(tops.shape_of(c[0]))} does not broadcast to {tops.fmt(shape)}"
        )
    op = tops.GemmOp(
        a,
        b,
        c[0] if c else None,
        alpha=float(node.attrs.get("alpha", 1.0)),
        beta=float(node.attrs.get("beta", 1.0)),
        trans_a=trans_a,
        trans_b=trans_b,
    )
    return [imp.emit(op, node.name)]


def _softmax(imp: Importer, node: Node) -> list[SSAValue]:
    (x,) = _inputs(imp, node)
    shape = tops.shape_of(x)
    axis = int(node.attrs.get("axis", -1 if node.opset >= 13 else 1))
    resolved = tops.normalise_axis(axis, len(shape))
    if resolved is None:
        raise LockstepError(f"{node.describe()}: axis {axis} is out of range for rank {len(shape)}")
    if node.opset >= 13 or resolved == len(shape) - 1:
        return [imp.emit(tops.SoftmaxOp(x, axis), node.name)]
    # before opset 13 the input is coerced to 2-D at `axis` and normalised per row
    rows = int(np.prod(shape[:resolved], dtype=int))
    flat = imp.emit(tops.ReshapeOp(x, [rows, int(np.prod(shape[resolved:], dtype=int))]), node.name)
    soft = imp.emit(tops.SoftmaxOp(flat, 1), node.name)
    return [imp.emit(tops.ReshapeOp(soft, shape), node.name)]


def _reshape_target(node: Node, source: Sequence[int], request: Sequence[int]) -> list[int]:
    """ONNX Reshape's target shape: 0 copies the input dimension (unless allowzero), -1 is inferred."""
    allowzero = bool(node.attrs.get("allowzero", 0))
    shape = [source[i] if d == 0 and not allowzero and i < len(source) else int(d) for i, d in enumerate(request)]
    if shape.count(-1) > 1 or any(d < -1 for d in shape):
        raise LockstepError(f"{node.describe()}: invalid target shape {list(request)}")
    total = int(np.prod(source, dtype=int))
    known = int(np.prod([d for d in shape if d != -1], dtype=int))
    if -1 in shape:
        if known == 0 or total % known:
            raise LockstepError(f"{node.describe()}: cannot reshape {tops.fmt(source)} to {list(request)}")
        shape[shape.index(-1)] = total // known
    if int(np.prod(shape, dtype=int)) != total:
        raise LockstepError(f"{node.describe()}: cannot reshape {tops.fmt(source)} to {list(request)}")
    return shape


def _reshape(imp: Importer, node: Node) -> list[SSAValue]:
    x = imp.value(node.proto.input[0], node.describe())
    request = imp.constant(node.proto.input[1], node.describe()).astype(np.int64).reshape(-1).tolist()
    shape = _reshape_target(node, tops.shape_of(x), request)
    return [imp.emit(tops.ReshapeOp(x, shape), node.name)]


def _transpose(imp: Importer, node: Node) -> list[SSAValue]:
    (x,) = _inputs(imp, node)
    rank = len(tops.shape_of(x))
    perm = [int(p) for p in node.attrs.get("perm", range(rank - 1, -1, -1))]
    if sorted(perm) != list(range(rank)):
        raise LockstepError(f"{node.describe()}: perm {perm} is not a permutation of {rank} dimensions")
    return [imp.emit(tops.TransposeOp(x, perm), node.name)]


def _identity(imp: Importer, node: Node) -> list[SSAValue] | None:
    source = node.proto.input[0]
    if source in imp.constants and source not in imp.values:
        imp.constants[node.proto.output[0]] = imp.constants[source]
        return None
    return [imp.value(source, node.describe())]


def _constant(imp: Importer, node: Node) -> None:
    attrs = node.attrs
    if "value" in attrs:
        array = numpy_helper.to_array(attrs["value"])
    elif "value_float" in attrs:
        array = np.array(attrs["value_float"], dtype=np.float32)
    elif "value_floats" in attrs:
        array = np.array(attrs["value_floats"], dtype=np.float32)
    elif "value_int" in attrs or "value_ints" in attrs:
        # only meaningful as a Reshape shape; a float use reports the element type
        array = np.array(attrs.get("value_int", attrs.get("value_ints")), dtype=np.int64)
    else:
        raise LockstepError(f"{node.describe()}: only value, value_float(s) and value_int(s) are supported")
    imp.constants[node.proto.output[0]] = (array, node.name)


def _evaluate(node: Node, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The outputs of one ONNX node on numpy arrays, by the onnx reference implementation."""
    feeds = {name: array for name, array in zip(node.proto.input, arrays) if name}
    evaluator = ReferenceEvaluator(node.proto, opsets={"": node.opset})
    return [np.asarray(out) for out in evaluator.run(None, feeds)]


def _shape_of_input(imp: Importer, node: Node) -> tuple[int, ...]:
    """The static shape of a node's first input, run-time value or constant."""
    name = node.proto.input[0]
    if name in imp.constants:
        return tuple(imp.constants[name][0].shape)
    return tops.shape_of(imp.value(name, node.describe()))


def _shape(imp: Importer, node: Node) -> None:
    """Shape of a value: a constant, since every shape is static here."""
    shape = np.array(_shape_of_input(imp, node), dtype=np.int64)
    start, end = int(node.attrs.get("start", 0)), node.attrs.get("end")
    imp.constants[node.proto.output[0]] = (shape[start : None if end is None else int(end)], node.name)


def _size(imp: Importer, node: Node) -> None:
    size = np.array(int(np.prod(_shape_of_input(imp, node), dtype=int)), dtype=np.int64)
    imp.constants[node.proto.output[0]] = (size, node.name)


def _fold(imp: Importer, node: Node) -> None:
    """A shape-computation op on constants becomes constants."""
    arrays = []
    for name in node.proto.input:
        if name and name not in imp.constants:
            raise LockstepError(
                f"{node.describe()} is only supported on constants (shape computations),"
                f" but '{name}' is computed at run time"
            )
        arrays.append(imp.constants[name][0] if name else None)
    for name, array in zip(node.proto.output, _evaluate(node, arrays)):
        if name:
            imp.constants[name] = (array, node.name)


def _view(imp: Importer, node: Node) -> list[SSAValue] | None:
    """Flatten, Squeeze and Unsqueeze only change the shape: a reshape (folded on constants)."""
    if all(not name or name in imp.constants for name in node.proto.input):
        return _fold(imp, node)
    x = imp.value(node.proto.input[0], node.describe())
    arrays = [np.zeros(tops.shape_of(x), np.float32)]
    for name in node.proto.input[1:]:  # axes (Squeeze/Unsqueeze from opset 13)
        arrays.append(imp.constant(name, node.describe()) if name else None)
    (shaped,) = _evaluate(node, arrays)
    return [imp.emit(tops.ReshapeOp(x, list(shaped.shape)), node.name)]


def _cast(imp: Importer, node: Node) -> list[SSAValue] | None:
    """Cast of constants is evaluated; a cast of a (float32) run-time value to float32 is the value."""
    source = node.proto.input[0]
    if source in imp.constants and source not in imp.values:
        return _fold(imp, node)
    if int(node.attrs.get("to", 0)) != TensorProto.FLOAT:
        to = TensorProto.DataType.Name(int(node.attrs.get("to", 0)))
        raise LockstepError(f"{node.describe()} casts a run-time value to {to}; only float32 tensors are supported")
    return [imp.value(source, node.describe())]


def _expand(imp: Importer, node: Node) -> list[SSAValue] | None:
    """Expand of constants is evaluated; of a run-time value it is a broadcast."""
    if all(name in imp.constants and name not in imp.values for name in node.proto.input):
        return _fold(imp, node)
    x = imp.value(node.proto.input[0], node.describe())
    request = imp.constant(node.proto.input[1], node.describe()).astype(np.int64).reshape(-1).tolist()
    try:
        shape = list(np.broadcast_shapes(tops.shape_of(x), tuple(request)))
    except ValueError:
        raise LockstepError(f"{node.describe()}: {tops.fmt(tops.shape_of(x))} does not expand to {request}") from None
    return [imp.emit(tops.BroadcastOp(x, shape), node.name)]


# ops that compute shapes: evaluated on constants at import time
SHAPE_OPS: dict[str, Converter] = {
    "Shape": _shape,
    "Size": _size,
    "Cast": _cast,
    "Expand": _expand,
    **{op: _fold for op in ("Concat", "ConstantOfShape", "Equal", "Gather", "Range", "Slice", "Where")},
}


CONVERTERS: dict[str, Converter] = {
    "MatMul": _matmul,
    "Gemm": _gemm,
    "Add": _binary(tops.AddOp),
    "Sub": _binary(tops.SubOp),
    "Mul": _binary(tops.MulOp),
    "Div": _binary(tops.DivOp),
    "Relu": _unary(tops.ReluOp),
    "Sigmoid": _unary(tops.SigmoidOp),
    "Tanh": _unary(tops.TanhOp),
    "Exp": _unary(tops.ExpOp),
    "Softmax": _softmax,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Identity": _identity,
    "Constant": _constant,
    "Flatten": _view,
    "Squeeze": _view,
    "Unsqueeze": _view,
    **SHAPE_OPS,
}


# ------------------------------------------------------------- model handling


def _attributes(proto: onnx.NodeProto) -> dict[str, object]:
    return {
        a.name: a.t if a.type == AttributeProto.TENSOR else onnx.helper.get_attribute_value(a)
        for a in proto.attribute
    }


def _check_nodes(graph: onnx.GraphProto, inputs: set[str]) -> None:
    """Reject unsupported ops, and run-time Reshape shapes before their int64 input is
    reported as a mere element type problem."""
    for index, proto in enumerate(graph.node):
        name = _node_name(proto, index)
        if proto.domain not in ONNX_DOMAINS or proto.op_type not in CONVERTERS:
            op = proto.op_type if proto.domain in ONNX_DOMAINS else f"{proto.domain}.{proto.op_type}"
            raise LockstepError(
                f"node '{name}' (op {op}) is not supported; supported ops: {', '.join(sorted(CONVERTERS))}"
            )
        if proto.op_type == "Reshape" and len(proto.input) > 1 and proto.input[1] in inputs:
            raise LockstepError(
                f"node '{name}' (op Reshape) needs a constant shape, but '{proto.input[1]}' is a graph input"
            )


def _node_name(proto: onnx.NodeProto, index: int) -> str:
    return proto.name or f"{proto.op_type}_{index}"


def _apply_overrides(
    graph: onnx.GraphProto, inputs: list[onnx.ValueInfoProto], overrides: dict[str, list[int]]
) -> None:
    by_name = {v.name: v for v in inputs}
    for name, shape in overrides.items():
        if name not in by_name:
            raise LockstepError(f"--shape names '{name}', which is not a graph input; inputs: {', '.join(by_name)}")
        dims = by_name[name].type.tensor_type.shape
        if len(dims.dim) != len(shape):
            raise LockstepError(f"--shape gives {len(shape)} dimensions for input '{name}' of rank {len(dims.dim)}")
        for dim, size in zip(dims.dim, shape):
            dim.Clear()
            dim.dim_value = int(size)
    del graph.value_info[:]  # stale intermediate shapes would contradict the new input shape


def _static_shape(value: onnx.ValueInfoProto, kind: str) -> list[int]:
    tensor_type = value.type.tensor_type
    if not value.type.HasField("tensor_type"):
        raise LockstepError(f"{kind} '{value.name}' is not a tensor")
    if tensor_type.elem_type != TensorProto.FLOAT:
        elem = TensorProto.DataType.Name(tensor_type.elem_type)
        raise LockstepError(f"{kind} '{value.name}' has element type {elem}; only float32 tensors are supported")
    if not tensor_type.HasField("shape"):
        raise LockstepError(f"{kind} '{value.name}' has an unknown rank; only static shapes are supported")
    dims = list(tensor_type.shape.dim)
    unknown = [i for i, d in enumerate(dims) if not d.HasField("dim_value")]
    if unknown:
        i = unknown[0]
        label = f" ('{dims[i].dim_param}')" if dims[i].dim_param else ""
        hint = ",".join(str(d.dim_value) if d.HasField("dim_value") else "1" for d in dims)
        raise LockstepError(
            f"{kind} '{value.name}' has an unknown dimension {i}{label}; pass --shape {value.name}={hint}"
        )
    return [d.dim_value for d in dims]


def _load(data: bytes, origin: str) -> onnx.ModelProto:
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, RuntimeError, ValueError) as err:
        raise LockstepError(f"{origin} is not an ONNX model ({err})") from None
    if not model.HasField("graph"):
        raise LockstepError(f"{origin} is not an ONNX model (it has no graph)")
    return model


def _infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError) as err:
        message = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise LockstepError(f"ONNX shape inference rejected the model: {message}") from None


def _initializer_array(tensor: onnx.TensorProto) -> np.ndarray:
    try:
        return numpy_helper.to_array(tensor)
    except Exception as err:  # external data that is missing, unknown data types, ...
        raise LockstepError(f"initializer '{tensor.name}' cannot be read: {err}") from None


def _opset(model: onnx.ModelProto) -> int:
    versions = [o.version for o in model.opset_import if o.domain in ONNX_DOMAINS]
    return versions[0] if versions else 1


def import_proto(model: onnx.ModelProto, shape_overrides: dict[str, list[int]] | None = None) -> ModuleOp:
    """The `tops` module of an ONNX model (which this modifies when it has shape overrides)."""
    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    inputs = [v for v in graph.input if v.name not in initializers]
    _check_nodes(graph, {v.name for v in inputs})
    _apply_overrides(graph, inputs, shape_overrides or {})
    input_shapes = [_static_shape(v, "input") for v in inputs]
    graph = _infer_shapes(model).graph

    block = Block(arg_types=[tops.tensor(s) for s in input_shapes])
    imp = Importer(Builder(InsertPoint.at_end(block)))
    imp.values.update({v.name: arg for v, arg in zip(inputs, block.args)})
    imp.constants.update({name: (_initializer_array(t), name) for name, t in initializers.items()})
    opset = _opset(model)
    for index, proto in enumerate(graph.node):
        node = Node(proto, _node_name(proto, index), opset, _attributes(proto))
        results = _convert(imp, node)
        if results is not None:
            imp.values.update(zip(proto.output, results))

    for v in graph.output:
        _check_output_type(v)
    outputs = [imp.value(v.name, f"graph output '{v.name}'") for v in graph.output]
    imp.builder.insert(func.ReturnOp(*outputs))
    main = func.FuncOp(
        "main",
        ([a.type for a in block.args], [o.type for o in outputs]),
        Region(block),
        arg_attrs=_name_attrs(v.name for v in inputs),
        res_attrs=_name_attrs(v.name for v in graph.output),
    )
    return ModuleOp([main])


def _integer_constants(imp: Importer, node: Node) -> bool:
    """Whether every input of the node is an integer constant: a shape computation to evaluate."""
    names = [name for name in node.proto.input if name]
    return bool(names) and all(name in imp.constants and imp.constants[name][0].dtype.kind in "iub" for name in names)


def _convert(imp: Importer, node: Node) -> list[SSAValue] | None:
    try:
        if _integer_constants(imp, node):
            return _fold(imp, node)
        return CONVERTERS[node.proto.op_type](imp, node)
    except LockstepError:
        raise
    except Exception as err:  # malformed attributes etc.: still one sentence naming the node
        raise LockstepError(f"{node.describe()} cannot be imported: {err}") from err


def _check_output_type(value: onnx.ValueInfoProto) -> None:
    elem = value.type.tensor_type.elem_type
    if elem not in (TensorProto.UNDEFINED, TensorProto.FLOAT):
        name = TensorProto.DataType.Name(elem)
        raise LockstepError(f"output '{value.name}' has element type {name}; only float32 tensors are supported")


def _name_attrs(names: Iterable[str]) -> ArrayAttr[DictionaryAttr]:
    return ArrayAttr([DictionaryAttr({"tops.name": StringAttr(n)}) for n in names])


def import_model_bytes(data: bytes, shape_overrides: dict[str, list[int]] | None = None) -> ModuleOp:
    """The `tops` module of a serialised ONNX model."""
    return import_proto(_load(data, "the input"), shape_overrides)


def import_model(path: str | os.PathLike, shape_overrides: dict[str, list[int]] | None = None) -> ModuleOp:
    """The `tops` module of the ONNX model file at `path`."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise LockstepError(f"cannot read ONNX model '{os.fspath(path)}': {err.strerror}") from None
    return import_proto(_load(data, f"'{os.fspath(path)}'"), shape_overrides)
