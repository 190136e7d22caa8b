"""Collectives of a chip group on the group's own links (compiler/group_collectives.py)."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.collectives.check import check_schedule
from compiler.collectives.synthesize import synthesize
from compiler.group_collectives import group_bound_cycles, group_system, synthesize_on_group
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
    first = synthesize_on_group("all-reduce", groq576, NODE_BYTES, range(0, 8))
    other = synthesize_on_group("all-reduce", groq576, NODE_BYTES, range(80, 88))
    assert group_system(groq576, tuple(range(0, 8))) == group_system(groq576, tuple(range(80, 88)))
    assert np.array_equal(first.hops.start, other.hops.start)
    assert np.array_equal(first.hops.src + 80, other.hops.src)
    check_schedule(other, groq576)


def test_a_group_its_links_do_not_connect_uses_the_whole_system():
    torus = load_system(topology="torus:4x4")
    corners = (0, 10)  # no link between them
    assert group_system(torus, corners) is None
    schedule = synthesize_on_group("all-reduce", torus, 4 * 1280, corners)
    check_schedule(schedule, torus)
    whole = synthesize("all-reduce", torus, 4 * 1280, participants=corners)
    assert schedule.cycles == whole.cycles


def test_the_group_bound_is_the_bound_on_the_links_used(groq576):
    node = tuple(range(8))
    bound = group_bound_cycles("all-reduce", groq576, NODE_BYTES, node)
    schedule = synthesize_on_group("all-reduce", groq576, NODE_BYTES, node)
    assert 0 < bound <= schedule.cycles
