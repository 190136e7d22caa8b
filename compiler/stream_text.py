"""Fast text form of emitted chip streams (`chipK.mlir`): the writer and the reader.

xDSL's Printer and Parser spend ~0.2 ms and ~0.8 ms per op, and a 576-chip Llama
decode step has hundreds of thousands of ops. Every op that can sit in a
`chip.stream` has a fixed assembly format (dialects/chip.py), described once here
as a sequence of fields (`_formats`); from it each op prints as one line and each
line reads back through one regular expression, building the op directly.

The text is exactly what xDSL writes and the ops exactly what xDSL's parser
builds. Whatever the fast path does not know (an unknown op, an extra attribute, a
name hint, an odd line) hands the whole stream to xDSL: its Printer when writing,
its Parser when reading, so a malformed file still gets the parser's error with
file, line and column.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from io import StringIO
from typing import TextIO

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import (
    Builtin,
    BytesAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    IntegerAttr,
    ModuleOp,
    NameLoc,
    NoneAttr,
    StringAttr,
    TensorType,
    UnitAttr,
    UnknownLoc,
    f32,
    i8,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.irdl import IRDLOperation
from xdsl.irdl.operations import AttrSizedOperandSegments
from xdsl.parser import Parser
from xdsl.printer import Printer

from dialects.chip import (
    TOKEN,
    Chip,
    InputOp,
    JoinOp,
    MemCopyOp,
    MxmLoadOp,
    MxmMatmulOp,
    OutputOp,
    PreloadOp,
    RecvOp,
    SendOp,
    StreamOp,
    SxmMoveOp,
    SxmReduceOp,
    SxmTransposeOp,
    VxmOp,
    i64_attr,
)
from dialects.tops import Tops

_DENSE_LIST_LIMIT = 100  # xDSL prints dense data longer than this as one hex string


class FastPathMiss(Exception):
    """The fast path does not know this op or line: the caller hands the stream to xDSL."""


# -- the formats --------------------------------------------------------------------------
# A field prints its part of an op line (a leading space included, as xDSL spaces them) and
# gives the regex that reads it back: one named group per property (`reads`: the group and
# how its text becomes the attribute) and `t_<operand>` per operand list (`operands`).

_INT = r"-?\d+"
_STRING = r'[ !#-\[\]-~]*'  # inside quotes: printable ASCII without `"` or `\` (no escapes)
_TOKENS = r"(?:%\d+(?:, %\d+)*)?"
_TENSOR = r"tensor<[^<>]*>"
_UNIT = UnitAttr()

_Read = tuple[str, Callable[[str], Attribute]]


class _Interned(dict[str, Attribute]):
    """Text -> attribute, built once per distinct text (attributes are immutable, and building
    one costs xDSL microseconds); stops remembering past a size, never stops answering."""

    def __init__(self, build: Callable[[str], Attribute], limit: int = 1 << 18):
        super().__init__()
        self.build, self.limit = build, limit

    def __missing__(self, text: str) -> Attribute:
        attr = self.build(text)
        if len(self) < self.limit:
            self[text] = attr
        return attr


_INTS = _Interned(lambda text: i64_attr(int(text)))
_STRINGS = _Interned(StringAttr)


class _Int:
    """` keyword N`: an i64 property (absent when optional)."""

    def __init__(self, keyword: str, prop: str | None = None, optional: bool = False):
        self.keyword, self.prop, self.optional = keyword, prop or keyword, optional
        self.props, self.operands = (self.prop,), ()
        self.reads: tuple[_Read, ...] = ((self.prop, _INTS.__getitem__),)
        field = rf" {keyword} (?P<{self.prop}>{_INT})"
        self.pattern = f"(?:{field})?" if optional else field

    def text(self, props: dict[str, Attribute], operands: _Operands, out: _Writer) -> str:
        attr = props.get(self.prop)
        if attr is None:
            if self.optional:
                return ""
            raise FastPathMiss(self.prop)
        return f" {self.keyword} {out.ints.get(id(attr)) or out.int(attr)}"


class _Str:
    """` keyword "text"` (or just ` "text"`): a string property."""

    def __init__(self, keyword: str | None, prop: str):
        self.prefix, self.prop, self.props, self.operands = f" {keyword}" if keyword else "", prop, (prop,), ()
        self.reads: tuple[_Read, ...] = ((prop, _STRINGS.__getitem__),)
        self.pattern = rf'{self.prefix} "(?P<{prop}>{_STRING})"'

    def text(self, props: dict[str, Attribute], operands: _Operands, out: _Writer) -> str:
        attr = _prop(props, self.prop)
        if type(attr) is not StringAttr:
            raise FastPathMiss(self.prop)
        return f"{self.prefix} {out.literal(attr.data)}"


class _Flag:
    """` keyword` when a unit property is present."""

    def __init__(self, keyword: str):
        self.keyword, self.props, self.operands = keyword, (keyword,), ()
        self.reads: tuple[_Read, ...] = ((keyword, lambda _: _UNIT),)
        self.pattern = f"(?P<{keyword}> {keyword})?"

    def text(self, props: dict[str, Attribute], operands: _Operands, out: _Writer) -> str:
        attr = props.get(self.keyword)
        if attr is None:
            return ""
        if type(attr) is not UnitAttr:
            raise FastPathMiss(self.keyword)
        return f" {self.keyword}"


class _Slot:
    """` name[addr, step]`, then ` (%tokens)` unless it is a dst; an optional slot prints
    nothing without its address."""

    def __init__(self, name: str, tokens: bool = True, optional: bool = False):
        self.name, self.tokens, self.optional = name, tokens, optional
        self.addr, self.step = f"{name}_addr", f"{name}_step"
        self.props, self.operands = (self.addr, self.step), (name,) if tokens else ()
        self.reads: tuple[_Read, ...] = ((self.addr, _INTS.__getitem__), (self.step, _INTS.__getitem__))
        tail = rf" \((?P<t_{name}>{_TOKENS})\)" if tokens else ""
        field = rf" {name}\[(?P<{self.addr}>{_INT}), (?P<{self.step}>{_INT})\]{tail}"
        self.pattern = f"(?:{field})?" if optional else field

    def text(self, props: dict[str, Attribute], operands: _Operands, out: _Writer) -> str:
        addr, step = props.get(self.addr), props.get(self.step)
        if addr is None and self.optional:
            if step is not None or operands.get(self.name):
                raise FastPathMiss(self.name)  # xDSL would drop what it cannot print
            return ""
        if addr is None or step is None:
            raise FastPathMiss(self.name)
        head = f" {self.name}[{out.int(addr)}, {out.int(step)}]"
        return f"{head} ({out.tokens(operands[self.name])})" if self.tokens else head


class _Tokens:
    """`prefix(%tokens)`, no space before the parenthesis: an operand list."""

    def __init__(self, prefix: str, operand: str):
        self.prefix, self.operand, self.props, self.reads, self.operands = prefix, operand, (), (), (operand,)
        self.pattern = rf"{prefix}\((?P<t_{operand}>{_TOKENS})\)"

    def text(self, props: dict[str, Attribute], operands: _Operands, out: _Writer) -> str:
        return f"{self.prefix}({out.tokens(operands[self.operand])})"


class _Type:
    """` : tensor<...>`: the tensor type of a host input or output."""

    def __init__(self) -> None:
        self.props, self.operands = ("type",), ()
        self.reads: tuple[_Read, ...] = (("type", _parsed_attr),)
        self.pattern = rf" : (?P<type>{_TENSOR})"

    def text(self, props: dict[str, Attribute], operands: _Operands, out: _Writer) -> str:
        return f" : {out.attr(_prop(props, 'type'))}"


class _Piece:
    """` slice [offsets] of tensor<...>` when a host input or output is one box of its tensor."""

    def __init__(self) -> None:
        self.props, self.operands = ("offsets", "whole"), ()
        self.reads: tuple[_Read, ...] = (("offsets", _offsets), ("whole", _parsed_attr))
        self.pattern = rf"(?: slice \[(?P<offsets>(?:{_INT}(?:, {_INT})*)?)\] of (?P<whole>{_TENSOR}))?"

    def text(self, props: dict[str, Attribute], operands: _Operands, out: _Writer) -> str:
        offsets, whole = props.get("offsets"), props.get("whole")
        if offsets is None and whole is None:
            return ""
        if whole is None:
            raise FastPathMiss("slice")
        return f" slice [{_i64_list(offsets, 'slice')}] of {out.attr(whole)}"


class _Perm:
    """` perm [axes]` when the host moves a tensor transposed."""

    def __init__(self) -> None:
        self.props, self.operands = ("perm",), ()
        self.reads: tuple[_Read, ...] = (("perm", _offsets),)
        self.pattern = rf"(?: perm \[(?P<perm>{_INT}(?:, {_INT})*)\])?"

    def text(self, props: dict[str, Attribute], operands: _Operands, out: _Writer) -> str:
        perm = props.get("perm")
        return "" if perm is None else f" perm [{_i64_list(perm, 'perm')}]"


def _i64_list(attr: Attribute | None, field: str) -> str:
    """`1, 2, 3`: an i64 dense array as the formats print it."""
    if not isinstance(attr, DenseArrayBase) or attr.elt_type != i64:
        raise FastPathMiss(field)
    return ", ".join(str(value) for value in attr.iter_values())


class _Data:
    """` dense<...> : tensor<...>` or ` #tops.absent<...>`: a preload's contents."""

    def __init__(self) -> None:
        self.props, self.operands = ("data",), ()
        self.reads: tuple[_Read, ...] = (("data", _parsed_data),)
        self.pattern = r" (?P<data>.+)"

    def text(self, props: dict[str, Attribute], operands: _Operands, out: _Writer) -> str:
        return f" {_data_text(_prop(props, 'data'))}"


