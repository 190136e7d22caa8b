"""`lower-collectives`: tensor-level collectives become vector transfers plus local sums.

- all-reduce: reduce-scatter then all-gather, directly between the chips of the
  group: the tensor's vectors are cut into one piece per chip; every chip sends
  piece p to its owner, which adds the pieces up (VXM) and sends the sum to
  every other chip.
- all-gather: every chip sends its whole shard to every other chip's receive
  buffer; each chip then moves the shards' lanes into the gathered layout (SXM).
- transfer: one point-to-point `net.transfer`.
Routes are the system's shortest paths; multi-hop routes store and forward
through buffers allocated on the intermediate chips. When transfers happen and
on which link slots is the scheduler's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from compiler.layout import Layout, plan_moves
from compiler.system import System, load_system
from dialects.chip import ProgramOp, VxmOp
from dialects.net import TransferOp as NetTransferOp
from dialects.part import ADDR, AllGatherOp, AllReduceOp, CollectiveOp, TransferOp
from passes.chip_builder import ChipBuilder, Placed, SramTop
from passes.lower_to_chip import SRC_ADDR


def pieces(vectors: int, parts: int) -> list[tuple[int, int]]:
    """(offset, count) of `parts` near-equal contiguous pieces; empty pieces are dropped."""
    bounds = np.linspace(0, vectors, parts + 1).round().astype(int)
    return [(int(lo), int(hi - lo)) for lo, hi in zip(bounds[:-1], bounds[1:])]


@dataclass
class Collectives:
    system: System
    builder: ChipBuilder

    def int_attr(self, op: Operation, name: str) -> int:
        return op.attributes[name].value.data  # type: ignore[union-attr]

    def transfer(self, src: Placed, src_core: int, dst_core: int, dst_addr: int, count: int) -> SSAValue:
        route = self.system.route(src_core, dst_core)
        via = [self.builder.sram.allocate([link.dst], count) for link in route[:-1]]
        stride = max(self.system.serialization_cycles(link) for link in route)
        return self.builder.add(NetTransferOp(src.tokens, src_core, src.addr, dst_core, dst_addr, count, stride,
                                              [(l.src, l.dst, l.port) for l in route], via))

    def all_reduce(self, op: AllReduceOp) -> list[SSAValue]:
        group, lay = op.group(), Layout(tuple(op.local_type().get_shape()), self.system.lanes)
        src, dst = self.int_attr(op, SRC_ADDR), self.int_attr(op, ADDR)
        inbox = self.builder.sram.allocate(group, lay.vectors * (len(group) - 1)) if len(group) > 1 else 0
        got: dict[int, list[SSAValue]] = {c: [] for c in group}
        for (offset, count), owner in zip(pieces(lay.vectors, len(group)), group):
            if not count:
                continue
            others = [c for c in group if c != owner]
            total = Placed(src + offset, (op.inputs[group.index(owner)],))
            for slot, sender in enumerate(others):
                box = inbox + slot * lay.vectors + offset
                sent = self.transfer(Placed(src + offset, (op.inputs[group.index(sender)],)), sender, owner, box, count)
                total = Placed(dst + offset, (self.builder.add(VxmOp(
                    owner, count, {"lhs": (total.addr, 1, total.tokens), "rhs": (box, 1, (sent,))},
                    dst=(dst + offset, 1), fields={"op": "add", "lanes": self.system.lanes})),))
            if not others:
                total = Placed(dst + offset, (self.builder.copy(owner, total, dst + offset, count),))
            got[owner].extend(total.tokens)
            for receiver in others:
                got[receiver].append(self.transfer(total, owner, receiver, dst + offset, count))
        return [self.builder.producers(c, tuple(got[c]))[0] for c in group]

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
        inbox = self.builder.sram.allocate(group, stacked.vectors)
        results = []
        for core in group:
            arrived = []
            for k, sender in enumerate(group):
                box, mine = inbox + k * shard.vectors, Placed(src, (op.inputs[k],))
                arrived.append(self.builder.copy(core, mine, box, shard.vectors) if sender == core
                               else self.transfer(mine, sender, core, box, shard.vectors))
            gathered = self.builder.moves(core, plan, self.builder.placed(core, inbox, arrived), dst)
            results.append(gathered.tokens[0])
        return results

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


def lower_collectives(module: ModuleOp) -> None:
    for program in [op for op in module.ops if isinstance(op, ProgramOp)]:
        system = load_system(program.system.data)
        sram = SramTop(module, system)
        for op in [op for op in program.body.block.ops if isinstance(op, CollectiveOp)]:
            block = Block()
            lowering = Collectives(system, ChipBuilder(system, block, sram))
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
        sram.check()
        sram.store(module)


@dataclass(frozen=True)
class LowerCollectivesPass(ModulePass):
    name = "lower-collectives"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        lower_collectives(op)
