"""Collectives of a chip group on the group's own links (compiler/group_collectives.py)."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.collectives.check import check_schedule
from compiler.collectives.synthesize import synthesize
from compiler.group_collectives import (
    group_bound_cycles,
    group_system,
    synthesize_on_group,
)
from compiler.system import load_system

NODE_BYTES = 26 * 1280  # a Llama-2-70B activation row split in 8: what a tensor-parallel node all-reduces


@pytest.fixture(scope="module")
def groq576():
    return load_system(chips=576)


@pytest.mark.parametrize("kind", ["all-reduce", "all-gather"])
def test_a_node_collective_stays_on_the_node_and_checks_on_the_whole_system(groq576, kind):
    node = tuple(range(8, 16))
    schedule = synthesize_on_group(kind, groq576, NODE_BYTES, node)
    check_schedule(schedule, groq576)
    assert schedule.participants == node
    assert set(schedule.hops.src.tolist()) | set(schedule.hops.dst.tolist()) <= set(node)


def test_nodes_wired_alike_share_one_schedule_renamed(groq576):
    first = synthesize_on_group("all-reduce", groq576, NODE_BYTES, range(8))
    other = synthesize_on_group("all-reduce", groq576, NODE_BYTES, range(80, 88))
    assert group_system(groq576, tuple(range(8))).system == group_system(groq576, tuple(range(80, 88))).system
    assert np.array_equal(first.hops.start, other.hops.start)
    assert np.array_equal(first.hops.src + 80, other.hops.src)
    check_schedule(other, groq576)


def test_a_group_its_links_do_not_connect_takes_relays_on_shortest_paths():
    torus = load_system(topology="torus:8x8")
    corners = (0, 18)  # (0, 0) and (2, 2): four hops apart, no link between them
    local = group_system(torus, corners)
    assert local is not None and local.members[:2] == corners
    assert set(local.members[2:]) == _between(torus, 0, 18) and len(local.members) == 9
    schedule = synthesize_on_group("all-reduce", torus, 4 * 1280, corners)
    check_schedule(schedule, torus)
    assert schedule.participants == corners
    assert set(schedule.hops.src.tolist()) | set(schedule.hops.dst.tolist()) <= set(local.members)


def _between(system, a: int, b: int) -> set[int]:
    """Chips on some shortest path from a to b, by the system's own distances."""
    d = system.distance
    return {c for c in range(system.chips) if c not in (a, b) and d(a, c) + d(c, b) == d(a, b)}


def test_a_group_only_the_whole_system_connects_is_synthesized_on_it():
    ring = load_system(topology="ring:4")
    opposite = (0, 2)  # the relays 1 and 3 would make it the whole ring
    assert group_system(ring, opposite) is None
    schedule = synthesize_on_group("all-reduce", ring, 4 * 1280, opposite)
    check_schedule(schedule, ring)
    assert schedule.cycles == synthesize("all-reduce", ring, 4 * 1280, participants=opposite).cycles


def test_groups_straddling_racks_of_the_576_preset_stay_near_their_racks(groq576):
    straddling = tuple(range(64, 128))  # node 8 of rack 0 and nodes 0..6 of rack 1
    local = group_system(groq576, straddling)
    assert local is not None and 64 < len(local.members) < 2 * 72
    schedule = synthesize_on_group("all-reduce", groq576, NODE_BYTES, straddling)
    check_schedule(schedule, groq576)
    assert schedule.participants == straddling


def test_the_group_bound_is_the_bound_on_the_links_used(groq576):
    node = tuple(range(8))
    bound = group_bound_cycles("all-reduce", groq576, NODE_BYTES, node)
    schedule = synthesize_on_group("all-reduce", groq576, NODE_BYTES, node)
    assert 0 < bound <= schedule.cycles