_Field = _Int | _Str | _Flag | _Slot | _Tokens | _Type | _Piece | _Perm | _Data


def _formats() -> dict[type[IRDLOperation], tuple[_Field, ...]]:
    """Field by field, the assembly_format of every op a stream may hold (dialects/chip.py)."""
    timing = (_Int("core"), _Str("unit", "unit"), _Int("cycle", optional=True), _Int("repeat", "count"), _Int("stride"))
    dst, src = _Slot("dst", tokens=False), _Slot("src")
    host = (_Int("core"), _Int("at", "addr"))
    tensor_host = (_Str(None, "name"), *host, _Type(), _Piece(), _Perm())
    return {
        VxmOp: (_Str(None, "op"), *timing, _Int("lanes"), dst, _Slot("lhs"), _Slot("rhs", optional=True)),
        MxmLoadOp: (*timing, _Flag("int8"), src),
        MxmMatmulOp: (*timing, _Tokens(" weights", "weights"), dst, src, _Slot("acc", optional=True)),
        SxmMoveOp: (*timing, _Int("lanes", "src_lane"), _Int("to", "dst_lane"), _Int("width"), dst, src,
                    _Slot("merge", optional=True)),
        SxmReduceOp: (_Str(None, "op"), *timing, _Int("first"), _Int("width"), _Int("lanes"), dst, src),
        SxmTransposeOp: (*timing, _Int("width"), dst, src),
        MemCopyOp: (*timing, dst, src),
        SendOp: (*timing, _Int("to"), _Int("port"), src),
        RecvOp: (*timing, _Int("from"), _Int("port"), dst),
        PreloadOp: (*host, _Data()),
        InputOp: tensor_host,
        OutputOp: (*tensor_host, _Tokens("", "src")),
        JoinOp: (_Int("core"), _Tokens("", "parts")),
    }


