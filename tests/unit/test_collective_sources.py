"""Hop sources as slices of one shared array (`Hops.sources_begin/end`): a
reduce-scatter turned around from an all-gather stays linear in size, the
tree preorder behind it makes every subtree a slice, and the checker still
judges every hop by exactly its own slice."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.collectives.check import check_schedule
from compiler.collectives.engine import tree_preorder
from compiler.collectives.schedule import CollectiveSchedule, Hops
from compiler.collectives.synthesize import synthesize
from compiler.errors import LockstepError
from compiler.system import load_system


@pytest.fixture(scope="module")
def torus16():
    return load_system(None, topology="torus:16x16")


@pytest.fixture(scope="module")
def ring_rs(torus16):
    return synthesize("reduce-scatter", torus16, torus16.vector_bytes, algorithm="ring")


def with_sources(schedule: CollectiveSchedule, begin=None, end=None, idx=None) -> CollectiveSchedule:
    h = schedule.hops
    hops = Hops(h.src, h.dst, h.port, h.start, h.end, h.arrive, h.chunk,
                h.sources_begin if begin is None else begin, h.sources_end if end is None else end,
                h.sources_idx if idx is None else idx, h.all_sources)
    return CollectiveSchedule(schedule.kind, schedule.participants, schedule.bytes_per_chip, schedule.chunk_count,
                              schedule.chunk_bytes, hops, schedule.algorithm)


def test_ring_reduce_scatter_sources_stay_linear(ring_rs, torus16):
    h, n = ring_rs.hops, len(ring_rs.participants)
    listed = int((h.sources_end - h.sources_begin).sum())
    assert len(h.sources_idx) <= 2 * (len(h) + n * ring_rs.chunk_count)
    assert listed > 50 * len(h.sources_idx)  # the slices overlap: listed out they would be quadratic
    check_schedule(ring_rs, torus16)


def test_ring_reduce_scatter_hops_carry_their_far_arc(ring_rs):
    # each chunk leaves its owner both ways round, 128 and 127 chips; turned around, the hop at
    # distance d from the owner carries the ranks of the d far-end chips of its branch
    h, n = ring_rs.hops, len(ring_rs.participants)
    k = ring_rs.chunk_count // n
    lengths = h.sources_end - h.sources_begin
    for c in (0, 77, ring_rs.chunk_count - 1):
        mine = np.flatnonzero(h.chunk == c)
        assert sorted(lengths[mine].tolist()) == sorted(list(range(1, 129)) + list(range(1, 128)))
        owner = ring_rs.participants[c // k]
        into_owner = mine[h.dst[mine] == owner]
        assert sorted(lengths[into_owner].tolist()) == [127, 128]
        assert sorted(np.concatenate([h.sources(i) for i in into_owner]).tolist()) == \
            sorted(set(range(n)) - {c // k})


def test_tree_preorder_makes_every_subtree_a_slice():
    rng = np.random.default_rng(7)
    count = 400
    parent = np.array([-1 if i < 5 or rng.random() < 0.02 else int(rng.integers(0, i)) for i in range(count)])
    perm = rng.permutation(count)  # nodes in any order, not parents first
    inv = np.argsort(perm)
    parent = np.where(parent[perm] >= 0, inv[np.maximum(parent[perm], 0)], -1)
    pos, size = tree_preorder(parent)
    assert sorted(pos.tolist()) == list(range(count))
    at = np.argsort(pos)
    for node in range(count):
        below = set()
        for other in range(count):
            up = other
            while up >= 0 and up != node:
                up = parent[up]
            if up == node:
                below.add(other)
        assert set(at[pos[node]:pos[node] + size[node]].tolist()) == below
    with pytest.raises(ValueError, match="cycle"):
        tree_preorder(np.array([1, 0, -1]))


def expect(schedule, system, *fragments):
    with pytest.raises(LockstepError) as err:
        check_schedule(schedule, system)
    for fragment in fragments:
        assert fragment in str(err.value), str(err.value)


def test_checker_rejects_a_slice_that_reaches_upstream(ring_rs, torus16):
    h = ring_rs.hops
    rank_of = {chip: r for r, chip in enumerate(ring_rs.participants)}
    # a hop whose slice follows its receiver's own entry: one step earlier it would claim the receiver's data
    dst_rank = np.array([rank_of[int(d)] for d in h.dst])
    ok = (h.sources_begin > 0) & (h.sources_idx[np.maximum(h.sources_begin - 1, 0)] == dst_rank)
    i = int(np.flatnonzero(ok)[len(np.flatnonzero(ok)) // 2])
    begin = h.sources_begin.copy()
    begin[i] -= 1
    expect(with_sources(ring_rs, begin=begin), torus16, f"hop {i} (",
           f"chip {int(h.src[i])} does not hold a partial sum of ranks")


def test_checker_rejects_a_slice_cut_short(ring_rs, torus16):
    h = ring_rs.hops
    i = int(np.flatnonzero(h.sources_end - h.sources_begin == 2)[0])
    end = h.sources_end.copy()
    end[i] -= 1  # the far-end rank is left out, so the next hop on cannot form what it claims
    j = int(np.flatnonzero((h.src == h.dst[i]) & (h.chunk == h.chunk[i]))[0])
    expect(with_sources(ring_rs, end=end), torus16, f"hop {j} (", "does not hold a partial sum of ranks")


def test_checker_reads_only_the_entries_slices_cover(ring_rs, torus16):
    h = ring_rs.hops
    n = len(ring_rs.participants)
    padded = np.concatenate([h.sources_idx, [n + 5, 3]])  # entries no slice covers do not matter
    check_schedule(with_sources(ring_rs, idx=padded), torus16)
    last = int(np.argmax(h.sources_end))
    end = h.sources_end.copy()
    end[last] += 1
    expect(with_sources(ring_rs, end=end, idx=padded), torus16, f"hop {last} (", f"source rank {n + 5} is not a rank")
    end[last] += 2
    expect(with_sources(ring_rs, end=end, idx=padded), torus16, f"hop {last} (", "are not a slice of the")
    twice = h.sources_idx.copy()
    i = int(np.flatnonzero(h.sources_end - h.sources_begin == 3)[0])
    twice[h.sources_begin[i] + 2] = twice[h.sources_begin[i]]
    expect(with_sources(ring_rs, idx=twice), torus16, "twice")
