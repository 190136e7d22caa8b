"""The `tops` dialect: the model as value-semantics tensor ops on static f32 shapes.

The ONNX importer produces it with ONNX semantics (broadcasting, 1-D matmul
operands, Gemm, any softmax axis); `normalise` reduces it to the forms listed in
docs/architecture.md. Verifiers check shapes so that every later level can
trust them. The shape rules live here as plain functions so that the importer
and the passes compute result types exactly as the verifiers check them.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, TypeAlias

import numpy as np
from xdsl.dialects.builtin import (
    BoolAttr,
    StringAttr,
    BytesAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    Float32Type,
    FloatAttr,
    IntegerAttr,
    I64,
    TensorType,
    UnitAttr,
    f32,
    i8,
    i64,
)
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute, SSAValue
from xdsl.irdl import (
    AnyAttr,
    AnyOf,
    EqAttrConstraint,
    irdl_attr_definition,
    param_def,
    IRDLOperation,
    ParsePropInAttrDict,
    ParamAttrConstraint,
    VarConstraint,
    base,
    irdl_op_definition,
    operand_def,
    var_operand_def,
    opt_operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import ConstantLike, Pure
from xdsl.utils.exceptions import VerifyException

F32Tensor: TypeAlias = TensorType[Float32Type]
Shape: TypeAlias = tuple[int, ...]


def tensor(shape: Sequence[int]) -> F32Tensor:
    return TensorType(f32, list(shape))


def shape_of(value: SSAValue) -> Shape:
    assert isinstance(value.type, TensorType)
    return value.type.get_shape()


def fmt(shape: Sequence[int]) -> str:
    """A shape the way MLIR writes it, for messages: `2x3` (or `scalar`)."""
    return "x".join(map(str, shape)) if shape else "scalar"


# ---------------------------------------------------------------- shape rules


def broadcast_shapes(lhs: Sequence[int], rhs: Sequence[int]) -> Shape | None:
    """The numpy broadcast of two shapes, or None if they do not broadcast."""
    rank = max(len(lhs), len(rhs))
    a = (1,) * (rank - len(lhs)) + tuple(lhs)
    b = (1,) * (rank - len(rhs)) + tuple(rhs)
    if any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
        return None
    return tuple(y if x == 1 else x for x, y in zip(a, b))


def broadcasts_to(source: Sequence[int], target: Sequence[int]) -> bool:
    """Whether numpy can broadcast `source` to exactly `target`."""
    return len(source) <= len(target) and broadcast_shapes(source, target) == tuple(target)


def matmul_shape(lhs: Sequence[int], rhs: Sequence[int]) -> Shape | str:
    """The ONNX MatMul (numpy matmul) result shape, or a message saying why there is none."""
    if not lhs or not rhs:
        return "operands must have rank >= 1"
    a = (1, *lhs) if len(lhs) == 1 else tuple(lhs)
    b = (*rhs, 1) if len(rhs) == 1 else tuple(rhs)
    if a[-1] != b[-2]:
        return f"contracted dimensions differ: {fmt(lhs)} x {fmt(rhs)}"
    batch = broadcast_shapes(a[:-2], b[:-2])
    if batch is None:
        return f"batch dimensions do not broadcast: {fmt(lhs)} x {fmt(rhs)}"
    rows = () if len(lhs) == 1 else (a[-2],)
    cols = () if len(rhs) == 1 else (b[-1],)
    return (*batch, *rows, *cols)


def gemm_shape(a: Sequence[int], b: Sequence[int], trans_a: bool, trans_b: bool) -> Shape | str:
    """The Gemm result shape [M, N], or a message saying why there is none."""
    if len(a) != 2 or len(b) != 2:
        return f"operands A and B must be 2-D, got {fmt(a)} and {fmt(b)}"
    m, k = reversed(a) if trans_a else a
    kb, n = reversed(b) if trans_b else b
    if k != kb:
        return f"contracted dimensions differ: op(A) is {m}x{k}, op(B) is {kb}x{n}"
    return (m, n)


def normalise_axis(axis: int, rank: int) -> int | None:
    """`axis` in [0, rank), resolving a negative axis; None if out of range."""
    return axis + rank if -rank <= axis < 0 else axis if 0 <= axis < rank else None


def permuted(shape: Sequence[int], perm: Sequence[int]) -> Shape:
    return tuple(shape[p] for p in perm)


def reduced_shape(shape: Sequence[int], axes: Sequence[int], keepdims: bool) -> Shape:
    """The shape after reducing `axes` (non-negative): 1 there with keepdims, dropped without."""
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


# ----------------------------------------------------------------------- ops


@irdl_attr_definition
class AbsentAttr(ParametrizedAttribute):
    """The values of a weight the compiler is not given (a shape-only model): only its type.

    A program built from such constants can be scheduled and timed but not run with numbers.
    """

    name = "tops.absent"
    type: TensorType = param_def(TensorType)


ROW_BROADCAST = "tops.row_broadcast"
"""Discardable unit attribute of a `tops.constant` whose rows are all equal (ConstantOp.is_row_broadcast)."""


@irdl_op_definition
class ConstantOp(IRDLOperation):
    """A constant tensor (ONNX initializers and Constant nodes); `#tops.absent` when its values are unknown.

    f32, or i8 for the int8 weights of `quantize-weights` (read only as a matmul's B)."""

    name = "tops.constant"
    T: ClassVar = VarConstraint("T", base(TensorType))
    value = prop_def(
        AnyOf((ParamAttrConstraint(DenseIntOrFPElementsAttr, (T, AnyAttr())), ParamAttrConstraint(AbsentAttr, (T,))))
    )
    result = result_def(T)

    traits = traits_def(Pure(), ConstantLike())
    assembly_format = "$value attr-dict"

    def __init__(self, value: DenseIntOrFPElementsAttr | AbsentAttr):
        super().__init__(result_types=[value.type], properties={"value": value})

    @staticmethod
    def from_array(array: np.ndarray) -> ConstantOp:
        data = np.asarray(array, dtype="<f4")
        return ConstantOp(DenseIntOrFPElementsAttr(tensor(data.shape), BytesAttr(data.tobytes())))

    @staticmethod
    def from_int8(array: np.ndarray) -> ConstantOp:
        data = np.asarray(array, dtype=np.int8)
        return ConstantOp(DenseIntOrFPElementsAttr(TensorType(i8, data.shape), BytesAttr(data.tobytes())))

    @staticmethod
    def absent(shape: Sequence[int], element: Attribute = f32) -> ConstantOp:
        return ConstantOp(AbsentAttr(TensorType(element, shape)))

    @property
    def is_absent(self) -> bool:
        return isinstance(self.value, AbsentAttr)

    def with_values(self, shape: Sequence[int], values: np.ndarray | None) -> ConstantOp:
        """A constant of this one's element type holding `values` (of `shape`), or absent of
        `shape` when they are None (this one is absent)."""
        if values is None:
            return ConstantOp.absent(shape, self.value.type.element_type)
        return ConstantOp.from_int8(values) if self.is_int8 else ConstantOp.from_array(values)

    def transposed(self, perm: Sequence[int]) -> ConstantOp:
        """The constant with its axes permuted (absent stays absent)."""
        array = self.array()
        shape = permuted(self.result.type.get_shape(), perm)
        return self.with_values(shape, None if array is None else np.transpose(array, perm))

    @property
    def is_int8(self) -> bool:
        return self.value.type.element_type == i8

    @property
    def is_row_broadcast(self) -> bool:
        """Every row (all axes but the last) holds the same values: a bias, a LayerNorm gamma or
        a per-channel scale broadcast to an activation's shape. Recorded, not derived from the
        values, so that absent (shape-only) constants carry it too; `place` and `lower-to-chip`
        store such a constant as one row that elementwise ops read with address step 0."""
        return ROW_BROADCAST in self.attributes

    def mark_row_broadcast(self) -> None:
        """Mark the constant a row broadcast (only when it has more than one row)."""
        if int(np.prod(shape_of(self.result)[:-1])) > 1:
            self.attributes[ROW_BROADCAST] = UnitAttr()

    def array(self) -> np.ndarray | None:
        """The values (float32, or int8 for an i8 constant), or None for an absent constant."""
        if isinstance(self.value, AbsentAttr):
            return None
        shape = self.value.get_shape()
        dtype = np.int8 if self.is_int8 else np.dtype("<f4")
        data = np.frombuffer(self.value.data.data, dtype=dtype)
        # a parsed splat (`dense<1.0>`) may hold a single element
        return np.broadcast_to(data, (int(np.prod(shape)),)).reshape(shape).astype(dtype)

    def verify_(self) -> None:
        element = self.value.type.element_type
        if not isinstance(element, Float32Type) and element != i8:
            raise VerifyException(f"constant must be f32, got {element} (or i8, for int8 weights)")
        if self.is_row_broadcast and (data := self.array()) is not None:
            rows = data.reshape(-1, data.shape[-1]) if data.ndim else data.reshape(1, 1)
            if not (rows == rows[:1]).all():
                raise VerifyException(f"{ROW_BROADCAST} constant {fmt(list(data.shape))} has rows that differ")


class TopsOp(IRDLOperation):
    """Base of the ops with one f32 tensor result and a `(operands) -> result` type."""

    result = result_def(F32Tensor)
    traits = traits_def(Pure())

    def out_shape(self) -> Shape:
        return shape_of(self.result)


class BinaryOp(TopsOp):
    """Elementwise binary op with numpy broadcasting (made explicit by `normalise`)."""

    lhs = operand_def(F32Tensor)
    rhs = operand_def(F32Tensor)

    assembly_format = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def __init__(self, lhs: SSAValue, rhs: SSAValue, result_type: Attribute | None = None):
        if result_type is None:
            shape = broadcast_shapes(shape_of(lhs), shape_of(rhs))
            assert shape is not None, "operands do not broadcast"
            result_type = tensor(shape)
        super().__init__(operands=[lhs, rhs], result_types=[result_type])

    def verify_(self) -> None:
        lhs, rhs = shape_of(self.lhs), shape_of(self.rhs)
        expected = broadcast_shapes(lhs, rhs)
        if expected is None:
            raise VerifyException(f"operand shapes {fmt(lhs)} and {fmt(rhs)} do not broadcast")
        if expected != self.out_shape():
            raise VerifyException(
                f"result shape {fmt(self.out_shape())} is not the broadcast shape {fmt(expected)}"
                f" of {fmt(lhs)} and {fmt(rhs)}"
            )


@irdl_op_definition
class AddOp(BinaryOp):
    name = "tops.add"


@irdl_op_definition
class SubOp(BinaryOp):
    name = "tops.sub"


@irdl_op_definition
class MulOp(BinaryOp):
    name = "tops.mul"


@irdl_op_definition
class DivOp(BinaryOp):
    name = "tops.div"


@irdl_op_definition
class PowOp(BinaryOp):
    name = "tops.pow"


@irdl_op_definition
class MaxOp(BinaryOp):
    name = "tops.max"


@irdl_op_definition
class MinOp(BinaryOp):
    name = "tops.min"


# Predicates and logic. Booleans are f32 tensors holding 0.0 (false) and 1.0
# (true); the logic ops read any non-zero value as true.


@irdl_op_definition
class EqualOp(BinaryOp):
    name = "tops.equal"


@irdl_op_definition
class LessOp(BinaryOp):
    name = "tops.less"


@irdl_op_definition
class GreaterOp(BinaryOp):
    name = "tops.greater"


@irdl_op_definition
class LessOrEqualOp(BinaryOp):
    name = "tops.less_equal"


@irdl_op_definition
class GreaterOrEqualOp(BinaryOp):
    name = "tops.greater_equal"


@irdl_op_definition
class AndOp(BinaryOp):
    name = "tops.and"


@irdl_op_definition
class OrOp(BinaryOp):
    name = "tops.or"


@irdl_op_definition
class XorOp(BinaryOp):
    name = "tops.xor"


@irdl_op_definition
class WhereOp(TopsOp):
    """ONNX Where: lhs where condition is true (non-zero), rhs elsewhere, numpy broadcasting."""

    name = "tops.where"
    condition = operand_def(F32Tensor)
    lhs = operand_def(F32Tensor)
    rhs = operand_def(F32Tensor)

    assembly_format = "$condition `,` $lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def __init__(self, condition: SSAValue, lhs: SSAValue, rhs: SSAValue):
        shape = where_shape(shape_of(condition), shape_of(lhs), shape_of(rhs))
        assert shape is not None, "operands do not broadcast"
        super().__init__(operands=[condition, lhs, rhs], result_types=[tensor(shape)])

    def verify_(self) -> None:
        shapes = [shape_of(v) for v in self.operands]
        expected = where_shape(*shapes)
        if expected is None:
            raise VerifyException(f"operand shapes {', '.join(map(fmt, shapes))} do not broadcast")
        if expected != self.out_shape():
            raise VerifyException(f"result shape {fmt(self.out_shape())} is not the broadcast shape {fmt(expected)}")


def where_shape(*shapes: Sequence[int]) -> Shape | None:
    """The broadcast of several shapes, or None."""
    out: Shape | None = tuple(shapes[0])
    for shape in shapes[1:]:
        out = None if out is None else broadcast_shapes(out, shape)
    return out


class SameTypeOp(IRDLOperation):
    """Base of the ops whose result has the type of their single operand."""

    T: ClassVar = VarConstraint("T", base(TensorType[Float32Type]))
    input = operand_def(T)
    result = result_def(T)

    traits = traits_def(Pure())

    def __init__(self, input: SSAValue, properties: dict[str, Attribute] | None = None):
        super().__init__(operands=[input], result_types=[input.type], properties=properties or {})


class UnaryOp(SameTypeOp):
    """Elementwise unary op."""

    assembly_format = "$input attr-dict `:` type($result)"


@irdl_op_definition
class ReluOp(UnaryOp):
    name = "tops.relu"


@irdl_op_definition
class SigmoidOp(UnaryOp):
    name = "tops.sigmoid"


@irdl_op_definition
class TanhOp(UnaryOp):
    name = "tops.tanh"


@irdl_op_definition
class ExpOp(UnaryOp):
    name = "tops.exp"


@irdl_op_definition
class NegOp(UnaryOp):
    name = "tops.neg"


@irdl_op_definition
class AbsOp(UnaryOp):
    name = "tops.abs"


@irdl_op_definition
class TruncOp(UnaryOp):
    """Rounds toward zero: integer Div, and Cast from float to an integer type (integers are
    f32 tensors holding integral values, exact up to 2**24 in magnitude)."""

    name = "tops.trunc"


@irdl_op_definition
class RoundOp(UnaryOp):
    """Rounds to the nearest integer, ties to even: integer Pow (its float32 power may miss
    the exact integer by an ulp)."""

    name = "tops.round"


@irdl_op_definition
class LogOp(UnaryOp):
    name = "tops.log"


@irdl_op_definition
class SqrtOp(UnaryOp):
    name = "tops.sqrt"


@irdl_op_definition
class ReciprocalOp(UnaryOp):
    name = "tops.reciprocal"


@irdl_op_definition
class ErfOp(UnaryOp):
    name = "tops.erf"


@irdl_op_definition
class CosOp(UnaryOp):
    name = "tops.cos"


@irdl_op_definition
class SinOp(UnaryOp):
    name = "tops.sin"


@irdl_op_definition
class IsNaNOp(UnaryOp):
    """1.0 where the operand is NaN, else 0.0."""

    name = "tops.isnan"


@irdl_op_definition
class NotOp(UnaryOp):
    """1.0 where the operand is 0.0, else 0.0."""

    name = "tops.not"


@irdl_op_definition
class ToBoolOp(UnaryOp):
    """ONNX Cast to bool: 1.0 where the operand is non-zero (or NaN), else 0.0."""

    name = "tops.to_bool"


@irdl_op_definition
class GeluOp(SameTypeOp):
    """ONNX Gelu (opset 20): `approximate` is "none" (erf) or "tanh"; `normalise` decomposes it."""

    name = "tops.gelu"
    approximate = prop_def(StringAttr)

    assembly_format = "$input `approximate` `=` $approximate attr-dict `:` type($result)"

    def __init__(self, input: SSAValue, approximate: str = "none"):
        super().__init__(input, {"approximate": StringAttr(approximate)})

    def verify_(self) -> None:
        if self.approximate.data not in ("none", "tanh"):
            raise VerifyException(f"approximate must be \"none\" or \"tanh\", got \"{self.approximate.data}\"")


class ReduceOp(TopsOp):
    """Reduction over `axes` (non-negative, increasing, at least one); keepdims is read off
    the result's rank. `normalise` leaves only the last axis of any rank, or axis 1 of a
    rank-4 tensor [outer, reduced, rows, width] (a reduction across rows), with keepdims."""

    input = operand_def(F32Tensor)
    axes = prop_def(DenseArrayBase.constr(i64))

    assembly_format = "$input `axes` `=` $axes attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, axes: Sequence[int], keepdims: bool):
        super().__init__(
            operands=[input],
            result_types=[tensor(reduced_shape(shape_of(input), axes, keepdims))],
            properties={"axes": DenseArrayBase.from_list(i64, list(axes))},
        )

    def reduced_axes(self) -> tuple[int, ...]:
        return self.axes.get_values()

    def keepdims(self) -> bool:
        return len(self.out_shape()) == len(shape_of(self.input))

    def verify_(self) -> None:
        source, axes = shape_of(self.input), list(self.reduced_axes())
        if not axes or axes != sorted(set(axes)) or axes[0] < 0 or axes[-1] >= max(len(source), 1):
            raise VerifyException(f"axes {axes} must be increasing, distinct and within rank {len(source)}")
        allowed = {reduced_shape(source, axes, True), reduced_shape(source, axes, False)}
        if self.out_shape() not in allowed:
            raise VerifyException(
                f"result shape {fmt(self.out_shape())} is not {fmt(source)} reduced over axes {axes}"
            )


@irdl_op_definition
class ReduceSumOp(ReduceOp):
    name = "tops.reduce_sum"


@irdl_op_definition
class ReduceMeanOp(ReduceOp):
    name = "tops.reduce_mean"


@irdl_op_definition
class ReduceMaxOp(ReduceOp):
    name = "tops.reduce_max"


@irdl_op_definition
class ReduceMinOp(ReduceOp):
    name = "tops.reduce_min"


class NormOp(TopsOp):
    """Normalisation over axes [axis, rank), then scale [+ bias] (each broadcast to the input)."""

    input = operand_def(F32Tensor)
    scale = operand_def(F32Tensor)
    bias = opt_operand_def(F32Tensor)
    axis = prop_def(IntegerAttr[I64])
    epsilon = prop_def(FloatAttr[Float32Type])

    assembly_format = (
        "$input `,` $scale (`,` $bias^)? `axis` `=` $axis `epsilon` `=` $epsilon attr-dict "
        "`:` functional-type(operands, results)"
    )

    def __init__(self, input: SSAValue, scale: SSAValue, bias: SSAValue | None, axis: int, epsilon: float):
        super().__init__(
            operands=[input, scale, [] if bias is None else [bias]],
            result_types=[input.type],
            properties={"axis": IntegerAttr(axis, i64), "epsilon": FloatAttr(epsilon, f32)},
        )

    def norm_axis(self) -> int:
        axis = normalise_axis(self.axis.value.data, len(shape_of(self.input)))
        assert axis is not None
        return axis

    def verify_(self) -> None:
        source = shape_of(self.input)
        if normalise_axis(self.axis.value.data, len(source)) is None:
            raise VerifyException(f"axis {self.axis.value.data} is out of range for rank {len(source)}")
        if self.out_shape() != source:
            raise VerifyException(f"result shape {fmt(self.out_shape())} should be {fmt(source)}")
        for name in ("scale", "bias"):
            value = getattr(self, name)
            if value is not None and not broadcasts_to(shape_of(value), source):
                raise VerifyException(f"{name} of shape {fmt(shape_of(value))} does not broadcast to {fmt(source)}")


@irdl_op_definition
class LayerNormOp(NormOp):
    """ONNX LayerNormalization's Y: (x - mean) / sqrt(var + epsilon) * scale [+ bias].
    `normalise` decomposes it into reductions and elementwise ops."""

    name = "tops.layer_norm"


@irdl_op_definition
class RMSNormOp(NormOp):
    """ONNX RMSNormalization (opset 23): x / sqrt(mean(x^2) + epsilon) * scale [+ bias, which
    ONNX does not have: the importer never sets it]."""

    name = "tops.rms_norm"


@irdl_op_definition
class SoftmaxOp(SameTypeOp):
    """Softmax along `axis` (ONNX opset >= 13 semantics); `normalise` makes it the last axis."""

    name = "tops.softmax"
    axis = prop_def(IntegerAttr[I64])

    assembly_format = "$input `axis` `=` $axis attr-dict `:` type($result)"

    def __init__(self, input: SSAValue, axis: int):
        super().__init__(input, {"axis": IntegerAttr(axis, i64)})

    def verify_(self) -> None:
        rank = len(shape_of(self.result))
        if normalise_axis(self.axis.value.data, rank) is None:
            raise VerifyException(f"axis {self.axis.value.data} is out of range for rank {rank}")


@irdl_op_definition
class MatmulOp(TopsOp):
    """ONNX MatMul: numpy matmul with batch broadcasting and 1-D operands.

    After `normalise`: A is [..., M, K] and B is [K, N].
    """

    name = "tops.matmul"
    lhs = operand_def(F32Tensor)
    # i8: int8 weights (`quantize-weights`), multiplied exactly and accumulated in f32
    rhs = operand_def(TensorType.constr(EqAttrConstraint(f32) | EqAttrConstraint(i8)))

    assembly_format = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        shape = matmul_shape(shape_of(lhs), shape_of(rhs))
        assert isinstance(shape, tuple), shape
        super().__init__(operands=[lhs, rhs], result_types=[tensor(shape)])

    def verify_(self) -> None:
        expected = matmul_shape(shape_of(self.lhs), shape_of(self.rhs))
        if isinstance(expected, str):
            raise VerifyException(expected)
        if expected != self.out_shape():
            raise VerifyException(
                f"result shape {fmt(self.out_shape())} should be {fmt(expected)}"
            )


@irdl_op_definition
class GemmOp(TopsOp):
    """ONNX Gemm: alpha * op(A) @ op(B) + beta * C, op = transpose when trans_a/trans_b."""

    name = "tops.gemm"
    a = operand_def(F32Tensor)
    b = operand_def(F32Tensor)
    c = opt_operand_def(F32Tensor)
    alpha = prop_def(FloatAttr[Float32Type], default_value=FloatAttr(1.0, f32))
    beta = prop_def(FloatAttr[Float32Type], default_value=FloatAttr(1.0, f32))
    trans_a = prop_def(BoolAttr, default_value=IntegerAttr.from_bool(False))
    trans_b = prop_def(BoolAttr, default_value=IntegerAttr.from_bool(False))

    assembly_format = "$a `,` $b (`,` $c^)? attr-dict `:` functional-type(operands, results)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(
        self,
        a: SSAValue,
        b: SSAValue,
        c: SSAValue | None,
        *,
        alpha: float = 1.0,
        beta: float = 1.0,
        trans_a: bool = False,
        trans_b: bool = False,
    ):
        shape = gemm_shape(shape_of(a), shape_of(b), trans_a, trans_b)
        assert isinstance(shape, tuple), shape
        super().__init__(
            operands=[a, b, [] if c is None else [c]],
            result_types=[tensor(shape)],
            properties={
                "alpha": FloatAttr(alpha, f32),
                "beta": FloatAttr(beta, f32),
                "trans_a": IntegerAttr.from_bool(trans_a),
                "trans_b": IntegerAttr.from_bool(trans_b),
            },
        )

    def verify_(self) -> None:
        trans_a, trans_b = bool(self.trans_a.value.data), bool(self.trans_b.value.data)
        expected = gemm_shape(shape_of(self.a), shape_of(self.b), trans_a, trans_b)
        if isinstance(expected, str):
            raise VerifyException(expected)
        if expected != self.out_shape():
            raise VerifyException(f"result shape {fmt(self.out_shape())} should be {fmt(expected)}")
        if self.c is not None and not broadcasts_to(shape_of(self.c), expected):
            raise VerifyException(
                f"C of shape {fmt(shape_of(self.c))} does not broadcast to {fmt(expected)}"
            )