class _Kind:
    """What the writer and the reader know of one op class."""

    def __init__(self, op_type: type[IRDLOperation], fields: tuple[_Field, ...]):
        definition = op_type.get_irdl_definition()
        self.op_type, self.fields = op_type, fields
        self.props = frozenset(prop for field in fields for prop in field.props)
        self.reads = tuple(read for field in fields for read in field.reads)
        self.operands = tuple(name for name, _ in definition.operands)
        if sorted(self.operands) != sorted(name for field in fields for name in field.operands):
            raise AssertionError(f"the format of {op_type.name} misses operands")
        self.token_groups = tuple(f"t_{name}" for name in self.operands)
        self.results = len(definition.results)
        # several operand lists: their sizes sit in one attribute (or property), as xDSL builds them
        segments = [option for option in definition.options if isinstance(option, AttrSizedOperandSegments)]
        self.segments = segments[0].attribute_name if segments else None
        self.segments_in_props = bool(segments) and segments[0].as_property
        result = r"%(?P<result>\d+) = " if self.results else ""
        body = "".join(field.pattern for field in fields)
        self.line = re.compile(rf"    {result}{re.escape(op_type.name)}{body} loc\((?P<loc>.*)\)")


_SEGMENT_VALUES: dict[int, tuple[DenseArrayBase, tuple[int, ...]]] = {}


