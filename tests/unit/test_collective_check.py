"""The independent collective checker: hand-built schedules it must accept,
and one broken schedule for every rule it enforces; plus the JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compiler.collectives.check import check_schedule
from compiler.collectives.export import from_json, to_json
from compiler.collectives.schedule import CollectiveSchedule, Hops, HopsBuilder
from compiler.errors import LockstepError
from compiler.system import PRESET_DIR, System, load_system

VB = 1280  # bytes per vector of the preset machine


# -- hand-built schedules ------------------------------------------------------------


def asap(system, kind, nbytes, count, chunk_bytes, moves, participants=None, gap=0):
    """A schedule from `moves` = (src chip, dst chip, chunk, source ranks[, port]), each
    placed as soon as its link is free and its data is at the sender (the data
    is the sender's own contribution, a received partial sum, or a union of
    them; hops are placed in the order given). `gap` delays every hop."""
    parts = tuple(range(system.chips)) if participants is None else tuple(participants)
    rank = {chip: r for r, chip in enumerate(parts)}
    n = len(parts)
    vectors = -(-chunk_bytes // system.vector_bytes)
    link_free: dict[tuple[int, int], int] = {}
    held: dict[tuple[int, int], dict[int, int]] = {}  # (chip, chunk) -> {mask: earliest arrival}

    def initial(chip, chunk):
        r = rank.get(chip)
        if r is None:
            return 0
        if kind in ("all-reduce", "reduce-scatter"):
            return 1 << r
        if kind == "broadcast":
            return 1 if r == 0 else 0
        if kind == "all-gather":
            return 1 << r if chunk // (count // n) == r else 0
        return 1 << r if chunk // (count // (n * n)) // n == r else 0

    def ready(chip, chunk, mask):
        have = dict(held.get((chip, chunk), {}))
        if initial(chip, chunk):
            have[initial(chip, chunk)] = 0
        if mask in have:
            return have[mask]
        left, when = mask, 0
        for m, t in sorted(have.items(), key=lambda kv: (-kv[0].bit_count(), kv[1])):
            if m & ~left == 0:
                left &= ~m
                when = max(when, t)
        assert left == 0, f"hand-built schedule: chip {chip} cannot form {mask:b} of chunk {chunk}"
        return when

    b = HopsBuilder()
    for src, dst, chunk, sources, *port in moves:
        port = port[0] if port else 0
        mask = sum(1 << s for s in sources)
        link = system.link(src, dst, port)
        start = max(link_free.get((src, dst, port), 0), ready(src, chunk, mask)) + gap
        end = start + vectors * system.serialization_cycles(link)
        arrive = end + system.hop_latency(link)
        link_free[(src, dst, port)] = end
        slot = held.setdefault((dst, chunk), {})
        slot[mask] = min(slot.get(mask, arrive), arrive)
        b.add(src, dst, port, start, end, arrive, chunk, list(sources))
    return CollectiveSchedule(kind, parts, nbytes, count, chunk_bytes, b.build(), "hand")


def ring_all_gather(system, vectors=1):
    n = system.chips
    moves = [(i, (i + 1) % n, (i - s) % n, [(i - s) % n]) for s in range(n - 1) for i in range(n)]
    return asap(system, "all-gather", n * vectors * VB, n, vectors * VB, moves)


def ring_reduce_scatter_moves(n):
    return [(i, (i + 1) % n, (i - s - 1) % n, [(i - t) % n for t in range(s + 1)])
            for s in range(n - 1) for i in range(n)]


def ring_reduce_scatter(system, vectors=1):
    n = system.chips
    return asap(system, "reduce-scatter", n * vectors * VB, n, vectors * VB, ring_reduce_scatter_moves(n))


def ring_all_reduce(system, vectors=1):
    n = system.chips
    moves = ring_reduce_scatter_moves(n)
    moves += [(i, (i + 1) % n, (i - s) % n, list(range(n))) for s in range(n - 1) for i in range(n)]
    return asap(system, "all-reduce", n * vectors * VB, n, vectors * VB, moves)


def tree_moves(system, owner_chip, chunk, sources):
    """Flood `chunk` from `owner_chip` to every chip along shortest-path routes."""
    seen, moves = {owner_chip}, []
    for target in sorted(range(system.chips), key=lambda c: system.distance(owner_chip, c)):
        for hop in system.route(owner_chip, target):
            if hop.dst not in seen:
                seen.add(hop.dst)
                moves.append((hop.src, hop.dst, chunk, sources))
    return moves


def flood_all_gather(system, vectors=1):
    n = system.chips
    moves = [m for c in range(n) for m in tree_moves(system, c, c, [c])]
    return asap(system, "all-gather", n * vectors * VB, n, vectors * VB, moves)


def flood_broadcast(system, chunks=2, vectors=1):
    moves = [m for c in range(chunks) for m in tree_moves(system, 0, c, [0])]
    return asap(system, "broadcast", chunks * vectors * VB, chunks, vectors * VB, moves)


def routed_all_to_all(system, vectors=1):
    n = system.chips
    moves = []
    for i in range(n):
        for j in range(n):
            if i != j:
                moves += [(h.src, h.dst, i * n + j, [i]) for h in system.route(i, j)]
    return asap(system, "all-to-all", n * vectors * VB, n * n, vectors * VB, moves)


def direct_all_reduce(system, vectors=1):
    """fc: every rank sends its contribution of chunk c to rank c, which sends the sum back."""
    n = system.chips
    moves = [(i, c, c, [i]) for c in range(n) for i in range(n) if i != c]
    moves += [(c, j, c, list(range(n))) for c in range(n) for j in range(n) if j != c]
    return asap(system, "all-reduce", n * vectors * VB, n, vectors * VB, moves)


def hand_built():
    """(name, schedule, system) for every hand-built valid schedule."""
    out = []
    for topo in ("fc:4", "ring:4", "ring:5", "torus:3x3", "torus:2x3"):
        system = load_system(topo)
        makers = [flood_all_gather, flood_broadcast, routed_all_to_all]
        if topo.startswith("ring"):
            makers += [ring_all_gather, ring_reduce_scatter, ring_all_reduce]
        if topo.startswith("fc"):
            makers.append(direct_all_reduce)
        for make in makers:
            for v in (1, 3):
                out.append((f"{topo} {make.__name__} x{v}", make(system, vectors=v), system))
    return out


HAND_BUILT = hand_built()


@pytest.mark.parametrize("name,schedule,system", HAND_BUILT, ids=[h[0] for h in HAND_BUILT])
def test_hand_built_schedules_pass(name, schedule, system):
    check_schedule(schedule, system)


# -- broken schedules ----------------------------------------------------------------


def with_hops(schedule, **changes):
    """A copy with some hop columns replaced (callables get the old column)."""
    h = schedule.hops
    cols = {name: getattr(h, name).copy() for name in
            ("src", "dst", "port", "start", "end", "arrive", "chunk", "sources_begin", "sources_end", "sources_idx")}
    for name, value in changes.items():
        cols[name] = np.asarray(value(cols[name]) if callable(value) else value, dtype=np.int64)
    return CollectiveSchedule(schedule.kind, schedule.participants, schedule.bytes_per_chip,
                              schedule.chunk_count, schedule.chunk_bytes, Hops(**cols), schedule.algorithm)


def drop(schedule, index):
    h = schedule.hops
    keep = np.ones(len(h), dtype=bool)
    keep[index] = False
    b = HopsBuilder()
    for i in np.flatnonzero(keep).tolist():
        b.add(int(h.src[i]), int(h.dst[i]), int(h.port[i]), int(h.start[i]), int(h.end[i]), int(h.arrive[i]),
              int(h.chunk[i]), h.sources(i))
    return CollectiveSchedule(schedule.kind, schedule.participants, schedule.bytes_per_chip,
                              schedule.chunk_count, schedule.chunk_bytes, b.build(), schedule.algorithm)


def shift(schedule, index, by):
    def move(col):
        col[index] += by
        return col

    return with_hops(schedule, start=move, end=move, arrive=move)


@pytest.fixture
def ring4():
    return load_system("ring:4")


@pytest.fixture
def fc4():
    return load_system("fc:4")


def expect(schedule, system, *fragments):
    with pytest.raises(LockstepError) as err:
        check_schedule(schedule, system)
    for fragment in fragments:
        assert fragment in str(err.value), str(err.value)
    return str(err.value)


def test_overlap_on_a_link(fc4):
    s = flood_broadcast(fc4, chunks=2)
    # hop 3 (chunk 1, 0->1) waits for hop 0 (chunk 0, 0->1); pull it onto hop 0's slot
    second = int(np.flatnonzero((s.hops.chunk == 1) & (s.hops.dst == 1))[0])
    broken = shift(s, second, -int(s.hops.start[second]))
    expect(broken, fc4, f"hop {second} (0->1, cycle 0, chunk 1)", "overlaps hop 0")


def test_missing_link(ring4):
    s = ring_all_gather(ring4)
    broken = with_hops(s, dst=lambda d: np.where(np.arange(len(d)) == 2, 0, d))  # hop 2 is 2->3; make it 2->0
    expect(broken, ring4, "hop 2 (2->0", "has no such link")


def test_wrong_port(ring4):
    s = ring_all_gather(ring4)
    broken = with_hops(s, port=lambda p: np.where(np.arange(len(p)) == 0, 1, p))
    expect(broken, ring4, "hop 0 (0->1 port 1", "no such link")


def test_forward_before_arrival(ring4):
    s = ring_all_gather(ring4)
    # hop 4 forwards chunk 3 from chip 0 (it arrives over hop 3 at 527); start it at 100
    assert (int(s.hops.src[4]), int(s.hops.chunk[4])) == (0, 3)
    broken = shift(s, 4, 100 - int(s.hops.start[4]))
    expect(broken, ring4, "hop 4 (0->1, cycle 100, chunk 3)", "does not hold the data of rank 3",
           "hop 3 brings the data of rank 3 only at cycle 527")


def test_forward_what_it_never_gets(ring4):
    s = ring_all_gather(ring4)
    broken = with_hops(s, sources_idx=lambda idx: np.where(np.arange(len(idx)) == 0, 1, idx))
    expect(broken, ring4, "hop 0 (0->1, cycle 0, chunk 0)", "does not hold the data of rank 1")


def test_overlapping_partial_sums(fc4):
    # chip 0 receives {1,2} and {2,3} of chunk 0 and forwards {1,2,3}: they overlap in rank 2.
    moves = [(1, 2, 0, [1]), (2, 0, 0, [1, 2]), (3, 2, 0, [3]), (2, 3, 0, [2]), (3, 0, 0, [2, 3]),
             (0, 1, 0, [1, 2, 3])]
    s = asap(fc4, "reduce-scatter", 4 * VB, 4, VB, moves[:5])
    b = HopsBuilder()
    h = s.hops
    for i in range(len(h)):
        b.add(int(h.src[i]), int(h.dst[i]), 0, int(h.start[i]), int(h.end[i]), int(h.arrive[i]), int(h.chunk[i]),
              h.sources(i))
    start = int(h.arrive.max())
    b.add(0, 1, 0, start, start + 77, start + 527, 0, [1, 2, 3])
    broken = CollectiveSchedule("reduce-scatter", s.participants, s.bytes_per_chip, 4, VB, b.build(), "hand")
    expect(broken, fc4, f"hop 5 (0->1, cycle {start}, chunk 0)", "partial sum of ranks {1, 2, 3}", "overlap")


def test_partial_sums_add_when_disjoint(fc4):
    # the same, but chip 0 adds {1,2} and {3} (disjoint) and its own {0}
    moves = [(1, 2, 1, [1]), (2, 0, 1, [1, 2]), (3, 0, 1, [3]), (0, 1, 1, [0, 1, 2, 3])]
    s = asap(fc4, "all-reduce", 4 * VB, 4, VB, moves)
    with pytest.raises(LockstepError, match="incomplete all-reduce"):
        check_schedule(s, fc4)  # everything else is missing, but the hops themselves are fine


def test_wrong_occupancy(ring4):
    s = ring_all_gather(ring4, vectors=2)
    broken = with_hops(s, end=lambda e: e - 1, arrive=lambda a: a - 1)
    expect(broken, ring4, "hop 0 (0->1, cycle 0, chunk 0)", "153 cycles", "2 vector(s) x 77 cycles = 154")


def test_wrong_arrival(ring4):
    s = ring_all_gather(ring4)
    broken = with_hops(s, arrive=lambda a: a - 10)
    expect(broken, ring4, "hop 0", "arrives at 517", "hop latency 450 = 527")


def test_negative_start(ring4):
    expect(shift(ring_all_gather(ring4), 0, -5), ring4, "hop 0", "before cycle 0")


def test_incomplete_all_gather(ring4):
    s = ring_all_gather(ring4)
    last = len(s.hops) - 1  # the final step's hop into chip 0
    broken = drop(s, last)
    message = expect(broken, ring4, "incomplete all-gather")
    assert "never gets the data of rank" in message


def test_incomplete_reduce_scatter(ring4):
    s = ring_reduce_scatter(ring4)
    broken = drop(s, len(s.hops) - 1)
    expect(broken, ring4, "incomplete reduce-scatter", "never gets the full sum")


def test_incomplete_all_to_all(fc4):
    s = routed_all_to_all(fc4)
    index = int(np.flatnonzero(s.hops.chunk == 1 * 4 + 2)[0])  # rank 1 -> rank 2
    broken = drop(s, index)
    expect(broken, fc4, "incomplete all-to-all: rank 2 (chip 2) never gets the data of rank 1 of chunk 6")


def test_incomplete_broadcast_and_all_reduce(fc4):
    s = flood_broadcast(fc4)
    expect(drop(s, 0), fc4, "incomplete broadcast")
    s = direct_all_reduce(fc4)
    expect(drop(s, len(s.hops) - 1), fc4, "incomplete all-reduce", "never gets the full sum")


def test_header_rules(fc4):
    s = flood_all_gather(fc4)
    small = CollectiveSchedule("all-gather", s.participants, 10 * VB, 4, VB, s.hops, "hand")
    expect(small, fc4, "cannot hold")
    odd = CollectiveSchedule("all-gather", s.participants, 4 * VB, 6, VB, s.hops, "hand")
    expect(odd, fc4, "divisible by 4")
    twice = CollectiveSchedule("all-gather", (0, 1, 1, 2), 4 * VB, 4, VB, s.hops, "hand")
    expect(twice, fc4, "twice")
    outside = CollectiveSchedule("all-gather", (0, 1, 2, 7), 4 * VB, 4, VB, s.hops, "hand")
    expect(outside, fc4, "chip 7")
    expect(with_hops(s, chunk=lambda c: c + 4), fc4, "no such chunk")
    expect(with_hops(s, sources_idx=lambda i: i + 4), fc4, "is not a rank")


def test_duplicate_source(fc4):
    moves = [(1, 0, 0, [1])]
    s = asap(fc4, "all-reduce", 4 * VB, 4, VB, moves)
    broken = with_hops(s, sources_begin=[0], sources_end=[2], sources_idx=[1, 1])
    expect(broken, fc4, "hop 0", "twice")


def test_no_hops_for_one_chip():
    single = load_system("fc:1")
    s = CollectiveSchedule("all-reduce", (0,), 4096, 0, 0, HopsBuilder().build(), "none")
    check_schedule(s, single)


def test_subset_of_participants_with_a_relay(ring4):
    # ranks 0, 1 on chips 0 and 2 of a ring: data relays through chip 1
    moves = [(0, 1, 0, [0]), (1, 2, 0, [0]), (2, 3, 1, [1]), (3, 0, 1, [1])]
    s = asap(ring4, "all-gather", 2 * VB, 2, VB, moves, participants=(0, 2))
    check_schedule(s, ring4)
    expect(drop(s, 3), ring4, "incomplete all-gather: rank 0 (chip 0)")


# -- JSON ----------------------------------------------------------------------------


def test_json_round_trip(ring4):
    s = ring_all_reduce(ring4, vectors=2)
    data = to_json(s, ring4)
    assert set(data) == {"kind", "chips", "bytes_per_chip", "links", "chunks", "hops"}
    assert data["chunks"] == {"count": 4, "bytes": 2 * VB}
    assert data["links"][0] == {"src": 0, "dst": 1, "bytes_per_cycle": ring4.link_classes["c2c"].bytes_per_cycle,
                                "latency": 450}
    assert data["hops"][0] == {"src": 0, "dst": 1, "start": 0, "end": 154, "arrive": 604, "chunk": 3,
                               "sources": [0]}
    back = from_json(json.loads(json.dumps(data)))
    for name in ("src", "dst", "port", "start", "end", "arrive", "chunk", "all_sources"):
        assert np.array_equal(getattr(back.hops, name), getattr(s.hops, name)), name
    assert all(np.array_equal(back.hops.sources(i), s.hops.sources(i)) for i in range(len(s.hops)))
    assert (back.kind, back.participants, back.bytes_per_chip, back.chunk_count, back.chunk_bytes) == \
        (s.kind, s.participants, s.bytes_per_chip, s.chunk_count, s.chunk_bytes)
    check_schedule(back, ring4)


def doubled_ring4():
    """ring:4 with two parallel links per neighbour pair (ports 0 and 1)."""
    body = (PRESET_DIR / "single.toml").read_text().split("[topology]")[0]
    return System.from_toml(body + '[topology]\nkind = "ring"\nchips = 4\nlinks_per_pair = 2\n')


def test_parallel_links_and_participants_in_json():
    system = doubled_ring4()
    # ranks 0, 1 on chips 0 and 2; both chunks of rank 0 leave chip 0 at once on ports 0 and 1
    moves = [(0, 1, 0, [0], 0), (0, 1, 1, [0], 1), (1, 2, 0, [0], 0), (1, 2, 1, [0], 1),
             (2, 3, 2, [1], 0), (2, 3, 3, [1], 1), (3, 0, 2, [1], 0), (3, 0, 3, [1], 1)]
    s = asap(system, "all-gather", 4 * VB, 4, VB, moves, participants=(0, 2))
    assert s.hops.start[1] == 0  # the parallel link is free
    check_schedule(s, system)
    data = to_json(s, system)
    assert data["participants"] == [0, 2]
    assert data["hops"][1] == {"src": 0, "dst": 1, "port": 1, "start": 0, "end": 77, "arrive": 527, "chunk": 1,
                               "sources": [0]}
    assert all("port" in link for link in data["links"]) and len(data["links"]) == 16
    back = from_json(json.loads(json.dumps(data)))
    assert back.participants == (0, 2) and back.hops.port.tolist() == s.hops.port.tolist()
    check_schedule(back, system)
    # the same two chunks on one port collide
    clash = with_hops(s, port=lambda p: np.zeros_like(p))
    expect(clash, system, "hop 1 (0->1, cycle 0, chunk 1): overlaps hop 0")


def test_failed_link(ring4):
    s = ring_all_gather(ring4)
    failed = load_system("ring:4/fail=1-2")
    expect(s, failed, "hop 1 (1->2, cycle 0, chunk 1): the link has failed")
    expect(CollectiveSchedule("broadcast", (0, 1, 2), VB, 1, VB, HopsBuilder().build(), "x"),
           load_system("ring:4/failchip=2"), "rank 2 is chip 2, which has failed")


def test_json_errors():
    with pytest.raises(LockstepError, match="missing 'kind'"):
        from_json({})
    with pytest.raises(LockstepError, match="unknown kind"):
        from_json({"kind": "gossip"})
    base = {"kind": "broadcast", "chips": 2, "bytes_per_chip": 1, "chunks": {"count": 1, "bytes": 1}}
    with pytest.raises(LockstepError, match="lacks 'arrive'"):
        from_json(base | {"hops": [{"src": 0, "dst": 1, "start": 0, "end": 1, "chunk": 0, "sources": [0]}]})
    with pytest.raises(LockstepError, match="integer"):
        from_json(base | {"hops": [{"src": 0, "dst": 1, "start": "x", "end": 1, "arrive": 2, "chunk": 0,
                                    "sources": [0]}]})
    with pytest.raises(LockstepError, match="'chunks.count'"):
        from_json(base | {"chunks": {"bytes": 1}, "hops": []})


# -- full sums: all_sources -------------------------------------------------------------


def as_full_sums(schedule):
    """The same schedule with every hop that lists all N ranks marked all_sources instead."""
    h, n = schedule.hops, len(schedule.participants)
    b = HopsBuilder()
    for i in range(len(h)):
        sources = h.sources(i, n)
        b.add(int(h.src[i]), int(h.dst[i]), int(h.port[i]), int(h.start[i]), int(h.end[i]), int(h.arrive[i]),
              int(h.chunk[i]), "all" if len(sources) == n else sources.tolist())
    return CollectiveSchedule(schedule.kind, schedule.participants, schedule.bytes_per_chip, schedule.chunk_count,
                              schedule.chunk_bytes, b.build(), schedule.algorithm)


def test_full_sum_hops_pass(ring4):
    for schedule, system in ((ring_all_reduce(ring4, vectors=2), ring4),
                             (direct_all_reduce(load_system("fc:4")), load_system("fc:4"))):
        full = as_full_sums(schedule)
        h = full.hops
        assert h.all_sources.sum() == 12 and len(h.sources_idx) < len(schedule.hops.sources_idx)
        assert (h.sources_begin == h.sources_end)[h.all_sources].all()
        i = int(np.flatnonzero(h.all_sources)[0])
        assert full.sources(i).tolist() == [0, 1, 2, 3] and h.sources(i, 4).tolist() == [0, 1, 2, 3]
        with pytest.raises(ValueError, match="full sum"):
            h.sources(i)
        check_schedule(full, system)


def test_full_sum_hop_whose_sender_lacks_a_rank(ring4):
    s = as_full_sums(ring_all_reduce(ring4))
    h = s.hops
    # the last reduce-scatter step carries 3 of the 4 ranks: claim the full sum there instead
    i = int(np.flatnonzero(h.sources_end - h.sources_begin == 3)[0])
    full = h.all_sources.copy()
    full[i] = True
    broken = CollectiveSchedule(s.kind, s.participants, s.bytes_per_chip, s.chunk_count, s.chunk_bytes,
                                Hops(h.src, h.dst, h.port, h.start, h.end, h.arrive, h.chunk, h.sources_begin,
                                     np.where(full, h.sources_begin, h.sources_end), h.sources_idx, full),
                                s.algorithm)
    expect(broken, ring4, f"hop {i} (", f"chip {int(h.src[i])} does not hold a partial sum of ranks {{0, 1, 2, 3}}")


def test_full_sum_hop_that_also_lists_sources(ring4):
    s = ring_all_reduce(ring4)
    h = s.hops
    i = int(np.flatnonzero(h.sources_end - h.sources_begin == 4)[0])
    full = np.zeros(len(h), dtype=bool)
    full[i] = True
    both = CollectiveSchedule(s.kind, s.participants, s.bytes_per_chip, s.chunk_count, s.chunk_bytes,
                              Hops(h.src, h.dst, h.port, h.start, h.end, h.arrive, h.chunk, h.sources_begin,
                                   h.sources_end, h.sources_idx, full), s.algorithm)
    expect(both, ring4, f"hop {i} (", "is marked all_sources but also lists sources")
    short = CollectiveSchedule(s.kind, s.participants, s.bytes_per_chip, s.chunk_count, s.chunk_bytes,
                               Hops(h.src, h.dst, h.port, h.start, h.end, h.arrive, h.chunk, h.sources_begin,
                                    h.sources_end, h.sources_idx, full[:-1]), s.algorithm)
    expect(short, ring4, "hop column 'all_sources' has")
    with pytest.raises(ValueError, match="'all'"):
        HopsBuilder().add(0, 1, 0, 0, 1, 2, 0, "some")


def test_full_sums_in_json(ring4):
    s = as_full_sums(ring_all_reduce(ring4, vectors=2))
    data = json.loads(json.dumps(to_json(s, ring4)))
    full = [hop for hop in data["hops"] if hop["sources"] == "all"]
    assert len(full) == 12 and all(isinstance(hop["sources"], list) for hop in data["hops"] if hop not in full)
    back = from_json(data)
    for name in ("src", "dst", "port", "start", "end", "arrive", "chunk", "sources_begin", "sources_end", "sources_idx",
                 "all_sources"):
        assert np.array_equal(getattr(back.hops, name), getattr(s.hops, name)), name
    check_schedule(back, ring4)
    # the long form still reads, as a list
    listed = json.loads(json.dumps(to_json(ring_all_reduce(ring4, vectors=2), ring4)))
    assert not from_json(listed).hops.all_sources.any()
    check_schedule(from_json(listed), ring4)
    bad = dict(data, hops=[dict(data["hops"][0], sources="most")])
    with pytest.raises(LockstepError, match='"all"'):
        from_json(bad)


def test_synthesised_all_reduce_uses_full_sums_and_realise_reads_them():
    from compiler.collectives.synthesize import synthesize
    from passes.collective_realise import Realisation

    system = load_system("torus:4x4")
    s = synthesize("all-reduce", system, 64 * VB)
    check_schedule(s, system)
    h = s.hops
    assert h.all_sources.any() and not h.all_sources.all()
    assert len(h.sources_idx) == int((h.sources_end - h.sources_begin)[~h.all_sources].sum())
    real = Realisation(None, system, s, s.chunk_bytes // VB)
    full, part = int(np.flatnonzero(h.all_sources)[0]), int(np.flatnonzero(~h.all_sources)[0])
    assert real.hop_mask(full) == (1 << 16) - 1
    assert real.hop_mask(part) == sum(1 << int(r) for r in h.sources(part))
    assert h.src.dtype == np.int32 and h.start.dtype == np.int64  # ids in 32 bits, cycles in 64
