"""Collectives of a chip group, synthesized on the group's own links and shared by groups wired alike.

A tensor-parallel group (typically a node of 8 chips) runs its all-reduces and
all-gathers on the links between its chips. Synthesizing on the whole system
costs time in proportion to all of its links (9216 on the 576-chip preset) for
every collective, and the 72 nodes of that preset, wired alike, would each get
the same schedule up to the names of their chips. So a group whose own links
connect it is synthesized on its induced subsystem, with chips renamed
0..k-1 in group order, and the result is cached by that subsystem (equal
subsystems compare equal) and renamed back. A group whose links do not connect
it is synthesized on the whole system as before.

The cost model estimates a group's collective by the lower bound on the same
subsystem, so it predicts what this module will build.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from compiler.collectives.bounds import lower_bounds
from compiler.collectives.schedule import CollectiveSchedule
from compiler.collectives.synthesize import synthesize
from compiler.system import Link, System


@lru_cache(maxsize=256)
def group_system(system: System, group: tuple[int, ...]) -> System | None:
    """The subsystem of `group`'s links among themselves, chip group[i] renamed i; None when those
    links do not connect the group (or the group is already the whole system)."""
    if len(group) == system.chips:
        return None
    rank = {chip: i for i, chip in enumerate(group)}
    links = tuple(
        Link(rank[link.src], rank[link.dst], link.port, link.cls)
        for chip in group
        for link in system.links_from(chip)
        if link.dst in rank
    )
    if not _connected(len(group), links):
        return None
    return dataclasses.replace(
        system, name=f"{system.name}:group", chips=len(group), links=links, topology="explicit",
        spec="", failed_links=(), failed_chips=(),
    )


def _connected(chips: int, links: Sequence[Link]) -> bool:
    reached, frontier = {0}, [0]
    out: dict[int, list[int]] = {}
    for link in links:
        out.setdefault(link.src, []).append(link.dst)
    while frontier:
        chip = frontier.pop()
        for nxt in out.get(chip, ()):
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    return len(reached) == chips


@lru_cache(maxsize=256)
def _synthesize_local(kind: str, subsystem: System, nbytes: int) -> CollectiveSchedule:
    return synthesize(kind, subsystem, nbytes)


def synthesize_on_group(kind: str, system: System, nbytes: int, group: Sequence[int]) -> CollectiveSchedule:
    """A collision-free schedule of `kind` among `group` (in its rank order) on `system`'s chips."""
    group = tuple(int(chip) for chip in group)
    subsystem = group_system(system, group)
    if subsystem is None:
        return synthesize(kind, system, nbytes, participants=group)
    local = _synthesize_local(kind, subsystem, nbytes)
    names = np.asarray(group, dtype=np.int64)
    hops = dataclasses.replace(local.hops, src=names[local.hops.src], dst=names[local.hops.dst])
    return dataclasses.replace(local, participants=group, hops=hops)


@lru_cache(maxsize=4096)
def group_bound_cycles(kind: str, system: System, nbytes: int, group: tuple[int, ...]) -> int:
    """The binding lower bound of `kind` among `group` on the links `synthesize_on_group` uses."""
    subsystem = group_system(system, group)
    if subsystem is None:
        return max(lower_bounds(kind, system, nbytes, group).values(), default=0)
    return max(lower_bounds(kind, subsystem, nbytes, tuple(range(len(group)))).values(), default=0)
