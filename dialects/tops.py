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
    BytesAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    Float32Type,
    FloatAttr,
    IntegerAttr,
    I64,
    TensorType,
    f32,
    i64,
)
from xdsl.ir import Attribute, Dialect, SSAValue
from xdsl.irdl import (
    AnyAttr,
    IRDLOperation,
    ParsePropInAttrDict,
    ParamAttrConstraint,
    VarConstraint,
    base,
    irdl_op_definition,
    operand_def,
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


# ----------------------------------------------------------------------- ops


@irdl_op_definition
class ConstantOp(IRDLOperation):
    """A constant tensor (ONNX initializers and Constant nodes)."""

    name = "tops.constant"
    T: ClassVar = VarConstraint("T", base(TensorType))
    value = prop_def(ParamAttrConstraint(DenseIntOrFPElementsAttr, (T, AnyAttr())))
    result = result_def(T)

    traits = traits_def(Pure(), ConstantLike())
    assembly_format = "$value attr-dict"

    def __init__(self, value: DenseIntOrFPElementsAttr):
        super().__init__(result_types=[value.type], properties={"value": value})

    @staticmethod
    def from_array(array: np.ndarray) -> ConstantOp:
        data = np.asarray(array, dtype="<f4")
        return ConstantOp(DenseIntOrFPElementsAttr(tensor(data.shape), BytesAttr(data.tobytes())))

    def array(self) -> np.ndarray:
        shape = self.value.get_shape()
        data = np.frombuffer(self.value.data.data, dtype="<f4")
        # a parsed splat (`dense<1.0>`) may hold a single element
        return np.broadcast_to(data, (int(np.prod(shape)),)).reshape(shape).astype(np.float32)

    def verify_(self) -> None:
        if not isinstance(self.value.get_element_type(), Float32Type):
            raise VerifyException(f"constant must be f32, got {self.value.get_element_type()}")


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
    rhs = operand_def(F32Tensor)

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
        SoftmaxOp,
        MatmulOp,
        GemmOp,
        ReshapeOp,
        TransposeOp,
        BroadcastOp,
    ],
    [],
)
