"""The `chip` dialect: per-chip instruction streams with static cycles and SRAM addresses.

This is the bottom IR level and the runtime's input language. Every instruction
names its chip (`core`), its functional unit, its issue cycle (absent until the
scheduler runs) and a repeat form: `repeat n stride d` issues the instruction n
times, d cycles apart, every SRAM operand advancing by its own `step` (in vectors)
per iteration, like the ICU's Repeat n,d. One op therefore stands for a whole
run of vector instructions, so a large program stays small.

Each addressed operand ("slot") is `[base, step]` plus the tokens of the
instructions that may have produced what it reads: that is the promise the
runtime checks (docs/architecture.md). Semantics, per iteration, on 320-lane
fp32 vectors; `lanes` fields zero the lanes at and above them:

- `chip.vxm OP`: dst = OP(lhs[, rhs]) elementwise. Predicates (`cmp_*`, `isnan`,
  `not`, `and`, `or`, `xor`, `to_bool`) write 1.0 for true and 0.0 for false and
  read any non-zero (or NaN) operand as true; `keep_if` / `keep_unless` write
  rhs where lhs is true / false and 0.0 elsewhere (never 0 * rhs, so inf and
  NaN in the discarded operand do not leak).
- `chip.mxm_load`: loads `repeat` weight rows (row i from src) into the plane
  (`unit`); the tile is ready `mxm_load` cycles after the last row's issue.
  With `int8` the rows are int8 vectors, and src counts int8 vectors, four to an
  address (docs/architecture.md): row i is int8 vector u = src + i*step, byte plane
  u % 4 of address u // 4; the plane holds them exactly in fp32.
- `chip.mxm_matmul`: dst = src(1 x lanes) @ tile (lanes x lanes) [+ acc].
- `chip.sxm_move`: dst = merge (or zeros) with lanes [dst_lane, dst_lane+width)
  replaced by src lanes [src_lane, src_lane+width).
- `chip.sxm_reduce OP`: dst lanes [0, lanes) = OP over src lanes [first, first+width).
- `chip.sxm_transpose`: reads `repeat` vectors; output vector j (j < width,
  at dst + j*dst_step) holds lane j of every input vector; it lands
  `sxm_transpose + j` cycles after the last read.
- `chip.mem_copy`: dst = src.
- `chip.send` / `chip.recv`: one vector per iteration over link (core -> to, port);
  a recv's cycle is the cycle its first vector lands.
- `chip.preload` / `chip.input`: SRAM contents before cycle 0 (weights, inputs); an
  i8 preload holds int8 vectors packed four to an address;
  `chip.output`: what the host reads back after the last cycle. An input or output
  may be one box of its tensor (`slice OFFSETS of WHOLE`): a sharded graph input or
  output, each chip holding its slice (the shards of one tensor tile it).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache, lru_cache
from itertools import accumulate
from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import (
    I64,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    IntAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
    UnitAttr,
    i8,
    i32,
    i64,
)
from xdsl.ir import (
    Attribute,
    Dialect,
    Operation,
    ParametrizedAttribute,
    SSAValue,
    TypeAttribute,
)
from xdsl.irdl import (
    IRDLOperation,
    base,
    irdl_attr_definition,
    irdl_op_definition,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.irdl.operations import AttrSizedOperandSegments
from xdsl.traits import NoTerminator
from xdsl.utils.exceptions import VerifyException

from dialects.tops import AbsentAttr


@irdl_attr_definition
class TokenType(ParametrizedAttribute, TypeAttribute):
    """Stands for "the value(s) this instruction wrote": the operand promise's currency."""

    name = "chip.token"


TOKEN = TokenType()
"""The one token type every instruction's result has (attributes are immutable: shared)."""


_I64_RANGE = range(-(1 << 63), 1 << 63)


@lru_cache(maxsize=1 << 16)
def i64_attr(value: int) -> IntegerAttr:
    """Attributes are immutable: share them. Built as `ParametrizedAttribute.new` builds one but
    without its verification, which costs xDSL ~40 us an attribute, more than the rest of a
    scheduled op (every cycle is a new value); the one thing it checks, the range, is checked here."""
    if value not in _I64_RANGE:
        raise ValueError(f"{value} does not fit in a signless 64-bit integer")
    attr = IntegerAttr.__new__(IntegerAttr)
    object.__setattr__(attr, "value", IntAttr(value))
    object.__setattr__(attr, "type", i64)
    return attr


