"""The `hybrid` partition strategy: tensor parallel inside groups of chips, pipeline across them.

A large model on many chips: each group (by default a node of 8 fully connected chips) runs
a contiguous run of the program tensor-parallel, the way `tensor` runs the whole of it, and the
groups form a pipeline. On a system wired in levels (nodes in racks) the groups are taken inside
racks first (`local_order`). The function is first split tensor-parallel over the first group's chips;
then the ops, in program order, are cut into stages holding about equal weight bytes (what
bounds a decode step and what must fit in each group's SRAM), and every op of stage s moves to
group s (chip i of the first group becomes chip i of group s). A value used in a later stage
crosses with `part.transfer` from chip i of its group to chip i of the user's group, shards and
replicas alike, so the tensor-parallel layout holds on both sides. Graph inputs are loaded
where they are read; graph outputs are read where they are produced.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

from xdsl.dialects.builtin import StringAttr
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Operation, SSAValue
from xdsl.rewriter import InsertPoint, Rewriter

from compiler.errors import LockstepError
from compiler.system import System
from dialects import tops
from dialects.part import (
    CHIPS,
    AllGatherOp,
    CollectiveOp,
    SplitOp,
    TransferOp,
    chips_attr,
    chips_of,
)

STAGE = "part.stage"
"""On every op under `hybrid`: the pipeline stage (group) that runs it."""


def stage_groups(chips: Sequence[int], group: int) -> list[tuple[int, ...]]:
    if group < 1 or len(chips) % group:
        raise LockstepError(f"hybrid partitioning needs the {len(chips)} chips to divide into groups of {group}")
    return [tuple(chips[i : i + group]) for i in range(0, len(chips), group)]


def local_order(system: System, chips: Sequence[int], group: int) -> tuple[int, ...]:
    """`chips` reordered so that as many groups of `group` consecutive chips as possible lie inside one
    domain: the smallest parts that some of the system's link classes connect and that hold a whole
    group (on the 576-chip preset, `local` and `global` links connect its racks of 72). Each domain
    gives its first whole groups; the chips left over, in order, form the rest. Groups of 64 thus
    take 64 chips of each rack and the ninth node of every rack, not 64 chips straddling two racks,
    whose own links would not connect them."""
    domains = _domains(system, chips, group)
    if domains is None:
        return tuple(chips)
    whole, rest = [], []
    for domain in domains:
        cut = len(domain) // group * group
        whole.extend(domain[:cut])
        rest.extend(domain[cut:])
    return tuple(whole + rest)


def _domains(system: System, chips: Sequence[int], group: int) -> list[list[int]] | None:
    """The parts of `chips` connected by the innermost levels of links that hold a whole group each;
    None if only the whole system does. Levels nest: the class whose links connect the smallest
    parts first (nodes), then at each step the class adding the least (racks)."""
    left, chosen = {link.cls for link in system.links}, set()
    while len(left) > 1:
        levels = {cls: system.parts(chips, chosen | {cls}) for cls in sorted(left)}
        cls = min(levels, key=lambda c: max(map(len, levels[c])))
        chosen.add(cls)
        left.remove(cls)
        if min(map(len, levels[cls])) >= group:
            return levels[cls]
    return None


def weight_bytes(op: Operation) -> int:
    """Bytes of constants (whole or split) the op reads on one chip. A split of a computed value
    (grouped-query attention's V, cut to each chip's KV head) is no weight: a cut before its
    reader would send the whole cache across."""
    return sum(4 * prod(tops.shape_of(v)) for v in op.operands if _is_weight(v))


def _is_weight(value: SSAValue) -> bool:
    owner = value.owner
    return isinstance(owner, tops.ConstantOp) or _splits_weight(owner)


def _splits_weight(op: object) -> bool:
    """A split of a constant: stored in every stage that reads it (`split_for`). A split of a
    computed value is an op of its stage like any other."""
    return isinstance(op, SplitOp) and _is_weight(op.input)


def assign_stages(ops: Sequence[Operation], stages: int) -> list[int]:
    """Program-order cut into `stages` runs of about equal weight bytes. Ops without weights join
    the stage of the op before them, so every cut falls just before an op with weights, where what
    crosses is that op's input: in a decode step one token's activations, never a KV cache that
    an attention between two weighted ops reads."""
    work = [weight_bytes(op) for op in ops]
    total, done, out = sum(work) or 1, 0, []
    for w in work:
        out.append(min(stages - 1, (done + w // 2) * stages // total) if w or not out else out[-1])
        done += w
    return out


def gathered_for_return(op: Operation) -> bool:
    """An all-gather (or the gather restoring its order) whose results reach only the return."""
    return isinstance(op, (AllGatherOp, tops.GatherOp)) and all(
        isinstance(use.operation, ReturnOp) or gathered_for_return(use.operation)
        for result in op.results for use in result.uses)


def relabel(op: Operation, mapping: dict[int, int]) -> None:
    op.attributes[CHIPS] = chips_attr([mapping[c] for c in chips_of(op)])
    if isinstance(op, (CollectiveOp, SplitOp)):
        op.chips = chips_attr([mapping[c] for c in op.chips.get_values()])


def hybrid_parallel(func: FuncOp, chips: tuple[int, ...], group: int, lanes: int | None = None) -> None:
    from passes.partition import tensor_parallel

    groups = stage_groups(chips, group)
    tensor_parallel(func, groups[0], lanes)
    block = func.body.block
    ops = [op for op in block.ops if not isinstance(op, (ReturnOp, tops.ConstantOp)) and not _splits_weight(op)]
    stage_of_op = dict(zip(ops, assign_stages(ops, len(groups))))
    stage_of: dict[SSAValue, int] = {}
    sent: dict[tuple[SSAValue, int], SSAValue] = {}
    for op in ops:
        stage = stage_of_op[op]
        if gathered_for_return(op):  # stays with what it gathers: the host reads the output there
            stage = max((stage_of[v] for v in op.operands if v in stage_of), default=stage)
        mapping = dict(zip(groups[0], groups[stage]))
        relabel(op, mapping)
        op.attributes[STAGE] = StringAttr(f"stage {stage}")
        for i, operand in enumerate(op.operands):
            if _splits_weight(operand.owner):
                op.operands[i] = split_for(operand.owner, stage, mapping, op)  # type: ignore[arg-type]
            elif stage_of.get(operand, stage) != stage:
                op.operands[i] = cross(operand, stage_of, sent, groups, stage, op)
        for result in op.results:
            stage_of[result] = stage
    for split in [op for op in block.ops if _splits_weight(op) and not op.results[0].uses]:
        split.detach()
        split.erase()


def split_for(split: SplitOp, stage: int, mapping: dict[int, int], user: Operation) -> SSAValue:
    """The split of a constant over `stage`'s group: the original if this is its first stage,
    else a copy (a weight read in two stages is stored in both)."""
    target = chips_attr([mapping[c] for c in split.chips.get_values()])
    if STAGE not in split.attributes:
        split.chips = target
        split.attributes[CHIPS] = target
        split.attributes[STAGE] = StringAttr(f"stage {stage}")
        return split.result
    if split.attributes[STAGE] == StringAttr(f"stage {stage}"):
        return split.result
    twin = SplitOp(split.input, split.axis.value.data, target.get_values(), split.result.type)
    twin.attributes[CHIPS] = target
    twin.attributes[STAGE] = StringAttr(f"stage {stage}")
    twin.location = split.location
    Rewriter.insert_op(twin, InsertPoint.before(user))
    return twin.result


def cross(value: SSAValue, stage_of: dict[SSAValue, int], sent: dict[tuple[SSAValue, int], SSAValue],
          groups: list[tuple[int, ...]], stage: int, user: Operation) -> SSAValue:
    """`value` (made in an earlier stage) on `stage`'s group: sent chip i to chip i, once per stage."""
    if (value, stage) in sent:
        return sent[(value, stage)]
    origin = stage_of[value]
    holders = chips_of(value.owner)  # type: ignore[arg-type]
    index = {c: i for i, c in enumerate(groups[origin])}
    to = [groups[stage][index[c]] for c in holders]
    transfer = TransferOp([value], holders, to, [value.type])
    transfer.attributes[CHIPS] = chips_attr(to)
    transfer.attributes[STAGE] = StringAttr(f"stage {stage}")
    transfer.location = user.location
    Rewriter.insert_op(transfer, InsertPoint.before(user))
    stage_of[transfer.results[0]] = stage
    sent[(value, stage)] = transfer.results[0]
    return transfer.results[0]