def segment_values(sizes: DenseArrayBase) -> tuple[int, ...]:
    """The operand segment sizes of an op, by identity: ops share them, and unpacking (or
    hashing) the attribute costs microseconds, which xDSL's accessors pay on every access."""
    known = _SEGMENT_VALUES.get(id(sizes))
    if known is not None and known[0] is sizes:
        return known[1]
    values = tuple(sizes.get_values())
    if len(_SEGMENT_VALUES) < 1 << 10:
        _SEGMENT_VALUES[id(sizes)] = (sizes, values)  # holds the attribute: its id stays its own
    return values  # type: ignore[return-value]


# -- writing ------------------------------------------------------------------------------


def print_stream_module(stream: StreamOp, out: TextIO) -> None:
    """Write `builtin.module { <stream> }` exactly as xDSL's Printer (with debug info) would."""
    try:
        text = stream_text(stream)
    except FastPathMiss:
        # a module takes its ops: it gets a copy, the stream stays where it is
        Printer(stream=out, print_debuginfo=True).print_op(ModuleOp([stream.clone()]))
        return
    out.write(text)


def stream_text(stream: StreamOp) -> str:
    """The fast path of print_stream_module; FastPathMiss if the stream holds anything it does not know."""
    if set(stream.properties) != {"core", "system"} or type(stream.properties["system"]) is not StringAttr:
        raise FastPathMiss("stream")
    blocks = list(stream.body.blocks)
    if len(blocks) > 1 or (blocks and (blocks[0].args or blocks[0].first_op is None)):
        raise FastPathMiss("stream body")  # several blocks, or one printed with its label
    out = _Writer()
    lines = ["builtin.module {", _stream_header(stream, out)]
    lines.extend(out.op_line(op) for op in (blocks[0].ops if blocks else ()))
    lines.append(f"  }} {out.location(stream.location)}")
    lines.append("} loc(unknown)")
    return "\n".join(lines)


def _stream_header(stream: StreamOp, out: _Writer) -> str:
    attributes = StringIO()
    Printer(stream=attributes).print_op_attributes(stream.attributes, print_keyword=True)
    core, system = stream.properties["core"], stream.properties["system"]
    return f"  chip.stream core {out.int(core)} {out.literal(system.data)}{attributes.getvalue()} {{"  # type: ignore[attr-defined]


_Operands = dict[str, Sequence[SSAValue]]