@lru_cache(maxsize=1 << 10)
def str_attr(value: str) -> StringAttr:
    """Unit and op names repeat on every instruction: share their attributes too."""
    return StringAttr(value)


@lru_cache(maxsize=1 << 10)
def _segment_sizes(sizes: tuple[int, ...]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i32, sizes)


@cache
def _slot_keys(name: str) -> tuple[str, str]:
    """Property names of an addressed operand, built once: slot_addr is read for every op by every pass."""
    return f"{name}_addr", f"{name}_step"


@cache
def _operand_groups(op_type: type[IRDLOperation]) -> tuple[tuple[str, ...], str | None]:
    """An op class's operand group names and the name of its segment-sizes attribute (None: none)."""
    definition = op_type.get_irdl_definition()
    option = next((o for o in definition.options if isinstance(o, AttrSizedOperandSegments)), None)
    return tuple(name for name, _ in definition.operands), None if option is None else option.attribute_name


_STARTS: dict[int, tuple[DenseArrayBase, tuple[int, ...]]] = {}


def _segment_starts(sizes: DenseArrayBase) -> tuple[int, ...]:
    """Keyed by identity, since built ops share their sizes (`_segment_sizes`) and hashing an
    attribute hashes its bytes; an entry keeps its attribute alive, so its id names no other."""
    entry = _STARTS.get(id(sizes))
    if entry is None or entry[0] is not sizes:
        if len(_STARTS) >= 1 << 12:  # parsed IR has an attribute per op: keep few
            _STARTS.clear()
        entry = _STARTS[id(sizes)] = sizes, tuple(accumulate(sizes.get_values(), initial=0))  # type: ignore[arg-type]
    return entry[1]


def int_of(attr: IntegerAttr | None) -> int | None:
    return None if attr is None else attr.value.data


# Unit kinds and the instructions that issue on them.
UNIT_KINDS = ("mxm", "vxm", "sxm", "mem", "c2c")
VXM_OPS = (
    "add", "sub", "mul", "div", "max", "copy", "neg", "relu", "sigmoid", "tanh", "exp", "recip",
    # elementwise primitives of the wider ONNX set (one VXM op each)
    "min", "pow", "abs", "log", "sqrt", "erf", "cos", "sin",
    # integers ride as exact fp32 values: round toward zero (integer Div, float -> int Cast), to nearest (integer Pow)
    "trunc", "round",
    # predicates and logic: booleans are fp32 0.0 / 1.0 (any non-zero operand counts as true)
    "cmp_eq", "cmp_lt", "cmp_gt", "cmp_le", "cmp_ge", "isnan", "not", "and", "or", "xor", "to_bool",
    # exact selection halves of Where (lhs is the condition): keep_if = c ? rhs : 0, keep_unless = c ? 0 : rhs
    "keep_if", "keep_unless",
)
VXM_BINARY = frozenset({
    "add", "sub", "mul", "div", "max", "min", "pow",
    "cmp_eq", "cmp_lt", "cmp_gt", "cmp_le", "cmp_ge", "and", "or", "xor", "keep_if", "keep_unless",
})
VXM_TRANSCENDENTAL = frozenset({"div", "sigmoid", "tanh", "exp", "recip", "pow", "log", "sqrt", "erf", "cos", "sin"})
REDUCE_OPS = ("sum", "max", "min")

_TIMING = "`core` $core `unit` $unit (`cycle` $cycle^)? `repeat` $count `stride` $stride"


def _slot(name: str, tokens: bool = True) -> str:
    tail = f" `(` ${name} `)`" if tokens else ""
    return f"`{name}` `[` ${name}_addr `,` ${name}_step `]`{tail}"


def _optional_slot(name: str) -> str:
    return f"(`{name}` `[` ${name}_addr^ `,` ${name}_step `]` `(` ${name} `)`)?"