@irdl_op_definition
class ReshapeOp(TopsOp):
    """Reshape to the result type (same element count, row-major order)."""

    name = "tops.reshape"
    input = operand_def(F32Tensor)

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, shape: Sequence[int]):
        super().__init__(operands=[input], result_types=[tensor(shape)])

    def verify_(self) -> None:
        source = shape_of(self.input)
        if np.prod(source, dtype=int) != np.prod(self.out_shape(), dtype=int):
            raise VerifyException(
                f"cannot reshape {fmt(source)} to {fmt(self.out_shape())}: element counts differ"
            )


@irdl_op_definition
class TransposeOp(TopsOp):
    """Permute dimensions: result dim i is input dim perm[i]."""

    name = "tops.transpose"
    input = operand_def(F32Tensor)
    perm = prop_def(DenseArrayBase.constr(i64))

    assembly_format = "$input `perm` `=` $perm attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, perm: Sequence[int]):
        super().__init__(
            operands=[input],
            result_types=[tensor(permuted(shape_of(input), perm))],
            properties={"perm": DenseArrayBase.from_list(i64, list(perm))},
        )

    def permutation(self) -> tuple[int, ...]:
        return self.perm.get_values()

    def verify_(self) -> None:
        source, perm = shape_of(self.input), self.permutation()
        if sorted(perm) != list(range(len(source))):
            raise VerifyException(
                f"perm {list(perm)} is not a permutation of the {len(source)} dimensions"
            )
        if permuted(source, perm) != self.out_shape():
            raise VerifyException(
                f"result shape {fmt(self.out_shape())} should be {fmt(permuted(source, perm))}"
            )


