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

S can be any set of matmuls the op must wait for. Two are used: the chains the op names itself
(on whichever chip), and every chain on the op's own chip it depends on through ops of that chip,
however indirectly. The second is what makes independent matmuls that share the planes add up:
a layer's q, k and v projections each name only x, but the attention after them waits for all
three, so their rows share the same four planes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import ceil

from compiler.system import System
from dialects.chip import MxmMatmulOp
from passes.schedule import Step, Unlimited, list_schedule
from passes.timing import Kind


@dataclass(frozen=True, slots=True)
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

    def __init__(self, system: System, steps: Sequence[Step]) -> None:
        super().__init__()
        self.planes = system.units["mxm"]
        self.after_load = system.latency["mxm_load"] + system.latency["mxm"]
        self.steps = steps
        self.chains: dict[int, _Chain] = {}  # by matmul step
        self.accumulates = {step.index: _accumulates(step) for step in steps if step.multiplies}
        onto = {dep for accs in self.accumulates.values() for dep, _ in accs}
        self.ends = [step.multiplies and step.index not in onto for step in steps]  # chain ends
        self.named = self._named_chain_ends()
        self.on_chip: dict[int, list[int]] = {}  # per chip, its chain ends in program order
        self.chips = [_chip(step) for step in steps]
        self.upstream = self._upstream_chain_ends()
        self.floors: dict[tuple[int, int], int] = {}  # (chip, upstream set) -> its floor

    def _named_chain_ends(self) -> list[tuple[int, ...]]:
        """Per step, the chain ends among the matmuls it names (sorted), looking through joins
        (which the steps before it already resolved): a named matmul another one accumulates onto
        is already in that chain. Tuples, the empty one shared: a set per step took more memory
        than the step."""
        named: list[tuple[int, ...]] = []
        for step in self.steps:
            found: set[int] = set()
            for dep in step.deps:
                if self.steps[dep].kind is Kind.JOIN:
                    found.update(named[dep])
                elif self.ends[dep]:
                    found.add(dep)
            named.append(tuple(sorted(found)) if found else ())
        return named

    def _upstream_chain_ends(self) -> list[int]:
        """Per step, the chain ends on its chip it depends on through ops of that chip, as a bitset
        over that chip's chain ends (bit k: `on_chip[chip][k]`)."""
        upstream: list[int] = []
        bit: dict[int, int] = {}
        chips = self.chips
        for step in self.steps:
            chip, found = chips[step.index], 0
            for dep in step.deps:
                if chips[dep] == chip:
                    found |= upstream[dep] | bit.get(dep, 0)
            if self.ends[step.index]:
                ends = self.on_chip.setdefault(chip, [])
                bit[step.index] = 1 << len(ends)
                ends.append(step.index)
            upstream.append(found)
        return upstream

    def place_instruction(self, step: Step, earliest: int) -> tuple[str, int]:
        earliest = max(earliest, self.upstream_floor(step))
        if step.multiplies:
            self.chains[step.index] = self._chain(step, earliest)
            return super().place_instruction(step, earliest)
        return super().place_instruction(step, max(earliest, self.floor(self.named[step.index])))

    def place_transfer(self, step: Step, earliest: int, floors: Sequence[int] = ()) -> list[int]:
        earliest = max(earliest, self.floor(self.named[step.index]), self.upstream_floor(step))
        return super().place_transfer(step, earliest, floors)

    def upstream_floor(self, step: Step) -> int:
        """The floor of every chain on the step's chip it depends on (those all precede it in
        program order, so their chains are complete)."""
        bits = self.upstream[step.index]
        if not bits:
            return 0
        key = (self.chips[step.index], bits)
        if (found := self.floors.get(key)) is None:
            ends = self.on_chip[key[0]]
            chains = [self.chains[ends[k]] for k in range(bits.bit_length()) if bits >> k & 1]
            found = self.floors[key] = self._chip_floor(chains)
        return found

    def _chain(self, step: Step, earliest: int) -> _Chain:
        op: MxmMatmulOp = step.op  # type: ignore[assignment]
        rows = self.steps[step.tile].count if step.tile >= 0 else 0
        weights = op.operands[0]  # the one token of the first operand group (see `Step.tile`)
        users = sum(isinstance(use.operation, MxmMatmulOp) for use in weights.uses) or 1
        chain = _Chain(earliest, rows / users, rows)
        for dep, only_use in self.accumulates[step.index]:
            before = self.chains.get(dep)
            # fold in a linear chain only: a prefix shared by two chains would count its rows twice
            if before is not None and only_use:
                chain = _Chain(min(chain.first, before.first), chain.rows + before.rows, max(chain.widest, before.widest))
        return chain

    def floor(self, ends: tuple[int, ...]) -> int:
        """The least start of an op naming the chain ends `ends`, by the tile loads of their matmuls."""
        per_chip: dict[int, list[_Chain]] = {}
        for end in ends:
            per_chip.setdefault(self.steps[end].chip, []).append(self.chains[end])
        return max((self._chip_floor(chains) for chains in per_chip.values()), default=0)

    def _chip_floor(self, chains: list[_Chain]) -> int:
        first = min(c.first for c in chains)
        after = sum(c.rows for c in chains) - self.planes * max(c.widest for c in chains)
        if after <= 0:
            return 0
        return first + ceil(after / self.planes) - 1 + self.after_load


def _chip(step: Step) -> int:
    """The chip whose ops a step follows: a transfer's source, a join's own chip."""
    if step.kind is Kind.TRANSFER:
        return step.hops[0].link.src
    if step.kind is Kind.INSTRUCTION:
        return step.chip
    return step.op.core.value.data  # type: ignore[attr-defined]


def _accumulates(step: Step) -> list[tuple[int, bool]]:
    """The steps a matmul's acc operand names, each with whether the matmul is its value's only use
    (read once per matmul: the operand-group accessor is slow)."""
    op: MxmMatmulOp = step.op  # type: ignore[assignment]
    dep_of = dict(zip(op.operands, step.deps))
    return [(dep_of[acc], acc.has_one_use()) for acc in op.acc]


def mxm_path_bound(steps: Sequence[Step], system: System) -> int:
    placer = MxmPathPlacer(system, steps)
    cycles = list_schedule(steps, placer, keep=False).cycles
    # the program ends after every matmul, named by an op or not
    return max(cycles, placer.floor(frozenset(i for i in placer.chains if placer.ends[i])))
