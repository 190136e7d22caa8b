"""Collective synthesis: every schedule passes the independent checker, beats
no lower bound, and `auto` is never worse than the two baselines."""
from __future__ import annotations

import numpy as np
import pytest

from compiler.collectives.bounds import lower_bounds
from compiler.collectives.check import check_schedule
from compiler.collectives.engine import Net, find_symmetry
from compiler.collectives.schedule import KINDS
from compiler.collectives.synthesize import ALGORITHMS, synthesize
from compiler.errors import LockstepError
from compiler.system import load_system

SYSTEMS = ["fc:4", "ring:5", "torus:3x3", "dragonfly:a=2,h=1,g=3"]
NBYTES = 3 * 1280 * 4 + 100  # a few vectors per piece, not a whole number of them


@pytest.fixture(scope="module", params=SYSTEMS)
def system(request):
    return load_system(request.param)


def _replay(schedule, system) -> None:
    """A compact replay of the timing rules, independent of check.py."""
    h = schedule.hops
    links = {(l.src, l.dst, l.port): l for l in system.links}
    vectors = -(-schedule.chunk_bytes // system.vector_bytes)
    busy: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
    for i in range(len(h)):
        key = (int(h.src[i]), int(h.dst[i]), int(h.port[i]))
        assert key in links, f"hop {i} uses a missing link {key}"
        link = links[key]
        assert h.end[i] - h.start[i] == vectors * system.serialization_cycles(link)
        assert h.arrive[i] == h.end[i] + system.hop_latency(link)
        assert h.start[i] >= 0
        busy.setdefault(key, []).append((int(h.start[i]), int(h.end[i])))
    for key, spans in busy.items():
        spans.sort()
        for (s0, e0), (s1, _) in zip(spans, spans[1:]):
            assert s1 >= e0, f"two hops overlap on link {key}"


@pytest.mark.parametrize("kind", KINDS)
def test_auto_is_valid_bounded_and_beats_baselines(system, kind):
    schedule = synthesize(kind, system, NBYTES)
    check_schedule(schedule, system)
    _replay(schedule, system)
    assert schedule.algorithm.startswith("auto:")
    assert schedule.cycles >= max(lower_bounds(kind, system, NBYTES).values())
    for baseline in ("ring", "greedy-shortest"):
        other = synthesize(kind, system, NBYTES, algorithm=baseline)
        check_schedule(other, system)
        assert schedule.cycles <= other.cycles, f"auto ({schedule.algorithm}) is worse than {baseline}"


@pytest.mark.parametrize("algorithm", [a for a in ALGORITHMS if a not in ("auto", "ring", "greedy-shortest")])
@pytest.mark.parametrize("kind", KINDS)
def test_every_algorithm_is_valid(system, kind, algorithm):
    schedule = synthesize(kind, system, NBYTES, algorithm=algorithm)
    check_schedule(schedule, system)
    assert schedule.algorithm == algorithm
    assert schedule.cycles >= max(lower_bounds(kind, system, NBYTES).values())


@pytest.mark.parametrize("kind", KINDS)
def test_subset_of_chips_and_failed_links(kind):
    system = load_system("torus:3x3/fail=0-1")
    for participants in (None, [8, 0, 4, 5]):
        schedule = synthesize(kind, system, NBYTES, participants=participants)
        check_schedule(schedule, system)
        assert schedule.cycles >= max(lower_bounds(kind, system, NBYTES, participants).values())


def test_small_pieces_are_padded_to_a_vector():
    system = load_system("torus:3x3")
    schedule = synthesize("all-gather", system, 900)  # 100 bytes per rank
    check_schedule(schedule, system)
    assert schedule.chunk_bytes == system.vector_bytes and schedule.chunk_count == 9
    assert schedule.bytes_per_chip == 900


def test_torus_all_gather_reaches_the_ejection_bound():
    system = load_system("torus:4x4")
    nbytes = 16 * 4 * system.vector_bytes
    schedule = synthesize("all-gather", system, nbytes)
    check_schedule(schedule, system)
    bound = max(lower_bounds("all-gather", system, nbytes).values())
    assert schedule.cycles <= 1.1 * bound


def test_symmetry_maps_links_onto_links():
    for spec, size in (("torus:4x4", 16), ("fc:5", 5), ("dragonfly:a=2,h=1,g=3", 3)):
        system = load_system(spec)
        net = Net(system)
        sym = find_symmetry(net, list(range(system.chips)))
        assert sym.size == size
        for perm in sym.perms:
            assert (net.lookup(perm[net.src], perm[net.dst], net.port) >= 0).all()
    broken = load_system("torus:4x4/fail=0-1")
    assert find_symmetry(Net(broken), list(range(16))).size == 1


def test_errors():
    system = load_system("fc:4")
    with pytest.raises(LockstepError, match="unknown collective"):
        synthesize("all-scatter", system, 1024)
    with pytest.raises(LockstepError, match="unknown collective algorithm"):
        synthesize("all-gather", system, 1024, algorithm="magic")
    with pytest.raises(LockstepError, match="participant"):
        synthesize("all-gather", system, 1024, participants=[0, 9])
    empty = synthesize("all-gather", system, 1024, participants=[2])
    assert len(empty.hops) == 0 and empty.cycles == 0
    assert np.all(synthesize("broadcast", system, 0).hops.arrive >= 0)