@irdl_op_definition
class BroadcastOp(TopsOp):
    """Numpy broadcast of the operand to the result type."""

    name = "tops.broadcast"
    input = operand_def(F32Tensor)

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, shape: Sequence[int]):
        super().__init__(operands=[input], result_types=[tensor(shape)])

    def verify_(self) -> None:
        if not broadcasts_to(shape_of(self.input), self.out_shape()):
            raise VerifyException(
                f"cannot broadcast {fmt(shape_of(self.input))} to {fmt(self.out_shape())}"
            )


# ------------------------------------------------------------ data movement
# Every result element of these ops is a copy of one operand element. `apply` is their
# numpy meaning on arrays of any dtype: the evaluator runs it on values, the lowering on
# element indices (which operand element lands where).


def concat_shape(shapes: Sequence[Sequence[int]], axis: int) -> Shape | str:
    """The shape of a concatenation along `axis` (non-negative), or a message saying why there is none."""
    if not shapes:
        return "needs at least one operand"
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        return f"operands have different ranks: {', '.join(map(fmt, shapes))}"
    if not 0 <= axis < rank:
        return f"axis {axis} is out of range for rank {rank}"
    if any(tuple(s[:axis]) + tuple(s[axis + 1 :]) != tuple(shapes[0][:axis]) + tuple(shapes[0][axis + 1 :])
           for s in shapes):
        return f"operand shapes {', '.join(map(fmt, shapes))} differ outside axis {axis}"
    return (*shapes[0][:axis], sum(s[axis] for s in shapes), *shapes[0][axis + 1 :])


