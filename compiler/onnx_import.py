"""ONNX front end: an ONNX model file becomes a `tops` module (`func.func @main`).

Every op keeps its ONNX node name as a `NameLoc`, function arguments and results
carry `{tops.name = "<onnx name>"}`, initializers become `tops.constant`.
Shape computations that exporters emit (Shape, Gather, Concat, Cast, ... on
values whose shapes are static, and integer arithmetic) are evaluated here, so
Reshape sees a constant target; Flatten, Squeeze and Unsqueeze become reshapes.
Any other standard op whose inputs are all constants is evaluated too, by the onnx
reference implementation, even without a converter (the Trilu of an exported causal
mask). Concat, Split, Slice and Gather of run-time values become tops.concat, tops.slice
and tops.gather (Gather with constant indices only: see docs/architecture.md); a
sequence (SplitToSequence, torch.split unoptimised) is its tensors, read by SequenceAt
at constant positions.
Shapes must be static (an input's unknown dimensions are fixed with
`shape_overrides`). The machine computes in float32 only, and `tops` tensors are
f32: other element types are erased here, at the front end, into f32 tensors
that carry their values (the ONNX element type of every value stays known to
the importer, from shape inference, where semantics differ):

- bool: 0.0 and 1.0. Comparisons, Not/And/Or/Xor, IsNaN and Cast to bool write
  them; bool constants become such tensors.
- integers (int8 ... uint64): exact integral f32 values, exact for |x| <= 2**24
  (`EXACT_INT`); a larger integer constant is rejected, and the backend rejects
  larger inputs. Add/Sub/Mul/Max/Min/comparisons/Where/reductions and data
  movement are then exact while results stay within 2**24 (no wrap-around on
  overflow). Div on integers truncates toward zero (a `tops.trunc` after the
  f32 division, exact for dividends below 2**24), Pow of integers rounds to the
  nearest integer (`tops.round`; with a float exponent it truncates, as a
  cast of the power does), Cast from float to an integer type truncates, Cast
  between integer types is the identity (values must fit the target type).
  Integer ReduceMean and Mean (a truncating mean) are rejected.
- float64 (and a float16 constant): rounded to float32 (relative error 2**-24).

Dropout is the identity (inference). Anything the importer cannot represent
raises `LockstepError` with one sentence naming it.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import AttributeProto, TensorProto, external_data_helper, numpy_helper
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

EXACT_INT = 2**24  # every integer of magnitude up to 2**24 is a float32 value
INTEGER_TYPES = frozenset({
    TensorProto.INT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64,
    TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64,
})
# element types carried in f32 tensors (see the module docstring)
MACHINE_TYPES = frozenset({TensorProto.FLOAT, TensorProto.BOOL, TensorProto.DOUBLE, *INTEGER_TYPES})
_UNSUPPORTED_TYPE = (
    "; the machine computes in float32 and carries float32, float64, bool and integer tensors (int8 ... uint64)"
)


def machine_array(array: np.ndarray, what: str) -> np.ndarray:
    """A constant as the f32 array that carries it (see the module docstring); raises unless it can."""
    if array.dtype == np.float32:
        return array
    if array.dtype == np.bool_:  # booleans live in the machine as f32 0.0 / 1.0
        return array.astype(np.float32)
    if array.dtype.kind in "iu":
        if array.size and float(np.max(np.abs(array.astype(np.float64)))) > EXACT_INT:
            raise LockstepError(
                f"{what} holds integers beyond 2**24 in magnitude, which float32 (the machine's only"
                " number type) cannot hold exactly"
            )
        return array.astype(np.float32)
    if array.dtype in (np.float64, np.float16):
        with np.errstate(over="ignore"):
            converted = array.astype(np.float32)
        if not np.array_equal(np.isinf(converted), np.isinf(array)):
            raise LockstepError(f"{what} holds values beyond the range of float32 (the machine's only number type)")
        return converted
    raise LockstepError(f"{what} has element type {array.dtype}{_UNSUPPORTED_TYPE}")


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
    # ONNX element type of every value shape inference typed (TensorProto.DataType)
    types: dict[str, int] = field(default_factory=dict)
    # float initializers whose values are absent (shape-only): name -> shape
    absent: dict[str, list[int]] = field(default_factory=dict)
    # sequence values (SplitToSequence, ...) by name: the names of their tensors, in order
    sequences: dict[str, list[str]] = field(default_factory=dict)

    def emit(self, op: Operation, node_name: str) -> SSAValue:
        op.location = NameLoc(StringAttr(node_name), NoneAttr())
        self.builder.insert(op)
        return op.results[0]

    def value(self, name: str, user: str) -> SSAValue:
        """The float32 tensor named `name`; constants are materialised at their first use."""
        if name in self.values:
            return self.values[name]
        if name in self.absent:
            self.values[name] = self.emit(tops.ConstantOp.absent(self.absent[name]), name)
            return self.values[name]
        if name not in self.constants:
            raise LockstepError(
                f"{user} uses '{name}', which is not an input, an initializer or an earlier node's output"
            )
        array, loc = self.constants[name]
        array = machine_array(array, f"{user}: constant '{name}'")
        self.values[name] = self.emit(tops.ConstantOp.from_array(array), loc)
        return self.values[name]

    def numeric(self, name: str, user: str) -> SSAValue:
        """`value` (which now carries integer constants, e.g. Pow's exponent, itself)."""
        return self.value(name, user)

    def is_integer(self, name: str) -> bool:
        """Whether the value has an integer element type (carried as exact f32 integers)."""
        return self.elem_type(name) in INTEGER_TYPES

    def is_constant(self, name: str) -> bool:
        return name in self.constants and name not in self.values

    def elem_type(self, name: str) -> int:
        """The ONNX element type of a value (float when shape inference did not say)."""
        if self.is_constant(name):
            dtype = self.constants[name][0].dtype
            return TensorProto.BOOL if dtype == np.bool_ else onnx.helper.np_dtype_to_tensor_dtype(dtype)
        return self.types.get(name, TensorProto.FLOAT)

    def constant(self, name: str, user: str) -> np.ndarray:
        if name in self.absent:
            raise LockstepError(f"{user} needs the values of initializer '{name}', which are absent (a shape-only model)")
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
    empty = _empty(imp, node, shape)
    return [empty if empty is not None else imp.emit(tops.ReshapeOp(x, shape), node.name)]


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


def _evaluate(node: Node, arrays: Sequence[np.ndarray]) -> list[np.ndarray | list[np.ndarray]]:
    """The outputs of one ONNX node on numpy arrays, by the onnx reference implementation."""
    feeds = {name: array for name, array in zip(node.proto.input, arrays) if name}
    # a bare NodeProto would run the newest version of the op: wrap it in a model of the opset
    untyped = lambda names: [onnx.helper.make_value_info(n, onnx.TypeProto()) for n in names if n]  # noqa: E731
    graph = onnx.helper.make_graph([node.proto], "node", untyped(feeds), untyped(node.proto.output))
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", node.opset)])
    outputs = iter(ReferenceEvaluator(model).run(None, feeds))
    return [_evaluated(node, next(outputs)) if name else np.zeros(0) for name in node.proto.output]


def _evaluated(node: Node, output: object) -> np.ndarray | list[np.ndarray]:
    """A reference evaluator output: a tensor, or a sequence as a list of tensors."""
    if isinstance(output, list):
        return [np.asarray(t) for t in output]
    if isinstance(output, dict):
        raise LockstepError(f"{node.describe()} produces a map; only tensors and sequences of tensors are supported")
    return np.asarray(output)


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
        if isinstance(array, list):
            imp.sequences[name] = [f"{name}[{i}]" for i in range(len(array))]
            imp.constants.update({e: (a, node.name) for e, a in zip(imp.sequences[name], array)})
        elif name:
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


def _or_fold(convert: Converter) -> Converter:
    """Evaluated when every input is a constant (shape computations), converted otherwise."""

    def either(imp: Importer, node: Node) -> list[SSAValue] | None:
        if all(imp.is_constant(name) for name in node.proto.input if name):
            return _fold(imp, node)
        return convert(imp, node)

    return either


def _variadic(op: type[tops.BinaryOp]) -> Converter:
    """Sum, Max, Min of any number of inputs: a left-to-right chain of broadcasting binary ops."""

    def convert(imp: Importer, node: Node) -> list[SSAValue]:
        values = _inputs(imp, node)
        if not values:
            raise LockstepError(f"{node.describe()} has no inputs")
        result = values[0]
        for other in values[1:]:
            if tops.broadcast_shapes(tops.shape_of(result), tops.shape_of(other)) is None:
                raise LockstepError(
                    f"{node.describe()}: shapes {tops.fmt(tops.shape_of(result))} and"
                    f" {tops.fmt(tops.shape_of(other))} do not broadcast"
                )
            result = imp.emit(op(result, other), node.name)
        return [result]

    return convert


def _div(imp: Importer, node: Node) -> list[SSAValue]:
    """Div; on integers it truncates toward zero (as C, numpy's astype and onnxruntime do):
    the f32 quotient of integers below 2**24 is never rounded across an integer, so
    truncating it is exact."""
    (quotient,) = _binary(tops.DivOp)(imp, node)
    if imp.is_integer(node.proto.output[0]):
        quotient = imp.emit(tops.TruncOp(quotient), node.name)
    return [quotient]


def _float_only(imp: Importer, node: Node) -> None:
    if imp.is_integer(node.proto.output[0]):
        raise LockstepError(
            f"{node.describe()} on integers (a truncating mean) is not supported; integers ride as float32 values"
        )


def _mean(imp: Importer, node: Node) -> list[SSAValue]:
    _float_only(imp, node)
    (total,) = _variadic(tops.AddOp)(imp, node)
    count = len([name for name in node.proto.input if name])
    if count == 1:
        return [total]
    scale = imp.emit(tops.ConstantOp.from_array(np.array(1 / count, np.float32)), node.name)
    return [imp.emit(tops.MulOp(total, scale), node.name)]


def _pow(imp: Importer, node: Node) -> list[SSAValue]:
    base = imp.value(node.proto.input[0], node.describe())
    exponent = imp.numeric(node.proto.input[1], node.describe())
    if tops.broadcast_shapes(tops.shape_of(base), tops.shape_of(exponent)) is None:
        raise LockstepError(f"{node.describe()}: the exponent's shape does not broadcast to the base's")
    power = imp.emit(tops.PowOp(base, exponent), node.name)
    if imp.is_integer(node.proto.output[0]):  # an integer base: the result is an integer
        exact = tops.RoundOp if imp.is_integer(node.proto.input[1]) else tops.TruncOp
        power = imp.emit(exact(power), node.name)
    return [power]


def _where(imp: Importer, node: Node) -> list[SSAValue]:
    cond, lhs, rhs = _inputs(imp, node)
    if tops.where_shape(*(tops.shape_of(v) for v in (cond, lhs, rhs))) is None:
        raise LockstepError(f"{node.describe()}: the shapes of condition, X and Y do not broadcast")
    return [imp.emit(tops.WhereOp(cond, lhs, rhs), node.name)]


def _cast_to(imp: Importer, node: Node, to: int) -> list[SSAValue] | None:
    """A run-time Cast among the element types carried in f32 (see the module docstring): to
    bool is a `to_bool`, from a float type to an integer type a `trunc`, anything else the value."""
    source = node.proto.input[0]
    if imp.is_constant(source) and all(imp.is_constant(name) for name in node.proto.input[1:]):
        return _fold(imp, node)
    if imp.is_constant(source):  # CastLike's run-time second input: only its type counts
        array = imp.constants[source][0]
        imp.constants[node.proto.output[0]] = (array.astype(onnx.helper.tensor_dtype_to_np_dtype(to)), node.name)
        return None
    have = imp.elem_type(source)
    if to not in MACHINE_TYPES or have not in MACHINE_TYPES:
        name = TensorProto.DataType.Name(to if to not in MACHINE_TYPES else have)
        direction = "to" if to not in MACHINE_TYPES else "from"
        raise LockstepError(f"{node.describe()} casts a run-time value {direction} {name}{_UNSUPPORTED_TYPE}")
    x = imp.value(source, node.describe())
    if to == TensorProto.BOOL and have != TensorProto.BOOL:
        return [imp.emit(tops.ToBoolOp(x), node.name)]
    if to in INTEGER_TYPES and have in (TensorProto.FLOAT, TensorProto.DOUBLE):
        return [imp.emit(tops.TruncOp(x), node.name)]  # toward zero (out-of-range values are undefined in ONNX)
    return [x]  # bool keeps 0.0 / 1.0, integers their values, float64 is carried as float32


def _cast(imp: Importer, node: Node) -> list[SSAValue] | None:
    """Cast of constants is evaluated; of a run-time value only float32 <-> bool is meaningful."""
    return _cast_to(imp, node, int(node.attrs.get("to", 0)))


def _cast_like(imp: Importer, node: Node) -> list[SSAValue] | None:
    return _cast_to(imp, node, imp.elem_type(node.proto.input[1]))


def _dropout(imp: Importer, node: Node) -> list[SSAValue] | None:
    """Inference Dropout: the identity. Its mask (if asked for) is all true (ones) from opset 12,
    where the spec says so; before, the spec is silent and onnxruntime (the reference lockstep
    is checked against) writes all false (zeros), so that is what it is."""
    inputs = list(node.proto.input)
    if len(inputs) > 2 and inputs[2]:
        if not imp.is_constant(inputs[2]):
            raise LockstepError(f"{node.describe()}: training_mode must be a constant (inference only)")
        if bool(np.asarray(imp.constants[inputs[2]][0]).any()):
            raise LockstepError(f"{node.describe()} runs in training mode; only inference (identity) is supported")
    outputs = list(node.proto.output)
    if len(outputs) > 1 and outputs[1]:
        shape = _shape_of_input(imp, node)
        dtype = np.bool_ if node.opset >= 10 else np.float32
        fill = np.ones if node.opset >= 12 else np.zeros
        imp.constants[outputs[1]] = (fill(shape, dtype=dtype), node.name)
    return _identity(imp, node)


def _gelu(imp: Importer, node: Node) -> list[SSAValue]:
    (x,) = _inputs(imp, node)
    approximate = node.attrs.get("approximate", b"none")
    approximate = approximate.decode() if isinstance(approximate, bytes) else str(approximate)
    if approximate not in ("none", "tanh"):
        raise LockstepError(f"{node.describe()}: approximate must be 'none' or 'tanh', got '{approximate}'")
    return [imp.emit(tops.GeluOp(x, approximate), node.name)]


REDUCE_OPS: dict[str, tuple[type[tops.ReduceOp], int]] = {
    # op -> (tops op, first opset with axes as an input)
    "ReduceSum": (tops.ReduceSumOp, 13),
    "ReduceMean": (tops.ReduceMeanOp, 18),
    "ReduceMax": (tops.ReduceMaxOp, 18),
    "ReduceMin": (tops.ReduceMinOp, 18),
}


def _reduce(imp: Importer, node: Node) -> list[SSAValue]:
    op, axes_input_from = REDUCE_OPS[node.proto.op_type]
    if node.proto.op_type == "ReduceMean":
        _float_only(imp, node)
    x = imp.value(node.proto.input[0], node.describe())
    shape = tops.shape_of(x)
    if 0 in shape:
        return [_reduce_empty(imp, node, shape)]
    if node.opset >= axes_input_from:
        name = node.proto.input[1] if len(node.proto.input) > 1 else ""
        axes = imp.constant(name, node.describe()).astype(np.int64).reshape(-1).tolist() if name else []
    else:
        axes = [int(a) for a in node.attrs.get("axes", [])]
    keepdims = bool(node.attrs.get("keepdims", 1))
    if not axes:
        if node.attrs.get("noop_with_empty_axes", 0):
            return [x]
        axes = list(range(len(shape)))
    resolved = [tops.normalise_axis(int(a), len(shape)) for a in axes]
    if any(a is None for a in resolved) or len(set(resolved)) != len(resolved):
        raise LockstepError(f"{node.describe()}: axes {axes} are invalid for rank {len(shape)}")
    if not shape:  # a scalar reduces to itself
        return [x]
    return [imp.emit(op(x, sorted(resolved), keepdims), node.name)]  # type: ignore[type-var]


def _reduce_empty(imp: Importer, node: Node, shape: Sequence[int]) -> SSAValue:
    """A reduction of a zero-size tensor is a constant, evaluated now by ONNX's reference:
    every result element reduces an empty set to the identity of the reduction (0 for a sum,
    the type's lowest value for a max: -inf, or False for booleans), or the result is empty."""
    dtype = onnx.helper.tensor_dtype_to_np_dtype(imp.elem_type(node.proto.input[0]))
    arrays = [np.zeros(shape, dtype)] + [imp.constant(n, node.describe()) if n else None for n in node.proto.input[1:]]
    (result,) = _evaluate(node, arrays)
    return imp.emit(tops.ConstantOp.from_array(machine_array(result, node.describe())), node.name)


def _norm_axis(node: Node, rank: int) -> int:
    axis = int(node.attrs.get("axis", -1))
    resolved = tops.normalise_axis(axis, rank)
    if resolved is None:
        raise LockstepError(f"{node.describe()}: axis {axis} is out of range for rank {rank}")
    return resolved


def _layer_norm(imp: Importer, node: Node) -> list[SSAValue]:
    x, scale, *bias = _inputs(imp, node)
    shape = tops.shape_of(x)
    axis, eps = _norm_axis(node, len(shape)), float(node.attrs.get("epsilon", 1e-5))
    for v in (scale, *bias):
        if not tops.broadcasts_to(tops.shape_of(v), shape):
            raise LockstepError(f"{node.describe()}: scale/bias {tops.fmt(tops.shape_of(v))} do not broadcast to {tops.fmt(shape)}")
    y = imp.emit(tops.LayerNormOp(x, scale, bias[0] if bias else None, axis, eps), node.name)
    outputs = list(node.proto.output)
    if not any(outputs[1:]):
        return [y]
    # Mean and InvStdDev (training outputs): their own reductions, shaped with keepdims
    axes = list(range(axis, len(shape)))
    mean = imp.emit(tops.ReduceMeanOp(x, axes, True), node.name)
    centred = imp.emit(tops.SubOp(x, mean), node.name)
    square = imp.emit(tops.MulOp(centred, centred), node.name)
    var = imp.emit(tops.ReduceMeanOp(square, axes, True), node.name)
    epsilon = imp.emit(tops.ConstantOp.from_array(np.array(eps, np.float32)), node.name)
    std = imp.emit(tops.SqrtOp(imp.emit(tops.AddOp(var, epsilon), node.name)), node.name)
    return [y, mean, imp.emit(tops.ReciprocalOp(std), node.name)]


def _rms_norm(imp: Importer, node: Node) -> list[SSAValue]:
    x, scale = _inputs(imp, node)
    shape = tops.shape_of(x)
    if not tops.broadcasts_to(tops.shape_of(scale), shape):
        raise LockstepError(f"{node.describe()}: scale {tops.fmt(tops.shape_of(scale))} does not broadcast to {tops.fmt(shape)}")
    axis, eps = _norm_axis(node, len(shape)), float(node.attrs.get("epsilon", 1e-5))
    return [imp.emit(tops.RMSNormOp(x, scale, None, axis, eps), node.name)]


# ------------------------------------------------------------- data movement
# Concat, Split, Slice and Gather (constant indices) of run-time values become tops.concat,
# tops.slice and tops.gather with resolved (non-negative, clamped) parameters; on constants
# they are evaluated. A zero-size result is a constant (it holds no numbers).


def _all_constant(imp: Importer, node: Node) -> bool:
    return all(imp.is_constant(name) for name in node.proto.input if name)


def _ints(imp: Importer, node: Node, name: str) -> list[int]:
    return imp.constant(name, node.describe()).astype(np.int64).reshape(-1).tolist()


def _data_axis(node: Node, axis: int, rank: int) -> int:
    resolved = tops.normalise_axis(axis, rank)
    if resolved is None:
        raise LockstepError(f"{node.describe()}: axis {axis} is out of range for rank {rank}")
    return resolved


def _empty(imp: Importer, node: Node, shape: Sequence[int]) -> SSAValue | None:
    """A zero-size result as a constant (None for any other shape): it holds no numbers, so
    nothing is computed or moved, whatever the operands."""
    if 0 not in shape:
        return None
    return imp.emit(tops.ConstantOp.from_array(np.zeros(shape, np.float32)), node.name)


def _concat(imp: Importer, node: Node) -> list[SSAValue] | None:
    if _all_constant(imp, node):
        return _fold(imp, node)
    values = _inputs(imp, node)
    shapes = [tops.shape_of(v) for v in values]
    if "axis" not in node.attrs:
        raise LockstepError(f"{node.describe()} has no axis attribute")
    axis = _data_axis(node, int(node.attrs["axis"]), len(shapes[0]))
    shape = tops.concat_shape(shapes, axis)
    if isinstance(shape, str):
        raise LockstepError(f"{node.describe()}: {shape}")
    if (empty := _empty(imp, node, shape)) is not None:
        return [empty]
    kept = [v for v in values if tops.shape_of(v)[axis]]  # ONNX allows empty operands
    if len(kept) == 1:
        return [kept[0]]
    return [imp.emit(tops.ConcatOp(kept, axis), node.name)]


def _slice_request(imp: Importer, node: Node) -> tuple[list[int], list[int], list[int], list[int]]:
    """starts, ends, axes, steps: attributes before opset 10, (constant) inputs from then on."""
    if node.opset < 10:
        starts = [int(s) for s in node.attrs.get("starts", [])]
        ends = [int(e) for e in node.attrs.get("ends", [])]
        axes = [int(a) for a in node.attrs.get("axes", range(len(starts)))]
        return starts, ends, axes, [1] * len(starts)
    names = [*node.proto.input, "", "", "", ""][:5]
    starts, ends = _ints(imp, node, names[1]), _ints(imp, node, names[2])
    axes = _ints(imp, node, names[3]) if names[3] else list(range(len(starts)))
    steps = _ints(imp, node, names[4]) if names[4] else [1] * len(starts)
    return starts, ends, axes, steps


def _slice(imp: Importer, node: Node) -> list[SSAValue] | None:
    if _all_constant(imp, node):
        return _fold(imp, node)
    x = imp.value(node.proto.input[0], node.describe())
    shape = tops.shape_of(x)
    starts, ends, axes, steps = _slice_request(imp, node)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise LockstepError(f"{node.describe()}: starts, ends, axes and steps have different lengths")
    resolved = [_data_axis(node, a, len(shape)) for a in axes]
    if len(set(resolved)) != len(resolved):
        raise LockstepError(f"{node.describe()}: axes {axes} repeat an axis")
    first, step, out = [0] * len(shape), [1] * len(shape), list(shape)
    for axis, start, end, stride in zip(resolved, starts, ends, steps):
        if stride == 0:
            raise LockstepError(f"{node.describe()}: a step of 0 is invalid")
        taken = range(*slice(start, end, stride).indices(shape[axis]))  # ONNX clamps like Python
        first[axis], step[axis], out[axis] = (taken.start if len(taken) else 0), stride, len(taken)
    if (empty := _empty(imp, node, out)) is not None:
        return [empty]
    if out == list(shape) and all(s == 1 for s in step):
        return [x]
    return [imp.emit(tops.SliceOp(x, first, step, out), node.name)]


def _split_sizes(imp: Importer, node: Node, size: int, outputs: int) -> list[int]:
    if node.opset >= 13:
        name = node.proto.input[1] if len(node.proto.input) > 1 else ""
        if name:
            return _ints(imp, node, name)
    elif "split" in node.attrs:
        return [int(s) for s in node.attrs["split"]]  # type: ignore[union-attr]
    if node.opset >= 18 and "num_outputs" in node.attrs:
        parts = int(node.attrs["num_outputs"])  # type: ignore[arg-type]
        chunk = -(-size // parts)  # the last chunk is smaller when the size does not divide
        return [min(chunk, max(size - i * chunk, 0)) for i in range(parts)]
    if size % outputs:
        raise LockstepError(f"{node.describe()}: size {size} does not split into {outputs} equal parts")
    return [size // outputs] * outputs


def _split(imp: Importer, node: Node) -> list[SSAValue] | None:
    if _all_constant(imp, node):
        return _fold(imp, node)
    x = imp.value(node.proto.input[0], node.describe())
    shape = tops.shape_of(x)
    axis = _data_axis(node, int(node.attrs.get("axis", 0)), len(shape))  # type: ignore[arg-type]
    outputs = list(node.proto.output)
    sizes = _split_sizes(imp, node, shape[axis], len(outputs))
    if len(sizes) != len(outputs) or sum(sizes) != shape[axis] or min(sizes) < 0:
        raise LockstepError(f"{node.describe()}: split {sizes} does not cut size {shape[axis]} into {len(outputs)} parts")
    return _cut(imp, node, x, axis, sizes)


def _cut(imp: Importer, node: Node, x: SSAValue, axis: int, sizes: Sequence[int]) -> list[SSAValue]:
    """`x` cut along `axis` into consecutive parts of `sizes` (which add up to its size)."""
    shape = tops.shape_of(x)
    results, offset = [], 0
    for size in sizes:
        out = [*shape[:axis], size, *shape[axis + 1 :]]
        starts = [0] * len(shape)
        starts[axis] = offset
        empty = _empty(imp, node, out)
        results.append(empty if empty is not None else x if size == shape[axis] else
                       imp.emit(tops.SliceOp(x, starts, [1] * len(shape), out), node.name))
        offset += size
    return results


def _split_to_sequence(imp: Importer, node: Node) -> None:
    """SplitToSequence (torch.split before the exporter's optimiser): the parts as a sequence.
    A scalar split is the size of every part but the last, a 1-D one the sizes; without
    it the parts have size 1 and, unless keepdims, lose the axis."""
    x = imp.value(node.proto.input[0], node.describe())
    shape = tops.shape_of(x)
    axis = _data_axis(node, int(node.attrs.get("axis", 0)), len(shape))  # type: ignore[arg-type]
    name = node.proto.input[1] if len(node.proto.input) > 1 else ""
    split = imp.constant(name, node.describe()).astype(np.int64) if name else np.ones((), np.int64)
    if split.ndim == 0:
        chunk = int(split)
        if chunk <= 0:
            raise LockstepError(f"{node.describe()}: split {chunk} is not a positive size")
        sizes = [min(chunk, shape[axis] - start) for start in range(0, shape[axis], chunk)]
    else:
        sizes = split.tolist()
        if sum(sizes) != shape[axis] or min(sizes, default=0) < 0:
            raise LockstepError(f"{node.describe()}: split {sizes} does not cut size {shape[axis]}")
    parts = _cut(imp, node, x, axis, sizes)
    if not name and not int(node.attrs.get("keepdims", 1)):
        squeezed = [*shape[:axis], *shape[axis + 1 :]]
        parts = [imp.emit(tops.ReshapeOp(p, squeezed), node.name) for p in parts]
    out = node.proto.output[0]
    imp.sequences[out] = [f"{out}[{i}]" for i in range(len(parts))]
    imp.values.update(zip(imp.sequences[out], parts))


def _sequence_at(imp: Importer, node: Node) -> list[SSAValue] | None:
    """SequenceAt with a constant position: that tensor of the sequence."""
    sequence = imp.sequences.get(node.proto.input[0])
    if sequence is None:
        raise LockstepError(f"{node.describe()}: '{node.proto.input[0]}' is not a sequence the importer knows")
    (position,) = _ints(imp, node, node.proto.input[1])
    if not -len(sequence) <= position < len(sequence):
        raise LockstepError(f"{node.describe()}: position {position} is out of range for {len(sequence)} tensors")
    element = sequence[position]
    if element in imp.constants and element not in imp.values:
        imp.constants[node.proto.output[0]] = imp.constants[element]
        return None
    return [imp.values[element]]


def _gather(imp: Importer, node: Node) -> list[SSAValue] | None:
    if _all_constant(imp, node):
        return _fold(imp, node)
    data, indices = node.proto.input[0], node.proto.input[1]
    if indices not in imp.constants:
        raise LockstepError(_RUNTIME_GATHER.format(node=node.describe(), indices=indices))
    x = imp.value(data, node.describe())
    shape = tops.shape_of(x)
    axis = _data_axis(node, int(node.attrs.get("axis", 0)), len(shape))  # type: ignore[arg-type]
    index = imp.constant(indices, node.describe()).astype(np.int64)
    index = np.where(index < 0, index + shape[axis], index)
    if index.size and (index.min() < 0 or index.max() >= shape[axis]):
        raise LockstepError(f"{node.describe()}: indices are out of range for size {shape[axis]} of axis {axis}")
    empty = _empty(imp, node, tops.gather_shape(shape, axis, index.shape))
    return [empty if empty is not None else imp.emit(tops.GatherOp(x, axis, index), node.name)]


_RUNTIME_GATHER = (
    "{node} indexes with '{indices}', which is known only at run time (an embedding lookup);"
    " only constant indices are supported: every address of a lockstep program is fixed at"
    " compile time"
)


# ------------------------------------------------ convolution, pooling, normalisation


def _text(node: Node, name: str, default: str) -> str:
    value = node.attrs.get(name, default)
    return value.decode() if isinstance(value, bytes) else str(value)


def _window_attrs(node: Node, spatial: Sequence[int], kernel: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
    """strides, pads [begins..., ends...] and dilations of a Conv or pool node, auto_pad resolved
    (SAME_UPPER puts the odd padding at the end, SAME_LOWER at the beginning)."""
    rank = len(spatial)
    strides = [int(s) for s in node.attrs.get("strides", [1] * rank)]
    dilations = [int(d) for d in node.attrs.get("dilations", [1] * rank)]
    auto_pad = _text(node, "auto_pad", "NOTSET")
    if len(strides) != rank or len(dilations) != rank or len(kernel) != rank:
        raise LockstepError(f"{node.describe()}: kernel_shape, strides and dilations need {rank} values")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for size, k, s, d in zip(spatial, kernel, strides, dilations):
            total = max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)
            small, large = total // 2, total - total // 2
            begins.append(small if auto_pad == "SAME_UPPER" else large)
            ends.append(large if auto_pad == "SAME_UPPER" else small)
        return strides, begins + ends, dilations
    if auto_pad == "VALID":
        return strides, [0] * 2 * rank, dilations
    if auto_pad != "NOTSET":
        raise LockstepError(f"{node.describe()}: unknown auto_pad '{auto_pad}'")
    pads = [int(p) for p in node.attrs.get("pads", [0] * 2 * rank)]
    if len(pads) != 2 * rank:
        raise LockstepError(f"{node.describe()}: pads needs {2 * rank} values, got {pads}")
    return strides, pads, dilations


def _as_2d(imp: Importer, node: Node, x: SSAValue) -> SSAValue:
    """A 1-D window op's [N, C, L] input as [N, C, 1, L]; other ranks must be 4."""
    shape = tops.shape_of(x)
    if len(shape) == 3:
        return imp.emit(tops.ReshapeOp(x, [shape[0], shape[1], 1, shape[2]]), node.name)
    if len(shape) != 4:
        raise LockstepError(f"{node.describe()}: only 1-D and 2-D windows are supported, input is {tops.fmt(shape)}")
    return x


def _window_2d(strides: list[int], pads: list[int], dilations: list[int], kernel: list[int]):
    """1-D window attributes as the 2-D ones of a height-1 input."""
    if len(kernel) == 2:
        return strides, pads, dilations, kernel
    return [1, strides[0]], [0, pads[0], 0, pads[1]], [1, dilations[0]], [1, kernel[0]]


def _back_from_2d(imp: Importer, node: Node, y: SSAValue, rank: int) -> SSAValue:
    if rank == 3:
        n, c, _, length = tops.shape_of(y)
        return imp.emit(tops.ReshapeOp(y, [n, c, length]), node.name)
    return y


def _conv(imp: Importer, node: Node) -> list[SSAValue]:
    x, w, *bias = _inputs(imp, node)
    rank, wshape = len(tops.shape_of(x)), tops.shape_of(w)
    kernel = [int(k) for k in node.attrs.get("kernel_shape", wshape[2:])]
    if list(wshape[2:]) != kernel:
        raise LockstepError(f"{node.describe()}: kernel_shape {kernel} does not match the weight {tops.fmt(wshape)}")
    x2 = _as_2d(imp, node, x)
    strides, pads, dilations, kernel = _window_2d(*_window_attrs(node, tops.shape_of(x)[2:], kernel), kernel)
    if rank == 3:
        w = imp.emit(tops.ReshapeOp(w, [wshape[0], wshape[1], 1, wshape[2]]), node.name)
    group = int(node.attrs.get("group", 1))
    shape = tops.conv_shape(tops.shape_of(x2), tops.shape_of(w), strides, pads, dilations, group)
    if isinstance(shape, str):
        raise LockstepError(f"{node.describe()}: {shape}")
    if bias and tops.shape_of(bias[0]) != (shape[1],):
        raise LockstepError(f"{node.describe()}: bias {tops.fmt(tops.shape_of(bias[0]))} should be [{shape[1]}]")
    y = imp.emit(tops.ConvOp(x2, w, bias[0] if bias else None, strides, pads, dilations, group), node.name)
    return [_back_from_2d(imp, node, y, rank)]


def _pool(imp: Importer, node: Node) -> list[SSAValue]:
    if len(node.proto.output) > 1 and node.proto.output[1]:
        raise LockstepError(f"{node.describe()}: the Indices output is not supported")
    x = imp.value(node.proto.input[0], node.describe())
    kernel = [int(k) for k in node.attrs.get("kernel_shape", [])]
    strides, pads, dilations = _window_attrs(node, tops.shape_of(x)[2:], kernel)
    ceil_mode = bool(node.attrs.get("ceil_mode", 0))
    shape = tops.PoolOp.pool_shape(tops.shape_of(x), kernel, strides, pads, dilations, ceil_mode)
    if isinstance(shape, str):
        raise LockstepError(f"{node.describe()}: {shape}")
    if node.proto.op_type == "MaxPool":
        op: tops.PoolOp = tops.MaxPoolOp(x, kernel, strides, pads, dilations, ceil_mode)
    else:
        op = tops.AvgPoolOp(x, kernel, strides, pads, dilations, ceil_mode, bool(node.attrs.get("count_include_pad", 0)))
    return [imp.emit(op, node.name)]


def _global_pool(imp: Importer, node: Node) -> list[SSAValue]:
    """GlobalAveragePool / GlobalMaxPool: a mean / max over the spatial axes, kept."""
    (x,) = _inputs(imp, node)
    rank = len(tops.shape_of(x))
    if rank < 3:
        raise LockstepError(f"{node.describe()}: the input needs spatial axes, got {tops.fmt(tops.shape_of(x))}")
    op = tops.ReduceMeanOp if node.proto.op_type == "GlobalAveragePool" else tops.ReduceMaxOp
    return [imp.emit(op(x, list(range(2, rank)), True), node.name)]


def _batch_norm(imp: Importer, node: Node) -> list[SSAValue]:
    if any(node.proto.output[1:]):
        raise LockstepError(f"{node.describe()}: running mean/variance outputs (training) are not supported")
    if int(node.attrs.get("training_mode", 0)):
        raise LockstepError(f"{node.describe()} runs in training mode; only inference is supported")
    x, scale, bias, mean, var = _inputs(imp, node)
    shape = tops.shape_of(x)
    if len(shape) < 2 or any(tops.shape_of(v) != (shape[1],) for v in (scale, bias, mean, var)):
        raise LockstepError(f"{node.describe()}: scale, B, mean and var must be [C] for an [N, C, ...] input")
    eps = float(node.attrs.get("epsilon", 1e-5))
    return [imp.emit(tops.BatchNormOp(x, scale, bias, mean, var, eps), node.name)]


def _lrn(imp: Importer, node: Node) -> list[SSAValue]:
    (x,) = _inputs(imp, node)
    if len(tops.shape_of(x)) < 2 or "size" not in node.attrs:
        raise LockstepError(f"{node.describe()}: needs an [N, C, ...] input and a size")
    a = node.attrs
    return [imp.emit(tops.LRNOp(x, int(a["size"]), float(a.get("alpha", 1e-4)), float(a.get("beta", 0.75)),
                                float(a.get("bias", 1.0))), node.name)]


WINDOW_CONVERTERS: dict[str, Converter] = {
    "Conv": _conv,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "GlobalAveragePool": _global_pool,
    "GlobalMaxPool": _global_pool,
    "BatchNormalization": _batch_norm,
    "LRN": _lrn,
}


# ops that compute shapes: evaluated on constants at import time
SHAPE_OPS: dict[str, Converter] = {
    "Shape": _shape,
    "Size": _size,
    "Cast": _cast,
    "CastLike": _cast_like,
    "Expand": _expand,
    **{op: _fold for op in ("ConstantOfShape", "Range")},
    # evaluated on constants, data movement on run-time values
    "Concat": _concat,
    "Split": _split,
    "SplitToSequence": _split_to_sequence,
    "SequenceAt": _sequence_at,
    "Slice": _slice,
    "Gather": _gather,
}


CONVERTERS: dict[str, Converter] = {
    **WINDOW_CONVERTERS,
    "MatMul": _matmul,
    "Gemm": _gemm,
    "Add": _binary(tops.AddOp),
    "Sub": _binary(tops.SubOp),
    "Mul": _binary(tops.MulOp),
    "Div": _div,
    "Relu": _unary(tops.ReluOp),
    "Sigmoid": _unary(tops.SigmoidOp),
    "Tanh": _unary(tops.TanhOp),
    "Exp": _unary(tops.ExpOp),
    "Neg": _unary(tops.NegOp),
    "Abs": _unary(tops.AbsOp),
    "Log": _unary(tops.LogOp),
    "Sqrt": _unary(tops.SqrtOp),
    "Reciprocal": _unary(tops.ReciprocalOp),
    "Erf": _unary(tops.ErfOp),
    "Cos": _unary(tops.CosOp),
    "Sin": _unary(tops.SinOp),
    "IsNaN": _or_fold(_unary(tops.IsNaNOp)),
    "Not": _or_fold(_unary(tops.NotOp)),
    "Pow": _pow,
    "Sum": _variadic(tops.AddOp),
    "Max": _variadic(tops.MaxOp),
    "Min": _variadic(tops.MinOp),
    "Mean": _mean,
    "Equal": _or_fold(_binary(tops.EqualOp)),
    "Less": _or_fold(_binary(tops.LessOp)),
    "Greater": _or_fold(_binary(tops.GreaterOp)),
    "LessOrEqual": _or_fold(_binary(tops.LessOrEqualOp)),
    "GreaterOrEqual": _or_fold(_binary(tops.GreaterOrEqualOp)),
    "And": _or_fold(_binary(tops.AndOp)),
    "Or": _or_fold(_binary(tops.OrOp)),
    "Xor": _or_fold(_binary(tops.XorOp)),
    "Where": _or_fold(_where),
    "Dropout": _dropout,
    "Gelu": _gelu,
    **{op: _reduce for op in REDUCE_OPS},
    "LayerNormalization": _layer_norm,
    "RMSNormalization": _rms_norm,
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


# ops whose outputs are constants whatever their inputs are: every shape is static
_CONSTANT_OPS = frozenset({"Constant", "Shape", "Size"})
# ops whose outputs are not a function of their inputs: never evaluated at import
_RANDOM_OPS = frozenset({"RandomNormalLike", "RandomUniformLike", "Bernoulli", "Multinomial"})


def _evaluable(proto: onnx.NodeProto, is_constant: Callable[[str], bool]) -> bool:
    """Whether a node is evaluated at import whether or not lockstep has a converter for
    its op (constant folding, e.g. the Trilu of a causal mask): a deterministic standard
    op, without subgraphs (which may read outer values), whose inputs are all constants."""
    names = [name for name in proto.input if name]
    return (
        proto.domain in ONNX_DOMAINS
        and proto.op_type not in _RANDOM_OPS
        and not any(a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for a in proto.attribute)
        and bool(names)
        and all(is_constant(name) for name in names)
    )


def _check_nodes(graph: onnx.GraphProto, inputs: set[str]) -> None:
    """Reject unsupported ops (unless they are evaluated on constants), and run-time Reshape
    shapes before their int64 input is reported as a mere element type problem."""
    constants = {t.name for t in graph.initializer}  # which values the importer will know
    for index, proto in enumerate(graph.node):
        name = _node_name(proto, index)
        evaluable = _evaluable(proto, constants.__contains__)
        if evaluable or (proto.domain in ONNX_DOMAINS and proto.op_type in _CONSTANT_OPS):
            constants.update(proto.output)
        if not evaluable and (proto.domain not in ONNX_DOMAINS or proto.op_type not in CONVERTERS):
            raise _unsupported(name, proto)
        if proto.op_type == "Reshape" and len(proto.input) > 1 and proto.input[1] in inputs:
            raise LockstepError(
                f"node '{name}' (op Reshape) needs a constant shape, but '{proto.input[1]}' is a graph input"
            )
        if proto.op_type == "Gather" and len(proto.input) > 1 and proto.input[1] in inputs:
            raise LockstepError(_RUNTIME_GATHER.format(node=f"node '{name}' (op Gather)", indices=proto.input[1]))


def _unsupported(name: str, proto: onnx.NodeProto) -> LockstepError:
    op = proto.op_type if proto.domain in ONNX_DOMAINS else f"{proto.domain}.{proto.op_type}"
    return LockstepError(f"node '{name}' (op {op}) is not supported; supported ops: {', '.join(sorted(CONVERTERS))}")


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
    if tensor_type.elem_type not in MACHINE_TYPES:  # bool, integers and float64 ride in f32
        elem = TensorProto.DataType.Name(tensor_type.elem_type)
        raise LockstepError(f"{kind} '{value.name}' has element type {elem}{_UNSUPPORTED_TYPE}")
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


def _initializer_array(tensor: onnx.TensorProto, base_dir: str | None) -> np.ndarray:
    try:
        if external_data_helper.uses_external_data(tensor):
            external_data_helper.load_external_data_for_tensor(tensor, base_dir or ".")
        return numpy_helper.to_array(tensor)
    except Exception as err:  # external data that is unreadable, unknown data types, ...
        raise LockstepError(f"initializer '{tensor.name}' cannot be read: {err}") from None


_FLOAT_TYPES = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16)


def _is_absent(tensor: onnx.TensorProto, base_dir: str | None, shape_only: bool) -> bool:
    """Whether a weight's values stay unknown: its external data file is not there, or the user
    asked for a shape-only compile (then every float initializer of more than one element).
    Integer initializers (shapes, indices) are always read: the compiler needs them."""
    if tensor.data_type not in _FLOAT_TYPES:
        return False
    if shape_only:
        return int(np.prod(tensor.dims)) > 1
    if not external_data_helper.uses_external_data(tensor):
        return False
    location = {e.key: e.value for e in tensor.external_data}.get("location", "")
    return not os.path.exists(os.path.join(base_dir or ".", location))


def _opset(model: onnx.ModelProto) -> int:
    versions = [o.version for o in model.opset_import if o.domain in ONNX_DOMAINS]
    return versions[0] if versions else 1


def import_proto(
    model: onnx.ModelProto,
    shape_overrides: dict[str, list[int]] | None = None,
    base_dir: str | None = None,
    shape_only: bool = False,
) -> ModuleOp:
    """The `tops` module of an ONNX model (which this modifies when it has shape overrides).

    External data is read relative to `base_dir`; weights whose data is not there (or every
    float weight, with `shape_only`) become absent constants: the program can be timed, not run."""
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
    for name, t in initializers.items():
        if _is_absent(t, base_dir, shape_only):
            imp.absent[name] = list(t.dims)
        else:
            imp.constants[name] = (_initializer_array(t, base_dir), name)
    for info in (*graph.input, *graph.value_info, *graph.output):
        if info.type.HasField("tensor_type"):
            imp.types[info.name] = info.type.tensor_type.elem_type
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
        converted = node.proto.op_type in CONVERTERS
        if _integer_constants(imp, node) or (not converted and _evaluable(node.proto, imp.constants.__contains__)):
            return _fold(imp, node)
        if not converted:  # its inputs were to be constants, but one is an absent weight or a computed value
            raise _unsupported(node.name, node.proto)
        return CONVERTERS[node.proto.op_type](imp, node)
    except LockstepError:
        raise
    except Exception as err:  # malformed attributes etc.: still one sentence naming the node
        raise LockstepError(f"{node.describe()} cannot be imported: {err}") from err


def _check_output_type(value: onnx.ValueInfoProto) -> None:
    elem = value.type.tensor_type.elem_type
    if elem != TensorProto.UNDEFINED and elem not in MACHINE_TYPES:  # bool, integers and float64 ride in f32
        name = TensorProto.DataType.Name(elem)
        raise LockstepError(f"output '{value.name}' has element type {name}{_UNSUPPORTED_TYPE}")


def _name_attrs(names: Iterable[str]) -> ArrayAttr[DictionaryAttr]:
    return ArrayAttr([DictionaryAttr({"tops.name": StringAttr(n)}) for n in names])


def import_model_bytes(
    data: bytes, shape_overrides: dict[str, list[int]] | None = None, shape_only: bool = False
) -> ModuleOp:
    """The `tops` module of a serialised ONNX model (external data is looked for in the working directory)."""
    return import_proto(_load(data, "the input"), shape_overrides, shape_only=shape_only)


def import_model(
    path: str | os.PathLike, shape_overrides: dict[str, list[int]] | None = None, shape_only: bool = False
) -> ModuleOp:
    """The `tops` module of the ONNX model file at `path` (its external data beside it)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise LockstepError(f"cannot read ONNX model '{os.fspath(path)}': {err.strerror}") from None
    origin = f"'{os.fspath(path)}'"
    return import_proto(_load(data, origin), shape_overrides, os.path.dirname(os.fspath(path)), shape_only)
