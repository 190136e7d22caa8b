"""`lower-collectives`: tensor-level collectives become vector transfers plus local sums.

All-reduce and all-gather use the collective synthesizer (compiler/collectives),
the same algorithms `lockstep collective` shows with their lower bounds, on the
group's own links when they connect it (compiler/group_collectives.py); its hops
become one-link `net.transfer`s and its partial sums VXM adds
(passes/collective_realise.py). An all-gather's shards land side by side in an
inbox and one SXM lane-move plan lays them out. A point-to-point transfer takes
the shortest route, storing and forwarding through buffers on intermediate chips.
When each transfer happens, and on which link slots, is the scheduler's business.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from compiler.collector import collector_paused
from compiler.group_collectives import synthesize_on_group
from compiler.layout import Layout, plan_moves
from compiler.system import System, load_system
from dialects.chip import ProgramOp
from dialects.net import TransferOp as NetTransferOp
from dialects.part import ADDR, AllGatherOp, AllReduceOp, CollectiveOp, TransferOp
from passes.chip_builder import (
    ChipBuilder,
    Placed,
    SramTop,
)
from passes.collective_realise import realise_all_gather, realise_all_reduce
from passes.lower_to_chip import SRC_ADDR


@dataclass
class Collectives:
    system: System
    builder: ChipBuilder

    def int_attr(self, op: Operation, name: str) -> int:
        return op.attributes[name].value.data  # type: ignore[union-attr]

    def transfer(self, src: Placed, src_core: int, dst_core: int, dst_addr: int, count: int) -> SSAValue:
        route = self.system.route(src_core, dst_core)
        via = [self.builder.scratch([link.dst], count) for link in route[:-1]]
        stride = max(self.system.serialization_cycles(link) for link in route)
        return self.builder.add(NetTransferOp(src.tokens, src_core, src.addr, dst_core, dst_addr, count, stride,
                                              [(l.src, l.dst, l.port) for l in route], via))

    def all_reduce(self, op: AllReduceOp) -> list[SSAValue]:
        """Each subgroup's sum on its own synthesized schedule (one schedule for the whole group
        without subgroups); their transfers share the link calendars in `schedule`."""
        lay = Layout(tuple(op.local_type().get_shape()), self.system.lanes)
        src, dst = self.int_attr(op, SRC_ADDR), self.int_attr(op, ADDR)
        results: list[SSAValue] = []
        inputs = list(op.inputs)
        for group in op.subgroups():
            tokens, inputs = inputs[:len(group)], inputs[len(group):]
            if len(group) == 1:
                results.append(self.builder.copy(group[0], Placed(src, tuple(tokens)), dst, lay.vectors))
                continue
            schedule = synthesize_on_group("all-reduce", self.system, lay.vectors * self.system.vector_bytes, group)
            results += realise_all_reduce(self.builder, self.system, schedule, group, lay.vectors, src, dst, tokens)
        return results

    def all_gather(self, op: AllGatherOp) -> list[SSAValue]:
        """Shards land side by side in an inbox ([chips, *local]); one lane-move plan lays them out."""
        group, axis = op.group(), op.axis.value.data
        local = tuple(op.local_type().get_shape())
        whole = list(local)
        whole[axis] *= len(group)
        lanes = self.system.lanes
        shard, stacked, dst_lay = Layout(local, lanes), Layout((len(group), *local), lanes), Layout(tuple(whole), lanes)
        plan = plan_moves(stacked, dst_lay, *gather_targets(local, axis, len(group), dst_lay))
        src, dst = self.int_attr(op, SRC_ADDR), self.int_attr(op, ADDR)
        inbox = self.builder.scratch(group, stacked.vectors)
        schedule = synthesize_on_group("all-gather", self.system, stacked.vectors * self.system.vector_bytes, group)
        stacks = realise_all_gather(self.builder, self.system, schedule, group, shard.vectors, src, inbox,
                                    list(op.inputs))
        return [self.builder.moves(core, plan, stack, dst).tokens[0] for core, stack in zip(group, stacks)]

    def point_to_point(self, op: TransferOp) -> list[SSAValue]:
        lay = Layout(tuple(op.local_type().get_shape()), self.system.lanes)
        src, dst = self.int_attr(op, SRC_ADDR), self.int_attr(op, ADDR)
        return [
            self.transfer(Placed(src, (token,)), a, b, dst, lay.vectors)
            for token, a, b in zip(op.inputs, op.group(), op.to.get_values())
        ]


def gather_targets(local: tuple[int, ...], axis: int, parts: int, dst: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Where element e of the stacked shards [parts, *local] lands in the gathered tensor (row, column)."""
    index = np.indices((parts, *local)).reshape(len(local) + 1, -1)
    index[axis + 1] += index[0] * local[axis]
    flat = np.ravel_multi_index(tuple(index[1:]), dst.shape)
    return flat // dst.width, flat % dst.width


def collective_ancestors(ops: Iterable[Operation]) -> dict[Operation, int]:
    """Per collective op, the collectives it depends on through its operands, as a bitset of
    their indices in program order."""
    reach: dict[Operation, int] = {}  # ops downstream of a collective; equal sets share one int
    ancestors: dict[Operation, int] = {}
    for op in ops:
        bits = 0
        for operand in op.operands:
            more = reach.get(operand.owner, 0)  # type: ignore[arg-type]
            if more & ~bits:
                bits = more if not bits else bits | more
        if isinstance(op, CollectiveOp):
            ancestors[op] = bits
            bits |= 1 << (len(ancestors) - 1)
        if bits:
            reach[op] = bits
    return ancestors


def lower_collectives(module: ModuleOp) -> None:
    for program in [op for op in module.ops if isinstance(op, ProgramOp)]:
        system = load_system(program.system.data)
        sram = SramTop(module, system)
        ancestors = collective_ancestors(program.body.block.ops)
        for index, (op, after) in enumerate(ancestors.items()):
            block = Block()
            # Scratch (relay buffers, partial sums) reuses only blocks of collectives this one
            # depends on: reusing an independent one's would make `schedule` serialise the two.
            lowering = Collectives(system, ChipBuilder(system, block, sram, scratch_after=after))
            mark = sram.mark()
            if isinstance(op, AllReduceOp):
                results = lowering.all_reduce(op)
            elif isinstance(op, AllGatherOp):
                results = lowering.all_gather(op)
            else:
                results = lowering.point_to_point(op)
            new_ops = list(block.ops)
            for new in new_ops:
                new.detach()
                new.location = op.location
            Rewriter.insert_op(new_ops, InsertPoint.before(op))
            Rewriter.replace_op(op, [], new_results=results)
            sram.release_since(mark, tag=1 << index)
        sram.check()
        sram.store(module)


@dataclass(frozen=True)
class LowerCollectivesPass(ModulePass):
    name = "lower-collectives"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        with collector_paused():
            lower_collectives(op)
