"""A Dragonfly all-reduce for buffers of a few vectors, in three hops.

1. every chip sends its contribution to each chip of its group (local links:
   the group is fully connected), so each chip holds its group's sum;
2. for every other group, one chip with a global link to it sends the group's
   sum over that link;
3. every chip adds up the group sums it received and sends that partial sum
   to each chip of its group.

A chip then holds its own contribution, its group mates' (1), the sums of the
groups it heard from (2) and its mates' partial sums (3): every group once,
so the sources are disjoint. Three hops is the diameter, so for one vector it
meets the latency bound (a=16, h=4, g=65: 1581 cycles, where summing up trees
and broadcasting down them takes 3162). It moves each vector over every local
link twice, though, so it only pays for a few vectors; chunks of the buffer
follow each other through the three steps, each hop first-fit on its link's
calendar as soon as what it carries has landed."""
from __future__ import annotations

import math

import numpy as np

from compiler.collectives.algorithms.common import Job, Plan
from compiler.collectives.engine import Calendar
from compiler.collectives.schedule import HopsBuilder


def applies(job: Job) -> bool:
    """A whole Dragonfly without failures, every chip taking part."""
    system = job.system
    return (system.topology_kind == "dragonfly" and not system.failed_links and not system.failed_chips
            and job.N == system.chips and {"local", "global"} <= set(system.link_arrays().class_names))


def all_reduce(job: Job) -> Plan | None:
    """The three-hop all-reduce (module docstring), None if it does not apply
    or some pair of groups has no global link between them."""
    if not applies(job):
        return None
    net, system = job.net, job.system
    a = int(system.dims[0])
    names = system.link_arrays().class_names
    local, glob = names.index("local"), names.index("global")
    group = np.arange(net.n) // a
    rank = job.rank_of.tolist()
    members = [list(range(g * a, (g + 1) * a)) for g in range(net.n // a)]
    mates = [[l for l in net.out_l[c] if net.cls[l] == local] for c in range(net.n)]
    # one global link per ordered pair of groups carries the group sum (the first in link order)
    via: dict[tuple[int, int], int] = {}
    for l in np.flatnonzero(net.cls == glob).tolist():
        via.setdefault((int(group[net.src_l[l]]), int(group[net.dst_l[l]])), l)
    groups = len(members)
    if len(via) != groups * (groups - 1):
        return None
    heard: list[list[int]] = [[] for _ in range(net.n)]  # the groups whose sums land at each chip
    for (g_from, _), l in sorted(via.items()):
        heard[net.dst_l[l]].append(g_from)
    total = max(1, math.ceil(job.nbytes / job.vb))
    k, vec = total, 1
    cal = [Calendar() for _ in range(len(net))]
    out = HopsBuilder()
    dur = [vec * s for s in net.ser_l]

    def send(lid: int, ready: int, chunk: int, sources: list[int]) -> int:
        start = cal[lid].fit(ready, dur[lid])
        cal[lid].take(start, start + dur[lid])
        end = start + dur[lid]
        out.add(net.src_l[lid], net.dst_l[lid], int(net.port[lid]), start, end, end + net.lat_l[lid], chunk, sources)
        return end + net.lat_l[lid]

    for j in range(k):
        has_group = [0] * net.n  # when each chip holds its group's sum
        for c in range(net.n):
            for l in mates[c]:
                v = net.dst_l[l]
                has_group[v] = max(has_group[v], send(l, 0, j, [rank[c]]))
        has_heard = [0] * net.n
        for (g_from, _), l in sorted(via.items()):
            v = net.dst_l[l]
            has_heard[v] = max(has_heard[v], send(l, has_group[net.src_l[l]], j, [rank[c] for c in members[g_from]]))
        for c in range(net.n):
            if heard[c]:
                sources = [rank[m] for g_from in heard[c] for m in members[g_from]]
                for l in mates[c]:
                    send(l, has_heard[c], j, sources)
    return Plan(out.build(), k, vec, {"hierarchical": True})