def gather_shape(source: Sequence[int], axis: int, index_shape: Sequence[int]) -> Shape:
    return (*source[:axis], *index_shape, *source[axis + 1 :])


class SelectOp(TopsOp):
    """Base of the data-movement ops: each result element is one operand element."""

    def apply(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        raise NotImplementedError


@irdl_op_definition
class ConcatOp(SelectOp):
    """ONNX Concat of one or more operands of one rank along `axis` (non-negative)."""

    name = "tops.concat"
    inputs = var_operand_def(F32Tensor)
    axis = prop_def(IntegerAttr[I64])

    assembly_format = "$inputs `axis` `=` $axis attr-dict `:` functional-type(operands, results)"

    def __init__(self, inputs: Sequence[SSAValue], axis: int):
        shape = concat_shape([shape_of(v) for v in inputs], axis)
        assert isinstance(shape, tuple), shape
        super().__init__(operands=[list(inputs)], result_types=[tensor(shape)],
                         properties={"axis": IntegerAttr(axis, i64)})

    def apply(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        return np.concatenate(arrays, axis=self.axis.value.data)

    def verify_(self) -> None:
        expected = concat_shape([shape_of(v) for v in self.inputs], self.axis.value.data)
        if isinstance(expected, str):
            raise VerifyException(expected)
        if expected != self.out_shape():
            raise VerifyException(f"result shape {fmt(self.out_shape())} should be {fmt(expected)}")


@irdl_op_definition
class SliceOp(SelectOp):
    """A resolved ONNX Slice: result element i of dimension d is operand element
    starts[d] + i * steps[d] (every dimension listed, starts in range, steps non-zero);
    the result type gives the counts."""

    name = "tops.slice"
    input = operand_def(F32Tensor)
    starts = prop_def(DenseArrayBase.constr(i64))
    steps = prop_def(DenseArrayBase.constr(i64))

    assembly_format = (
        "$input `starts` `=` $starts `steps` `=` $steps attr-dict `:` functional-type(operands, results)"
    )

    def __init__(self, input: SSAValue, starts: Sequence[int], steps: Sequence[int], shape: Sequence[int]):
        super().__init__(
            operands=[input],
            result_types=[tensor(shape)],
            properties={"starts": DenseArrayBase.from_list(i64, list(starts)),
                        "steps": DenseArrayBase.from_list(i64, list(steps))},
        )

    def index_lists(self) -> list[np.ndarray]:
        """The operand indices each result dimension takes."""
        return [start + step * np.arange(n) for start, step, n in
                zip(self.starts.get_values(), self.steps.get_values(), self.out_shape())]

    def apply(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        (x,) = arrays
        return x[np.ix_(*self.index_lists())] if x.ndim else x

    def verify_(self) -> None:
        source, out = shape_of(self.input), self.out_shape()
        starts, steps = self.starts.get_values(), self.steps.get_values()
        if not (len(starts) == len(steps) == len(source) == len(out)):
            raise VerifyException(
                f"starts {list(starts)} and steps {list(steps)} must list every dimension of"
                f" {fmt(source)} and the result {fmt(out)} must have its rank"
            )
        for d, (start, step, n, size) in enumerate(zip(starts, steps, out, source)):
            last = start + (n - 1) * step
            if n > 0 and (step == 0 or not 0 <= start < size or not 0 <= last < size):
                raise VerifyException(
                    f"dimension {d}: {n} elements from {start} in steps of {step} do not fit in size {size}"
                )


@irdl_op_definition
class GatherOp(SelectOp):
    """ONNX Gather with constant indices: take(input, indices, axis). `indices` are flattened
    and resolved to [0, size); their shape is the result's dimensions [axis, axis + r), where
    r = rank(result) - rank(input) + 1 (0 for a scalar index, which drops the axis)."""

    name = "tops.gather"
    input = operand_def(F32Tensor)
    axis = prop_def(IntegerAttr[I64])
    indices = prop_def(DenseArrayBase.constr(i64))

    assembly_format = (
        "$input `axis` `=` $axis `indices` `=` $indices attr-dict `:` functional-type(operands, results)"
    )

    def __init__(self, input: SSAValue, axis: int, indices: np.ndarray):
        indices = np.asarray(indices, dtype=np.int64)
        super().__init__(
            operands=[input],
            result_types=[tensor(gather_shape(shape_of(input), axis, indices.shape))],
            properties={"axis": IntegerAttr(axis, i64),
                        "indices": DenseArrayBase.from_list(i64, indices.reshape(-1).tolist())},
        )

    def index_array(self) -> np.ndarray:
        axis, rank = self.axis.value.data, len(shape_of(self.input))
        index_shape = self.out_shape()[axis : axis + len(self.out_shape()) - rank + 1]
        return np.asarray(self.indices.get_values(), dtype=np.int64).reshape(index_shape)

    def apply(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        return np.take(arrays[0], self.index_array(), axis=self.axis.value.data)

    def verify_(self) -> None:
        source, out, axis = shape_of(self.input), self.out_shape(), self.axis.value.data
        if not 0 <= axis < len(source):
            raise VerifyException(f"axis {axis} is out of range for rank {len(source)}")
        index_rank = len(out) - len(source) + 1
        index_shape = out[axis : axis + index_rank] if index_rank >= 0 else ()
        indices = self.indices.get_values()
        if index_rank < 0 or gather_shape(source, axis, index_shape) != out or len(indices) != int(
            np.prod(index_shape, dtype=int)
        ):
            raise VerifyException(
                f"result shape {fmt(out)} is not {fmt(source)} indexed along axis {axis} by {len(indices)} indices"
            )
        if any(not 0 <= i < source[axis] for i in indices):
            raise VerifyException(f"indices must be in [0, {source[axis]}) along axis {axis}")


# ------------------------------------------------- convolution, pooling, normalisation
# Activations are NCHW (ONNX); `normalise` turns these ops into tops.im2col (windows of
# an NHWC tensor, or of an NCHW one for a pool), matmuls, reductions and elementwise ops
# (docs/conv.md). Windows have any number k >= 1 of spatial axes; pads are ONNX-ordered
# [begins..., ends...].


def window_out(size: int, kernel: int, stride: int, begin: int, end: int, dilation: int,
               ceil_mode: bool = False) -> int:
    """Windows along one axis (ONNX Conv/pool rules; 0 if none fits). With ceil_mode a last
    partial window counts, unless it would start in the end padding (onnxruntime's rule)."""
    span = size + begin + end - dilation * (kernel - 1) - 1
    if span < 0:
        return 0
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    return out - 1 if (out - 1) * stride >= size + begin else out


def _window_problem(kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
                    dilations: Sequence[int]) -> str | None:
    k = len(kernel)
    if k < 1 or len(strides) != k or len(dilations) != k or len(pads) != 2 * k:
        return f"kernel {list(kernel)}: strides and dilations need {k} values and pads {2 * k}"
    if min(kernel) < 1 or min(strides) < 1 or min(dilations) < 1 or min(pads) < 0:
        return f"invalid window: kernel {list(kernel)}, strides {list(strides)}, pads {list(pads)}, dilations {list(dilations)}"
    return None


def windows_shape(size: Sequence[int], kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
                  dilations: Sequence[int], ceil_mode: bool = False) -> Shape | str:
    """Windows per spatial axis, e.g. (OH, OW) over (H, W) with pads [top, left, bottom, right]."""
    problem = _window_problem(kernel, strides, pads, dilations)
    if problem:
        return problem
    k = len(kernel)
    out = tuple(window_out(size[i], kernel[i], strides[i], pads[i], pads[i + k], dilations[i], ceil_mode)
                for i in range(k))
    if min(out) < 1:
        return f"the window {list(kernel)} does not fit the padded input {fmt(size)}"
    return out


def conv_shape(x: Sequence[int], w: Sequence[int], strides: Sequence[int], pads: Sequence[int],
               dilations: Sequence[int], group: int) -> Shape | str:
    """ONNX Conv (2-D, NCHW) result shape, or why there is none."""
    if len(x) != 4 or len(w) != 4:
        return f"only 2-D convolutions are supported (input {fmt(x)}, weight {fmt(w)})"
    n, c, m, cg = x[0], x[1], w[0], w[1]
    if group < 1 or c % group or m % group:
        return f"group {group} does not divide the {c} input and {m} output channels"
    if cg * group != c:
        return f"weight has {cg} input channels per group, expected {c // group}"
    out = windows_shape(x[2:], w[2:], strides, pads, dilations)
    return out if isinstance(out, str) else (n, m, *out)


class WindowOp(TopsOp):
    """Shared accessors of the ops with 2-D window properties."""

    def ints(self, name: str) -> tuple[int, ...]:
        return getattr(self, name).get_values()


def _arrays(**values: Sequence[int]) -> dict[str, Attribute]:
    return {k: DenseArrayBase.from_list(i64, list(v)) for k, v in values.items()}


@irdl_op_definition
class ConvOp(WindowOp):
    """ONNX Conv, 2-D: input [N, C, H, W], weight [M, C/group, KH, KW], bias [M]; pads
    [top, left, bottom, right] explicit (the importer resolves auto_pad)."""

    name = "tops.conv"
    input = operand_def(F32Tensor)
    weight = operand_def(F32Tensor)
    bias = opt_operand_def(F32Tensor)
    strides = prop_def(DenseArrayBase.constr(i64))
    pads = prop_def(DenseArrayBase.constr(i64))
    dilations = prop_def(DenseArrayBase.constr(i64))
    group = prop_def(IntegerAttr[I64])

    assembly_format = (
        "$input `,` $weight (`,` $bias^)? `strides` `=` $strides `pads` `=` $pads `dilations` `=` $dilations "
        "`group` `=` $group attr-dict `:` functional-type(operands, results)"
    )

    def __init__(self, input: SSAValue, weight: SSAValue, bias: SSAValue | None, strides: Sequence[int],
                 pads: Sequence[int], dilations: Sequence[int], group: int):
        shape = conv_shape(shape_of(input), shape_of(weight), strides, pads, dilations, group)
        assert isinstance(shape, tuple), shape
        super().__init__(
            operands=[input, weight, [] if bias is None else [bias]],
            result_types=[tensor(shape)],
            properties={**_arrays(strides=strides, pads=pads, dilations=dilations), "group": IntegerAttr(group, i64)},
        )

    def verify_(self) -> None:
        expected = conv_shape(shape_of(self.input), shape_of(self.weight), self.ints("strides"),
                              self.ints("pads"), self.ints("dilations"), self.group.value.data)
        if isinstance(expected, str):
            raise VerifyException(expected)
        if expected != self.out_shape():
            raise VerifyException(f"result shape {fmt(self.out_shape())} should be {fmt(expected)}")
        if self.bias is not None and shape_of(self.bias) != (expected[1],):
            raise VerifyException(f"bias of shape {fmt(shape_of(self.bias))} should be {expected[1]}")


class PoolOp(WindowOp):
    """Pooling of an [N, C, S_1..S_k] input over k-D kernel windows; padding never wins a max
    and is counted by an average only with count_include_pad (not the ceil_mode extension)."""

    input = operand_def(F32Tensor)
    kernel = prop_def(DenseArrayBase.constr(i64))
    strides = prop_def(DenseArrayBase.constr(i64))
    pads = prop_def(DenseArrayBase.constr(i64))
    dilations = prop_def(DenseArrayBase.constr(i64))
    ceil_mode = prop_def(IntegerAttr[I64])

    assembly_format = (
        "$input `kernel` `=` $kernel `strides` `=` $strides `pads` `=` $pads `dilations` `=` $dilations "
        "`ceil_mode` `=` $ceil_mode attr-dict `:` functional-type(operands, results)"
    )

    def __init__(self, input: SSAValue, kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
                 dilations: Sequence[int], ceil_mode: bool, extra: dict[str, Attribute] | None = None):
        shape = self.pool_shape(shape_of(input), kernel, strides, pads, dilations, ceil_mode)
        assert isinstance(shape, tuple), shape
        super().__init__(
            operands=[input],
            result_types=[tensor(shape)],
            properties={**_arrays(kernel=kernel, strides=strides, pads=pads, dilations=dilations),
                        "ceil_mode": IntegerAttr(int(ceil_mode), i64), **(extra or {})},
        )

    @staticmethod
    def pool_shape(x: Sequence[int], kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
                   dilations: Sequence[int], ceil_mode: bool) -> Shape | str:
        if len(x) != len(kernel) + 2:
            return f"a {len(kernel)}-D kernel needs an [N, C] + {len(kernel)} spatial axes input, got {fmt(x)}"
        out = windows_shape(x[2:], kernel, strides, pads, dilations, ceil_mode)
        return out if isinstance(out, str) else (x[0], x[1], *out)

    def verify_(self) -> None:
        expected = self.pool_shape(shape_of(self.input), self.ints("kernel"), self.ints("strides"), self.ints("pads"),
                                   self.ints("dilations"), bool(self.ceil_mode.value.data))
        if isinstance(expected, str):
            raise VerifyException(expected)
        if expected != self.out_shape():
            raise VerifyException(f"result shape {fmt(self.out_shape())} should be {fmt(expected)}")


@irdl_op_definition
class MaxPoolOp(PoolOp):
    name = "tops.max_pool"


@irdl_op_definition
class AvgPoolOp(PoolOp):
    name = "tops.avg_pool"
    count_include_pad = prop_def(IntegerAttr[I64])

    assembly_format = (
        "$input `kernel` `=` $kernel `strides` `=` $strides `pads` `=` $pads `dilations` `=` $dilations "
        "`ceil_mode` `=` $ceil_mode `count_include_pad` `=` $count_include_pad attr-dict "
        "`:` functional-type(operands, results)"
    )

    def __init__(self, input: SSAValue, kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
                 dilations: Sequence[int], ceil_mode: bool, count_include_pad: bool):
        super().__init__(input, kernel, strides, pads, dilations, ceil_mode,
                         {"count_include_pad": IntegerAttr(int(count_include_pad), i64)})


def im2col_windows(x: Sequence[int], kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
                   dilations: Sequence[int]) -> Shape | str:
    """The windows of tops.im2col, or why there are none: x's shape with its spatial axes
    (1..k) replaced by the window counts and the k kernel axes inserted before the last axis
    (the channels of [N, S_1..S_k, C], or the last spatial axis of [N, S_1..S_k])."""
    k = len(kernel)
    if len(x) not in (k + 1, k + 2):
        return f"a {k}-D kernel needs an [N] + {k} spatial axes (+ [C]) input, got {fmt(x)}"
    out = windows_shape(x[1:k + 1], kernel, strides, pads, dilations)
    if isinstance(out, str):
        return out
    outer = (x[0], *out, *x[k + 1:])
    return (*outer[:-1], *kernel, outer[-1])


@irdl_op_definition
class Im2colOp(WindowOp):
    """Windows of an NHWC input [N, H, W, C]: element (n, oh, ow, kh, kw, c) of the
    row-major [N, OH, OW, KH, KW, C] windows is x[n, oh*sh - top + kh*dh, ow*sw - left + kw*dw, c],
    0 in the padding; the result is those windows reshaped to its type (any shape with
    the same element count). A static element mapping: lowered to SXM lane moves.
    Any number k of spatial axes [N, S_1..S_k, C]; without the channel axis ([N, S_1..S_k],
    a pool of NCHW data viewed as [N*C, H, W]) the kernel axes come before the last window
    axis, [N, OH, KH, KW, OW], so that a window tap along W is a contiguous run of lanes."""

    name = "tops.im2col"
    input = operand_def(F32Tensor)
    kernel = prop_def(DenseArrayBase.constr(i64))
    strides = prop_def(DenseArrayBase.constr(i64))
    pads = prop_def(DenseArrayBase.constr(i64))
    dilations = prop_def(DenseArrayBase.constr(i64))

    assembly_format = (
        "$input `kernel` `=` $kernel `strides` `=` $strides `pads` `=` $pads `dilations` `=` $dilations "
        "attr-dict `:` functional-type(operands, results)"
    )

    def __init__(self, input: SSAValue, kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
                 dilations: Sequence[int], shape: Sequence[int] | None = None):
        """Default result: the windows with the kernel axes merged into the last one
        ([N, OH, OW, KH*KW*C], a convolution's matmul operand)."""
        windows = im2col_windows(shape_of(input), kernel, strides, pads, dilations)
        assert isinstance(windows, tuple), windows
        merged = windows[:-len(kernel) - 1] + (int(np.prod(windows[-len(kernel) - 1:])),)
        super().__init__(
            operands=[input],
            result_types=[tensor(shape or merged)],
            properties=_arrays(kernel=kernel, strides=strides, pads=pads, dilations=dilations),
        )

    def verify_(self) -> None:
        out = im2col_windows(shape_of(self.input), self.ints("kernel"), self.ints("strides"), self.ints("pads"),
                             self.ints("dilations"))
        if isinstance(out, str):
            raise VerifyException(out)
        count = int(np.prod(out, dtype=int))
        if int(np.prod(self.out_shape(), dtype=int)) != count:
            raise VerifyException(f"result {fmt(self.out_shape())} does not hold the {fmt(out)} windows")


@irdl_op_definition
class BatchNormOp(TopsOp):
    """ONNX BatchNormalization (inference): (x - mean) / sqrt(var + epsilon) * scale + bias,
    per channel (axis 1); the parameters are [C]."""

    name = "tops.batch_norm"
    input = operand_def(F32Tensor)
    scale = operand_def(F32Tensor)
    bias = operand_def(F32Tensor)
    mean = operand_def(F32Tensor)
    var = operand_def(F32Tensor)
    epsilon = prop_def(FloatAttr[Float32Type])

    assembly_format = (
        "$input `,` $scale `,` $bias `,` $mean `,` $var `epsilon` `=` $epsilon attr-dict "
        "`:` functional-type(operands, results)"
    )

    def __init__(self, input: SSAValue, scale: SSAValue, bias: SSAValue, mean: SSAValue, var: SSAValue,
                 epsilon: float):
        super().__init__(operands=[input, scale, bias, mean, var], result_types=[input.type],
                         properties={"epsilon": FloatAttr(epsilon, f32)})

    def verify_(self) -> None:
        source = shape_of(self.input)
        if len(source) < 2 or self.out_shape() != source:
            raise VerifyException(f"input must have rank >= 2 and the result its shape, got {fmt(source)}")
        for name in ("scale", "bias", "mean", "var"):
            if shape_of(getattr(self, name)) != (source[1],):
                raise VerifyException(f"{name} of shape {fmt(shape_of(getattr(self, name)))} should be {source[1]}")


@irdl_op_definition
class LRNOp(SameTypeOp):
    """ONNX LRN across channels (axis 1): x / (bias + alpha / size * sum of x^2 over the
    channel window [c - (size-1)//2, c + size//2]) ^ beta."""

    name = "tops.lrn"
    size = prop_def(IntegerAttr[I64])
    alpha = prop_def(FloatAttr[Float32Type])
    beta = prop_def(FloatAttr[Float32Type])
    bias = prop_def(FloatAttr[Float32Type])

    assembly_format = (
        "$input `size` `=` $size `alpha` `=` $alpha `beta` `=` $beta `bias` `=` $bias attr-dict `:` type($result)"
    )

    def __init__(self, input: SSAValue, size: int, alpha: float, beta: float, bias: float):
        super().__init__(input, {"size": IntegerAttr(size, i64), "alpha": FloatAttr(alpha, f32),
                                 "beta": FloatAttr(beta, f32), "bias": FloatAttr(bias, f32)})

    def verify_(self) -> None:
        if len(shape_of(self.input)) < 2 or self.size.value.data < 1:
            raise VerifyException("LRN needs an input of rank >= 2 and size >= 1")


CONV_OPS = [ConvOp, MaxPoolOp, AvgPoolOp, Im2colOp, BatchNormOp, LRNOp]


Tops = Dialect(
    "tops",
    [
        ConstantOp,
        AddOp,
        SubOp,
        MulOp,
        DivOp,
        ReluOp,
        SigmoidOp,
        TanhOp,
        ExpOp,
        NegOp,
        AbsOp,
        TruncOp,
        RoundOp,
        LogOp,
        SqrtOp,
        ReciprocalOp,
        ErfOp,
        CosOp,
        SinOp,
        IsNaNOp,
        NotOp,
        ToBoolOp,
        PowOp,
        MaxOp,
        MinOp,
        EqualOp,
        LessOp,
        GreaterOp,
        LessOrEqualOp,
        GreaterOrEqualOp,
        AndOp,
        OrOp,
        XorOp,
        WhereOp,
        GeluOp,
        ReduceSumOp,
        ReduceMeanOp,
        ReduceMaxOp,
        ReduceMinOp,
        LayerNormOp,
        RMSNormOp,
        SoftmaxOp,
        MatmulOp,
        GemmOp,
        ReshapeOp,
        TransposeOp,
        BroadcastOp,
        *CONV_OPS,
        ConcatOp,
        SliceOp,
        GatherOp,
    ],
    [AbsentAttr],
)
