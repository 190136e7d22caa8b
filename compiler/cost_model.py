"""The partition cost model: which strategy runs a model fastest on a system, and why.

`partition{strategy=auto}` partitions a copy of the normalised module for every candidate
(`tensor` over all chips, `pipeline`, `hybrid` with groups of 2, 4, 8, ... chips, and the
model on one chip) and estimates each from its `part` IR alone, in one pass over the ops:

- an op starts once its operands are ready and its chips are free (a chip runs one op at a
  time: units overlapping inside an op are counted, across ops they are not);
- matmul: weight tiles of lanes x lanes loaded a row per `mxm_load` cycle, one LHS row per
  cycle per tile, spread over the MXM planes (the lowering in passes/chip_builder.py);
- any other op: its result vectors over the VXM units (transcendentals at their latency), SXM
  for data movement; reshapes that keep the layout are free;
- collectives: the binding lower bound of the collective on the links it will use
  (compiler.group_collectives), point-to-point transfers the route's hops;
- memory: the fullest chip's peak as `place` allocates it (passes/place.py `allocate_function`:
  values freed after their last use, their space reused); the lowering's scratch is not estimated
  (`CostModel.fits` says why), and a candidate it overflows is dropped once lowered.

The fastest candidate that fits in SRAM wins; the estimates of all of them are the reason
printed. Estimates rank candidates; the schedule's cycle count is what the program takes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from math import ceil, prod

import numpy as np
from xdsl.dialects.builtin import ModuleOp, TensorType, i8
from xdsl.dialects.func import ReturnOp
from xdsl.ir import Operation, SSAValue

from compiler.errors import LockstepError
from compiler.group_collectives import group_bound_cycles
from compiler.layout import Layout
from compiler.system import System
from dialects import tops
from dialects.part import CHIPS, AllGatherOp, AllReduceOp, SplitOp, TransferOp, chips_of

DATA_MOVEMENT = (tops.SelectOp, tops.TransposeOp, tops.BroadcastOp, tops.ReduceOp, tops.Im2colOp)


@dataclass(frozen=True)
class Estimate:
    strategy: str
    group: int  # chips per tensor-parallel group (hybrid); 0 otherwise
    chips: int
    cycles: int
    sram_bytes: int | None  # the fullest chip; None if not estimated (a faster candidate fits)
    fits: bool | None

    @property
    def label(self) -> str:
        return "one chip" if self.chips == 1 else strategy_name(self.strategy, self.group)

    def describe(self, system: System) -> str:
        us = self.cycles / system.clock_hz * 1e6
        fit = ("" if self.fits is not False else ", did not fit once lowered" if self.sram_bytes is None
               else f", does not fit ({self.sram_bytes / 2**20:.0f} MiB per chip)")
        where = "" if self.chips == 1 else f" on {self.chips}"
        return f"{self.label}{where}: ~{us:.1f} us{fit}"


def strategy_name(strategy: str, group: int) -> str:
    """How a partitioned module names its strategy (`part.strategy`): "hybrid group=8", "tensor", ..."""
    return f"hybrid group={group}" if strategy == "hybrid" else strategy


def candidates(chips: int) -> list[tuple[str, int, int]]:
    """(strategy, group, chips) to try on `chips` chips."""
    if chips == 1:
        return [("replicated", 0, 1)]
    out = [("replicated", 0, 1), ("tensor", 0, chips), ("pipeline", 0, chips)]
    group = 2
    while group < chips:
        if chips % group == 0:
            out.append(("hybrid", group, chips))
        group *= 2
    if chips % 72 == 0 and chips > 72:  # a rack
        out.append(("hybrid", 72, chips))
    return out


def vectors(value: SSAValue, lanes: int) -> int:
    """Vectors of work the value's elements make (an int8 value's too, unpacked)."""
    shape = value.type.get_shape() if isinstance(value.type, TensorType) else ()
    return Layout(tuple(shape), lanes).vectors


@dataclass
class CostModel:
    system: System

    @property
    def lanes(self) -> int:
        return self.system.lanes

    def op_cycles(self, op: Operation) -> int:
        latency, units = self.system.latency, self.system.units
        if isinstance(op, tops.MatmulOp):
            a, b = tops.shape_of(op.lhs), tops.shape_of(op.rhs)
            rows = prod(a[:-1]) if len(b) == 2 else a[-2]
            slices = 1 if len(b) == 2 else prod(b[:-2])
            tiles = slices * ceil(b[-2] / self.lanes) * ceil(b[-1] / self.lanes)
            per_tile = self.lanes * latency["mxm_load"] + rows
            return ceil(tiles * per_tile / units["mxm"]) + latency["mxm"]
        if isinstance(op, (AllReduceOp, AllGatherOp)):
            return self.collective(op)
        if isinstance(op, TransferOp):
            return self.transfer(op)
        if isinstance(op, tops.ReshapeOp) or not op.results:
            return 0
        out = vectors(op.results[0], self.lanes)
        if isinstance(op, DATA_MOVEMENT):
            return ceil(out / units["sxm"]) + latency["sxm"]
        passes = 6 if isinstance(op, (tops.SoftmaxOp, tops.NormOp)) else 1
        return ceil(passes * out / units["vxm"]) + latency["vxm_transcendental"]

    def collective(self, op: AllReduceOp | AllGatherOp) -> int:
        kind = "all-reduce" if isinstance(op, AllReduceOp) else "all-gather"
        nbytes = 4 * self.lanes * vectors(op.outputs[0], self.lanes)
        groups = op.subgroups() if isinstance(op, AllReduceOp) else [op.group()]
        return max(group_bound_cycles(kind, self.system, nbytes, group) for group in groups)

    def transfer(self, op: TransferOp) -> int:
        vecs = vectors(op.inputs[0], self.lanes)
        worst = 0
        for src, dst in zip(op.group(), op.destinations()):
            route = self.system.route(src, dst)
            hops = sum(self.system.serialization_cycles(l) + self.system.hop_latency(l) for l in route)
            ser = max((self.system.serialization_cycles(l) for l in route), default=0)
            worst = max(worst, hops + (vecs - 1) * ser)
        return worst

    def estimate(self, module: ModuleOp, strategy: str, group: int, chips: int) -> Estimate:
        top = self.peak_vectors(module) * self.system.vector_bytes
        return Estimate(strategy, group, chips, self.cycles(module), top, self.fits(top))

    def fits(self, sram_bytes: int) -> bool:
        """Whether what `place` allocates fits. The lowering's scratch vectors (softmax and reduction
        temporaries, window copies, transfer buffers) come on top and are not estimated: measured 9%
        over `place`'s peak for BERT-Large (24 layers, int8) pipelined on 8 chips, 21% for the small
        examples/models/bert_layer.onnx on 4, but 0.1% for 4 Llama-2-70B decode layers in a group of
        32 (their weights and KV cache are no op's temporaries). No fixed margin suits both, so a
        candidate whose scratch overflows is dropped once lowered (`compile_model`) instead."""
        return sram_bytes <= self.system.sram_bytes

    def cycles(self, module: ModuleOp) -> int:
        """One op at a time per chip, each as soon as its operands and its chips are free."""
        ready: dict[SSAValue, int] = {}
        free = np.zeros(self.system.chips, dtype=np.int64)
        for op in _ops(module):
            if isinstance(op, ReturnOp) or CHIPS not in op.attributes:
                continue
            where = list(chips_of(op))
            if isinstance(op, (tops.ConstantOp, SplitOp)):
                ready.update(dict.fromkeys(op.results, 0))
                continue
            start = max([ready.get(v, 0) for v in op.operands] + [int(free[where].max())])
            end = start + self.op_cycles(op)
            free[where] = end
            ready.update(dict.fromkeys(op.results, end))
        return int(max(ready.values(), default=0))

    def peak_vectors(self, module: ModuleOp) -> int:
        """The fullest chip's peak SRAM as `place` will allocate it, before the lowering's scratch."""
        from passes.place import (
            allocate_function,  # (place imports partition, which imports this)
        )

        return max(allocate_function(module, self.system).sram.top)




def _ops(module: ModuleOp) -> Iterable[Operation]:
    from passes.partition import main_function

    return main_function(module).body.block.ops


def _has_int8(module: ModuleOp) -> bool:
    return any(isinstance(op, tops.ConstantOp) and op.result.type.get_element_type() == i8 for op in _ops(module))


def choose(module: ModuleOp, system: System, chips: int,
           partition: Callable[[ModuleOp, str, int, int], None],
           dropped: Collection[str] = ()) -> tuple[Estimate, list[Estimate]]:
    """The fastest candidate that fits and every estimate (the fastest that fits first, then the slower ones,
    whose memory is not estimated, then those that do not fit);
    `partition(copy, strategy, group, chips)` partitions a copy of the module in place; candidates
    whose `strategy_name` is in `dropped` did not fit once lowered. Raises when none fits, naming the least
    hungry and by how much it overflows."""
    model = CostModel(system)

    def partitioned(strategy: str, group: int, n: int) -> ModuleOp:
        copy = module.clone()
        partition(copy, strategy, group, n)
        return copy

    # Memory (an allocation per candidate, the dearer half) only until the fastest that fits.
    timed = sorted((model.cycles(partitioned(*c)), c) for c in candidates(chips))
    estimates, found = [], False
    for cycles, (strategy, group, n) in timed:
        if strategy_name(strategy, group) in dropped:
            estimates.append(Estimate(strategy, group, n, cycles, None, False))
            continue
        top = None if found else model.peak_vectors(partitioned(strategy, group, n)) * system.vector_bytes
        fits = None if top is None else model.fits(top)
        found = found or bool(fits)
        estimates.append(Estimate(strategy, group, n, cycles, top, fits))
    estimates.sort(key=lambda e: (e.fits is False, e.sram_bytes is None if e.fits is False else False,
                                  e.cycles if e.fits is not False else e.sram_bytes or 0))
    if not estimates[0].fits:
        lowered = [e.label for e in estimates if e.sram_bytes is None]
        parts = [f"{', '.join(lowered)} fitted until lowered, with the lowering's scratch"] if lowered else []
        if (least := estimates[0]).sram_bytes is not None:
            need, have = least.sram_bytes / 2**20, system.sram_bytes / 2**20
            parts.insert(0, f"the least hungry, {least.label}, needs {need:.2f} MiB per chip before the lowering's "
                            f"scratch, of {have:.2f} MiB (over by {need - have:.2f} MiB)")
        raise LockstepError(
            f"the model does not fit in SRAM on {chips} chip{'s' * (chips != 1)} in any partition: "
            + "; ".join(parts) + "; use more chips" + ("" if _has_int8(module) else " or --weights int8")
        )
    return estimates[0], estimates