class _Writer:
    """One stream's printing state: SSA names as xDSL numbers them (in order of first
    appearance), and texts of attributes already printed. Attributes are keyed by id: ops
    share them, and all stay alive while the stream prints."""

    def __init__(self) -> None:
        self.names: dict[SSAValue, str] = {}
        self.ints: dict[int, str] = {}
        self.locations: dict[int, str] = {}
        self.attrs: dict[int, str] = {}
        self.literals: dict[str, str] = {}

    def op_line(self, op: Operation) -> str:
        kind = _BY_TYPE.get(type(op))
        if kind is None or len(op.results) != kind.results or not kind.props.issuperset(op.properties):
            raise FastPathMiss(op.name)  # (an op whose segment sizes are a property is left to xDSL)
        operands = self.operand_groups(op, kind)
        head = f"    {self.name(op.results[0])} = {op.name}" if kind.results else f"    {op.name}"
        body = "".join([field.text(op.properties, operands, self) for field in kind.fields])
        return f"{head}{body} {self.location(op.location)}"

    def operand_groups(self, op: Operation, kind: _Kind) -> _Operands:
        """Operands by name; an op with several operand lists has their sizes as its only attribute."""
        if not kind.segments:
            if op.attributes or len(kind.operands) > 1:
                raise FastPathMiss(op.name)
            return {kind.operands[0]: op.operands} if kind.operands else {}
        segments = op.attributes.get(kind.segments)
        if len(op.attributes) != 1 or not isinstance(segments, DenseArrayBase):
            raise FastPathMiss(op.name)
        operands, groups, start = tuple(op.operands), {}, 0
        sizes = segment_values(segments)
        if len(sizes) != len(kind.operands) or sum(sizes) != len(operands):
            raise FastPathMiss(op.name)
        for name, size in zip(kind.operands, sizes):
            groups[name] = operands[start:start + size]
            start += size
        return groups

    def name(self, value: SSAValue) -> str:
        name = self.names.get(value)
        if name is None:
            if value.name_hint:
                raise FastPathMiss("name hint")
            name = self.names[value] = f"%{len(self.names)}"
        return name

    def tokens(self, values: Sequence[SSAValue]) -> str:
        return ", ".join([self.name(value) for value in values])

    def int(self, attr: Attribute) -> str:
        """An i64 property: just its value (the format knows its type)."""
        text = self.ints.get(id(attr))
        if text is None:
            if type(attr) is not IntegerAttr or attr.type != i64:
                raise FastPathMiss("integer")
            text = self.ints[id(attr)] = str(attr.value.data)
        return text

    def literal(self, text: str) -> str:
        literal = self.literals.get(text)
        if literal is None:
            literal = self.literals[text] = _literal(text)
        return literal

    def location(self, location: Attribute) -> str:
        text = self.locations.get(id(location))
        if text is None:
            text = self.locations[id(location)] = _location_text(location)
        return text

    def attr(self, attr: Attribute) -> str:
        text = self.attrs.get(id(attr))
        if text is None:
            text = self.attrs[id(attr)] = _attr_text(attr)
        return text


def _prop(props: dict[str, Attribute], name: str) -> Attribute:
    attr = props.get(name)
    if attr is None:
        raise FastPathMiss(name)
    return attr


