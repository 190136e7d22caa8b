"""Collectives of a chip group, synthesized on the links near the group and shared by groups wired alike.

A tensor-parallel group (typically a node of 8 chips) runs its all-reduces and
all-gathers on the links between its chips. Synthesizing on the whole system
costs time in proportion to all of its links (9216 on the 576-chip preset) for
every collective, and the 72 nodes of that preset, wired alike, would each get
the same schedule up to the names of their chips. So a group is synthesized on
a `GroupSystem`: the subsystem of its own links, chips renamed 0..k-1 in group
order, and the result is cached by that subsystem (equal subsystems compare
equal) and renamed back. When the group's own links do not connect it (a group
of 64 straddling two racks of 72), the chips on the shortest paths between its
parts join as relays: they forward and add, but hold no contribution. Only a
group that even those cannot connect is synthesized on the whole system (cached
as well: a pipeline's stages repeat their collectives layer after layer).

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


@dataclasses.dataclass(frozen=True)
class GroupSystem:
    """A group's neighbourhood as a system of its own: `members[i]` of the whole system is chip i
    here; the group is chips 0..`size`-1, relays follow."""

    system: System
    members: tuple[int, ...]
    size: int

    @property
    def participants(self) -> tuple[int, ...]:
        return tuple(range(self.size))


@lru_cache(maxsize=256)
def group_system(system: System, group: tuple[int, ...]) -> GroupSystem | None:
    """The subsystem of `group`'s links, with relays on the shortest paths between its parts if
    those links do not connect it; None when the group is the whole system or relays would take
    every chip."""
    if len(group) == system.chips:
        return None
    members = list(group)
    while len(parts := _parts(system, members, len(group))) > 1:
        relays = _relays(system, parts[0], set(members[: len(group)]) - parts[0])
        if not relays or len(members) + len(relays) >= system.chips:
            return None
        members.extend(sorted(relays))
    rank = {chip: i for i, chip in enumerate(members)}
    links = tuple(
        Link(rank[link.src], rank[link.dst], link.port, link.cls)
        for chip in members
        for link in system.links_from(chip)
        if link.dst in rank
    )
    local = dataclasses.replace(
        system, name=f"{system.name}:group", chips=len(members), links=links, topology="explicit",
        spec="", failed_links=(), failed_chips=(),
    )
    return GroupSystem(local, tuple(members), len(group))


def _parts(system: System, members: Sequence[int], size: int) -> list[set[int]]:
    """The group chips (the first `size` members) by connected part of the members' own links."""
    group = set(members[:size])
    return [own for part in system.parts(members) if (own := group & set(part))]


def _relays(system: System, part: set[int], rest: set[int]) -> set[int]:
    """The chips on any shortest path from `part` to `rest` (both excluded)."""
    there, back = _distances(system, part), _distances(system, rest)
    through = {chip: there[chip] + back[chip] for chip in there if chip in back}
    if not through:
        return set()
    shortest = min(through.values())
    return {chip for chip, d in through.items() if d == shortest} - part - rest


def _distances(system: System, sources: set[int]) -> dict[int, int]:
    """Hops from the nearest of `sources` (links are wired both ways)."""
    dist, frontier = dict.fromkeys(sources, 0), list(sources)
    while frontier:
        nxt = []
        for chip in frontier:
            for link in system.links_from(chip):
                if link.dst not in dist:
                    dist[link.dst] = dist[chip] + 1
                    nxt.append(link.dst)
        frontier = nxt
    return dist


@lru_cache(maxsize=256)
def _synthesize_local(kind: str, subsystem: System, size: int, nbytes: int) -> CollectiveSchedule:
    # Not keyed by the members' names: groups wired alike share one schedule.
    return synthesize(kind, subsystem, nbytes, participants=tuple(range(size)))


@lru_cache(maxsize=64)
def _synthesize_whole(kind: str, system: System, nbytes: int, group: tuple[int, ...]) -> CollectiveSchedule:
    return synthesize(kind, system, nbytes, participants=group)


def synthesize_on_group(kind: str, system: System, nbytes: int, group: Sequence[int]) -> CollectiveSchedule:
    """A collision-free schedule of `kind` among `group` (in its rank order) on `system`'s chips."""
    group = tuple(int(chip) for chip in group)
    local = group_system(system, group)
    if local is None:
        return _synthesize_whole(kind, system, nbytes, group)
    schedule = _synthesize_local(kind, local.system, local.size, nbytes)
    names = np.asarray(local.members, dtype=np.int64)
    hops = dataclasses.replace(schedule.hops, src=names[schedule.hops.src], dst=names[schedule.hops.dst])
    return dataclasses.replace(schedule, participants=group, hops=hops)


@lru_cache(maxsize=4096)
def group_bound_cycles(kind: str, system: System, nbytes: int, group: tuple[int, ...]) -> int:
    """The binding lower bound of `kind` among `group` on the links `synthesize_on_group` uses."""
    local = group_system(system, group)
    if local is None:
        return max(lower_bounds(kind, system, nbytes, group).values(), default=0)
    return _local_bound_cycles(kind, local.system, local.size, nbytes)


@lru_cache(maxsize=256)
def _local_bound_cycles(kind: str, subsystem: System, size: int, nbytes: int) -> int:
    # Keyed like `_synthesize_local`: groups wired alike share one bound (its cut is a max-flow).
    return max(lower_bounds(kind, subsystem, nbytes, tuple(range(size))).values(), default=0)