class ChipInstruction(IRDLOperation):
    """An instruction issued by one unit of one chip, in repeat form."""

    UNIT_KIND: ClassVar[str]
    SLOTS: ClassVar[tuple[str, ...]] = ()
    """Names of the addressed operands this instruction reads (in that order)."""
    HAS_DST: ClassVar[bool] = True

    core = prop_def(IntegerAttr[I64])
    unit = prop_def(StringAttr)
    cycle = opt_prop_def(IntegerAttr[I64])
    count = prop_def(IntegerAttr[I64])
    stride = prop_def(IntegerAttr[I64])
    result = result_def(TokenType)

    def __init__(
        self,
        core: int,
        count: int,
        slots: dict[str, tuple[int, int, Sequence[SSAValue]]],
        dst: tuple[int, int] | None = None,
        stride: int = 1,
        fields: dict[str, Attribute | int | str] | None = None,
        operands: dict[str, Sequence[SSAValue] | SSAValue] | None = None,
    ):
        props: dict[str, Attribute] = {
            "core": i64_attr(core),
            "unit": str_attr(self.UNIT_KIND),
            "count": i64_attr(count),
            "stride": i64_attr(stride),
        }
        if dst is not None:
            props["dst_addr"], props["dst_step"] = i64_attr(dst[0]), i64_attr(dst[1])
        slot_operands: dict[str, Sequence[SSAValue] | SSAValue] = dict(operands or {})
        for name, (addr, step, tokens) in slots.items():
            props[f"{name}_addr"], props[f"{name}_step"] = i64_attr(addr), i64_attr(step)
            slot_operands[name] = tokens
        for key, value in (fields or {}).items():
            props[key] = (
                value
                if isinstance(value, Attribute)
                else str_attr(value)
                if isinstance(value, str)
                else i64_attr(value)
            )
        # Built without xDSL's generic IRDL builder, which took most of lower-to-chip's time
        # (it validates and flattens every operand group): the groups are flattened here and the
        # segment sizes shared. The op verifier still checks them against the definition.
        flat: list[SSAValue] = []
        sizes: list[int] = []
        definition = type(self).get_irdl_definition()
        for name, _ in definition.operands:
            group = slot_operands.get(name, ())
            group = (group,) if isinstance(group, SSAValue) else tuple(group)
            flat.extend(group)
            sizes.append(len(group))
        attrs: dict[str, Attribute] = {}
        for option in definition.options:
            if isinstance(option, AttrSizedOperandSegments):
                (props if option.as_property else attrs)[option.attribute_name] = _segment_sizes(tuple(sizes))
        Operation.__init__(self, operands=flat, result_types=[TOKEN], properties=props, attributes=attrs)

    def slot_addr(self, name: str) -> tuple[int, int] | None:
        """(base, step) of an addressed operand, None if the optional slot is absent."""
        addr_key, step_key = _slot_keys(name)
        base = self.properties.get(addr_key)
        if base is None:
            return None
        return base.value.data, self.properties[step_key].value.data  # type: ignore[union-attr]

    def slot_tokens(self, name: str) -> tuple[SSAValue, ...]:
        names, segments = _operand_groups(type(self))
        if segments is None:
            return tuple(getattr(self, name))
        # xDSL's accessor unpacks the segment sizes on every call; they are shared, so unpack once
        sizes = self.properties.get(segments)
        starts = _segment_starts(self.attributes[segments] if sizes is None else sizes)  # type: ignore[arg-type]
        k = names.index(name)
        return tuple(self.operands[starts[k]:starts[k + 1]])

    def int_field(self, name: str) -> int:
        return int_of(self.properties[name])  # type: ignore[return-value]

    def slot_packing(self, name: str) -> int:
        """How many of the operand's vectors share one SRAM address (iteration i reads address
        (base + i*step) // packing)."""
        return 1

    def slot_addresses(self, name: str) -> np.ndarray:
        """The SRAM address an addressed operand reads in every iteration."""
        base, step = self.slot_addr(name)  # type: ignore[misc]
        return (base + step * np.arange(self.count.value.data, dtype=np.int64)) // self.slot_packing(name)

    def verify_(self) -> None:
        if not self.unit.data.startswith(self.UNIT_KIND):
            raise VerifyException(f"{self.name} issues on a '{self.UNIT_KIND}' unit, not '{self.unit.data}'")
        if self.count.value.data < 1:
            raise VerifyException(f"{self.name}: repeat count must be at least 1, got {self.count.value.data}")
        if self.stride.value.data < 1:
            raise VerifyException(f"{self.name}: stride must be at least 1 cycle, got {self.stride.value.data}")
        for name in self.SLOTS + (("dst",) if self.HAS_DST else ()):
            addr = self.slot_addr(name)
            if addr is not None and addr[0] < 0:
                raise VerifyException(f"{self.name}: {name} address {addr[0]} is negative")
            if addr is not None and name != "dst" and not self.slot_tokens(name):
                raise VerifyException(f"{self.name}: operand '{name}' names no producer")
        if "lanes" in self.properties and not 1 <= self.int_field("lanes"):
            raise VerifyException(f"{self.name}: lanes must be positive")


