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


# -- all-reduce: chunks that fit the buffer, on a subgroup of the symmetry ---------------


def test_subgroups_are_symmetries():
    from compiler.collectives.engine import subgroup, subgroups

    for spec in ("torus:4x4", "fc:6", "dragonfly:a=2,h=2,g=5"):
        system = load_system(spec)
        net = Net(system)
        sym = find_symmetry(net, list(range(system.chips)))
        options = subgroups(sym)
        assert options and options[0] == tuple(1 for _ in sym.shape)
        for strides in options:
            sub = subgroup(net, sym, strides)
            assert sub.size * len(sub.reps) == len(sym.reps) * sym.size
            for perm in sub.perms:  # a symmetry, and it keeps every link in its orbit
                mapped = net.lookup(perm[net.src], perm[net.dst], net.port)
                assert (mapped >= 0).all() and (sub.orbit[mapped] == sub.orbit).all()
            assert (np.diff(sub.orbit_ptr) == sub.size).all()  # the group acts freely on links


@pytest.mark.parametrize("spec,nbytes", [("fc:6", 41 * 1280), ("torus:4x4", 50 * 1280 + 7), ("ring:6", 13 * 1280),
                                         ("dragonfly:a=2,h=2,g=5", 30 * 1280), ("torus:4x4/fail=0-1", 50 * 1280),
                                         ("torus:3x3", 640)])