def _literal(text: str) -> str:
    """A string literal as xDSL prints it: bytes outside printable ASCII, and `"`, as `\\XX`."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    escaped = "".join(
        "\\\\" if byte == 0x5C else f"\\{byte:02X}" if byte < 0x20 or byte > 0x7E or byte == 0x22 else chr(byte)
        for byte in text.encode("utf-8")
    )
    return f'"{escaped}"'


def _location_text(location: Attribute) -> str:
    if type(location) is UnknownLoc:
        return "loc(unknown)"
    if type(location) is NameLoc and type(location.location) is NoneAttr:
        return f"loc({_literal(location.desc.data)})"
    return _attr_text(location)


def _attr_text(attr: Attribute) -> str:
    text = StringIO()
    Printer(stream=text).print_attribute(attr)
    return text.getvalue()


_HEX_DTYPES = {f32: np.dtype("<f4"), i8: np.dtype("i1")}


def _data_text(data: Attribute) -> str:
    """A preload's data; a large non-splat one as the hex xDSL prints, without unpacking every
    element to a Python number first as xDSL does."""
    if isinstance(data, DenseIntOrFPElementsAttr) and isinstance(data.type, TensorType):
        dtype = _HEX_DTYPES.get(data.type.element_type)
        raw = data.data.data
        if dtype is not None and len(raw) % dtype.itemsize == 0 and len(raw) // dtype.itemsize > _DENSE_LIST_LIMIT:
            values = np.frombuffer(raw, dtype)
            # xDSL's splat test: every value == the first (so NaNs never, -0.0 and 0.0 alike)
            if not np.all(values[1:] == values[0]):
                return f'dense<"0x{raw.hex().upper()}"> : {_attr_text(data.type)}'
    return _attr_text(data)


# -- reading ------------------------------------------------------------------------------


_CONTEXT: Context | None = None
_HEX_DENSE = re.compile(rf'dense<"0x([0-9A-Fa-f]*)"> : ({_TENSOR})')


def context() -> Context:
    """The dialects a stream file may name: builtin, chip, and tops (`#tops.absent`)."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = Context()
        for dialect in (Builtin, Chip, Tops):
            _CONTEXT.load_dialect(dialect)
    return _CONTEXT


def parse_stream_module(text: str, origin: str = "<string>") -> ModuleOp:
    """The module of one stream file, as xDSL's Parser would build it. Raises xDSL's
    ParseError (from xDSL's Parser, run on the whole text) for anything malformed."""
    try:
        return read_stream_module(text, origin)
    except FastPathMiss:
        return Parser(context(), text, origin).parse_module()


def read_stream_module(text: str, origin: str = "<string>") -> ModuleOp:
    """The fast path of parse_stream_module; FastPathMiss for any line it does not know."""
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.startswith("    ")), len(lines))
    end = next((i for i in range(first, len(lines)) if not lines[i].startswith("    ")), len(lines))
    if any(line.startswith("    ") for line in lines[end:]):
        raise FastPathMiss("op lines outside the stream body")
    if first < end and not (first > 0 and lines[first - 1].startswith("  chip.stream ") and lines[first - 1].endswith(" {")):
        raise FastPathMiss("op lines outside the stream body")
    # The rest (module, stream header and its attributes, closing lines) is small: xDSL reads it.
    skeleton = "\n".join(lines[:first] + lines[end:])
    try:
        module = Parser(context(), skeleton, origin).parse_module()
    except Exception as err:  # its lines are not where they were: the full parse words the error
        raise FastPathMiss("skeleton") from err
    streams = list(module.ops)
    if len(streams) != 1 or not isinstance(streams[0], StreamOp) or streams[0].body.blocks:
        raise FastPathMiss("skeleton")
    if end > first:
        streams[0].body.add_block(Block(_read_ops(lines[first:end])))
    return module


_Line = tuple["_Kind", str | None, dict[str, Attribute], list[list[str]], Attribute]


def _read_ops(lines: list[str]) -> list[Operation]:
    """The ops of a stream body, in order; a token may name an op further down (a join)."""
    parsed = [_read_line(line) for line in lines]
    values: dict[str, SSAValue] = {}
    ops: list[Operation] = [None] * len(parsed)  # type: ignore[list-item]
    pending = range(len(parsed))
    while pending:
        waiting = []
        for index in pending:
            kind, result, props, tokens, location = parsed[index]
            try:
                groups = [[values[name] for name in group] for group in tokens]
            except KeyError:
                waiting.append(index)
                continue
            ops[index] = op = _build(kind, props, groups, location)
            if result is not None:
                if result in values:
                    raise FastPathMiss(f"{result} defined twice")
                values[result] = op.results[0]
        if len(waiting) == len(pending):
            raise FastPathMiss("undefined or circular tokens")
        pending = waiting
    return ops