def _dst_props():
    return prop_def(IntegerAttr[I64]), prop_def(IntegerAttr[I64])


@irdl_op_definition
class VxmOp(ChipInstruction):
    name = "chip.vxm"
    UNIT_KIND: ClassVar[str] = "vxm"
    SLOTS: ClassVar[tuple[str, ...]] = ("lhs", "rhs")

    op = prop_def(StringAttr)
    lanes = prop_def(IntegerAttr[I64])
    dst_addr, dst_step = _dst_props()
    lhs_addr, lhs_step = _dst_props()
    rhs_addr = opt_prop_def(IntegerAttr[I64])
    rhs_step = opt_prop_def(IntegerAttr[I64])
    lhs = var_operand_def(TokenType)
    rhs = var_operand_def(TokenType)
    irdl_options = (AttrSizedOperandSegments(),)
    assembly_format = (
        f"$op {_TIMING} `lanes` $lanes {_slot('dst', False)} {_slot('lhs')} "
        f"{_optional_slot('rhs')} attr-dict"
    )

    def verify_(self) -> None:
        super().verify_()
        if self.op.data not in VXM_OPS:
            raise VerifyException(f"chip.vxm: unknown operation '{self.op.data}'; known: {', '.join(VXM_OPS)}")
        binary = self.op.data in VXM_BINARY
        if binary != (self.rhs_addr is not None):
            need = "needs a" if binary else "takes no"
            raise VerifyException(f"chip.vxm {self.op.data} {need} second operand 'rhs'")


INT8_PER_ADDRESS = 4
"""int8 vectors in one SRAM address (lanes * 4 bytes): byte planes 0..3."""


@irdl_op_definition
class MxmLoadOp(ChipInstruction):
    name = "chip.mxm_load"
    UNIT_KIND: ClassVar[str] = "mxm"
    SLOTS: ClassVar[tuple[str, ...]] = ("src",)
    HAS_DST: ClassVar[bool] = False

    int8 = opt_prop_def(UnitAttr)
    src_addr, src_step = _dst_props()
    src = var_operand_def(TokenType)
    assembly_format = f"{_TIMING} (`int8` $int8^)? {_slot('src')} attr-dict"

    @property
    def is_int8(self) -> bool:
        return self.int8 is not None

    def slot_packing(self, name: str) -> int:
        """With `int8`, src counts int8 vectors: each row is read from the address that packs it."""
        return INT8_PER_ADDRESS if self.is_int8 else 1


@irdl_op_definition
class MxmMatmulOp(ChipInstruction):
    name = "chip.mxm_matmul"
    UNIT_KIND: ClassVar[str] = "mxm"
    SLOTS: ClassVar[tuple[str, ...]] = ("src", "acc")

    dst_addr, dst_step = _dst_props()
    src_addr, src_step = _dst_props()
    acc_addr = opt_prop_def(IntegerAttr[I64])
    acc_step = opt_prop_def(IntegerAttr[I64])
    weights = var_operand_def(TokenType)
    src = var_operand_def(TokenType)
    acc = var_operand_def(TokenType)
    irdl_options = (AttrSizedOperandSegments(),)
    assembly_format = (
        f"{_TIMING} `weights` `(` $weights `)` {_slot('dst', False)} {_slot('src')} "
        f"{_optional_slot('acc')} attr-dict"
    )

    def verify_(self) -> None:
        super().verify_()
        if len(self.weights) != 1:
            raise VerifyException("chip.mxm_matmul multiplies by exactly one loaded tile (weights)")


