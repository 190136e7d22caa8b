"""Graph inputs and outputs the host moves in slices, so a sharded tensor is never whole on a chip.

After the partition, "chip k reads its slice of a graph input" is a `part.split` of the
function argument, and "the host gets the whole of a sharded value" a `part.all_gather`
before the return; when the chips' slices are not plain blocks (a KV head held by several
chips) a `tops.gather` along the axis lays them out as blocks before the split, or restores
the global order after the all-gather. The host can write and read any box of a tensor, so
`slice_host_io` (the last step of `partition`) rewrites both:

- an argument every use of which is such a split (giving each chip the same slice for all of
  them) takes the split's local type: each chip holds only its slice, which the host writes
  before cycle 0, and the splits go;
- a returned value that is such an all-gather (used only by returns) is returned as the
  chips' local pieces, which the host reads after the last cycle from the chips that hold
  them (the first holder of each): no network transfer, no whole copy on any chip.

Either records the slicing in `part.slices` on the argument or result: `{whole = <the whole
tensor's type>, axis, chips, starts}`, chip `chips[i]` holding `[starts[i], starts[i] + n)`
along `axis` (n: the local extent). The function's types become the local ones, as every
type after `partition`; `place` and the cost model then see the slices' sizes and no
gather. `lower-to-chip` makes each slice a chip.input / chip.output with `slice OFFSETS of
WHOLE` (dialects/chip.py) and the runtime checks that the slices tile the tensor
(runtime/host.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    DictionaryAttr,
    IntegerAttr,
    TensorType,
    i64,
)
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Attribute, BlockArgument, Operation, SSAValue
from xdsl.rewriter import Rewriter

from dialects import tops
from dialects.part import AllGatherOp, SplitOp

SLICES = "part.slices"
HOST_PERM = "tops.host_perm"
"""On a function argument or result: the host writes (reads) the graph tensor transposed by
this permutation, and the function's type is the transposed one (a KV cache held densely,
passes/normalise_kv_cache.py)."""


@dataclass(frozen=True)
class Slices:
    """How the host splits a graph tensor over chips: chip `chips[i]` holds `[starts[i],
    starts[i] + local)` along `axis` of the whole tensor (every other axis whole)."""

    whole: TensorType
    axis: int
    chips: tuple[int, ...]
    starts: tuple[int, ...]

    def offsets(self, start: int) -> tuple[int, ...]:
        rank = len(self.whole.get_shape())
        return tuple(start if a == self.axis else 0 for a in range(rank))

    def pieces(self) -> list[tuple[int, tuple[tuple[int, ...], TensorType]]]:
        """Per chip: (chip, (the offsets of its box, the whole tensor's type)), the form
        chip.input and chip.output take."""
        return [(chip, (self.offsets(start), self.whole)) for chip, start in zip(self.chips, self.starts)]

    def attribute(self) -> DictionaryAttr:
        return DictionaryAttr({
            "whole": self.whole, "axis": IntegerAttr(self.axis, i64),
            "chips": DenseArrayBase.from_list(i64, list(self.chips)),
            "starts": DenseArrayBase.from_list(i64, list(self.starts)),
        })

    @staticmethod
    def of(attrs: ArrayAttr[DictionaryAttr] | None, index: int) -> Slices | None:
        """The slicing recorded on argument or result `index` (None: whole)."""
        if attrs is None or not isinstance(found := attrs.data[index].data.get(SLICES), DictionaryAttr):
            return None
        d = found.data
        return Slices(d["whole"], d["axis"].value.data, tuple(d["chips"].get_values()),  # type: ignore[arg-type, attr-defined]
                      tuple(d["starts"].get_values()))  # type: ignore[attr-defined]


def _rearranging(op: Operation | None, axis: int | None = None) -> bool:
    """A gather that keeps the rank (so only reorders or repeats along its axis)."""
    return (isinstance(op, tops.GatherOp) and (axis is None or op.axis.value.data == axis)
            and len(tops.shape_of(op.result)) == len(tops.shape_of(op.input)))


def _split_starts(split: SplitOp, indices: Sequence[int]) -> tuple[int, ...] | None:
    """Where each chip's block of `indices` (the argument's positions along the split axis, in
    the order the split deals them) starts, if every block is a run of consecutive indices."""
    local = len(indices) // split.blocks
    starts = []
    for position in range(len(split.chips)):
        first = split.block_of(position) * local
        block = list(indices[first:first + local])
        if block != list(range(block[0], block[0] + local)):
            return None
        starts.append(block[0])
    return tuple(starts)


def input_slices(arg: BlockArgument) -> tuple[Slices, SSAValue, list[Operation]] | None:
    """For an argument read only through splits along one axis (possibly after a rearranging
    gather) that give each chip one box, the same for all of them: the slicing, a split result
    (the local value) and the ops the host's slicing replaces. None otherwise."""
    reads: list[tuple[SplitOp, Sequence[int]]] = []
    replaced: list[Operation] = []
    size = tops.shape_of(arg)
    for use in arg.uses:
        user = use.operation
        if isinstance(user, SplitOp):
            reads.append((user, range(size[user.axis.value.data])))
            continue
        if not _rearranging(user):
            return None
        replaced.append(user)
        for inner in user.results[0].uses:
            split = inner.operation
            if not isinstance(split, SplitOp) or not _rearranging(user, split.axis.value.data):
                return None
            reads.append((split, list(user.indices.get_values())))  # type: ignore[attr-defined]
    found = set()
    for split, indices in reads:
        starts = _split_starts(split, indices)
        if starts is None:
            return None
        found.add((split.axis.value.data, tuple(split.chips.get_values()), starts, split.result.type))
        replaced.append(split)
    if len(found) != 1:
        return None
    axis, chips, starts, _ = found.pop()
    return Slices(arg.type, axis, chips, starts), reads[0][0].result, replaced  # type: ignore[arg-type]


def output_slices(value: SSAValue) -> tuple[Slices, SSAValue, list[Operation]] | None:
    """For a returned value made whole only for the return (an all-gather, then maybe a gather
    restoring the order, used only by returns): the slicing (the first chip holding each
    piece), the local value the chips hold and the ops the host's reading replaces. None when
    a chip's contribution is not its whole local value at one box."""
    if not all(isinstance(use.operation, ReturnOp) for use in value.uses):
        return None
    owner, replaced = value.owner, []
    if _rearranging(owner) and isinstance(inner := owner.input.owner, AllGatherOp) \
            and _rearranging(owner, inner.axis.value.data) and len(list(inner.outputs[0].uses)) == 1:
        positions, replaced = list(owner.indices.get_values()), [owner]  # type: ignore[union-attr]
        owner = inner
    elif isinstance(owner, AllGatherOp):
        positions = list(range(tops.shape_of(value)[owner.axis.value.data]))
    else:
        return None
    local, axis = owner.inputs[0], owner.axis.value.data
    width = tops.shape_of(local)[axis]
    if width == 0:
        return None
    chips, starts = [], []
    by_chip: dict[int, list[int]] = {}  # the gathered positions of each chip's piece, in order
    for g, p in enumerate(positions):
        by_chip.setdefault(p // width, []).append(g)
    for k, chip in enumerate(owner.group()):
        held = by_chip.get(k, [])
        if not held:
            continue
        if held != list(range(held[0], held[0] + width)) or [positions[g] for g in held] != list(
                range(k * width, (k + 1) * width)):
            return None
        chips.append(chip)
        starts.append(held[0])
    return Slices(value.type, axis, tuple(chips), tuple(starts)), local, [*replaced, owner]  # type: ignore[arg-type]


def host_perm(attrs: ArrayAttr[DictionaryAttr] | None, index: int) -> tuple[int, ...] | None:
    """The permutation recorded on argument or result `index`, if any."""
    if attrs is None or not isinstance(found := attrs.data[index].data.get(HOST_PERM), DenseArrayBase):
        return None
    return tuple(found.get_values())  # type: ignore[arg-type]


def with_entry(attrs: ArrayAttr[DictionaryAttr] | None, count: int, index: int, key: str,
               value: Attribute) -> ArrayAttr[DictionaryAttr]:
    """A function's argument (or result) attributes, `count` of them, with `key` set on `index`."""
    entries = [dict(a.data) for a in attrs.data] if attrs is not None else [{} for _ in range(count)]
    entries[index][key] = value
    return ArrayAttr([DictionaryAttr(e) for e in entries])


def _erase_unused(ops: Sequence[Operation]) -> None:
    for op in ops:
        if not any(result.uses for result in op.results):
            op.detach()
            op.erase()


def slice_host_io(func: FuncOp) -> None:
    """Graph inputs read only in slices and outputs made whole only to be returned become the
    chips' local slices, recorded in `part.slices` (see the module docstring)."""
    for arg in func.args:
        if (found := input_slices(arg)) is None:
            continue
        slices, local, replaced = found
        func.arg_attrs = with_entry(func.arg_attrs, len(func.args), arg.index, SLICES, slices.attribute())
        arg = Rewriter.replace_value_with_new_type(arg, local.type)
        for op in replaced:
            for result in op.results:
                result.replace_all_uses_with(arg)
        _erase_unused(replaced)
    ret = func.get_return_op()
    assert ret is not None
    for index, value in enumerate(ret.operands):
        if (found := output_slices(value)) is None:
            continue
        slices, local, replaced = found
        func.res_attrs = with_entry(func.res_attrs, len(ret.operands), index, SLICES, slices.attribute())
        ret.operands[index] = local
        _erase_unused(replaced)
    func.update_function_type()
