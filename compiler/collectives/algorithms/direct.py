"""Direct: every chip sends straight to every other chip (one link on an fc,
else its shortest route), chunked and pipelined on link calendars."""
from __future__ import annotations

import math

import numpy as np

from compiler.collectives.algorithms.common import CHAIN_BUDGET, Job, Plan, chain_plan


def _route(job: Job, a: int, b: int) -> list[int]:
    return [job.system.link_id(l.src, l.dst, l.port) for l in job.system.route(a, b)]


def all_gather(job: Job) -> Plan:
    N = job.N
    k, vec = job.split(job.piece_vectors(), max(1, CHAIN_BUDGET // max(1, N * (N - 1))))
    chains, ids, srcs = [], [], []
    for j in range(k):  # chunk-major: the first chunks of every owner go first
        for a in job.participants:
            r = int(job.rank_of[a])
            for b in job.participants:
                if a != b:
                    chains.append(_route(job, a, b))
                    ids.append(r * k + j)
                    srcs.append(r)
    return chain_plan(job, chains, vec, np.asarray(ids, dtype=np.int64), np.asarray(srcs, dtype=np.int64), N * k)


def all_to_all(job: Job) -> Plan:
    N = job.N
    k, vec = job.split(job.piece_vectors(), max(1, CHAIN_BUDGET // max(1, N * N)))
    chains, ids, srcs = [], [], []
    for n in range(k):
        for a in job.participants:
            i = int(job.rank_of[a])
            for b in job.participants:
                if a != b:
                    chains.append(_route(job, a, b))
                    ids.append((i * N + int(job.rank_of[b])) * k + n)
                    srcs.append(i)
    return chain_plan(job, chains, vec, np.asarray(ids, dtype=np.int64), np.asarray(srcs, dtype=np.int64), N * N * k)


def broadcast(job: Job) -> Plan:
    N = job.N
    total = max(1, math.ceil(job.nbytes / job.vb))
    k, vec = job.split(total, max(1, CHAIN_BUDGET // max(1, N - 1)))
    root = job.participants[0]
    chains, ids = [], []
    for j in range(k):
        for b in job.participants:
            if b != root:
                chains.append(_route(job, root, b))
                ids.append(j)
    return chain_plan(job, chains, vec, np.asarray(ids, dtype=np.int64), np.zeros(len(ids), dtype=np.int64), k)