def _read_line(line: str) -> _Line:
    start = line.find("chip.")
    kind = _KINDS.get(line[start:line.find(" ", start)])
    match = kind.line.fullmatch(line) if kind is not None else None
    if match is None:
        raise FastPathMiss(line[:80])
    groups = match.groupdict()
    props: dict[str, Attribute] = {}
    try:
        for group, read in kind.reads:  # type: ignore[union-attr]
            if (text := groups[group]) is not None:
                props[group] = read(text)
        location = _LOCATIONS[groups["loc"]]
    except Exception as err:  # out-of-range integers, malformed types: the parser words it
        raise FastPathMiss(line[:80]) from err
    tokens = [(text.split(", ") if (text := groups[group]) else []) for group in kind.token_groups]  # type: ignore[union-attr]
    result = groups.get("result")
    return kind, None if result is None else f"%{result}", props, tokens, location  # type: ignore[return-value]


def _build(kind: _Kind, props: dict[str, Attribute], groups: list[list[SSAValue]], location: Attribute) -> Operation:
    attributes: dict[str, Attribute] = {}
    if kind.segments:
        (props if kind.segments_in_props else attributes)[kind.segments] = _SEGMENT_SIZES[tuple(map(len, groups))]
    return kind.op_type.create(
        operands=[value for group in groups for value in group],
        result_types=[TOKEN] * kind.results,
        properties=props,
        attributes=attributes,
        location=location,  # type: ignore[arg-type]
    )


class _SegmentSizes(dict[tuple[int, ...], DenseArrayBase]):
    """operandSegmentSizes (i32 array) by the operand groups' lengths."""

    def __missing__(self, sizes: tuple[int, ...]) -> DenseArrayBase:
        attr = self[sizes] = DenseArrayBase.from_list(i32, list(sizes))
        return attr


_SEGMENT_SIZES = _SegmentSizes()


def _location(text: str) -> Attribute:
    if text == "unknown":
        return UnknownLoc()
    if re.fullmatch(f'"{_STRING}"', text):
        return NameLoc(_STRINGS[text[1:-1]], NoneAttr())
    return _parsed(f"loc({text})", lambda parser: parser.parse_optional_location())


def _parsed(text: str, parse: Callable[[Parser], Attribute | None]) -> Attribute:
    """One attribute read by xDSL from the whole of `text`."""
    parser = Parser(context(), text)
    attr = parse(parser)
    if attr is None or parser.pos != len(text):
        raise FastPathMiss(text[:80])
    return attr


def _parse_attr(text: str) -> Attribute:
    return _parsed(text, lambda parser: parser.parse_attribute())


_LOCATIONS = _Interned(_location)
_ATTRS = _Interned(_parse_attr)


def _parsed_attr(text: str) -> Attribute:
    return _ATTRS[text] if len(text) < 1000 else _parse_attr(text)


def _offsets(text: str) -> Attribute:
    values = [int(value) for value in text.split(", ")] if text else []
    return DenseArrayBase(i64, BytesAttr(i64.pack(values)))


def _parsed_data(text: str) -> Attribute:
    """A preload's data: a full-size hex dense directly, anything else through xDSL."""
    match = _HEX_DENSE.fullmatch(text) if text.startswith('dense<"0x') else None
    if match is None:
        return _parsed_attr(text)
    tensor = _parsed_attr(match.group(2))
    dtype = _HEX_DTYPES.get(tensor.element_type) if isinstance(tensor, TensorType) else None
    data = bytes.fromhex(match.group(1))
    if dtype is None or len(data) != int(np.prod(tensor.get_shape())) * dtype.itemsize:  # type: ignore[union-attr]
        return _parsed_attr(text)  # a splat in hex, or a size error the parser words
    return DenseIntOrFPElementsAttr(tensor, BytesAttr(data))


_KINDS: dict[str, _Kind] = {op_type.name: _Kind(op_type, fields) for op_type, fields in _formats().items()}
_BY_TYPE: dict[type[Operation], _Kind] = {kind.op_type: kind for kind in _KINDS.values()}
