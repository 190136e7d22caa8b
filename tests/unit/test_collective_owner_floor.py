"""The sum-then-broadcast floor (compiler/collectives/owner_floor.py): never
above a schedule of that class, above the general bounds where the class
is what limits, and not a bound on schedules outside the class."""
from __future__ import annotations

import pytest

from compiler.collectives.bounds import lower_bounds
from compiler.collectives.check import check_schedule
from compiler.collectives.engine import Net
from compiler.collectives.owner_floor import chain_floor, sum_then_broadcast_floor
from compiler.collectives.synthesize import synthesize
from compiler.system import load_system


def _floor(system, nbytes: int, participants=None) -> int:
    parts = list(system.alive_chips()) if participants is None else participants
    return sum_then_broadcast_floor(Net(system), parts, system.vector_bytes, nbytes)


def _owner_schedules(system, nbytes: int, participants=None):
    """The schedules of every algorithm that sums at owners, checked."""
    for algorithm in ("greedy", "greedy-shortest", "ring", "direct"):
        schedule = synthesize("all-reduce", system, nbytes, participants=participants, algorithm=algorithm)
        if schedule.notes.get("gathered") or schedule.notes.get("hierarchical"):
            continue  # sums formed at every chip: not of the class
        check_schedule(schedule, system)
        yield schedule


@pytest.mark.parametrize("spec", ["fc:4", "ring:6", "torus:3x3", "torus:4x4", "torus:4x4/fail=0-1",
                                  "dragonfly:a=2,h=1,g=3"])
@pytest.mark.parametrize("vectors", [1, 7, 30, 120])
def test_no_sum_then_broadcast_schedule_beats_the_floor(spec, vectors):
    system = load_system(spec)
    nbytes = vectors * system.vector_bytes
    floor = _floor(system, nbytes)
    assert floor >= chain_floor(Net(system), list(system.alive_chips()))
    for schedule in _owner_schedules(system, nbytes):
        assert schedule.cycles >= floor, (schedule.algorithm, schedule.cycles, floor)


def test_floor_with_a_subset_of_chips():
    system = load_system("torus:4x4")
    parts = [0, 1, 2, 5, 6, 9, 10]
    for vectors in (3, 40):
        nbytes = vectors * system.vector_bytes
        floor = _floor(system, nbytes, parts)
        cycles = [s.cycles for s in _owner_schedules(system, nbytes, parts)]
        assert len(cycles) >= 3 and min(cycles) >= floor


def test_the_floor_is_no_bound_on_gathering():
    # a few vectors: every chip gathers every contribution and sums for itself, far below the floor
    system = load_system("torus:4x4")
    nbytes = 5 * system.vector_bytes
    schedule = synthesize("all-reduce", system, nbytes)
    check_schedule(schedule, system)
    assert schedule.notes.get("gathered")
    assert schedule.cycles < _floor(system, nbytes)


def test_windows_add_to_the_chain_where_the_sums_turn_around():
    # torus 8x8, 200 vectors: the chain is 16 hops, but around the cycle each chunk's sum forms the links idle
    system = load_system("torus:8x8")
    nbytes = 200 * system.vector_bytes
    floor = _floor(system, nbytes)
    assert floor > chain_floor(Net(system), list(system.alive_chips()))
    assert floor > max(lower_bounds("all-reduce", system, nbytes).values())


def test_torus_32x32_all_reduce_needs_more_than_summing_at_owners():
    # issue 3's 0.95 of the ramp bound at 1 MiB is out of reach for any sum-then-broadcast schedule
    system = load_system("torus:32x32")
    nbytes = 1 << 20
    ramp = lower_bounds("all-reduce", system, nbytes)["ramp"]
    assert _floor(system, nbytes) > ramp / 0.95
