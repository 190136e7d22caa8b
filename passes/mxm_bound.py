"""The `mxm_path` lower bound: the critical path of a chip program in which matmul weight tiles
cannot be loaded far ahead of the activations they multiply.

The plain critical path (`schedule.Unlimited`) lets every tile load at cycle 0, so a decode step
pipelined over many chips looks as if the stages' weight loading overlapped; it cannot. A tile
loaded into an MXM plane stays there until every matmul naming it has issued (the runtime pairs
a matmul with the latest load on its plane), and a matmul issues no earlier than its operands
are ready. So take the matmuls S of one chip that an op depends on through their accumulation
chains, and t the least cycle any of them can issue: before t each plane can have loaded at
most one of S's tiles, and the other rows of S's tiles load after t, a row per plane per cycle.
The last of them issues at t + ceil(W / planes) - 1 or later (W: those rows), its tile lands
`mxm_load` cycles on, and its matmul's result `mxm` cycles after that: the op cannot start
earlier. Raising each op's earliest start by that floor and sweeping on as the critical path
does gives a bound no schedule beats, and it sums the stages of a pipeline. The program's end
is floored the same way by all its matmuls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import ceil

from xdsl.ir import Operation, SSAValue

from compiler.system import System
from dialects.chip import ChipInstruction, MxmLoadOp, MxmMatmulOp
from dialects.net import TransferOp
from passes.schedule import Unlimited, list_schedule
from passes.timing import Hop, producers


@dataclass(frozen=True)
class _Chain:
    """An accumulation chain of matmuls up to one of them: the least cycle any can issue, the
    weight rows their tiles load (a tile shared by k matmuls counts 1/k per matmul), and the
    most rows of one tile."""

    first: int
    rows: float
    widest: int


class MxmPathPlacer(Unlimited):
    """Unlimited units and free links, each op no earlier than the tile loads of the matmul
    chains it names allow."""

    def __init__(self, system: System) -> None:
        super().__init__()
        self.planes = system.units["mxm"]
        self.after_load = system.latency["mxm_load"] + system.latency["mxm"]
        self.chains: dict[MxmMatmulOp, _Chain] = {}

    def place_instruction(self, op: ChipInstruction, earliest: int) -> tuple[str, int]:
        if isinstance(op, MxmMatmulOp):
            self.chains[op] = self._chain(op, earliest)
            return super().place_instruction(op, earliest)
        return super().place_instruction(op, max(earliest, self.floor(op.operands)))

    def place_transfer(self, op: TransferOp, hops: Sequence[Hop], earliest: int,
                       floors: Sequence[int] = ()) -> list[int]:
        return super().place_transfer(op, hops, max(earliest, self.floor(op.operands)), floors)

    def _chain(self, op: MxmMatmulOp, earliest: int) -> _Chain:
        load = op.weights[0].owner
        rows = load.count.value.data if isinstance(load, MxmLoadOp) else 0
        users = sum(isinstance(use.operation, MxmMatmulOp) for use in op.weights[0].uses) or 1
        chain = _Chain(earliest, rows / users, rows)
        for acc in op.slot_tokens("acc"):
            before = self.chains.get(acc.owner)  # type: ignore[arg-type]
            # fold in a linear chain only: a prefix shared by two chains would count its rows twice
            if before is not None and acc.has_one_use():
                chain = _Chain(min(chain.first, before.first), chain.rows + before.rows, max(chain.widest, before.widest))
        return chain

    def floor(self, operands: Sequence[SSAValue]) -> int:
        """The least start of an op naming `operands`, by the tile loads of the matmuls it names."""
        per_chip: dict[int, list[_Chain]] = {}
        for producer in producers(operands):
            # chain ends only: a named matmul another one accumulates onto is already in that chain
            if isinstance(producer, MxmMatmulOp) and not _accumulated_onto(producer):
                per_chip.setdefault(producer.core.value.data, []).append(self.chains[producer])
        return max((self._chip_floor(chains) for chains in per_chip.values()), default=0)

    def _chip_floor(self, chains: list[_Chain]) -> int:
        first = min(c.first for c in chains)
        after = sum(c.rows for c in chains) - self.planes * max(c.widest for c in chains)
        if after <= 0:
            return 0
        return first + ceil(after / self.planes) - 1 + self.after_load


def _accumulated_onto(op: MxmMatmulOp) -> bool:
    return any(isinstance(use.operation, MxmMatmulOp) and op.result in use.operation.acc for use in op.result.uses)


def mxm_path_bound(ops: Sequence[Operation], routes: Mapping[TransferOp, Sequence[Hop]], system: System) -> int:
    placer = MxmPathPlacer(system)
    cycles = list_schedule(ops, routes, system, placer).cycles
    # the program ends after every matmul, named by an op or not
    return max(cycles, placer.floor([op.result for op in placer.chains]))
