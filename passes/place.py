"""`place`: a static SRAM address for every tensor, reusing the space of values no longer needed.

Every value gets `part.addr`, the same vector address on all chips of its group
(SPMD code shares addresses); function arguments get theirs in the function's
`part.arg_addrs`, and the module's `part.sram_top` is each chip's peak (the
high-water mark later passes allocate their scratch above). A reshape that keeps
the last axis keeps the vector layout, so it aliases its input. Constants read
only through `part.split` take no space (each chip holds just its slice); int8
weights take a quarter of the addresses; a row-broadcast constant only elementwise
ops read takes one row (`stored_as_row`).

Reuse is by liveness in the SSA order of the main function: a value's block is
released after the last op that reads it or an alias of it, and values defined
later may take it (`SramTop` in passes/chip_builder.py chooses which block). What
the host writes before cycle 0 -- preloaded constants (the weights) and function
arguments (the inputs) -- is placed first, in space nothing else ever occupies;
constants and function results are never released, arguments are after their last
use. Reused space is only safe in time because `schedule` never lets a write land
before the last read (or write) of the same address by an op earlier in program
order; `verify-schedule` and the runtime check it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, ModuleOp, i8, i64
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from compiler.layout import Layout
from compiler.system import System, load_system
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


def is_preloaded(op: Operation) -> bool:
    """A constant the host writes into SRAM before the program starts (a whole one or a chip's slice)."""
    if isinstance(op, SplitOp):
        return isinstance(op.input.owner, tops.ConstantOp)
    return isinstance(op, tops.ConstantOp) and not is_slice_source(op)


ROW_READERS = (tops.BinaryOp, tops.WhereOp)
"""The ops whose lowering reads an operand stored as one row with address step 0."""


def stored_as_row(value: SSAValue) -> bool:
    """A preloaded row-broadcast constant (or a chip's slice of one: any slice of it has equal
    rows too) that only elementwise ops read: the host writes one row of it, which they read
    with address step 0 (passes/chip_builder.py `vxm`). Any other reader needs every row."""
    owner = value.owner
    source = owner.input.owner if isinstance(owner, SplitOp) else owner
    return (
        isinstance(source, tops.ConstantOp)
        and source.is_row_broadcast
        and is_preloaded(owner)  # type: ignore[arg-type]
        and all(isinstance(use.operation, ROW_READERS) for use in value.uses)
    )


def stored_vectors(value: SSAValue, lanes: int) -> int:
    """SRAM addresses the value takes where `place` puts it: one row when stored as one."""
    if stored_as_row(value):
        return Layout(tuple(value.type.get_shape()), lanes).vpr  # type: ignore[union-attr]
    return vectors(value, lanes)


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


@dataclass
class Liveness:
    """Which value owns each block (an alias's owner is the value it reshapes); per op index, the
    owners whose blocks are free after that op, each with its tag: the ops a later occupant must
    depend on (bit k: op k); and per op, the ops it depends on (a bitset too)."""

    owner: dict[SSAValue, SSAValue]
    dies_after: dict[int, list[tuple[SSAValue, int]]]
    ancestors: list[int]


def liveness(func: FuncOp) -> Liveness:
    """Last uses in SSA order; preloaded constants and anything a function result aliases never die.

    A block's tag is its value's readers (an alias's readers included): whoever depends on all of
    them also comes after the value's writes. A value nothing reads has only its producer, which no
    op depends on; its tag is what the producer waits for, and `schedule` orders the rest."""
    ops = list(func.body.block.ops)
    index = {op: k for k, op in enumerate(ops)}
    owner: dict[SSAValue, SSAValue] = {}
    last: dict[SSAValue, int | None] = {arg: -1 for arg in func.args}  # None: kept to the end
    readers: dict[SSAValue, int] = {}
    waits: dict[SSAValue, int] = dict.fromkeys(func.args, 0)  # what the producer depends on
    ancestors: list[int] = []
    for k, op in enumerate(ops):
        above = 0
        for value in op.operands:
            root = owner.get(value, value)
            readers[root] = readers.get(root, 0) | 1 << k
            if isinstance(op, ReturnOp):
                last[root] = None
            elif last.get(root) is not None:
                last[root] = max(last[root], k)  # type: ignore[type-var]
            if isinstance(value.owner, Operation):
                above |= ancestors[index[value.owner]] | 1 << index[value.owner]
        ancestors.append(above)
        if keeps_layout(op):
            owner[op.results[0]] = owner.get(op.operands[0], op.operands[0])
        elif op.results and not is_slice_source(op):
            last[op.results[0]] = None if is_preloaded(op) else k
            waits[op.results[0]] = above
    dies_after: dict[int, list[tuple[SSAValue, int]]] = defaultdict(list)
    for value, k in last.items():
        if k is not None:
            dies_after[max(k, 0)].append((value, readers.get(value) or waits[value]))
    return Liveness(owner, dies_after, ancestors)


def assign(func: FuncOp, lanes: int, sram: SramTop, may_wait: bool) -> tuple[list[int], dict[Operation, int]]:
    """Addresses of the function's arguments and of every op's result, allocated from `sram`
    (whose `top` ends as each chip's peak).

    A value takes a released block if every op that used the block's previous occupant is one it
    depends on: the data dependencies already order the new writes after the old reads, so such
    reuse never holds the schedule back (an op earlier in SSA order but independent of this one
    may run later in time). With `may_wait` it takes any released block rather than raise the
    high-water mark, and `schedule` delays its writes where needed."""
    live = liveness(func)
    ops = list(func.body.block.ops)
    where: dict[SSAValue, tuple[list[int], int]] = {}  # owner -> (chips, address)

    def allocate(value: SSAValue, chips: list[int], after: int | None = None) -> int:
        where[value] = chips, sram.allocate(chips, stored_vectors(value, lanes), after, may_wait)
        return where[value][1]

    # The host writes these at cycle 0: only space no op ever writes can hold them.
    arg_addrs = [allocate(arg, value_chips(arg)) for arg in func.args]
    addrs = {op: allocate(op.results[0], list(chips_of(op))) for op in ops if is_preloaded(op)}
    for k, op in enumerate(ops):
        if keeps_layout(op):
            addrs[op] = where[live.owner[op.results[0]]][1]
        elif op not in addrs and op.results and not is_slice_source(op):
            addrs[op] = allocate(op.results[0], list(chips_of(op)), live.ancestors[k])
        for value, tag in live.dies_after.get(k, ()):
            chips, addr = where[value]
            sram.release(chips, addr, vectors(value, lanes), tag)
    return arg_addrs, addrs


@dataclass
class Placement:
    sram: SramTop  # `top`: each chip's peak
    arg_addrs: list[int]
    addrs: dict[Operation, int]


def allocate_function(module: ModuleOp, system: System) -> Placement:
    """`place`'s allocation of the module's main function, without touching the IR (the cost
    model's memory estimate is this): reuse that never waits if the peak fits in SRAM that way,
    otherwise any reuse, trading some schedule time for the fit."""
    func = main_function(module)
    for may_wait in (False, True):
        sram = SramTop(None, system)  # every address is place's to give, whatever was placed before
        arg_addrs, addrs = assign(func, system.lanes, sram, may_wait)
        if sram.fits():
            break
    return Placement(sram, arg_addrs, addrs)


def place(module: ModuleOp) -> None:
    system = load_system(module.attributes[SYSTEM].data)  # type: ignore[union-attr]
    placement = allocate_function(module, system)
    func = main_function(module)
    func.attributes[ARG_ADDRS] = DenseArrayBase.from_list(i64, placement.arg_addrs)
    for op, addr in placement.addrs.items():
        op.attributes[ADDR] = IntegerAttr(addr, 64)
    placement.sram.check()
    placement.sram.store(module)


@dataclass(frozen=True)
class PlacePass(ModulePass):
    name = "place"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        place(op)