@irdl_op_definition
class SxmMoveOp(ChipInstruction):
    name = "chip.sxm_move"
    UNIT_KIND: ClassVar[str] = "sxm"
    SLOTS: ClassVar[tuple[str, ...]] = ("src", "merge")

    src_lane = prop_def(IntegerAttr[I64])
    dst_lane = prop_def(IntegerAttr[I64])
    width = prop_def(IntegerAttr[I64])
    dst_addr, dst_step = _dst_props()
    src_addr, src_step = _dst_props()
    merge_addr = opt_prop_def(IntegerAttr[I64])
    merge_step = opt_prop_def(IntegerAttr[I64])
    src = var_operand_def(TokenType)
    merge = var_operand_def(TokenType)
    irdl_options = (AttrSizedOperandSegments(),)
    assembly_format = (
        f"{_TIMING} `lanes` $src_lane `to` $dst_lane `width` $width {_slot('dst', False)} "
        f"{_slot('src')} {_optional_slot('merge')} attr-dict"
    )


@irdl_op_definition
class SxmReduceOp(ChipInstruction):
    name = "chip.sxm_reduce"
    UNIT_KIND: ClassVar[str] = "sxm"
    SLOTS: ClassVar[tuple[str, ...]] = ("src",)

    op = prop_def(StringAttr)
    first = prop_def(IntegerAttr[I64])
    width = prop_def(IntegerAttr[I64])
    lanes = prop_def(IntegerAttr[I64])
    dst_addr, dst_step = _dst_props()
    src_addr, src_step = _dst_props()
    src = var_operand_def(TokenType)
    assembly_format = (
        f"$op {_TIMING} `first` $first `width` $width `lanes` $lanes {_slot('dst', False)} "
        f"{_slot('src')} attr-dict"
    )

    def verify_(self) -> None:
        super().verify_()
        if self.op.data not in REDUCE_OPS:
            raise VerifyException(f"chip.sxm_reduce: unknown reduction '{self.op.data}'")


@irdl_op_definition
class SxmTransposeOp(ChipInstruction):
    name = "chip.sxm_transpose"
    UNIT_KIND: ClassVar[str] = "sxm"
    SLOTS: ClassVar[tuple[str, ...]] = ("src",)

    width = prop_def(IntegerAttr[I64])
    dst_addr, dst_step = _dst_props()
    src_addr, src_step = _dst_props()
    src = var_operand_def(TokenType)
    assembly_format = f"{_TIMING} `width` $width {_slot('dst', False)} {_slot('src')} attr-dict"


@irdl_op_definition
class MemCopyOp(ChipInstruction):
    name = "chip.mem_copy"
    UNIT_KIND: ClassVar[str] = "mem"
    SLOTS: ClassVar[tuple[str, ...]] = ("src",)

    dst_addr, dst_step = _dst_props()
    src_addr, src_step = _dst_props()
    src = var_operand_def(TokenType)
    assembly_format = f"{_TIMING} {_slot('dst', False)} {_slot('src')} attr-dict"


@irdl_op_definition
class SendOp(ChipInstruction):
    name = "chip.send"
    UNIT_KIND: ClassVar[str] = "c2c"
    SLOTS: ClassVar[tuple[str, ...]] = ("src",)
    HAS_DST: ClassVar[bool] = False

    to = prop_def(IntegerAttr[I64])
    port = prop_def(IntegerAttr[I64])
    src_addr, src_step = _dst_props()
    src = var_operand_def(TokenType)
    assembly_format = f"{_TIMING} `to` $to `port` $port {_slot('src')} attr-dict"


@irdl_op_definition
class RecvOp(ChipInstruction):
    name = "chip.recv"
    UNIT_KIND: ClassVar[str] = "c2c"

    source = prop_def(IntegerAttr[I64], prop_name="from")
    port = prop_def(IntegerAttr[I64])
    dst_addr, dst_step = _dst_props()
    assembly_format = f"{_TIMING} `from` $from `port` $port {_slot('dst', False)} attr-dict"


