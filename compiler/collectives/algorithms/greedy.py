"""Greedy time-expanded scheduling on link calendars (TACOS-like), on the
symmetry's orbit calendars when the wiring has one.

all-gather: link-centric broadcast trees (least-replicated chunk first, then
farthest chip first), over every link or, for the `greedy-shortest` baseline,
only links leading away from the chunk's owner. all-to-all: every piece routed
hop by hop on the link that lands it earliest, minimal links only for the
baseline, up to `slack` detour hops otherwise; `greedy` routes on paths chosen
to balance the link orbits first (engine.balanced_paths), and on a Dragonfly
on one-global-link paths injected in an order that feeds every global link
evenly (_dragonfly_all_to_all). broadcast: pipelined trees from rank 0.
all-reduce (`greedy`; the baseline's is common.tree_all_reduce): all_reduce
picks among the tree, gathering and Dragonfly algorithms of common.py and
hierarchical.py."""
from __future__ import annotations

import math

import numpy as np

from compiler.collectives import engine
from compiler.collectives.algorithms import hierarchical
from compiler.collectives.algorithms.common import (ROUTE_BUDGET, TREE_BUDGET, Job, Plan, gather_all_reduce,
                                                    gather_is_promising, pipelined_all_reduce, tree_all_gather,
                                                    tree_all_reduce)
from compiler.collectives.owner_floor import chain_floor


def all_gather(job: Job, minimal_only: bool = False) -> Plan:
    return tree_all_gather(job, job.sym, minimal_only)


def all_reduce(job: Job) -> Plan | None:
    """The quickest of: for a buffer of a few vectors, gathering every chip's
    contribution (common.gather_all_reduce, where promising) and the
    three-hop Dragonfly all-reduce (hierarchical.py); if neither beats the
    least any sum-then-broadcast can take (its chain,
    owner_floor.chain_floor), pipelined_all_reduce, and tree_all_reduce
    too when the pipelined schedule leaves orbits idle (where crossing the
    network dominates, as with few vectors or on a big torus, its mirrored
    timing can pack tighter: torus 4x4, 51 vectors: 4228 cycles against
    4897)."""
    total = max(1, math.ceil(job.nbytes / job.vb))
    floor = chain_floor(job.net, job.participants)
    small = [gather_all_reduce(job) if gather_is_promising(job) else None]
    if hierarchical.applies(job) and 2 * total * int(job.net.ser.max()) < floor:
        small.append(hierarchical.all_reduce(job))
    small = [p for p in small if p is not None]
    if small and min(map(_cycles, small)) <= floor:
        return min(small, key=_cycles)
    plans = [pipelined_all_reduce(job)]
    if plans[0] is None or not plans[0].notes["packed"]:
        plans.append(tree_all_reduce(job, minimal_only=False))
    plans = [p for p in plans + small if p is not None]
    return min(plans, key=_cycles) if plans else None


def _cycles(plan: Plan) -> int:
    return int(plan.hops.arrive.max()) if len(plan.hops) else 0


