"""Collective lower bounds: exact numbers on tiny systems worked out by hand,
and never above an achieved schedule (hand-built or synthesised)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from compiler.collectives.bounds import _min_time, binding, lower_bounds
from compiler.collectives.check import check_schedule
from compiler.collectives.schedule import KINDS
from compiler.errors import LockstepError
from compiler.system import PRESET_DIR, System, load_system

# The preset machine: a vector is 1280 bytes; a C2C link moves 16.67 bytes per
# cycle, so one vector occupies it ceil(76.8) = 77 cycles, and lands 450 later.
VB, SER, LAT = 1280, 77, 450


def hops(vectors_per_link: int) -> int:
    """Cycles until a link has carried `vectors_per_link` vectors and the last one landed."""
    return vectors_per_link * SER + LAT


def _load_check_tests():
    path = Path(__file__).with_name("test_collective_check.py")
    spec = importlib.util.spec_from_file_location("_collective_check_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HELPERS = _load_check_tests()


# -- by hand ---------------------------------------------------------------------------


def test_fc4_by_hand():
    # N = 4, M = 12 vectors: a piece P = 3 vectors, the buffer Q = 12; 3 links out, 3 in per chip.
    s = load_system("fc:4")
    m = 12 * VB
    assert lower_bounds("all-gather", s, m) == {
        "injection": hops(3),   # N(N-1)P = 36 vectors over all 12 links: 3 each
        "ejection": hops(3),    # (N-1)P = 9 in over 3 links
        "bisection": hops(2),   # {0,1} | {2,3}: 2 pieces = 6 vectors over 4 links: ceil 1.5 = 2
        "ramp": hops(3),        # 3 per link: the chip's own 3 vectors are there from cycle 0
        "latency": SER + LAT,   # one hop
    }
    assert lower_bounds("reduce-scatter", s, m) == {
        "injection": hops(3), "ejection": hops(3), "bisection": hops(2), "ramp": hops(3), "latency": SER + LAT}
    assert lower_bounds("all-reduce", s, m) == {
        "injection": hops(6),   # 2(N-1)Q = 72 vectors over 12 links
        "ejection": hops(4),    # Q = 12 in over 3 links
        "bisection": hops(3),   # Q = 12 each way over 4 links
        "ramp": hops(6),        # one hop apart, first sends and last receipts can share every cycle
        "latency": SER + LAT,
    }
    assert lower_bounds("all-to-all", s, m) == {
        "injection": hops(3),   # (N-1)P = 9 out over 3 links
        "ejection": hops(3),
        "bisection": hops(3),   # 2 x 2 blocks of 3 vectors over 4 links
        "hop_bytes": hops(3),   # 12 pairs x 3 vectors x 1 hop x 77 = 2772 busy cycles over 12 links
        "latency": SER + LAT,
    }
    assert lower_bounds("broadcast", s, m) == {
        "injection": hops(4),   # the root sends Q = 12 over 3 links
        "ejection": hops(4),
        "bisection": hops(3),   # Q over the 4 links leaving the root's half
        "latency": SER + LAT,
    }


def test_ring4_by_hand():
    # 2 links out, 2 in per chip; diameter 2.
    s = load_system("ring:4")
    m = 12 * VB
    assert lower_bounds("all-gather", s, m) == {
        "injection": hops(5),   # 36 vectors over 8 links: ceil(4.5)
        "ejection": hops(5),    # 9 in over 2 links: ceil(4.5)
        "bisection": hops(3),   # arc {0,1}: 6 vectors over the 2 links leaving it
        # 36 over 8 links: some link carries 5 useful vectors, but before cycle 527 its chip holds only
        # its own 3, so the 4th and 5th start at 527 and 604 and the 5th lands at 604 + 77 + 450
        "ramp": 2 * (SER + LAT) + SER,
        "latency": 2 * (SER + LAT),
    }
    assert lower_bounds("all-reduce", s, m)["injection"] == hops(9)  # 72 over 8 links
    a2a = lower_bounds("all-to-all", s, m)
    # bisection: 2 x 2 blocks x 3 vectors = 12 over 2 links; hop-bytes: from each chip
    # distances 1 + 1 + 2 = 4, x 4 chips x 3 vectors = 48 vector-hops over 8 links
    assert (a2a["bisection"], a2a["hop_bytes"], a2a["injection"]) == (hops(6), hops(6), hops(5))
    assert binding(a2a) == ("latency", 2 * (SER + LAT))  # 12 vectors are not enough to beat two hops


def test_torus3x3_by_hand():
    # N = 9, M = 9 vectors: P = 1, Q = 9; 4 links out and in per chip; diameter 2.
    s = load_system("torus:3x3")
    m = 9 * VB
    assert lower_bounds("all-gather", s, m) == {
        "injection": hops(2),   # 72 vectors over 36 links
        "ejection": hops(2),    # 8 in over 4 links
        "bisection": hops(1),   # row 0 | rows 1-2: 6 vectors over 6 links (3 columns, with wrap-around)
        "ramp": 2 * (SER + LAT),  # 2 per link: the own vector at 0, a neighbour's from 527
        "latency": 2 * (SER + LAT),
    }
    a2a = lower_bounds("all-to-all", s, m)
    # bisection: 3 x 6 blocks = 18 vectors over 6 links; hop-bytes: distances from a
    # chip 4 x 1 + 4 x 2 = 12, x 9 chips = 108 vector-hops over 36 links
    assert (a2a["bisection"], a2a["hop_bytes"]) == (hops(3), hops(3))
    assert lower_bounds("all-reduce", s, m)["injection"] == hops(4)  # 2 x 8 x 9 = 144 over 36 links


def test_trivial_cases():
    s = load_system("fc:4")
    assert set(lower_bounds("all-gather", s, 0).values()) == {0}
    assert set(lower_bounds("all-to-all", s, 4096, participants=[2]).values()) == {0}
    assert "hop_bytes" in lower_bounds("all-to-all", s, 0)
    assert "hop_bytes" not in lower_bounds("all-gather", s, 4096)
    assert binding({"a": 3, "b": 5, "c": 5}) == ("b", 5)


def test_bad_input():
    s = load_system("fc:4")
    with pytest.raises(LockstepError, match="unknown collective"):
        lower_bounds("gossip", s, 10)
    with pytest.raises(LockstepError, match="twice"):
        lower_bounds("all-gather", s, 10, participants=[1, 1])
    with pytest.raises(LockstepError, match="not in system"):
        lower_bounds("all-gather", s, 10, participants=[1, 9])
    with pytest.raises(LockstepError, match="has failed"):
        lower_bounds("all-gather", load_system("ring:4/failchip=2"), 10, participants=[1, 2])


def test_capacity_lemma_mixed_links():
    # links of 2 and 3 cycles per vector, landing 0 and 5 after: by T they carry
    # floor(T/2) + floor((T-5)/3): 5 vectors first at T = 8 (4 + 1)
    assert _min_time(np.array([2, 3]), np.array([0, 5]), 5) == 8
    assert _min_time(np.array([2, 3]), np.array([0, 5]), 0) == 0
    # busy cycles: 2 floor(T/2) + 3 floor((T-5)/3) >= 9 first at T = 8 (8 + 3)
    assert _min_time(np.array([2, 3]), np.array([0, 5]), 9, busy=True) == 8


def barbell() -> System:
    """Two fully connected 4-chip cliques joined by one bridge 3-4."""
    body = (PRESET_DIR / "single.toml").read_text().split("[topology]")[0]
    pairs = [[a, b] for side in (range(4), range(4, 8)) for a in side for b in side if a < b] + [[3, 4]]
    return System.from_toml(body + f'[topology]\nkind = "explicit"\nchips = 8\nlinks = {pairs}\n')


def test_min_cut_on_an_explicit_graph():
    s = barbell()
    b = lower_bounds("all-gather", s, 8 * 8 * VB)  # P = 8 vectors
    # the cut is the bridge: 4 pieces x 8 vectors = 32 vectors over one link each way
    assert b["bisection"] == hops(32)
    assert b["ejection"] == hops(19)  # 7 x 8 = 56 vectors into chip 0 over 3 links: ceil(18.7)
    assert b["latency"] == 3 * (SER + LAT)  # 0 -> 3 -> 4 -> 5
    assert binding(b) == ("bisection", hops(32))


def test_failures_shape_the_bounds():
    s = load_system("ring:6/fail=0-1")  # a path 1 - 2 - 3 - 4 - 5 - 0
    b = lower_bounds("all-gather", s, 6 * VB)  # P = 1
    assert b["latency"] == 5 * (SER + LAT)
    assert b["ejection"] == hops(5)  # chip 0 has one link in: 5 vectors through it
    dead = load_system("torus:3x3/failchip=4")
    assert lower_bounds("all-gather", dead, 8 * VB)["ejection"] >= hops(2)


# -- never above an achieved schedule ---------------------------------------------------------


@pytest.mark.parametrize("name,schedule,system", HELPERS.HAND_BUILT, ids=[h[0] for h in HELPERS.HAND_BUILT])
def test_bounds_never_exceed_hand_built(name, schedule, system):
    bounds = lower_bounds(schedule.kind, system, schedule.bytes_per_chip, schedule.participants)
    assert max(bounds.values()) <= schedule.cycles, (bounds, schedule.cycles)


def test_bound_is_tight_for_direct_fc_schedules():
    s = load_system("fc:4")
    ag = HELPERS.flood_all_gather(s, vectors=3)  # every chip sends its piece straight to the others
    assert binding(lower_bounds("all-gather", s, ag.bytes_per_chip))[1] == ag.cycles
    a2a = HELPERS.routed_all_to_all(s, vectors=2)
    assert binding(lower_bounds("all-to-all", s, a2a.bytes_per_chip))[1] == a2a.cycles


SYNTH_SYSTEMS = ("fc:4", "ring:5", "torus:3x3", "torus:2x2x2", "ring:6/fail=0-1", "torus:3x3/failchip=4",
                 "dragonfly:a=2,h=1,g=3")


@pytest.mark.parametrize("topology", SYNTH_SYSTEMS)
def test_bounds_never_exceed_synthesised(topology):
    synth = pytest.importorskip("compiler.collectives.synthesize")
    system = load_system(topology)
    for kind in KINDS:
        for nbytes in (VB // 2, 3 * VB, 40 * VB + 17):
            for algorithm in synth.ALGORITHMS:
                schedule = synth.synthesize(kind, system, nbytes, algorithm=algorithm)
                check_schedule(schedule, system)
                bounds = lower_bounds(kind, system, nbytes, schedule.participants)
                assert max(bounds.values()) <= schedule.cycles, (kind, nbytes, algorithm, bounds, schedule.cycles)


def slow_global_dragonfly() -> System:
    """dragonfly a=2, h=1, g=3 (a 6-cycle: local, global, local, ...) whose global
    links move half the bytes per cycle (154 cycles a vector) and land 900 later."""
    body = (PRESET_DIR / "single.toml").read_text().split("[link_classes")[0]
    return System.from_toml(body + "[link_classes.local]\nbytes_per_cycle = 16.666666666666668\nhop_latency = 450\n"
                            "[link_classes.global]\nbytes_per_cycle = 8.333333333333334\nhop_latency = 900\n"
                            '[topology]\nkind = "dragonfly"\na = 2\nh = 1\ng = 3\n')


def test_mixed_link_classes_by_hand():
    s = slow_global_dragonfly()
    b = lower_bounds("all-gather", s, 6 * 4 * VB)  # P = 4: 20 vectors into every chip
    # one local link (77, 450) and one global (154, 900): floor((T-450)/77) + floor((T-900)/154)
    # reaches 20 first at T = 1670 (15 + 5)
    assert b["ejection"] == 1670
    # farthest pair: local + global + local = 527 + 1054 + 527
    assert b["latency"] == 2108


def test_parallel_links_double_the_capacity():
    s = HELPERS.doubled_ring4()
    b = lower_bounds("all-gather", s, 12 * VB)  # P = 3: 9 vectors in over 4 links
    assert b["ejection"] == hops(3)
    assert b["bisection"] == hops(2)  # 6 vectors over 4 links leaving the arc


@pytest.mark.parametrize("make", [slow_global_dragonfly, HELPERS.doubled_ring4])
def test_bounds_never_exceed_synthesised_on_mixed_systems(make):
    synth = pytest.importorskip("compiler.collectives.synthesize")
    system = make()
    for kind in KINDS:
        for nbytes in (VB, 30 * VB):
            schedule = synth.synthesize(kind, system, nbytes)
            check_schedule(schedule, system)
            bounds = lower_bounds(kind, system, nbytes, schedule.participants)
            assert max(bounds.values()) <= schedule.cycles, (kind, nbytes, bounds, schedule.cycles)


@pytest.mark.parametrize("make", [lambda: load_system("torus:3x4"), lambda: load_system("ring:7"),
                                  lambda: load_system("fc:5"), lambda: load_system("torus:2x3x2"),
                                  lambda: load_system("dragonfly72"), slow_global_dragonfly])
def test_symmetric_distance_sums_match_all_pairs(make):
    from compiler.collectives import bounds as B

    system = make()
    g = B.link_graph(system)
    pidx = np.arange(system.chips)
    exact = int(B._distances(g, pidx, g.ser)[:, pidx].sum())
    assert B._pair_distance_sum(system, g, pidx, g.ser) == exact  # from the symmetric sources
    kind, dims = B._topology(system)
    assert B._wired_pair_sum(B._wired_graph(system), kind, dims, pidx) == exact
    some = pidx[::2]
    assert B._wired_pair_sum(B._wired_graph(system), kind, dims, some) == int(B._distances(g, some, g.ser)[:, some].sum())


# -- the ramp bound ------------------------------------------------------------------------------


def test_ramp_charges_the_start_up_on_a_big_torus():
    # 32x32, 1 MiB: P = 1 vector, 1023 x 1024 receipts over 4096 links = 256 a link. The capacity lemma
    # gives 256 x 77 + 450; but a chip holds only its own vector until 527, 4 more (3 useful to a
    # neighbour) until 1054, ... so a link idles about 10 of its first slots.
    s = load_system("torus:32x32")
    b = lower_bounds("all-gather", s, 1 << 20)
    assert b["injection"] == hops(256)
    assert b["injection"] + 450 <= b["ramp"] <= b["injection"] + 12 * SER
    assert lower_bounds("reduce-scatter", s, 1 << 20)["ramp"] == b["ramp"]  # the mirror image


@pytest.mark.parametrize("topology", ["torus:4x4", "ring:6", "fc:5", "dragonfly:a=2,h=1,g=3", "dragonfly72"])
@pytest.mark.parametrize("kind", ["all-gather", "reduce-scatter"])
def test_ramp_from_symmetric_sources_matches_every_chip(topology, kind, monkeypatch):
    from compiler.collectives import bounds as B

    system = load_system(topology)
    for nbytes in (VB, 5 * VB * system.chips + 3):
        fast = lower_bounds(kind, system, nbytes)["ramp"]
        with monkeypatch.context() as m:
            m.setattr(B, "_symmetric_sources", lambda *a: None)
            slow = lower_bounds(kind, system, nbytes)["ramp"]
        assert fast == slow > 0


RAMP_SYSTEMS = ("torus:4x4", "torus:3x5", "ring:8", "fc:6", "dragonfly:a=2,h=1,g=3", "dragonfly:a=4,h=2,g=3",
                "torus:4x4/fail=0-1", "ring:7/failchip=3", slow_global_dragonfly)


@pytest.mark.parametrize("topology", RAMP_SYSTEMS, ids=lambda t: t if isinstance(t, str) else t.__name__)
def test_ramp_never_exceeds_many_schedules(topology):
    """The ramp bound against every algorithm's all-gather and reduce-scatter, on sizes from a
    fraction of a vector to many vectors a piece, whole systems and subsets of chips."""
    synth = pytest.importorskip("compiler.collectives.synthesize")
    system = topology() if callable(topology) else load_system(topology)
    alive = list(system.alive_chips())
    rng = np.random.default_rng(7)
    subsets = [None, sorted(rng.choice(alive, size=max(2, len(alive) // 2), replace=False).tolist())]
    for kind in ("all-gather", "reduce-scatter"):
        for nbytes in (VB // 3, 2 * VB * len(alive) + 5, 9 * VB * len(alive)):
            for participants in subsets:
                for algorithm in synth.ALGORITHMS:
                    try:
                        schedule = synth.synthesize(kind, system, nbytes, participants, algorithm=algorithm)
                    except LockstepError:
                        continue  # the algorithm does not apply here
                    check_schedule(schedule, system)
                    ramp = lower_bounds(kind, system, nbytes, schedule.participants)["ramp"]
                    assert ramp <= schedule.cycles, (kind, nbytes, participants, algorithm, ramp, schedule.cycles)


# -- the all-reduce's ramp: first sends early, last receipts late ---------------------------------


def test_all_reduce_ramp_by_hand():
    # ring:8, 8 vectors: 2 x 7 x 8 = 112 vectors over 16 links, 7 a link. Every chip is 4 hops from the
    # farthest, so a chip's first sends start by T - 4 x 527 and its last receipts start from 3 x 527:
    # each window of a link holds floor((T - 2031) / 77) vectors until they meet; 4 + 4 >= 7 first at T = 2339
    ring = load_system("ring:8")
    b = lower_bounds("all-reduce", ring, 8 * VB)
    assert b["ramp"] == 2031 + 4 * SER == 2339
    assert binding(b) == ("ramp", 2339)  # above the latency bound (2108) and the capacity lemma (989)
    # torus 32x32, 1 MiB: 2 x 1023 x 820 vectors over 4096 links = 409.6 a link; each window holds
    # floor((T - 16787) / 77) (32 hops to the farthest chip), 2 x 205 >= 409.6 first at T = 16787 + 205 x 77
    torus = lower_bounds("all-reduce", load_system("torus:32x32"), 1 << 20)
    assert (torus["injection"], torus["ramp"]) == (hops(410), 16787 + 205 * SER)
    # one hop apart the windows always overlap: the ramp is the capacity lemma's bound
    fc = lower_bounds("all-reduce", load_system("fc:5"), 40 * VB)
    assert fc["ramp"] == fc["injection"]
    assert lower_bounds("all-reduce", slow_global_dragonfly(), 8 * VB)["ramp"] == 0  # mixed links: not computed


ALL_REDUCE_SYSTEMS = ("ring:8", "ring:7", "torus:4x4", "torus:3x5", "fc:6", "dragonfly:a=2,h=1,g=3",
                      "dragonfly:a=4,h=2,g=3", "torus:4x4/fail=0-1", "ring:7/failchip=3")


@pytest.mark.parametrize("topology", ALL_REDUCE_SYSTEMS)
def test_all_reduce_ramp_never_exceeds_many_schedules(topology):
    """The all-reduce ramp against every algorithm's schedule (summed up trees, gathered,
    ring, direct), from a fraction of a vector to many vectors a chip, whole systems and subsets."""
    synth = pytest.importorskip("compiler.collectives.synthesize")
    system = load_system(topology)
    alive = list(system.alive_chips())
    rng = np.random.default_rng(11)
    subsets = [None, sorted(rng.choice(alive, size=max(2, len(alive) // 2), replace=False).tolist())]
    for nbytes in (VB // 3, VB, 8 * VB, 2 * VB * len(alive) + 5):
        for participants in subsets:
            for algorithm in synth.ALGORITHMS:
                try:
                    schedule = synth.synthesize("all-reduce", system, nbytes, participants, algorithm=algorithm)
                except LockstepError:
                    continue  # the algorithm does not apply here
                check_schedule(schedule, system)
                ramp = lower_bounds("all-reduce", system, nbytes, schedule.participants)["ramp"]
                assert ramp <= schedule.cycles, (nbytes, participants, algorithm, ramp, schedule.cycles)
