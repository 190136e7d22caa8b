"""The `part` dialect: how the model is spread over chips.

After `partition`, each `tops` op carries `part.chips` (the group of chips
that runs it, SPMD style) and its types are the per-chip (local) shapes. The
ops here are where shards meet:

- `part.split`: chip k of the group gets slice k of the operand along `axis`.
- `part.all_reduce`: every chip of the group gets the sum of all chips' values.
- `part.all_gather`: every chip gets the chips' values concatenated along `axis`.
- `part.transfer`: chip `chips[i]` sends its value to chip `to[i]`.

Before `lower-to-chip` a collective takes and gives one tensor (the local
value); after it, one `!chip.token` per chip of the group (per destination chip
for `transfer`), with the local tensor type and addresses kept as properties.
"""

from __future__ import annotations

from functools import lru_cache

from collections.abc import Sequence

from xdsl.dialects.builtin import I64, DenseArrayBase, IntegerAttr, TensorType, i64
from xdsl.ir import Attribute, Dialect, SSAValue
from xdsl.irdl import (
    base,
    IRDLOperation,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    var_operand_def,
    var_result_def,
)
from xdsl.utils.exceptions import VerifyException

from dialects.chip import TokenType

CHIPS = "part.chips"
"""Discardable attribute on tops ops: the chips that run the op."""
ADDR = "part.addr"
"""Discardable attribute from `place`: the SRAM vector address of the op's result."""
SYSTEM = "part.system"
"""Module attribute: the system spec (preset, topology or file) passes reload."""
SRAM_TOP = "part.sram_top"
"""Module attribute from `place`: first free vector address on every chip."""


def chips_of(op) -> tuple[int, ...]:
    attr = op.attributes.get(CHIPS)
    if attr is None:
        raise VerifyException(f"{op.name} has not been partitioned: no {CHIPS} attribute")
    return tuple(attr.get_values())


def chips_attr(chips: Sequence[int]) -> DenseArrayBase:
    return _chips_attr(tuple(int(c) for c in chips))


@lru_cache(maxsize=1 << 12)
def _chips_attr(chips: tuple[int, ...]) -> DenseArrayBase:
    # A 576-chip group costs xDSL ~1 ms to build, and partitioning sets one on every op.
    return DenseArrayBase.from_list(i64, list(chips))