def broadcast(job: Job, minimal_only: bool = False) -> Plan:
    net, N = job.net, job.N
    root = job.participants[0]
    total = max(1, math.ceil(job.nbytes / job.vb))
    k, vec = job.split(total, max(1, TREE_BUDGET // max(1, N - 1)))
    pattern, _ = engine.tree_greedy(net, job.trivial(), [root] * k, vec, job.participants, minimal_only)
    sym = engine.trivial_symmetry(net)
    hops = engine.expand(net, sym, pattern, lambda perms, pch: pch[None, :],
                         lambda perms, pch: (np.arange(len(pch) + 1, dtype=np.int64), np.zeros(len(pch), dtype=np.int64)))
    return Plan(hops, k, vec, {"pattern_hops": len(pattern)})


def all_to_all(job: Job, slack: int = 0, balanced: bool = False, power: float | None = None) -> Plan:
    net, N, sym = job.net, job.N, job.sym
    reps = sym.reps
    parts = np.asarray(job.participants, dtype=np.int64)
    avg = float(net.dist[np.ix_(reps, parts)].mean()) or 1.0
    cap = max(1, int(ROUTE_BUDGET / max(1.0, len(reps) * N * avg)))
    k, vec = job.split(job.piece_vectors(), cap)
    psrc, pdst, pj = [], [], []
    for r in reps:
        for d in job.participants:
            if d != r:
                for j in range(k):
                    psrc.append(r)
                    pdst.append(d)
                    pj.append(j)
    pieces = list(zip(psrc, pdst))
    if balanced and job.system.topology_kind == "dragonfly" and "global" in job.system.link_classes:
        pattern = _dragonfly_all_to_all(job, pieces, pj, vec)
    elif balanced:
        paths = engine.balanced_paths(net, sym, pieces, vec, slack=slack, power=power)
        pattern, _ = engine.route_greedy(net, sym, pieces, vec, paths=paths)
    else:
        pattern, _ = engine.route_greedy(net, sym, pieces, vec, slack=slack)
    psrc_a, pdst_a, pj_a = (np.asarray(x, dtype=np.int64) for x in (psrc, pdst, pj))
    rank_of = job.rank_of

    def chunk_of(perms, pch):
        return (rank_of[perms[:, psrc_a[pch]]] * N + rank_of[perms[:, pdst_a[pch]]]) * k + pj_a[pch]

    hops = engine.expand(net, sym, pattern, chunk_of,
                         lambda perms, pch: engine.single_sources(lambda p, c: rank_of[p[:, psrc_a[c]]], perms, pch))
    return Plan(hops, N * N * k, vec, {"pattern_hops": len(pattern), "symmetry": sym.size})


def _dragonfly_all_to_all(job: Job, pieces: list[tuple[int, int]], chunk_index: list[int], vec: int) -> engine.Pattern:
    """A Dragonfly all-to-all: every piece crosses exactly one global link (the
    bisection's demand, not more: a global-global path, though a hop shorter
    than local-global-local, spends two), on the path among those with the
    least loaded orbits (engine.balanced_paths with heavy = global links,
    one hop of slack so the local-global-local paths are candidates); then
    scheduled in an injection order that feeds every global link a steady
    stream: a chip cycles through the destination groups innermost (the chip
    with index i in its group starting at group own + i * g / a), through
    the chips of a group next, through the chunks of a piece outermost. So
    each local link towards a gateway chip interleaves the groups that chip
    serves instead of sending them in bursts that starve some global links
    and queue on others (Dragonfly a=8, h=4, g=33, 1 MiB: 20470 cycles, the
    links' load plus one latency, against 24693 in piece order). The plain
    balanced paths (fewest hops; they may spend two global links where a
    local link is the scarcer, as with several global links per pair of
    groups) are scheduled as well; the quickest wins."""
    net, sym = job.net, job.sym
    a, _h, g = (int(x) for x in job.system.dims)
    global_cls = job.system.link_arrays().class_names.index("global")
    heavy = (net.cls == global_cls).tolist()
    plain = engine.balanced_paths(net, sym, pieces, vec)
    one_global = engine.balanced_paths(net, sym, pieces, vec, slack=1, heavy=heavy)
    keys = []
    for (r, d), j in zip(pieces, chunk_index):
        i = r % a
        step = (d // a - r // a - i * max(1, g // a)) % g
        keys.append((j, (d % a - i) % a, step))
    order = sorted(range(len(pieces)), key=keys.__getitem__)
    rank = [0] * len(pieces)
    for pos, p in enumerate(order):
        rank[p] = pos
    best = None
    for paths, ranks in ((one_global, rank), (plain, rank), (plain, None)):
        pattern, _ = engine.route_greedy(net, sym, pieces, vec, paths=paths, rank=ranks)
        span = max((e + net.lat_l[l] for l, e in zip(pattern.link, pattern.end)), default=0)
        if best is None or span < best[0]:
            best = (span, pattern)
    return best[1]
