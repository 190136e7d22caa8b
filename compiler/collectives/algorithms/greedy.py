"""Greedy time-expanded scheduling on link calendars (TACOS-like), on the
symmetry's orbit calendars when the wiring has one.

all-gather: link-centric broadcast trees (least-replicated chunk first, then
farthest chip first), over every link or, for the `greedy-shortest` baseline,
only links leading away from the chunk's owner. all-to-all: every piece routed
hop by hop on the link that lands it earliest, minimal links only for the
baseline, up to `slack` detour hops otherwise. broadcast: pipelined trees from
rank 0."""
from __future__ import annotations

import math

import numpy as np

from compiler.collectives import engine
from compiler.collectives.algorithms.common import ROUTE_BUDGET, TREE_BUDGET, Job, Plan, tree_all_gather


def all_gather(job: Job, minimal_only: bool = False) -> Plan:
    return tree_all_gather(job, job.sym, minimal_only)


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


def all_to_all(job: Job, slack: int = 0, balanced: bool = False) -> Plan:
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
    if balanced:
        paths = engine.balanced_paths(net, sym, pieces, vec, slack=slack)
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
