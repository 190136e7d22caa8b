"""What every algorithm needs to know about one synthesis request, and the
shared assembly steps (symmetric expansion, time reversal, all-reduce)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from compiler.collectives import engine
from compiler.collectives.engine import Net, Symmetry
from compiler.collectives.schedule import Hops

# Budgets on Python-level work: pattern hops a greedy scheduler may place.
TREE_BUDGET = 150_000
ROUTE_BUDGET = 400_000
CHAIN_BUDGET = 1_200_000
# Partial-sum source lists larger than this are not written out (see notes).
SOURCES_BUDGET = 60_000_000


@dataclass
class Plan:
    hops: Hops
    chunk_count: int
    chunk_vectors: int
    notes: dict = field(default_factory=dict)


@dataclass
class Job:
    kind: str
    system: object
    net: Net
    participants: list[int]
    nbytes: int

    def __post_init__(self) -> None:
        self.N = len(self.participants)
        self.vb = self.system.vector_bytes
        self.rank_of = np.full(self.net.n, -1, dtype=np.int64)
        self.rank_of[self.participants] = np.arange(self.N)
        self._sym: Symmetry | None = None

    @property
    def sym(self) -> Symmetry:
        if self._sym is None:
            self._sym = engine.find_symmetry(self.net, self.participants)
        return self._sym

    def trivial(self) -> Symmetry:
        return engine.trivial_symmetry(self.net, self.participants)

    def piece_vectors(self) -> int:
        """Vectors of one rank's piece (all-gather, reduce-scatter, all-to-all)."""
        return max(1, math.ceil(self.nbytes / self.N / self.vb))

    def split(self, vectors: int, max_chunks: int) -> tuple[int, int]:
        """(chunks, vectors per chunk) for `vectors` in at most max_chunks chunks."""
        k = max(1, min(vectors, max_chunks))
        vec = math.ceil(vectors / k)
        return math.ceil(vectors / vec), vec


def tree_all_gather(job: Job, sym: Symmetry, minimal_only: bool, max_chunks: int | None = None) -> Plan:
    """All-gather by greedy broadcast trees on the symmetry's orbit calendars."""
    N, net = job.N, job.net
    per_chunk_hops = max(1, len(sym.reps) * max(1, N - 1))
    cap = max(1, TREE_BUDGET // per_chunk_hops)
    if max_chunks:
        cap = min(cap, max_chunks)
    k, vec = job.split(job.piece_vectors(), cap)
    owners = [r for r in sym.reps for _ in range(k)]
    pattern, _ = engine.tree_greedy(net, sym, owners, vec, job.participants, minimal_only)
    owners_a = np.asarray(owners, dtype=np.int64)
    rank_of = job.rank_of

    def owner_rank(perms, pch):
        return rank_of[perms[:, owners_a[pch]]]

    hops = engine.expand(net, sym, pattern, lambda perms, pch: owner_rank(perms, pch) * k + pch % k,
                         lambda perms, pch: engine.single_sources(owner_rank, perms, pch))
    return Plan(hops, N * k, vec, {"pattern_hops": len(pattern), "symmetry": sym.size})


def chain_plan(job: Job, chains: list[list[int]], vec: int, chunk_ids: np.ndarray, source_ranks: np.ndarray,
               chunk_count: int) -> Plan:
    """Hops of chain_greedy with chunk i = chunk_ids[i] carrying source_ranks[i]."""
    pattern = engine.chain_greedy(job.net, chains, vec)
    net = job.net
    link = np.asarray(pattern.link, dtype=np.int64)
    ci = np.asarray(pattern.chunk, dtype=np.int64)
    end = np.asarray(pattern.end, dtype=np.int64)
    hops = Hops(net.src[link], net.dst[link], net.port[link], np.asarray(pattern.start, dtype=np.int64), end,
                end + net.lat[link], chunk_ids[ci], np.arange(len(link) + 1, dtype=np.int64), source_ranks[ci])
    return Plan(hops, chunk_count, vec)


def reduce_scatter_from(job: Job, ag: Plan) -> Plan | None:
    k = ag.chunk_count // job.N
    owner_chip = np.asarray(job.participants, dtype=np.int64)[np.arange(ag.chunk_count) // k]
    hops = engine.reverse_tree_hops(job.net, ag.hops, owner_chip, job.rank_of)
    if hops is None:
        return None
    return Plan(hops, ag.chunk_count, ag.chunk_vectors, dict(ag.notes))


def full_sum_sources(job: Job, hops: Hops) -> tuple[Hops, dict]:
    """The same hops carrying the full sum (every rank) — written out if it fits."""
    N = job.N
    if len(hops) * N > SOURCES_BUDGET:
        ptr = np.zeros(len(hops) + 1, dtype=np.int64)
        return (Hops(hops.src, hops.dst, hops.port, hops.start, hops.end, hops.arrive, hops.chunk, ptr,
                     np.zeros(0, dtype=np.int64)), {"full_sum_sources_elided": True})
    ptr = np.arange(len(hops) + 1, dtype=np.int64) * N
    idx = np.tile(np.arange(N, dtype=np.int64), len(hops))
    return Hops(hops.src, hops.dst, hops.port, hops.start, hops.end, hops.arrive, hops.chunk, ptr, idx), {}


def all_reduce_from(job: Job, ag: Plan) -> Plan | None:
    """Reduce-scatter (the all-gather turned around) then the all-gather of the
    sums, started as early as the links and the chunks allow."""
    rs = reduce_scatter_from(job, ag)
    if rs is None:
        return None
    second, notes = full_sum_sources(job, ag.hops)
    shift = engine.overlap_shift(job.net, rs.hops, second)
    hops = engine.concat_hops([rs.hops, engine.shift_hops(second, shift)])
    return Plan(hops, ag.chunk_count, ag.chunk_vectors, dict(ag.notes) | notes | {"allgather_shift": shift})
