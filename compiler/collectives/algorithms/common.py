"""What every algorithm needs to know about one synthesis request, and the
shared assembly steps (symmetric expansion, time reversal, all-reduce)."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from compiler.collectives import engine
from compiler.collectives.engine import Net, Symmetry
from compiler.collectives.schedule import Hops, ptr_slices

# Budgets on Python-level work: pattern hops a greedy scheduler may place.
TREE_BUDGET = 150_000
ROUTE_BUDGET = 400_000
CHAIN_BUDGET = 1_200_000


@dataclass
class Trees:
    """A tree_greedy pattern and what it takes to expand or reverse it."""

    sym: Symmetry
    pattern: engine.Pattern
    parent: np.ndarray  # (pattern chunks, chips): who sent the chunk to the chip, -1 for none
    owners: np.ndarray  # the chip each pattern chunk starts on
    chunk_of: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (perms, pattern chunks) -> (G, P) chunk ids


@dataclass
class Plan:
    hops: Hops
    chunk_count: int
    chunk_vectors: int
    notes: dict = field(default_factory=dict)
    trees: Trees | None = None  # set by tree all-gathers: lets reduce-scatter reverse the small pattern


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
    pattern, parent = engine.tree_greedy(net, sym, owners, vec, job.participants, minimal_only)
    owners_a = np.asarray(owners, dtype=np.int64)
    rank_of = job.rank_of

    def owner_rank(perms, pch):
        return rank_of[perms[:, owners_a[pch]]]

    def chunk_of(perms, pch):
        return owner_rank(perms, pch) * k + pch % k

    hops = engine.expand(net, sym, pattern, chunk_of, lambda perms, pch: engine.single_sources(owner_rank, perms, pch))
    return Plan(hops, N * k, vec, {"pattern_hops": len(pattern), "symmetry": sym.size},
                Trees(sym, pattern, parent, owners_a, chunk_of))


def chain_plan(job: Job, chains: list[list[int]], vec: int, chunk_ids: np.ndarray, source_ranks: np.ndarray,
               chunk_count: int) -> Plan:
    """Hops of chain_greedy with chunk i = chunk_ids[i] carrying source_ranks[i]."""
    pattern = engine.chain_greedy(job.net, chains, vec)
    net = job.net
    link = np.asarray(pattern.link, dtype=np.int64)
    ci = np.asarray(pattern.chunk, dtype=np.int64)
    end = np.asarray(pattern.end, dtype=np.int64)
    hops = Hops(net.src[link], net.dst[link], net.port[link], np.asarray(pattern.start, dtype=np.int64), end,
                end + net.lat[link], chunk_ids[ci], *ptr_slices(np.arange(len(link) + 1)), source_ranks[ci])
    return Plan(hops, chunk_count, vec)


def reversed_trees(job: Job, trees: Trees) -> tuple[engine.Pattern, np.ndarray, np.ndarray] | None:
    """The reduction that mirrors a tree all-gather: the pattern turned around
    (engine.reverse_pattern), each hop carrying the ranks of its subtree.
    Returns the reversed pattern and the sources (ptr, idx) of its copies by the
    group (copy g of pattern hop p is hop g * len(pattern) + p)."""
    got = engine.reverse_pattern(job.net, trees.pattern, trees.parent, trees.owners)
    if got is None:
        return None
    rev, ptr, chips = got
    return subtree_sources(job, trees.sym, rev, ptr, chips)


def subtree_sources(job: Job, sym: Symmetry, pattern: engine.Pattern, ptr: np.ndarray, chips: np.ndarray
                    ) -> tuple[engine.Pattern, np.ndarray, np.ndarray]:
    """Pattern hop i carries the partial sum of chips[ptr[i]:ptr[i+1]] (pattern
    coordinates): the sources (ptr, idx) of its copies by the group (copy g of pattern
    hop p is hop g * len(pattern) + p), in ranks. Hops that carry relay chips
    only are dropped from the pattern."""
    perms = sym.perms
    ranks = job.rank_of[perms[:, chips]]  # (G, entries)
    if (ranks < 0).any():
        # relay chips carry no contribution; only without a symmetry (G == 1) can there be any
        assert len(perms) == 1, "a symmetric schedule has every chip taking part"
        keep = ranks[0] >= 0
        hop = np.searchsorted(ptr, np.arange(len(chips)), side="right") - 1
        counts = np.bincount(hop[keep], minlength=len(pattern))
        live = counts > 0
        ranks = ranks[:, keep]
        ptr = np.concatenate([[0], np.cumsum(counts[live])]).astype(np.int64)
        kept = engine.Pattern()
        for i in np.flatnonzero(live).tolist():
            kept.add(pattern.link[i], pattern.start[i], pattern.end[i], pattern.chunk[i])
        pattern = kept
    G, S = ranks.shape
    sptr = np.concatenate([(ptr[:-1][None, :] + S * np.arange(G, dtype=np.int64)[:, None]).ravel(), [G * S]])
    return pattern, sptr, ranks.ravel()


def reduce_scatter_from(job: Job, ag: Plan) -> Plan | None:
    if ag.trees is not None:
        got = reversed_trees(job, ag.trees)
        if got is None:
            return None
        rev, sptr, sidx = got
        hops = engine.expand(job.net, ag.trees.sym, rev, ag.trees.chunk_of, lambda perms, pch: (sptr, sidx))
        return Plan(hops, ag.chunk_count, ag.chunk_vectors, dict(ag.notes))
    k = ag.chunk_count // job.N
    owner_chip = np.asarray(job.participants, dtype=np.int64)[np.arange(ag.chunk_count) // k]
    hops = engine.reverse_tree_hops(job.net, ag.hops, owner_chip, job.rank_of)
    if hops is None:
        return None
    return Plan(hops, ag.chunk_count, ag.chunk_vectors, dict(ag.notes))


def full_sum_sources(job: Job, hops: Hops) -> tuple[Hops, dict]:
    """The same hops carrying the full sum (every rank): `all_sources`, no list."""
    empty = np.zeros(len(hops), dtype=np.int64)
    return (Hops(hops.src, hops.dst, hops.port, hops.start, hops.end, hops.arrive, hops.chunk, empty, empty,
                 np.zeros(0, dtype=np.int32), np.ones(len(hops), dtype=bool)), {})


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


# -- all-reduce by reduction and broadcast trees, chunked to fit the buffer -------

# Pattern hops the all-reduce's tree_greedy may place (its pattern is reversed too).
AR_TREE_BUDGET = 30_000
# A coarser group (fewer pattern hops) is preferred while it wastes at most this much more wire.
AR_PAD_TOLERANCE = 0.005


def all_reduce_chunkings(job: Job) -> list[tuple[tuple[int, ...] | None, int, int, int]]:
    """Candidate (strides of the subgroup or None for the whole group, group
    order h, pattern chunks m, vectors per chunk v) for an all-reduce of Q
    vectors, the most promising first.

    The chunks of a symmetric schedule come in orbits of the group's order h,
    so an all-gather of N equal pieces (the reduce-scatter's ownership) pads
    Q to N * ceil(Q / N), 25 % at 1024 chips and 1 MiB. The all-reduce only
    needs every chunk summed everywhere, so it takes m pattern chunks of v
    vectors with C = m * h * v >= Q, h the order of a subgroup of the wiring's
    symmetry, and v as small as a pattern of about m (N - 1) hops within
    AR_TREE_BUDGET allows. Score, in vector times: C (N - 1) / links (each
    link's share of the wire) plus D * v (a chunk crosses the diameter D, each
    hop v vectors long): coarse chunks lengthen the trees' pipeline fill.
    Among scores within AR_PAD_TOLERANCE the larger group wins (a smaller
    pattern). The whole group follows as a second candidate: on small
    buffers its padding costs less than a pattern with less symmetry loses."""
    Q = max(1, math.ceil(job.nbytes / job.vb))
    N = job.N
    net = job.net
    mmax = max(1, AR_TREE_BUDGET // max(1, N - 1))
    sym = job.sym
    parts = np.asarray(job.participants, dtype=np.int64)
    D = int(net.dist[parts[0], parts].max()) if N > 1 else 0
    options: list[tuple[tuple[int, ...] | None, int]] = [(None, sym.size)]
    for strides in engine.subgroups(sym):
        h = math.prod(d // st for d, st in zip(sym.shape, strides))
        if h != sym.size:
            options.append((strides, h))
    scored = []
    for strides, h in options:
        v = max(1, math.ceil(Q / (h * mmax)))
        m = math.ceil(Q / (h * v))
        spread = max(strides) if strides else 1
        scored.append((m * h * v * (N - 1) / max(1, len(net)) + D * v, -h, spread, strides, h, m, v))
    best = min(sc[0] for sc in scored)
    ok = [sc for sc in scored if sc[0] <= best * (1 + AR_PAD_TOLERANCE)]
    first = min(ok, key=lambda sc: (sc[1], sc[2], sc[0]))
    out = [first[3:]]
    if first[3] is not None:
        out.append(scored[0][3:])  # the whole group
    return out


def chunk_owners(job: Job, strides, m: int) -> tuple[engine.Symmetry, list[int]]:
    """The symmetry group the chunks are dealt over (a subgroup for strided chunkings) and the
    chip owning each of the `m` chunks' sums: the group's representatives, round robin when
    there are more chunks than representatives, in blocks otherwise."""
    sym = job.sym if strides is None else engine.subgroup(job.net, job.sym, strides)
    reps = list(sym.reps)
    R = len(reps)
    return sym, [reps[i % R] for i in range(m)] if m >= R else [reps[(i * R) // m] for i in range(m)]


def all_reduce_chunking(job: Job) -> tuple[tuple[int, ...] | None, int, int, int]:
    """The most promising of all_reduce_chunkings."""
    return all_reduce_chunkings(job)[0]


def _span(net: Net, pattern: engine.Pattern) -> int:
    if not len(pattern):
        return 0
    return int((np.asarray(pattern.end, dtype=np.int64) + net.lat[np.asarray(pattern.link, dtype=np.int64)]).max())


# tree_all_reduce: the spreads of the chunks' release at their owners tried, in hops (vec * ser + lat).
AR_RELEASE_SPREADS = (0, 2, 4)


def _release(m: int, spread: int) -> list[int] | None:
    """Chunk c at its owner from cycle spread * frac(c * golden ratio): evenly spread, mixed over the owners."""
    if spread <= 0:
        return None
    phi = (math.sqrt(5) - 1) / 2
    return [int(spread * ((c * phi) % 1.0)) for c in range(m)]


def tree_all_reduce(job: Job, minimal_only: bool) -> Plan | None:
    """All-reduce as reduction trees then broadcast trees of one tree_greedy
    pattern, on a subgroup of the symmetry chosen so the chunks hold the
    buffer with little padding (all_reduce_chunkings; each candidate is
    scheduled as a pattern, and the quickest is expanded): the pattern turned
    around sums every chunk at its owner, then its broadcast hops go on the
    same orbit calendars, each as early as its tree and the calendars allow
    (engine.retime_many: a chunk's broadcast starts when its sum is done).

    A reduction that is an all-gather turned around ends, as that all-gather
    began, with every chunk at once: every owner gets its last partial sums
    in the same few cycles, so no broadcast can start before the links have
    idled a hop latency. Spreading the chunks' release at their owners in the
    all-gather (tree_greedy's `release`, over AR_RELEASE_SPREADS hops) makes
    the reduction finish chunk by chunk, and the first broadcasts fill that
    gap (Dragonfly a=16, h=4, g=65, 1 MiB: 9168 -> 8682 cycles). Each spread
    is tried on the first chunking (greedy-shortest, a baseline, keeps 0).

    (Splitting the chunks into waves whose reduction overlaps the previous
    wave's broadcast was tried and lost: a tree_greedy run of a fraction of
    the chunks is less dense, and its trees, being shaped by contention, are
    deep, so retimed alone they do not finish any sooner.)

    A limit of any reduce-then-broadcast schedule (owner_floor.py): a
    chunk's sum forms at one chip x from every rank's contribution and then
    travels to every rank, at least ecc(x) hops in and ecc(x) out, and around
    the cycle it forms the chunk keeps few links busy. On a 32x32 torus at
    1 MiB no such schedule takes fewer than 35801 cycles (the chain alone:
    33728), 0.910 of the all-reduce ramp bound, whatever the chunking."""
    net = job.net
    best = None
    hop = int((net.ser + net.lat).min()) if len(net) else 0
    for n_cand, (strides, h, m, vec) in enumerate(all_reduce_chunkings(job)):
        sym, owners = chunk_owners(job, strides, m)
        owners_a, G = np.asarray(owners, dtype=np.int64), sym.size

        def chunk_of(perms, pch, G=G):
            return pch[None, :] * G + np.arange(len(perms), dtype=np.int64)[:, None]

        spreads = AR_RELEASE_SPREADS if n_cand == 0 and not minimal_only else (0,)
        for spread in spreads:
            release = _release(m, spread * (hop + (vec - 1) * int(net.ser.min())))
            pattern, parent = engine.tree_greedy(net, sym, owners, vec, job.participants, minimal_only, release)
            got = reversed_trees(job, Trees(sym, pattern, parent, owners_a, chunk_of))
            if got is None:
                return None
            rev, sptr, sidx = got
            (up, down), _ = engine.retime_many(net, sym, {}, [(rev, True, 0), (pattern, False, _span(net, rev))],
                                               owners_a)
            span = max(_span(net, up), _span(net, down))
            if best is None or span < best[0]:
                best = (span, sym, up, down, sptr, sidx, chunk_of, m, vec, strides, len(pattern), spread)
    _, sym, up, down, sptr, sidx, chunk_of, m, vec, strides, size, spread = best
    hops = engine.concat_hops([engine.expand(net, sym, up, chunk_of, lambda perms, pch: (sptr, sidx)),
                               engine.expand(net, sym, down, chunk_of, lambda perms, pch: None)])
    return Plan(hops, m * sym.size, vec, {"pattern_hops": 2 * size, "symmetry": sym.size, "subgroup_strides": strides,
                                          "release_spread_hops": spread,
                                          "padding": m * sym.size * vec / max(1, math.ceil(job.nbytes / job.vb)) - 1})


# pipelined_all_reduce: (release spread of the trees' all-gather in hops, rank weight) pairs tried, best kept
AR_PIPELINE_TRIES = ((0, 0.5), (0, 0.1), (6, 0.4), (6, 0.1), (0, 0.0))
# A fresh sum's broadcast goes before reduction hops while at most N / AR_RAMP_SHARE chips hold it.
AR_RAMP_SHARE = 10
# pipelined_all_reduce stops trying once within this factor of the mean orbit load plus a hop latency.
AR_GOOD_ENOUGH = 1.015


def pipelined_all_reduce(job: Job) -> Plan | None:
    """All-reduce as one link-centric schedule of reduction and broadcast
    (engine.tree_greedy with an engine.Reduction): the sums flow up the trees
    of a tree_greedy all-gather turned around, chunk after chunk, and each
    chunk's broadcast starts as soon as its sum is complete, on the same
    orbit calendars, while later chunks are still being summed. Chunked as
    tree_all_reduce (all_reduce_chunkings' first pick).

    Two knobs change the schedule in ways no cheap estimate predicts, so the
    pairs in AR_PIPELINE_TRIES are all scheduled and the quickest kept: the
    release spread of the all-gather whose trees are used (staggered chunks
    give shallower trees, a dense start better balanced ones) and the weight
    of the chunk order against the depth in the reduction's priority (chunks
    in order let broadcasts start early; depth first sums everything sooner,
    which a big torus needs: there every sum takes half the schedule, see
    tree_all_reduce; weight 0, depth only, is last: torus 32x32, 1 MiB,
    36934 cycles against 37076 for the best of the others). A try whose
    schedule keeps every orbit busy nearly all the time (AR_GOOD_ENOUGH)
    ends the search; `packed` in the notes says whether the kept one does.
    Dragonfly a=16, h=4, g=65, 1 MiB: 7445 cycles against 8629 for
    tree_all_reduce (there the schedule is within a hop latency of its
    busiest link orbit: what is left is padding, 3 %, and uneven orbit
    loads, 1.3 %); torus 16x16: 32316 against 33346.
    None if a link of the trees has no like twin."""
    net = job.net
    strides, _h, m, vec = all_reduce_chunkings(job)[0]
    sym, owners = chunk_owners(job, strides, m)
    owners_a, G = np.asarray(owners, dtype=np.int64), sym.size
    hop = int((net.ser + net.lat).min()) if len(net) else 0
    ramp = max(1, job.N // AR_RAMP_SHARE)
    gathers: dict[int, tuple[engine.Pattern, np.ndarray]] = {}
    best = None
    tried = {}
    for spread, weight in AR_PIPELINE_TRIES[:1] if m == 1 else AR_PIPELINE_TRIES:  # one chunk: nothing to order
        if spread not in gathers:
            release = _release(m, spread * (hop + (vec - 1) * int(net.ser.min())))
            gathers[spread] = engine.tree_greedy(net, sym, owners, vec, job.participants, release=release)
        ag, ag_parent = gathers[spread]
        try:
            red = engine.Reduction(net, sym, ag, owners, job.participants, vec, weight)
        except ValueError:
            return None  # a link without a like twin: the trees cannot be turned around
        down, _ = engine.tree_greedy(net, sym, owners, vec, job.participants, reduction=red, ramp=ramp)
        span = max(_span(net, red.pattern), _span(net, down))
        tried[f"{spread},{weight}"] = span
        busy = sum(e - s for p in (red.pattern, down) for s, e in zip(p.start, p.end))
        packed = span <= AR_GOOD_ENOUGH * (busy / max(1, sym.n_orbits) + int(net.lat.min()))
        if best is None or span < best[0]:
            best = (span, red, down, ag_parent, spread, weight, packed)
        if packed:
            break  # no orbit idles much: other trees cannot gain enough
    span, red, down, ag_parent, spread, weight, packed = best
    ptr, chips = engine.subtree_chips(ag_parent, owners_a, np.asarray(red.pattern.chunk, dtype=np.int64),
                                      np.asarray(red.child, dtype=np.int64))
    up, sptr, sidx = subtree_sources(job, sym, red.pattern, ptr, chips)

    def chunk_of(perms, pch):
        return pch[None, :] * G + np.arange(len(perms), dtype=np.int64)[:, None]

    hops = engine.concat_hops([engine.expand(net, sym, up, chunk_of, lambda perms, pch: (sptr, sidx)),
                               engine.expand(net, sym, down, chunk_of, lambda perms, pch: None)])
    return Plan(hops, m * G, vec, {"pattern_hops": len(up) + len(down), "symmetry": G, "subgroup_strides": strides,
                                   "release_spread_hops": spread, "rank_weight": weight, "tried": tried,
                                   "packed": packed,
                                   "padding": m * G * vec / max(1, math.ceil(job.nbytes / job.vb)) - 1})


def gather_all_reduce(job: Job) -> Plan:
    """All-reduce by gathering: every chip's whole contribution is broadcast
    to every other chip (tree_greedy trees, copied by the symmetry) and each
    chip adds up what it receives. N / 2 times the traffic of reduction and
    broadcast trees, but no sum waits for a reduction to cross the network
    before its broadcast crosses it again: for a buffer of a few vectors that
    is the quicker (fc:8, one vector: 527 cycles, the latency bound, against
    1054; torus 8x8: 4216, again the bound)."""
    net, sym, N = job.net, job.sym, job.N
    total = max(1, math.ceil(job.nbytes / job.vb))
    k, vec = job.split(total, max(1, TREE_BUDGET // max(1, len(sym.reps) * (N - 1))))
    owners = [r for r in sym.reps for _ in range(k)]
    pattern, _ = engine.tree_greedy(net, sym, owners, vec, job.participants)
    owners_a = np.asarray(owners, dtype=np.int64)
    rank_of = job.rank_of

    def owner_rank(perms, pch):
        return rank_of[perms[:, owners_a[pch]]]

    def chunk_of(perms, pch):
        return np.broadcast_to(pch % k, (len(perms), len(pch)))

    hops = engine.expand(net, sym, pattern, chunk_of, lambda perms, pch: engine.single_sources(owner_rank, perms, pch))
    return Plan(hops, k, vec, {"pattern_hops": len(pattern), "symmetry": sym.size, "gathered": True})


def gather_is_promising(job: Job) -> bool:
    """Could gathering (every chip receives N - 1 whole buffers) beat summing
    up trees and broadcasting down them (the network crossed twice)? Yes when
    a chip's share of the gathered data, spread over its links in, takes
    less than twice crossing the network's diameter."""
    net, N = job.net, job.N
    if N < 2 or not len(net):
        return False
    parts = np.asarray(job.participants, dtype=np.int64)
    diameter = int(net.dist[np.ix_(parts, parts)].max())
    links_in = max(1, int(np.bincount(net.dst, minlength=net.n)[parts].min()))
    total = max(1, math.ceil(job.nbytes / job.vb))
    return (N - 1) * total * int(net.ser.max()) / links_in < 2 * diameter * int((net.ser + net.lat).min())