def test_tree_all_reduce_pads_little_and_checks(spec, nbytes):
    from compiler.collectives.algorithms.common import Job, all_reduce_from, tree_all_gather, tree_all_reduce

    system = load_system(spec)
    for participants in (None, [0, 2, 3, 5]):
        schedule = synthesize("all-reduce", system, nbytes, participants=participants, algorithm="greedy")
        check_schedule(schedule, system)
        _replay(schedule, system)
        q = -(-nbytes // system.vector_bytes)
        assert schedule.chunk_count * schedule.chunk_bytes >= nbytes
        n = len(schedule.participants)
        assert schedule.chunk_count * (schedule.chunk_bytes // system.vector_bytes) <= n * -(-q // n)
        if schedule.notes.get("gathered"):  # every hop carries one rank's contribution
            assert not schedule.hops.all_sources.any() and (schedule.hops.sources_end - schedule.hops.sources_begin == 1).all()
        else:  # summed up trees: the broadcast hops carry the full sum
            assert schedule.hops.all_sources.any()
        bound = max(lower_bounds("all-reduce", system, nbytes, participants).values())
        assert schedule.cycles >= bound
        # never worse than reduce-scatter + all-gather of N padded pieces
        net = Net(system)
        job = Job("all-reduce", system, net, list(participants or system.alive_chips()), nbytes)
        padded = all_reduce_from(job, tree_all_gather(job, job.sym, False))
        assert schedule.cycles <= int(padded.hops.arrive.max())
        assert tree_all_reduce(job, minimal_only=True) is not None


def test_reduce_scatter_by_pattern_matches_the_generic_reversal():
    from compiler.collectives.algorithms.common import Job, Plan, reduce_scatter_from, tree_all_gather

    for spec in ("torus:4x4", "dragonfly:a=2,h=1,g=3", "ring:5/fail=0-1"):
        system = load_system(spec)
        net = Net(system)
        job = Job("reduce-scatter", system, net, list(system.alive_chips()), 20 * 1280)
        ag = tree_all_gather(job, job.sym, False)
        fast = reduce_scatter_from(job, ag)
        slow = reduce_scatter_from(job, Plan(ag.hops, ag.chunk_count, ag.chunk_vectors))  # no trees: hop by hop
        assert int(fast.hops.arrive.max()) == int(slow.hops.arrive.max()) and len(fast.hops) == len(slow.hops)
        for plan in (fast, slow):
            from compiler.collectives.schedule import CollectiveSchedule

            s = CollectiveSchedule("reduce-scatter", tuple(job.participants), job.nbytes, plan.chunk_count,
                                   plan.chunk_vectors * system.vector_bytes, plan.hops, "x")
            check_schedule(s, system)


def test_all_reduce_chunking_at_1024_chips():
    from compiler.collectives.algorithms.common import Job, all_reduce_chunkings

    system = load_system("torus:32x32")
    job = Job("all-reduce", system, Net(system), list(range(1024)), 1 << 20)
    # 820 vectors: N pieces would be 1024 (25 % padding); the translations by multiples of (4, 4)
    # (64 of them) take 13 orbits of 1-vector chunks, 832 (1.5 %); the whole group comes second
    assert all_reduce_chunkings(job) == [((4, 4), 64, 13, 1), (None, 1024, 1, 1)]


# -- Dragonfly all-to-all: one global link a piece, an injection order that feeds them evenly -----


@pytest.mark.parametrize("spec", ["dragonfly:a=4,h=2,g=9", "dragonfly:a=4,h=1,g=5", "dragonfly:a=4,h=2,g=9/fail=0-7",
                                  "dragonfly:a=2,h=1,g=3/failchip=5"])
def test_dragonfly_all_to_all(spec):
    from compiler.collectives import engine
    from compiler.collectives.algorithms.common import Job

    system = load_system(spec)
    nbytes = 3 * 1280 * system.chips + 11
    for participants in (None, sorted(system.alive_chips())[::2]):
        schedule = synthesize("all-to-all", system, nbytes, participants=participants, algorithm="greedy")
        check_schedule(schedule, system)
        _replay(schedule, system)
        assert schedule.cycles >= max(lower_bounds("all-to-all", system, nbytes, participants).values())
        shortest = synthesize("all-to-all", system, nbytes, participants=participants, algorithm="greedy-shortest")
        assert schedule.cycles <= shortest.cycles
    # against the plain balanced paths in piece order (what greedy did before)
    net = Net(system)
    job = Job("all-to-all", system, net, list(system.alive_chips()), nbytes)
    pieces = [(r, d) for r in job.sym.reps for d in job.participants if d != r]
    vec = job.piece_vectors()
    plain, _ = engine.route_greedy(net, job.sym, pieces, vec, paths=engine.balanced_paths(net, job.sym, pieces, vec))
    plain_cycles = max(e + net.lat_l[l] for l, e in zip(plain.link, plain.end))
    assert synthesize("all-to-all", system, nbytes, algorithm="greedy").cycles <= plain_cycles


def test_one_global_paths_use_each_global_link_once():
    from compiler.collectives import engine
    from compiler.collectives.algorithms.common import Job

    system = load_system("dragonfly:a=4,h=1,g=5")  # one global link between every pair of groups
    net = Net(system)
    job = Job("all-to-all", system, net, list(range(system.chips)), 4 * 1280 * system.chips)
    heavy = (net.cls == system.link_arrays().class_names.index("global")).tolist()
    pieces = [(r, d) for r in job.sym.reps for d in range(system.chips) if d != r]
    paths = engine.balanced_paths(net, job.sym, pieces, 1, slack=1, heavy=heavy)
    for (s, d), path in zip(pieces, paths):
        assert net.src_l[path[0]] == s and net.dst_l[path[-1]] == d
        assert sum(heavy[l] for l in path) == (s // 4 != d // 4)
        assert all(net.dst_l[x] == net.src_l[y] for x, y in zip(path, path[1:]))


# -- all-reduce: pipelined sums and broadcasts; gathering for a few vectors ------------------------


@pytest.mark.parametrize("spec,nbytes", [("dragonfly:a=4,h=2,g=9", 40 * 1280), ("torus:4x4", 200 * 1280),
                                         ("torus:4x4/fail=0-1", 30 * 1280)])
def test_pipelined_all_reduce_broadcasts_while_summing(spec, nbytes):
    from compiler.collectives.algorithms.common import Job, pipelined_all_reduce
    from compiler.collectives.schedule import CollectiveSchedule

    system = load_system(spec)
    job = Job("all-reduce", system, Net(system), list(system.alive_chips()), nbytes)
    plan = pipelined_all_reduce(job)
    schedule = CollectiveSchedule("all-reduce", tuple(job.participants), nbytes, plan.chunk_count,
                                  plan.chunk_vectors * system.vector_bytes, plan.hops, "pipelined")
    check_schedule(schedule, system)
    _replay(schedule, system)
    h = plan.hops
    assert schedule.cycles >= max(lower_bounds("all-reduce", system, nbytes).values())
    # with chunks in order (rank weight > 0) the first broadcast hop leaves before the last partial sum has
    # landed: the phases overlap (depth only, weight 0, sums every chunk at about the same time)
    if plan.notes["rank_weight"] > 0:
        assert h.start[h.all_sources].min() < h.arrive[~h.all_sources].max()


@pytest.mark.parametrize("spec", ["fc:8", "torus:4x4", "ring:6", "torus:8x8"])
def test_one_vector_all_reduce_by_gathering_meets_the_latency_bound(spec):
    system = load_system(spec)
    schedule = synthesize("all-reduce", system, system.vector_bytes)
    check_schedule(schedule, system)
    assert schedule.notes.get("gathered")
    assert schedule.cycles == lower_bounds("all-reduce", system, system.vector_bytes)["latency"]


@pytest.mark.parametrize("spec", ["dragonfly:a=4,h=2,g=9", "dragonfly:a=4,h=1,g=5"])
def test_dragonfly_all_reduce_of_a_few_vectors_takes_three_hops(spec):
    from compiler.collectives.algorithms import hierarchical
    from compiler.collectives.algorithms.common import Job

    system = load_system(spec)
    for vectors in (1, 3):
        nbytes = vectors * system.vector_bytes
        schedule = synthesize("all-reduce", system, nbytes)
        check_schedule(schedule, system)
        _replay(schedule, system)
        assert schedule.notes.get("hierarchical")
        # local, global, local: the diameter, the vectors following each other one slot (77 cycles) apart
        assert schedule.cycles == lower_bounds("all-reduce", system, nbytes)["latency"] + (vectors - 1) * 77
    broken = load_system(spec + "/fail=0-1")
    job = Job("all-reduce", broken, Net(broken), list(broken.alive_chips()), system.vector_bytes)
    assert not hierarchical.applies(job) and hierarchical.all_reduce(job) is None
    check_schedule(synthesize("all-reduce", broken, system.vector_bytes), broken)


@pytest.mark.parametrize("spec, vectors", [("ring:8", 3), ("ring:7", 1), ("torus:4x4", 1), ("torus:4x4", 2),
                                           ("torus:3x4", 1), ("fc:6", 1), ("dragonfly:a=2,h=1,g=3", 2),
                                           ("torus:4x4/fail=0-1", 1)])
def test_ring_all_to_all_link_loads_are_its_schedules(spec, vectors):
    """The ring all-to-all's link loads, counted without building its routes, are exactly what its
    schedule puts on every link, and its floor is never above the schedule's cycles: so the benchmark
    may compare auto with the floor where the ring is too slow to schedule (1024+ chips)."""
    from compiler.collectives.algorithms import ring
    from compiler.collectives.algorithms.common import Job
    from compiler.collectives.synthesize import ring_all_to_all_floor

    system = load_system(spec)
    net = Net(system)
    nbytes = vectors * system.vector_bytes * len(net.alive)
    schedule = synthesize("all-to-all", system, nbytes, algorithm="ring")
    h = schedule.hops
    link = np.searchsorted(net.keys, (np.asarray(h.src) * net.n + np.asarray(h.dst)) * net.nports + np.asarray(h.port))
    carried = np.bincount(link, minlength=len(net.src)) * (schedule.chunk_bytes // system.vector_bytes)
    loads = ring.all_to_all_link_vectors(Job("all-to-all", system, net, list(net.alive), nbytes))
    assert loads.tolist() == carried.tolist()
    floor = ring_all_to_all_floor(system, nbytes)
    assert 0 < floor <= schedule.cycles
    busiest = int(np.argmax(loads * net.ser))
    assert floor >= loads[busiest] * net.ser[busiest] + net.lat[busiest]