class HostOp(IRDLOperation):
    """SRAM contents the host provides or reads back outside the clock."""

    core = prop_def(IntegerAttr[I64])
    addr = prop_def(IntegerAttr[I64])


@irdl_op_definition
class PreloadOp(HostOp):
    """Constant vectors (weights) in SRAM before cycle 0: `data` is [vectors x lanes] (f32, or
    i8: int8 vectors, vector v in byte plane v % 4 of address addr + v // 4), or
    `#tops.absent` for a shape-only program (timed, never run with numbers)."""

    name = "chip.preload"
    data = prop_def(base(DenseIntOrFPElementsAttr) | base(AbsentAttr))
    result = result_def(TokenType)
    assembly_format = "`core` $core `at` $addr $data attr-dict"

    def __init__(self, core: int, addr: int, data: DenseIntOrFPElementsAttr | AbsentAttr):
        super().__init__(
            properties={"core": i64_attr(core), "addr": i64_attr(addr), "data": data},
            result_types=[TOKEN],
        )

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.type.get_shape())

    @property
    def is_int8(self) -> bool:
        """int8 vectors, packed INT8_PER_ADDRESS to an SRAM address."""
        return self.data.type.get_element_type() == i8

    @property
    def addresses(self) -> int:
        """How many SRAM addresses the data fills."""
        vectors = self.shape[0]
        return -(-vectors // INT8_PER_ADDRESS) if self.is_int8 else vectors

    def verify_(self) -> None:
        if len(self.shape) != 2:
            raise VerifyException("chip.preload data must be [vectors x lanes]")


class TensorHostOp(HostOp):
    """A named graph tensor, or one slice of it, moved by the host: `type` is what this chip
    holds at `addr`; with `slice OFFSETS of WHOLE` it is the box of the whole tensor (type
    WHOLE) starting at OFFSETS (one per axis), else the whole tensor. With `perm PERM` the
    host moves the graph tensor transposed, numpy's `transpose(tensor, PERM)` (a KV cache
    stored densely, passes/normalise_kv_cache.py): `type`, WHOLE and OFFSETS are of that."""

    tensor = prop_def(StringAttr, prop_name="name")
    type = prop_def(TensorType)
    offsets = opt_prop_def(DenseArrayBase.constr(i64))
    whole = opt_prop_def(TensorType)
    perm = opt_prop_def(DenseArrayBase.constr(i64))

    def __init__(self, name: str, core: int, addr: int, type: TensorType,
                 piece: tuple[Sequence[int], TensorType] | None, perm: Sequence[int] | None = None, **kwargs):
        properties = {"name": StringAttr(name), "core": i64_attr(core), "addr": i64_attr(addr), "type": type}
        if piece is not None:
            properties["offsets"] = DenseArrayBase.from_list(i64, list(piece[0]))
            properties["whole"] = piece[1]
        if perm is not None:
            properties["perm"] = DenseArrayBase.from_list(i64, list(perm))
        super().__init__(properties=properties, **kwargs)

    @property
    def permutation(self) -> tuple[int, ...] | None:
        return None if self.perm is None else tuple(self.perm.get_values())  # type: ignore[arg-type]

    @property
    def whole_shape(self) -> tuple[int, ...]:
        return tuple((self.whole or self.type).get_shape())

    @property
    def start(self) -> tuple[int, ...]:
        """Where this piece starts in the whole tensor (zeros when it is the whole)."""
        if self.offsets is None:
            return (0,) * len(self.type.get_shape())
        return tuple(self.offsets.get_values())

    def verify_(self) -> None:
        rank = len(self.whole_shape)
        if (perm := self.permutation) is not None and sorted(perm) != list(range(rank)):
            raise VerifyException(f"{self.name} '{self.tensor.data}': perm {list(perm)} is no permutation of "
                                  f"the {rank} axes")
        if (self.offsets is None) != (self.whole is None):
            raise VerifyException(f"{self.name} needs both `slice` offsets and the whole tensor's type, or neither")
        if self.whole is None:
            return
        piece, whole, start = tuple(self.type.get_shape()), self.whole_shape, self.start
        if self.whole.get_element_type() != self.type.get_element_type():
            raise VerifyException(f"{self.name} '{self.tensor.data}': the slice and the whole tensor differ in element type")
        if not len(piece) == len(whole) == len(start) or any(
                o < 0 or o + p > w for o, p, w in zip(start, piece, whole)):
            raise VerifyException(
                f"{self.name} '{self.tensor.data}': a {list(piece)} slice at {list(start)} does not fit in {list(whole)}")


_PIECE = "(`slice` $offsets^ `of` $whole)? (`perm` $perm^)?"


@irdl_op_definition
class InputOp(TensorHostOp):
    """A model input (or one slice of it) the host writes into SRAM before cycle 0, laid out
    as in docs/architecture.md."""

    name = "chip.input"
    result = result_def(TokenType)
    assembly_format = f"$name `core` $core `at` $addr `:` $type {_PIECE} attr-dict"

    def __init__(self, name: str, core: int, addr: int, type: TensorType,
                 piece: tuple[Sequence[int], TensorType] | None = None, perm: Sequence[int] | None = None):
        super().__init__(name, core, addr, type, piece, perm, result_types=[TOKEN])


@irdl_op_definition
class OutputOp(TensorHostOp):
    """A model output (or one slice of it) the host reads after the last cycle; `src` names
    its producers."""

    name = "chip.output"
    src = var_operand_def(TokenType)
    assembly_format = f"$name `core` $core `at` $addr `:` $type {_PIECE} `(` $src `)` attr-dict"

    def __init__(self, name: str, core: int, addr: int, type: TensorType, src: Sequence[SSAValue],
                 piece: tuple[Sequence[int], TensorType] | None = None, perm: Sequence[int] | None = None):
        super().__init__(name, core, addr, type, piece, perm, operands=[src])


@irdl_op_definition
class JoinOp(IRDLOperation):
    """Names a set of producers at once (e.g. all pieces of one tensor); issues nothing."""

    name = "chip.join"
    core = prop_def(IntegerAttr[I64])
    parts = var_operand_def(TokenType)
    result = result_def(TokenType)
    assembly_format = "`core` $core `(` $parts `)` attr-dict"

    def __init__(self, core: int, parts: Sequence[SSAValue]):
        super().__init__(operands=[parts], properties={"core": i64_attr(core)}, result_types=[TOKEN])

    def verify_(self) -> None:
        if not self.parts:
            raise VerifyException("chip.join must name at least one producer")


@irdl_op_definition
class ProgramOp(IRDLOperation):
    """All chips' instructions and network transfers before emission; `system` reloads the machine."""

    name = "chip.program"
    system = prop_def(StringAttr)
    body = region_def("single_block")
    traits = traits_def(NoTerminator())
    assembly_format = "$system attr-dict-with-keyword $body"


@irdl_op_definition
class StreamOp(IRDLOperation):
    """The emitted stream of one chip, its instructions sorted by issue cycle."""

    name = "chip.stream"
    core = prop_def(IntegerAttr[I64])
    system = prop_def(StringAttr)
    body = region_def()  # an idle chip's stream prints as `{}` and parses back with no block
    traits = traits_def(NoTerminator())
    assembly_format = "`core` $core $system attr-dict-with-keyword $body"

    def instructions(self) -> list[Operation]:
        return [op for block in self.body.blocks for op in block.ops]

    def verify_(self) -> None:
        if len(self.body.blocks) > 1:
            raise VerifyException("chip.stream holds a single block of instructions")
        core = self.core.value.data
        for op in self.instructions():
            op_core = op.properties.get("core")
            if isinstance(op_core, IntegerAttr) and op_core.value.data != core:
                raise VerifyException(f"{op.name} names core {op_core.value.data} inside the stream of core {core}")


INSTRUCTIONS: tuple[type[ChipInstruction], ...] = (
    VxmOp,
    MxmLoadOp,
    MxmMatmulOp,
    SxmMoveOp,
    SxmReduceOp,
    SxmTransposeOp,
    MemCopyOp,
    SendOp,
    RecvOp,
)

Chip = Dialect(
    "chip",
    [*INSTRUCTIONS, PreloadOp, InputOp, OutputOp, JoinOp, ProgramOp, StreamOp],
    [TokenType],
)