@irdl_op_definition
class SplitOp(IRDLOperation):
    """Each chip's block of a value along `axis`: the value cut into equal blocks, as many as
    the chips or fewer; the chip at position i of `chips` holds block i * blocks / chips (with
    fewer blocks, consecutive chips hold the same one: a KV head on the chips that share it)."""

    name = "part.split"
    axis = prop_def(IntegerAttr[I64])
    chips = prop_def(DenseArrayBase.constr(i64))
    input = operand_def(TensorType)
    result = result_def(TensorType)
    assembly_format = "$input `axis` $axis `over` $chips attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue, axis: int, chips: Sequence[int], result_type: TensorType):
        super().__init__(
            operands=[input],
            properties={"axis": IntegerAttr(axis, 64), "chips": chips_attr(chips)},
            result_types=[result_type],
        )

    @property
    def blocks(self) -> int:
        axis = self.axis.value.data
        return self.input.type.get_shape()[axis] // self.result.type.get_shape()[axis]  # type: ignore[union-attr]

    def block_of(self, position: int) -> int:
        """The block the chip at `position` of `chips` holds."""
        return position * self.blocks // len(self.chips)

    def verify_(self) -> None:
        src, dst = self.input.type.get_shape(), self.result.type.get_shape()
        axis, n = self.axis.value.data, len(self.chips.get_values())
        if not 0 <= axis < len(src) or len(dst) != len(src):
            raise VerifyException(f"part.split: no axis {axis} in {list(src)} -> {list(dst)}")
        others = [d for k, d in enumerate(dst) if k != axis] == [d for k, d in enumerate(src) if k != axis]
        if not others or dst[axis] == 0 or src[axis] % dst[axis] or n % (src[axis] // dst[axis]):
            raise VerifyException(
                f"part.split: {list(dst)} is not an equal block of {list(src)} along axis {axis} "
                f"with as many blocks as the {n} chips or a divisor of them")


TensorOrToken = base(TensorType) | base(TokenType)


class CollectiveOp(IRDLOperation):
    """Shared shape of the collectives: one local value in and out, or one token per chip."""

    chips = prop_def(DenseArrayBase.constr(i64))
    type = opt_prop_def(TensorType)
    """The local (per-chip) operand type, kept once operands are tokens."""
    inputs = var_operand_def(TensorOrToken)
    outputs = var_result_def(TensorOrToken)

    def group(self) -> tuple[int, ...]:
        return tuple(self.chips.get_values())

    def destinations(self) -> tuple[int, ...]:
        """The chips that hold a result."""
        return self.group()

    def local_type(self) -> TensorType:
        if self.type is not None:
            return self.type
        return self.inputs[0].type  # type: ignore[return-value]

    def expected_result_shape(self) -> list[int]:
        return list(self.local_type().get_shape())

    def verify_(self) -> None:
        lowered = self.inputs and isinstance(self.inputs[0].type, TokenType)
        if lowered:
            if self.type is None:
                raise VerifyException(f"{self.name} on tokens must keep its local tensor type")
            if len(self.inputs) != len(self.group()) or len(self.outputs) != len(self.destinations()):
                raise VerifyException(
                    f"{self.name} needs one token per chip in ({len(self.group())}) and out "
                    f"({len(self.destinations())}), got {len(self.inputs)} in and {len(self.outputs)} out"
                )
            return
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            raise VerifyException(f"{self.name} on tensors takes and gives exactly one local value")
        shape = list(self.outputs[0].type.get_shape())  # type: ignore[union-attr]
        if shape != self.expected_result_shape():
            raise VerifyException(f"{self.name}: result shape {shape} should be {self.expected_result_shape()}")


def _collective_init(op: CollectiveOp, inputs: Sequence[SSAValue], chips: Sequence[int],
                     result_types: Sequence[Attribute], props: dict[str, Attribute]) -> None:
    IRDLOperation.__init__(op, operands=[inputs], properties={"chips": chips_attr(chips), **props},
                           result_types=[result_types])


@irdl_op_definition
class AllReduceOp(CollectiveOp):
    """The sum over the chips of each chip's value, on every chip; with `subgroup` N, over each
    run of N consecutive chips of `chips` separately (the chips that share a KV head)."""

    name = "part.all_reduce"
    subgroup = opt_prop_def(IntegerAttr[I64])
    assembly_format = (
        "`over` $chips (`in` `subgroups` `of` $subgroup^)? (`local` $type^)? `(` $inputs `)` attr-dict "
        "`:` type($inputs) `->` type($outputs)"
    )

    def __init__(self, inputs: Sequence[SSAValue], chips: Sequence[int], result_types: Sequence[Attribute],
                 local_type: TensorType | None = None, subgroup: int | None = None):
        props: dict[str, Attribute] = {"type": local_type} if local_type else {}
        if subgroup is not None:
            props["subgroup"] = IntegerAttr(subgroup, 64)
        _collective_init(self, inputs, chips, result_types, props)

    def subgroups(self) -> list[tuple[int, ...]]:
        """The runs of chips whose values are summed together."""
        chips = self.group()
        size = len(chips) if self.subgroup is None else self.subgroup.value.data
        return [chips[i:i + size] for i in range(0, len(chips), size)]

    def verify_(self) -> None:
        if self.subgroup is not None and (
                (size := self.subgroup.value.data) < 1 or len(self.group()) % size):
            raise VerifyException(
                f"part.all_reduce: {len(self.group())} chips do not fall into subgroups of {size}")
        super().verify_()


@irdl_op_definition
class AllGatherOp(CollectiveOp):
    name = "part.all_gather"
    axis = prop_def(IntegerAttr[I64])
    assembly_format = (
        "`axis` $axis `over` $chips (`local` $type^)? `(` $inputs `)` attr-dict `:` type($inputs) `->` type($outputs)"
    )

    def __init__(self, inputs: Sequence[SSAValue], axis: int, chips: Sequence[int],
                 result_types: Sequence[Attribute], local_type: TensorType | None = None):
        props: dict[str, Attribute] = {"axis": IntegerAttr(axis, 64)}
        if local_type:
            props["type"] = local_type
        _collective_init(self, inputs, chips, result_types, props)

    def expected_result_shape(self) -> list[int]:
        shape = super().expected_result_shape()
        shape[self.axis.value.data] *= len(self.group())
        return shape

    def verify_(self) -> None:
        rank = len(self.local_type().get_shape())
        if not 0 <= self.axis.value.data < rank:
            raise VerifyException(f"part.all_gather: axis {self.axis.value.data} is not in [0, {rank})")
        super().verify_()


@irdl_op_definition
class TransferOp(CollectiveOp):
    name = "part.transfer"
    to = prop_def(DenseArrayBase.constr(i64))
    assembly_format = (
        "`from` $chips `to` $to (`local` $type^)? `(` $inputs `)` attr-dict `:` type($inputs) `->` type($outputs)"
    )

    def __init__(self, inputs: Sequence[SSAValue], chips: Sequence[int], to: Sequence[int],
                 result_types: Sequence[Attribute], local_type: TensorType | None = None):
        props: dict[str, Attribute] = {"to": chips_attr(to)}
        if local_type:
            props["type"] = local_type
        _collective_init(self, inputs, chips, result_types, props)

    def destinations(self) -> tuple[int, ...]:
        return tuple(self.to.get_values())

    def verify_(self) -> None:
        if len(self.to.get_values()) != len(self.group()):
            raise VerifyException("part.transfer pairs every source chip with one destination chip")
        super().verify_()


Part = Dialect("part", [SplitOp, AllReduceOp, AllGatherOp, TransferOp], [])
