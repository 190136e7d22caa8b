"""`place`: a static SRAM address for every tensor, checked against capacity.

Every value gets `part.addr`, the same vector address on all chips of its group
(SPMD code shares addresses); function arguments get theirs in the function's
`part.arg_addrs`. A reshape that keeps the last axis keeps the vector layout, so
it aliases its input. Constants read only through `part.split` take no space
(each chip holds just its slice); int8 weights take a quarter of the addresses.
Nothing is reused yet: every tensor lives for the whole program, which keeps the
schedule free of write-after-read hazards.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, ModuleOp, i8, i64
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from compiler.layout import Layout
from compiler.system import load_system
from dialects import tops
from dialects.chip import INT8_PER_ADDRESS
from dialects.part import ADDR, CHIPS, SYSTEM, SplitOp, chips_of
from passes.chip_builder import SramTop
from passes.partition import main_function

ARG_ADDRS = "part.arg_addrs"


def value_chips(value: SSAValue) -> list[int]:
    """Chips that read a function argument (chip 0 if only returned)."""
    chips = {c for use in value.uses if CHIPS in use.operation.attributes for c in chips_of(use.operation)}
    return sorted(chips) or [0]


def is_slice_source(op: Operation) -> bool:
    return isinstance(op, tops.ConstantOp) and all(isinstance(u.operation, SplitOp) for u in op.result.uses)


def address_of(value: SSAValue, func: FuncOp) -> int:
    if isinstance(value.owner, Operation):
        return value.owner.attributes[ADDR].value.data  # type: ignore[union-attr]
    return func.attributes[ARG_ADDRS].get_values()[value.index]  # type: ignore[union-attr]


def keeps_layout(op: Operation) -> bool:
    if not isinstance(op, tops.ReshapeOp):
        return False
    src, dst = op.input.type.get_shape(), op.result.type.get_shape()
    return bool(src) and bool(dst) and src[-1] == dst[-1]


def vectors(value: SSAValue, lanes: int) -> int:
    """SRAM addresses a value takes: its vectors, or for int8 weights its int8 vectors packed
    INT8_PER_ADDRESS to an address (docs/architecture.md, "Tensor layout")."""
    count = Layout(tuple(value.type.get_shape()), lanes).vectors  # type: ignore[union-attr]
    if value.type.get_element_type() == i8:  # type: ignore[union-attr]
        return -(-count // INT8_PER_ADDRESS)
    return count


def place(module: ModuleOp) -> None:
    system = load_system(module.attributes[SYSTEM].data)  # type: ignore[union-attr]
    sram = SramTop(module, system)
    func = main_function(module)
    arg_addrs = [
        sram.allocate(value_chips(arg), vectors(arg, system.lanes))
        for arg in func.args
    ]
    func.attributes[ARG_ADDRS] = DenseArrayBase.from_list(i64, arg_addrs)
    for op in func.body.block.ops:
        if isinstance(op, ReturnOp) or is_slice_source(op):
            continue
        if keeps_layout(op):
            addr = address_of(op.operands[0], func)
        else:
            addr = sram.allocate(list(chips_of(op)), vectors(op.results[0], system.lanes))
        op.attributes[ADDR] = IntegerAttr(addr, 64)
    sram.check()
    sram.store(module)


@dataclass(frozen=True)
class PlacePass(ModulePass):
    name = "place"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        place(op)
