"""NCCL-style logical ring (the `ring` baseline), both directions at once.

The ring visits the participants in rank order, or on a whole 2-D torus in a
snake order that makes every ring step one link; each ring step follows
`System.route`. all-gather and broadcast: every chunk leaves its owner both
ways round and each branch covers half the ring, pipelined chunk by chunk
(each chip forwards a chunk as soon as it has landed). all-to-all: each piece
goes the shorter way round; `all_to_all_floor` bounds its cycles from the load
its routes put on the busiest link, without scheduling its ~N^3/4 hops."""
from __future__ import annotations

import math

import numpy as np

from compiler.collectives.algorithms.common import CHAIN_BUDGET, Job, Plan, chain_plan


def ring_order(job: Job) -> list[int]:
    system = job.system
    parts = job.participants
    if system.topology_kind == "torus" and sorted(parts) == list(range(system.chips)) and not system.failed_links:
        dims = system.dims
        if len(dims) == 2 and dims[0] % 2 == 0 and dims[1] > 1:
            rows, cols = dims
            order = []
            for r in range(rows):
                cs = range(cols) if r % 2 == 0 else range(cols - 1, -1, -1)
                order += [r * cols + c for c in cs]
            return order
    return list(parts)


def _edges(job: Job, order: list[int]) -> tuple[list[list[int]], list[list[int]]]:
    """fwd[i]: link ids from order[i] to order[i+1]; bwd[i]: from order[i] to order[i-1]."""
    system = job.system
    n = len(order)
    fwd = [[system.link_id(l.src, l.dst, l.port) for l in system.route(order[i], order[(i + 1) % n])] for i in range(n)]
    bwd = [[system.link_id(l.src, l.dst, l.port) for l in system.route(order[i], order[(i - 1) % n])] for i in range(n)]
    return fwd, bwd


def _spread(fwd, bwd, pos: int, n: int, ahead: int, back: int) -> tuple[list[int], list[int]]:
    a: list[int] = []
    for s in range(ahead):
        a += fwd[(pos + s) % n]
    b: list[int] = []
    for s in range(back):
        b += bwd[(pos - s) % n]
    return a, b


def _mean_route(fwd) -> float:
    return sum(len(f) for f in fwd) / max(1, len(fwd))


def all_gather(job: Job) -> Plan:
    N = job.N
    order = ring_order(job)
    fwd, bwd = _edges(job, order)
    cap = max(1, int(CHAIN_BUDGET / max(1.0, N * (N - 1) * _mean_route(fwd))))
    k, vec = job.split(job.piece_vectors(), cap)
    chains, ids, srcs = [], [], []
    ahead, back = N // 2, (N - 1) - N // 2
    for pos, chip in enumerate(order):
        r = int(job.rank_of[chip])
        a, b = _spread(fwd, bwd, pos, N, ahead, back)
        for j in range(k):
            for chain in (a, b):
                if chain:
                    chains.append(chain)
                    ids.append(r * k + j)
                    srcs.append(r)
    plan = chain_plan(job, chains, vec, np.asarray(ids, dtype=np.int64), np.asarray(srcs, dtype=np.int64), N * k)
    plan.notes["ring_order"] = "snake" if order != list(job.participants) else "ranks"
    return plan


def broadcast(job: Job) -> Plan:
    N = job.N
    order = ring_order(job)
    fwd, bwd = _edges(job, order)
    total = max(1, math.ceil(job.nbytes / job.vb))
    k, vec = job.split(total, max(1, int(CHAIN_BUDGET / max(1.0, (N - 1) * _mean_route(fwd)))))
    pos = order.index(job.participants[0])
    a, b = _spread(fwd, bwd, pos, N, N // 2, (N - 1) - N // 2)
    chains, ids = [], []
    for j in range(k):
        for chain in (a, b):
            if chain:
                chains.append(chain)
                ids.append(j)
    return chain_plan(job, chains, vec, np.asarray(ids, dtype=np.int64), np.zeros(len(ids), dtype=np.int64), k)


def _all_to_all_chunking(job: Job, fwd) -> tuple[int, int]:
    N = job.N
    return job.split(job.piece_vectors(), max(1, int(CHAIN_BUDGET / max(1.0, N * N * N / 4 * _mean_route(fwd)))))


def _goes_ahead(pi, ahead, N: int):
    """Whether the piece from ring position pi to the position `ahead` steps on goes forward: the
    shorter way, ties by the sender's parity so that both directions carry half."""
    return (ahead < N - ahead) | ((ahead == N - ahead) & (pi % 2 == 0))


def all_to_all(job: Job) -> Plan:
    N = job.N
    order = ring_order(job)
    fwd, bwd = _edges(job, order)
    k, vec = _all_to_all_chunking(job, fwd)
    chains, ids, srcs = [], [], []
    for pi, ci in enumerate(order):
        i = int(job.rank_of[ci])
        for pd, cd in enumerate(order):
            if pd == pi:
                continue
            j = int(job.rank_of[cd])
            ahead = (pd - pi) % N
            if _goes_ahead(pi, ahead, N):
                chain, _ = _spread(fwd, bwd, pi, N, ahead, 0)
            else:
                _, chain = _spread(fwd, bwd, pi, N, 0, N - ahead)
            for n in range(k):
                chains.append(chain)
                ids.append((i * N + j) * k + n)
                srcs.append(i)
    return chain_plan(job, chains, vec, np.asarray(ids, dtype=np.int64), np.asarray(srcs, dtype=np.int64), N * N * k)


def all_to_all_link_vectors(job: Job) -> np.ndarray:
    """Vectors the ring all-to-all's routes carry over each link (indexed like `job.net`), counted
    without building them: ring step s forward is crossed by every piece going forward from a
    position at most its distance behind s, and likewise backward."""
    N = job.N
    order = ring_order(job)
    fwd, bwd = _edges(job, order)
    k, vec = _all_to_all_chunking(job, fwd)
    pi, ahead = np.divmod(np.arange(N * N, dtype=np.int64), N)
    pi, ahead = pi[ahead > 0], ahead[ahead > 0]
    forward = _goes_ahead(pi, ahead, N)
    # a piece covers steps [first, first + length) of its direction (backward steps counted downwards
    # from the sender, so as the interval [pi - length + 1, pi]); difference arrays over two turns
    crossing = []
    for first, length in ((pi[forward], ahead[forward]), (pi[~forward] - (N - ahead[~forward]) + 1 + N,
                                                           N - ahead[~forward])):
        diff = np.zeros(2 * N + 1, dtype=np.int64)
        np.add.at(diff, first % N, 1)
        np.add.at(diff, first % N + length, -1)
        turns = np.cumsum(diff)[: 2 * N]
        crossing.append(turns[:N] + turns[N:])
    vectors = np.zeros(len(job.net.src), dtype=np.int64)
    for steps, load in zip((fwd, bwd), crossing):
        for s, links in enumerate(steps):
            for link in links:
                vectors[link] += load[s] * k * vec
    return vectors


def all_to_all_floor(job: Job) -> int:
    """Cycles no schedule of the ring all-to-all's routes can beat: its busiest link must carry its
    vectors one after another, and the last still has to land."""
    vectors = all_to_all_link_vectors(job)
    used = vectors > 0
    if not used.any():
        return 0
    return int((vectors[used] * job.net.ser[used] + job.net.lat[used]).max())
