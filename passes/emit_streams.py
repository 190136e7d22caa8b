"""`emit-streams`: split a scheduled `chip.program` into one `chip.stream` per chip,
the only thing the runtime executes, and write them out as a program directory.

Each chip's ops are sorted by issue cycle: preloads and inputs first, a join
right after its last part, outputs last. Every `net.transfer` becomes, per hop,
a `chip.send` on the sending chip and a `chip.recv` on the receiving one; the
next hop's send names that recv, and uses of the transfer name the last recv.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import DiagnosticException

from compiler.stream_text import print_stream_module
from compiler.system import System, load_system
from dialects.chip import (
    TOKEN,
    ChipInstruction,
    ProgramOp,
    RecvOp,
    SendOp,
    StreamOp,
    i64_attr,
    int_of,
)
from dialects.net import TransferOp
from passes.timing import Kind, op_kind, repeat_of, route_hops, transfer_buffers

# Stream order: (group, cycle, depth below a join, program position, hop part).
_Key = tuple[int, int, int, int, int]
_HOST_IN, _CLOCKED, _HOST_OUT = 0, 1, 2


class _Attrs:
    """Shared attribute objects: xDSL attributes are immutable but slow to build, and
    a stream repeats the same counts, strides, chips and units over and over."""

    def __init__(self) -> None:
        self.i64 = cache(i64_attr)
        self.string = cache(StringAttr)

    def c2c(
        self, kind: type[SendOp | RecvOp], core: int, unit: str, cycle: int, repeat: tuple[int, int], fields: dict[str, int],
        operands: Sequence[SSAValue] = (),
    ) -> SendOp | RecvOp:
        """A scheduled send or recv; `fields` are its link and buffer properties."""
        props = {"core": core, "cycle": cycle, "count": repeat[0], "stride": repeat[1], **fields}
        properties: dict[str, Attribute] = {k: self.i64(v) for k, v in props.items()}
        properties["unit"] = self.string(unit)
        return kind.create(operands=operands, properties=properties, result_types=[TOKEN])


def _hop_ops(op: TransferOp, system: System, attrs: _Attrs) -> list[tuple[int, ChipInstruction, int]]:
    """(chip, op, cycle) of the send and recv of every hop, in order."""
    if op.hops is None:
        raise DiagnosticException(f"net.transfer from chip {op.src_core.value.data} has no hops: run schedule first")
    repeat = repeat_of(op)
    buffers = transfer_buffers(op)
    tokens: Sequence[SSAValue] = op.src
    out = []
    for h, (hop, start) in enumerate(zip(route_hops(op, system), op.hops.get_values())):
        a, b, port = hop.link.src, hop.link.dst, hop.link.port
        send = attrs.c2c(SendOp, a, f"c2c_to{b}_p{port}", start, repeat,
                         {"to": b, "port": port, "src_addr": buffers[h], "src_step": 1}, tokens)
        # A recv's cycle is when its first vector lands.
        landed = start + hop.transit
        fields = {"from": a, "port": port, "dst_addr": buffers[h + 1], "dst_step": 1}
        recv = attrs.c2c(RecvOp, b, f"c2c_from{a}_p{port}", landed, repeat, fields)
        send.location = recv.location = op.location  # the ONNX node whose data this moves
        out += [(a, send, start), (b, recv, landed)]
        tokens = [recv.result]
    return out


def split_program(program: ProgramOp) -> list[StreamOp]:
    """One chip.stream per chip that has ops, in chip order; empties `program`."""
    system, attrs = load_system(program.system.data), _Attrs()
    keyed: defaultdict[int, list[tuple[_Key, Operation]]] = defaultdict(list)
    keys: dict[SSAValue, _Key] = {}
    for seq, op in enumerate(list(program.body.ops)):
        kind = op_kind(type(op))
        if kind is Kind.TRANSFER:
            parts = _hop_ops(op, system, attrs)  # type: ignore[arg-type]
            for part, (chip, hop_op, cycle) in enumerate(parts):
                keys[hop_op.result] = (_CLOCKED, cycle, 0, seq, part)
                keyed[chip].append((keys[hop_op.result], hop_op))
            op.result.replace_all_uses_with(parts[-1][1].result)
            op.detach()
            op.erase()
            continue
        if kind is Kind.INSTRUCTION and (cycle := int_of(op.properties.get("cycle"))) is not None:  # type: ignore[arg-type]
            key = (_CLOCKED, cycle, 0, seq, 0)
        elif kind is Kind.JOIN:
            group, cycle, depth, _, _ = max(keys[part] for part in op.operands)
            key = (group, cycle, depth + 1, seq, 0)
        elif kind is Kind.HOST:
            key = (_HOST_IN, 0, 0, seq, 0)
        elif kind is Kind.OUTPUT:
            key = (_HOST_OUT, 0, 0, seq, 0)
        else:
            raise DiagnosticException(f"{op.name} on chip {op.properties.get('core')} is not scheduled")
        if op.results:
            keys[op.results[0]] = key
        op.detach()
        keyed[op.properties["core"].value.data].append((key, op))  # type: ignore[union-attr]
    streams = []
    for chip in sorted(keyed):
        ops = [op for _, op in sorted(keyed[chip], key=lambda item: item[0])]
        _check_local(chip, ops)
        stream = StreamOp.create(
            properties={"core": i64_attr(chip), "system": program.system},
            attributes=dict(program.attributes),
            regions=[Region(Block(ops))],
        )
        streams.append(stream)
    return streams


def _check_local(chip: int, ops: Sequence[Operation]) -> None:
    """A stream can only name tokens of its own chip: cross-chip data must travel by transfer."""
    mine = {result for op in ops for result in op.results}
    for op in ops:
        for operand in op.operands:
            if operand not in mine:
                raise DiagnosticException(
                    f"{op.name} on chip {chip} names a token produced on another chip; "
                    "data crosses chips only through net.transfer"
                )


def write_streams(module: ModuleOp, directory: Path, system: System) -> list[Path]:
    """Write DIR/chip<K>.mlir (a module holding chip K's stream) and DIR/system.toml; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for stream in module.ops:
        if isinstance(stream, StreamOp):
            path = directory / f"chip{stream.core.value.data}.mlir"
            with path.open("w") as out:
                # locations name the ONNX node of every instruction, for traces and reports
                print_stream_module(stream, out)
                out.write("\n")
            paths.append(path)
    toml = directory / "system.toml"
    toml.write_text(system.to_toml())
    return [*paths, toml]


class EmitStreamsPass(ModulePass):
    name = "emit-streams"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for program in list(op.ops):
            if isinstance(program, ProgramOp):
                for stream in split_program(program):
                    op.body.block.insert_op_before(stream, program)
                op.body.block.erase_op(program)
