"""The machinery the collective algorithms share: a columnar view of the links,
the symmetry of the wiring, link calendars and three greedy schedulers.

Schedules are built as a *pattern*: the hops of the chunks of a few
representative chips, scheduled on per-orbit calendars, then copied onto every
chip by the symmetry group of the wiring (torus and ring translations, the
rotation of an fc, the turning of Dragonfly groups). An orbit is the set of
links one link is mapped to by the group; as the group acts freely on chips,
each copy of a pattern hop lands on a different link of its orbit, and the
copies of two pattern hops share a link only if the hops share an orbit. So
keeping the pattern's hops of one orbit disjoint in time keeps the whole
schedule collision-free. Without a symmetry (failed links, a subset of chips,
an explicit wiring) the group is the identity, every link is its own orbit and
every chip is a representative: the same code is then the plain greedy
time-expanded scheduler with one calendar per directed link.

Every scheduler only ever places a hop on a calendar interval it found free,
and forwards a chunk from a chip only at or after its arrival there; the
broadcast-tree scheduler also runs an all-reduce's reduction (`Reduction`),
which sends a partial sum up its tree only once its subtree's have landed.
"""
from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from compiler.collectives.schedule import Hops, ptr_slices
from compiler.errors import LockstepError

INF = np.int64(1) << 60
LOAD_WEIGHT = 0.0
# tree_greedy priorities: fewer links already bringing the chunk to the chip first, then farther from the owner
PRIO_ALT = 1000
PRIO_FAR = 1


# -- links -------------------------------------------------------------------


class Net:
    """The links in service as numpy columns, plus all-pairs hop distances."""

    def __init__(self, system) -> None:
        self.system = system
        self.n = system.chips
        la = system.link_arrays()
        self.src = np.asarray(la.src, dtype=np.int64)
        self.dst = np.asarray(la.dst, dtype=np.int64)
        self.port = np.asarray(la.port, dtype=np.int64)
        self.cls = np.asarray(la.cls, dtype=np.int64)
        self.ser = np.asarray(la.ser_cycles, dtype=np.int64)
        self.lat = np.asarray(la.hop_latency, dtype=np.int64)
        self.out_ptr = np.asarray(la.out_ptr, dtype=np.int64)
        self.nports = int(self.port.max()) + 1 if len(self.port) else 1
        self.keys = (self.src * self.n + self.dst) * self.nports + self.port  # sorted: links sort by (src, dst, port)
        alive = getattr(system, "alive_chips", None)
        self.alive = list(alive()) if alive else list(range(self.n))
        # Python lists for the per-hop loops (indexing numpy scalars is slow).
        self.src_l = self.src.tolist()
        self.dst_l = self.dst.tolist()
        self.ser_l = self.ser.tolist()
        self.lat_l = self.lat.tolist()
        self.out_l = [list(range(int(self.out_ptr[c]), int(self.out_ptr[c + 1]))) for c in range(self.n)]

    def __len__(self) -> int:
        return len(self.src)

    def lookup(self, src: np.ndarray, dst: np.ndarray, port: np.ndarray) -> np.ndarray:
        """Link ids of (src, dst, port) triples, -1 where there is no such link."""
        key = (np.asarray(src, dtype=np.int64) * self.n + dst) * self.nports + port
        at = np.searchsorted(self.keys, key)
        at = np.minimum(at, len(self.keys) - 1)
        return np.where(self.keys[at] == key, at, -1) if len(self.keys) else np.full(len(key), -1)

    @cached_property
    def reverse(self) -> np.ndarray:
        """The id of each link's twin (dst -> src, same port), -1 if missing or unlike."""
        twin = self.lookup(self.dst, self.src, self.port)
        ok = twin >= 0
        ok[ok] = (self.ser[twin[ok]] == self.ser[ok]) & (self.lat[twin[ok]] == self.lat[ok])
        return np.where(ok, twin, -1)

    @cached_property
    def dist(self) -> np.ndarray:
        """dist[a, b]: hops from chip a to chip b (a large number if unreachable)."""
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import shortest_path

        graph = csr_matrix((np.ones(len(self.src)), (self.src, self.dst)), shape=(self.n, self.n))
        d = shortest_path(graph, method="D", unweighted=True, directed=True)
        d[~np.isfinite(d)] = 1 << 20
        return d.astype(np.int32)


# -- symmetry ----------------------------------------------------------------


@dataclass
class Symmetry:
    """A group of chip permutations that maps the links in service onto themselves.

    `perms[e]` is element e (perms[0] the identity); `reps` holds one chip of
    every chip orbit. Link orbits: `orbit[l]` in 0..n_orbits-1, members
    `orbit_links[orbit_ptr[o]:orbit_ptr[o+1]]`."""

    perms: np.ndarray  # (G, chips)
    reps: list[int]
    orbit: np.ndarray
    orbit_ptr: np.ndarray
    orbit_links: np.ndarray
    # the group as a product of cyclic groups: element e <-> np.unravel_index(e, shape) (() = no structure known)
    shape: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        return len(self.perms)

    @property
    def n_orbits(self) -> int:
        return len(self.orbit_ptr) - 1


def _orbits_from_ids(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    uniq, orbit = np.unique(ids, return_inverse=True)
    order = np.argsort(orbit, kind="stable")
    ptr = np.searchsorted(orbit[order], np.arange(len(uniq) + 1))
    return orbit.astype(np.int64), ptr.astype(np.int64), order.astype(np.int64)


def trivial_symmetry(net: Net, chips: list[int] | None = None) -> Symmetry:
    orbit, ptr, order = _orbits_from_ids(np.arange(len(net)))
    return Symmetry(np.arange(net.n, dtype=np.int64)[None, :], list(chips if chips is not None else net.alive), orbit, ptr, order)


def find_symmetry(net: Net, participants: list[int]) -> Symmetry:
    """Translations of a torus or ring, rotation of an fc, turning the groups of
    a Dragonfly; checked against the links in service, else the identity."""
    system = net.system
    n = net.n
    if sorted(participants) != list(range(n)) or len(net) == 0:
        return trivial_symmetry(net, participants)
    kind = getattr(system, "topology_kind", system.topology.partition(":")[0])
    try:
        dims = tuple(system.dims) if hasattr(system, "dims") else ()
    except Exception:  # noqa: BLE001 - an unknown topology has no symmetry we know of
        dims = ()
    chips = np.arange(n, dtype=np.int64)
    if kind == "torus" and dims:
        coords = np.array(np.unravel_index(chips, dims))  # (D, n)
        # element e = the translation taking chip 0 to chip e
        perms = np.empty((n, n), dtype=np.int64)
        shifted = (coords[:, None, :] + coords[:, :, None]) % np.array(dims)[:, None, None]  # (D, e, chip)
        perms[:] = np.ravel_multi_index(tuple(shifted), dims)
        gens = [np.ravel_multi_index(tuple((coords + (np.arange(len(dims)) == ax)[:, None]) % np.array(dims)[:, None]), dims)
                for ax in range(len(dims))]
        reps = [0]
    elif kind in ("fc", "ring"):
        perms = (chips[None, :] + chips[:, None]) % n
        gens = [(chips + 1) % n]
        reps = [0]
    elif kind == "dragonfly" and len(dims) == 3:
        a, _h, g = dims
        if a * g != n:
            return trivial_symmetry(net, participants)
        steps = np.arange(g, dtype=np.int64) * a
        perms = (chips[None, :] + steps[:, None]) % n
        gens = [(chips + a) % n]
        reps = list(range(a))
    else:
        return trivial_symmetry(net, participants)
    shape = tuple(int(d) for d in dims) if kind == "torus" else (n,) if kind in ("fc", "ring") else (int(dims[2]),)
    for gen in gens:
        mapped = net.lookup(gen[net.src], gen[net.dst], net.port)
        if (mapped < 0).any() or (net.cls[mapped] != net.cls).any():
            return trivial_symmetry(net, participants)
    if len(perms) > 1 and len(reps) * len(perms) != n:
        return trivial_symmetry(net, participants)
    # chip u = perms[elem[u]][rep[u]]
    rep_of = np.empty(n, dtype=np.int64)
    elem_of = np.empty(n, dtype=np.int64)
    for r in reps:
        rep_of[perms[:, r]] = r
        elem_of[perms[:, r]] = np.arange(len(perms))
    inv = np.empty_like(perms)
    np.put_along_axis(inv, perms, np.broadcast_to(chips, perms.shape), axis=1)
    canon_dst = inv[elem_of[net.src], net.dst]
    canon = net.lookup(rep_of[net.src], canon_dst, net.port)
    if (canon < 0).any():
        return trivial_symmetry(net, participants)
    orbit, ptr, order = _orbits_from_ids(canon)
    return Symmetry(perms, reps, orbit, ptr, order, shape)


def subgroup(net: Net, sym: Symmetry, strides: tuple[int, ...]) -> Symmetry:
    """The subgroup of the elements whose coordinates (see `Symmetry.shape`)
    are multiples of `strides` (each dividing its axis): for a torus, the
    translations by multiples of (s1, s2, ..); for an fc, the rotations by
    multiples of s; for a Dragonfly, turning by multiples of s groups. Its chip
    orbits are smaller, so it has more representatives and link orbits."""
    shape = sym.shape
    if len(strides) != len(shape) or any(d % st for d, st in zip(shape, strides)):
        raise ValueError(f"strides {strides} do not divide the group {shape}")
    coords = np.array(np.unravel_index(np.arange(sym.size), shape)).reshape(len(shape), -1)
    keep = np.all(coords % np.asarray(strides)[:, None] == 0, axis=0)
    perms = sym.perms[np.flatnonzero(keep)]
    rep_of = perms.min(axis=0)  # the least chip of every chip orbit
    chips = sorted({int(p) for r in sym.reps for p in sym.perms[:, r]})
    reps = sorted({int(rep_of[c]) for c in chips})
    canon = np.full(len(net), np.iinfo(np.int64).max, dtype=np.int64)
    for perm in perms:
        canon = np.minimum(canon, net.lookup(perm[net.src], perm[net.dst], net.port))
    orbit, ptr, order = _orbits_from_ids(canon)
    return Symmetry(perms, reps, orbit, ptr, order, tuple(d // st for d, st in zip(shape, strides)))


def subgroups(sym: Symmetry) -> list[tuple[int, ...]]:
    """Strides of the subgroups `subgroup` can make (the whole group first)."""
    if not sym.shape:
        return []
    out: list[tuple[int, ...]] = [()]
    for d in sym.shape:
        out = [s + (st,) for s in out for st in range(1, d + 1) if d % st == 0]
    return out


# -- calendars ---------------------------------------------------------------


class Calendar:
    """Busy intervals of one resource (a link, or an orbit of links), merged and
    sorted; `fit` finds the first free gap, `take` books it."""

    __slots__ = ("starts", "ends")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def fit(self, t: int, dur: int) -> int:
        starts, ends = self.starts, self.ends
        i = bisect.bisect_right(ends, t)  # first interval ending after t
        while i < len(starts):
            if starts[i] >= t + dur:
                return t
            t = max(t, ends[i])
            i += 1
        return t

    def take(self, s: int, e: int) -> None:
        starts, ends = self.starts, self.ends
        i = bisect.bisect_left(starts, s)
        # merge with the previous / next interval when they touch
        if i > 0 and ends[i - 1] == s:
            if i < len(starts) and starts[i] == e:
                ends[i - 1] = ends[i]
                del starts[i], ends[i]
            else:
                ends[i - 1] = e
        elif i < len(starts) and starts[i] == e:
            starts[i] = s
        else:
            starts.insert(i, s)
            ends.insert(i, e)


# -- pattern hops and their expansion ---------------------------------------


class Pattern:
    """Hops of the representative chunks (lists), before expansion by the group."""

    def __init__(self) -> None:
        self.link: list[int] = []
        self.start: list[int] = []
        self.end: list[int] = []
        self.chunk: list[int] = []

    def add(self, link: int, start: int, end: int, chunk: int) -> None:
        self.link.append(link)
        self.start.append(start)
        self.end.append(end)
        self.chunk.append(chunk)

    def __len__(self) -> int:
        return len(self.link)


def expand(net: Net, sym: Symmetry, pattern: Pattern, chunk_of, sources_of) -> Hops:
    """Copy the pattern onto every group element (hop g * len(pattern) + p is
    element g's copy of pattern hop p).

    chunk_of(perms (G, chips), pattern chunk ids) -> (G, P) chunk ids;
    sources_of(perms, pattern chunk ids) -> the sources of the G * P hops as
    consecutive lists (ptr, idx: hop h lists idx[ptr[h]:ptr[h + 1]]), or None:
    every hop carries the full sum (`all_sources`)."""
    link = np.asarray(pattern.link, dtype=np.int64)
    start = np.asarray(pattern.start, dtype=np.int64)
    end = np.asarray(pattern.end, dtype=np.int64)
    pchunk = np.asarray(pattern.chunk, dtype=np.int64)
    perms = sym.perms
    G, P = len(perms), len(link)
    src = perms[:, net.src[link]].ravel()
    dst = perms[:, net.dst[link]].ravel()
    port = np.tile(net.port[link], G)
    starts = np.tile(start, G)
    ends = np.tile(end, G)
    arrive = ends + np.tile(net.lat[link], G)
    chunk = chunk_of(perms, pchunk).ravel()
    got = sources_of(perms, pchunk)
    if got is None:
        empty = np.zeros(G * P, dtype=np.int64)
        return Hops(src, dst, port, starts, ends, arrive, chunk, empty, empty, np.zeros(0, dtype=np.int32),
                    np.ones(G * P, dtype=bool))
    sptr, sidx = got
    return Hops(src, dst, port, starts, ends, arrive, chunk, *ptr_slices(sptr), sidx)


def single_sources(owner_rank_fn, perms: np.ndarray, pchunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sources (ptr, idx) when every hop carries exactly one rank's data."""
    idx = owner_rank_fn(perms, pchunk).ravel()
    return np.arange(len(idx) + 1, dtype=np.int64), idx


# -- scheduler 1: broadcast trees, link-centric -----------------------------


class Reduction:
    """The reduction half of an all-reduce for `tree_greedy(reduction=...)`:
    the partial sums of every pattern chunk flow up fixed trees (those of a
    tree_greedy all-gather `ag`, turned around: its hop u->v becomes v->u on
    the twin link) to the chunk's owner.

    A chip's hop up a tree is ready once every partial sum from its subtree
    has landed (a leaf's at cycle 0). Of the hops ready on a link orbit the
    one with the least `rank_weight * chunk - depth` goes first: chunks in
    order, so that sums finish one after another and their broadcasts can
    start while later chunks are still being summed, and within that the
    deepest chips first (the longest chains). Subtrees holding no target
    (relays only) send nothing. `pattern` collects the hops placed, `child`
    the chip whose subtree each one carries, `done` the cycle each chunk's sum
    is complete at its owner (INF until then). Raises ValueError if a link of
    the trees has no like twin."""

    def __init__(self, net: Net, sym: Symmetry, ag: Pattern, owners: list[int], targets: list[int], vec: int,
                 rank_weight: float) -> None:
        link = np.asarray(ag.link, dtype=np.int64)
        twin = net.reverse[link] if len(link) else link
        if (twin < 0).any():
            raise ValueError("a link of the trees has no like twin")
        C, n = len(owners), net.n
        self.owners = list(owners)
        chunk = ag.chunk
        src, dst = net.src[link].tolist(), net.dst[link].tolist()
        # hops are in time order, so a chip's depth is known before its children's
        depth = {}
        for c, u, v in zip(chunk, src, dst):
            depth[(c, v)] = depth.get((c, u), 0) + 1
        is_target = np.zeros(n, dtype=bool)
        is_target[targets] = True
        useful = {}
        for c, u, v in zip(reversed(chunk), reversed(src), reversed(dst)):
            if useful.get((c, v)) or is_target[v]:
                useful[(c, v)] = True
                useful[(c, u)] = True
        self.dur = [vec * x for x in net.ser_l]
        self.lat = net.lat_l
        self.dst_l = net.dst_l
        self.orbit = sym.orbit.tolist()
        self.up: dict[tuple[int, int], tuple[int, float]] = {}  # (chunk, chip) -> (up link, priority)
        self.pending: dict[tuple[int, int], int] = {}
        for c, u, v, lid in zip(chunk, src, dst, twin.tolist()):
            if useful.get((c, v)):
                self.up[(c, v)] = (lid, rank_weight * c - depth[(c, v)])
                self.pending[(c, u)] = self.pending.get((c, u), 0) + 1
        self.landed: dict[tuple[int, int], int] = {}
        self.waiting: list[list] = [[] for _ in range(sym.n_orbits)]  # (ready cycle, priority, chunk, chip)
        self.ready: list[list] = [[] for _ in range(sym.n_orbits)]  # (priority, chunk, chip)
        for (c, v), (lid, prio) in self.up.items():
            if not self.pending.get((c, v)):
                self.waiting[self.orbit[lid]].append((0, prio, c, v))
        for w in self.waiting:
            heapq.heapify(w)
        self.left = len(self.up)
        self.done = np.full(C, INF, dtype=np.int64)
        self.pattern = Pattern()
        self.child: list[int] = []

    def best(self, o: int, t: int) -> float | None:
        """The priority of the best hop ready on orbit o at cycle t, None if none is."""
        waiting, ready = self.waiting[o], self.ready[o]
        while waiting and waiting[0][0] <= t:
            _, prio, c, v = heapq.heappop(waiting)
            heapq.heappush(ready, (prio, c, v))
        return ready[0][0] if ready else None

    def next_ready(self, o: int) -> int:
        return self.waiting[o][0][0] if self.waiting[o] else INF

    def place(self, o: int, t: int) -> tuple[int, int, int | None]:
        """Place the best ready hop of orbit o at cycle t. Returns (its end,
        the orbit of the hop it makes ready or -1, the chunk whose sum it
        completes or None); that hop's ready cycle is `self.next_ready`."""
        _, c, v = heapq.heappop(self.ready[o])
        lid = self.up[(c, v)][0]
        e = t + self.dur[lid]
        self.pattern.add(lid, t, e, c)
        self.child.append(v)
        self.left -= 1
        u = self.dst_l[lid]
        key = (c, u)
        arrive = max(self.landed.get(key, 0), e + self.lat[lid])
        self.landed[key] = arrive
        self.pending[key] -= 1
        if self.pending[key]:
            return e, -1, None
        if u == self.owners[c]:
            self.done[c] = arrive
            return e, -1, c
        lid_u, prio = self.up[key]
        o_u = self.orbit[lid_u]
        heapq.heappush(self.waiting[o_u], (arrive, prio, c, u))
        return e, o_u, None


def tree_greedy(net: Net, sym: Symmetry, owners: list[int], vec: int, targets: list[int],
                minimal_only: bool = False, release: list[int] | None = None,
                reduction: Reduction | None = None, ramp: int = 0) -> tuple[Pattern, np.ndarray]:
    """Spread pattern chunk c from chip owners[c] to every chip in `targets`.

    Link-centric list scheduling in time order: the orbit calendar that frees
    first picks, among its links, the (link, chunk) whose source chip holds the
    chunk and whose far chip lacks it; least-replicated chunk first, then the
    far chip farthest from the chunk's owner. With `minimal_only` a chunk only
    moves away from its owner (shortest-path trees). Every chip receives a
    chunk at most once, so the hops of a chunk form a tree (the parent of
    (chip, chunk) is returned for reduce-scatter). With `release`, chunk c
    is at its owner only from cycle release[c].

    With `reduction` this is an all-reduce: chunk c is at its owner once its
    sum is complete there, and the orbits carry the reduction's hops too
    (placed into `reduction.pattern`). A free orbit takes a broadcast hop of
    a chunk still held by at most `ramp` chips first (a fresh sum spreads
    from one chip over few links, so it takes little from the reduction and
    gets its broadcast going), else a ready reduction hop, else any broadcast
    hop: summing takes precedence, as every broadcast waits on it."""
    C = len(owners)
    n = net.n
    owners_a = np.asarray(owners, dtype=np.int64)
    # (chip, chunk) layout: an orbit's rows are gathered in one go
    arr = np.full((n, C), INF, dtype=np.int64)  # arrival of each chunk at each chip
    if reduction is None:
        arr[owners_a, np.arange(C)] = 0 if release is None else np.asarray(release, dtype=np.int64)
    parent = np.full((C, n), -1, dtype=np.int64)
    is_target = np.zeros(n, dtype=bool)
    is_target[targets] = True
    remaining = int(is_target.sum()) * C - int(is_target[owners_a].sum())
    reps = np.ones(C, dtype=np.int64)
    far = np.ascontiguousarray(net.dist[owners_a].T.astype(np.int64))  # (n, C)
    # prio[v, c]: the broadcast priority of bringing chunk c to chip v (least first): fewer chips holding c,
    # then fewer links into v from chips that hold (or will hold) c, then farther from c's owner
    big = np.int64(1 << 20)
    prio = big - PRIO_FAR * far
    for c, ow in enumerate(owners):
        np.add.at(prio, (net.dst[net.out_ptr[ow]:net.out_ptr[ow + 1]], c), PRIO_ALT)
    pattern = Pattern()
    if remaining == 0 and (reduction is None or reduction.left == 0):
        return pattern, parent
    dur_l = [vec * s for s in net.ser_l]
    min_step = int((net.ser * vec + net.lat).min())
    O = sym.n_orbits
    members = [sym.orbit_links[sym.orbit_ptr[o]:sym.orbit_ptr[o + 1]] for o in range(O)]
    mu = [net.src[m] for m in members]
    mv = [net.dst[m] for m in members]
    # relays (non-target chips) are only used on the way to targets
    allowed = [None] * O
    for o in range(O):
        ok = np.broadcast_to(True, (len(members[o]), C))
        if minimal_only:
            ok = far[mv[o]] == far[mu[o]] + 1
        if not is_target.all():
            # a relay is worth reaching only if it lies on some shortest path to a target: keep it simple,
            # allow it when it is not farther from the owner than the farthest target
            ok = ok & (is_target[mv[o]][:, None] | (far[mv[o]] < far[targets].max(axis=0)[None, :]))
        allowed[o] = None if ok is True or (isinstance(ok, np.ndarray) and ok.all()) else np.ascontiguousarray(ok)
    # one live heap entry per orbit: next_at[o]; free_at[o] = the end of its last hop
    heap = [(0, o) for o in range(O)]
    heapq.heapify(heap)
    next_at = [0] * O
    free_at = [0] * O

    def wake(o: int, t: int) -> None:
        t = max(t, free_at[o])
        if t < next_at[o]:
            next_at[o] = t
            heapq.heappush(heap, (t, o))

    out_orbits = [sorted({int(sym.orbit[l]) for l in net.out_l[ow]}) for ow in owners] if reduction else []
    last_progress = 0
    while (remaining > 0 or (reduction is not None and reduction.left > 0)) and heap:
        t, o = heapq.heappop(heap)
        if t != next_at[o]:
            continue  # superseded by an earlier wake-up
        U, V = mu[o], mv[o]
        A = arr[U]
        B = arr[V]
        lacking = B >= INF
        if allowed[o] is not None:
            lacking &= allowed[o]
        ok = lacking & (A <= t)
        down = bool(ok.any())
        up = reduction is not None and reduction.best(o, t) is not None
        if up and down:
            down = int(reps[ok.any(axis=0)].min()) <= ramp
        if down:
            key = np.where(ok, prio[V], INF)
            flat = int(np.argmin(key.T))  # ties: the lowest chunk, then the lowest link
            c, m = divmod(flat, len(U))
            lid = int(members[o][m])
            v = net.dst_l[lid]
            e = t + dur_l[lid]
            a = e + net.lat_l[lid]
            arr[v, c] = a
            parent[c, v] = net.src_l[lid]
            np.add.at(prio, (net.dst[net.out_ptr[v]:net.out_ptr[v + 1]], c), PRIO_ALT)
            prio[:, c] += big
            reps[c] += 1
            if is_target[v]:
                remaining -= 1
            pattern.add(lid, t, e, c)
        elif up:
            e, o_next, c = reduction.place(o, t)
            if o_next >= 0:
                wake(o_next, reduction.next_ready(o_next))
            if c is not None:
                arr[owners[c], c] = reduction.done[c]
                for o2 in out_orbits[c]:
                    wake(o2, int(reduction.done[c]))
        else:
            future = np.where(lacking & (A < INF), A, INF)
            nxt = min(int(future.min()), reduction.next_ready(o) if reduction is not None else INF)
            nt = min(nxt, t + min_step) if nxt < INF else t + min_step
            if nxt >= INF and t - last_progress > 4 * min_step * (1 + net.n) and \
                    (reduction is None or reduction.left == 0):
                continue  # this orbit can never help again
            next_at[o] = max(nt, t + 1)
            heapq.heappush(heap, (next_at[o], o))
            continue
        last_progress = t
        free_at[o] = next_at[o] = e
        heapq.heappush(heap, (e, o))
    if remaining > 0 or (reduction is not None and reduction.left > 0):
        raise LockstepError("collective synthesis: some chips cannot be reached by the broadcast trees")
    return pattern, parent


def subtree_chips(parent: np.ndarray, owners: np.ndarray, chunk: np.ndarray, child: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Hop i carries the partial sum of chip child[i]'s subtree of chunk
    chunk[i]'s tree (parent[c, v]: v's parent, towards owners[c]; one hop
    per (chunk, chip)). Returns the subtrees' chips as CSR: hop i's are
    chips[ptr[i]:ptr[i+1]]."""
    C, n = parent.shape
    hop_of = np.full((C, n), -1, dtype=np.int64)
    hop_of[chunk, child] = np.arange(len(chunk))
    # every (chunk, chip) pair lies in the subtree of each hop on its path up to the owner
    c_of, w_of = np.nonzero(hop_of >= 0)
    anc = w_of.copy()
    hs, ws = [], []
    while len(anc):
        hs.append(hop_of[c_of, anc])
        ws.append(w_of)
        anc = parent[c_of, anc]
        more = anc != owners[c_of]
        c_of, w_of, anc = c_of[more], w_of[more], anc[more]
    h_all = np.concatenate(hs) if hs else np.zeros(0, dtype=np.int64)
    order = np.argsort(h_all, kind="stable")
    chips = (np.concatenate(ws) if ws else h_all)[order]
    ptr = np.searchsorted(h_all[order], np.arange(len(chunk) + 1)).astype(np.int64)
    return ptr, chips


def reverse_pattern(net: Net, pattern: Pattern, parent: np.ndarray, owners: np.ndarray
                    ) -> tuple[Pattern, np.ndarray, np.ndarray] | None:
    """A tree_greedy pattern turned around in time: hop u->v of chunk c becomes
    twin(v->u) carrying the partial sum of v's subtree of c's tree, so the sums
    flow up to the chunk's owner. Mirroring every hop's link occupancy about
    T = max(arrive) keeps the hops of each link orbit disjoint, and a hop's
    children (which arrived after it) now land before it starts.

    Returns (pattern, ptr, chips): the subtree of reversed hop i, in the
    pattern's chip coordinates, is chips[ptr[i]:ptr[i+1]]. None if a link has
    no like twin."""
    link = np.asarray(pattern.link, dtype=np.int64)
    if len(link) == 0:
        return Pattern(), np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    twin = net.reverse[link]
    if (twin < 0).any():
        return None
    start = np.asarray(pattern.start, dtype=np.int64)
    end = np.asarray(pattern.end, dtype=np.int64)
    pch = np.asarray(pattern.chunk, dtype=np.int64)
    arrive = end + net.lat[link]
    ptr, chips = subtree_chips(parent, owners, pch, net.dst[link])
    T = int(arrive.max())
    rev = Pattern()
    new_start = T - arrive
    rev.link = twin.tolist()
    rev.start = new_start.tolist()
    rev.end = (new_start + (end - start)).tolist()
    rev.chunk = pch.tolist()
    return rev, ptr, chips


def retime(net: Net, sym: Symmetry, cal: dict, pattern: Pattern, owners: np.ndarray, up: bool,
           ready: np.ndarray | None = None) -> tuple[Pattern, np.ndarray]:
    """`retime_many` of one pattern."""
    (out,), done = retime_many(net, sym, cal, [(pattern, up, 0)], owners, ready)
    return out, done


def retime_many(net: Net, sym: Symmetry, cal: dict, items: list[tuple[Pattern, bool, int]], owners: np.ndarray,
                ready: np.ndarray | None = None) -> tuple[list[Pattern], np.ndarray]:
    """Place tree patterns' hops as early as possible on the orbit calendars
    `cal` (orbit -> Calendar, shared with what is already placed), keeping
    every tree dependency. items: (pattern, up, offset); the hops of all of
    them go in the order of offset + original start, so a hop that fed another
    goes first, and patterns meant to run side by side interleave. Returns the
    patterns (same hop order, new times) and the cycle each pattern chunk is
    done at its owner by the `up` patterns (or `ready` where none is up).

    up=False (a broadcast tree): a hop of chunk c leaves its owner at or after
    ready[c] (as raised by the up patterns placed so far), any other chip once
    the chunk has landed there. up=True (a reduction tree, towards the owner):
    a hop leaves once every hop into its chip for that chunk (its subtree's
    partial sums) has landed. Pattern chunk ids index `owners` and are shared:
    an up pattern and a down pattern of one chunk form its reduce-broadcast."""
    orbit = sym.orbit.tolist()
    done = np.zeros(len(owners), dtype=np.int64) if ready is None else np.array(ready, dtype=np.int64)
    done_l = done.tolist()
    owners_l = owners.tolist()
    outs = []
    keys = []
    for k, (pattern, up, offset) in enumerate(items):
        out = Pattern()
        out.link = list(pattern.link)
        out.chunk = list(pattern.chunk)
        out.start = [0] * len(pattern)
        out.end = [0] * len(pattern)
        outs.append(out)
        keys.append(np.asarray(pattern.start, dtype=np.int64) + offset)
    which = np.concatenate([np.full(len(p), k, dtype=np.int64) for k, (p, _, _) in enumerate(items)]) \
        if items else np.zeros(0, dtype=np.int64)
    index = np.concatenate([np.arange(len(p), dtype=np.int64) for p, _, _ in items]) if items else which
    order = np.argsort(np.concatenate(keys) if keys else which, kind="stable")
    up_landed: dict[tuple[int, int], int] = {}
    down_landed: dict[tuple[int, int], int] = {}
    for k, i in zip(which[order].tolist(), index[order].tolist()):
        pattern, up, _ = items[k]
        lid, ch = pattern.link[i], pattern.chunk[i]
        u = net.src_l[lid]
        if up:
            t = up_landed.get((ch, u), 0)
        else:
            t = done_l[ch] if u == owners_l[ch] else down_landed[(ch, u)]
        o = orbit[lid]
        c = cal.get(o)
        if c is None:
            c = cal[o] = Calendar()
        dur = pattern.end[i] - pattern.start[i]
        st = c.fit(t, dur)
        c.take(st, st + dur)
        out = outs[k]
        out.start[i] = st
        out.end[i] = st + dur
        a = st + dur + net.lat_l[lid]
        v = net.dst_l[lid]
        if up:
            key = (ch, v)
            up_landed[key] = max(up_landed.get(key, 0), a)
            if v == owners_l[ch]:
                done_l[ch] = max(done_l[ch], a)
        else:
            down_landed[(ch, v)] = a
    return outs, np.asarray(done_l, dtype=np.int64)


# -- scheduler 2: point-to-point pieces, adaptive routing --------------------


def route_greedy(net: Net, sym: Symmetry, pieces: list[tuple[int, int]], vec: int, slack: int = 0,
                 paths: list[list[int]] | None = None, rank: list[int] | None = None) -> tuple[Pattern, list[int]]:
    """Move each piece (src chip, dst chip) hop by hop, in order of readiness.

    At each chip the piece takes, among the links that bring it nearer its
    destination (or, with `slack`, up to `slack` detour hops that keep it at the
    same distance or one farther), the one giving the earliest estimated
    landing at the destination; the hop is placed first-fit on the orbit's
    calendar. With `paths` each piece follows its given link ids instead.
    With `paths` and `rank`, of the hops ready at once the one with the most
    hops still to go goes first, then the lower rank (an injection order).
    Returns the pattern (chunk = piece index)."""
    dist = net.dist
    cal = [Calendar() for _ in range(sym.n_orbits)]
    orbit = sym.orbit.tolist()
    pattern = Pattern()
    heap = []
    ranked = paths is not None and rank is not None
    for p, (s, d) in enumerate(pieces):
        if s != d:
            heap.append((0, (-len(paths[p]), rank[p]) if ranked else -int(dist[s, d]), p, s, 0))
    heapq.heapify(heap)
    dur_l = [vec * s for s in net.ser_l]
    lat_l = net.lat_l
    step = int((net.ser * vec + net.lat).min())
    budget = [slack] * len(pieces)
    dist_rows = {}
    load = [0] * sym.n_orbits  # cycles booked per orbit: ties between productive links go to the lighter one
    while heap:
        t, _, p, u, at = heapq.heappop(heap)
        d = pieces[p][1]
        if paths is not None:
            lid = paths[p][at]
            c = cal[orbit[lid]]
            s = c.fit(t, dur_l[lid])
        else:
            row = dist_rows.get(d)
            if row is None:
                row = dist_rows[d] = dist[:, d].tolist()
            here = row[u]
            best = None
            for lid in net.out_l[u]:
                v = net.dst_l[lid]
                left = row[v]
                if left >= here and (left > here + 1 or budget[p] <= 0):
                    continue
                o = orbit[lid]
                s = cal[o].fit(t, dur_l[lid])
                est = s + dur_l[lid] + lat_l[lid] + left * step + load[o] * LOAD_WEIGHT
                if best is None or est < best[0]:
                    best = (est, lid, s, left >= here)
            if best is None:
                raise LockstepError(f"collective synthesis: no route from chip {u} to chip {d}")
            _, lid, s, detour = best
            if detour:
                budget[p] -= 1
            c = cal[orbit[lid]]
        e = s + dur_l[lid]
        c.take(s, e)
        load[orbit[lid]] += dur_l[lid]
        pattern.add(lid, s, e, p)
        v = net.dst_l[lid]
        if v != d:
            prio = (at + 1 - len(paths[p]), rank[p]) if ranked else -int(dist[v, d])
            heapq.heappush(heap, (e + lat_l[lid], prio, p, v, at + 1))
    return pattern, budget


def balanced_paths(net: Net, sym: Symmetry, pieces: list[tuple[int, int]], vec: int, slack: int = 0,
                   enumerate_below: int = 6, power: float | None = None,
                   heavy: list[bool] | None = None) -> list[list[int]]:
    """A path for every piece, chosen to even out the load of the orbits.

    Pieces with the fewest choices go first. On a low-diameter network
    (shortest path < `enumerate_below` hops) every path up to `slack` hops
    longer than the shortest is tried and the one whose busiest orbit is
    lightest (then the lightest in sum) wins; with `power` p the one that
    adds least to sum(load ** p) over the orbits instead (a convex congestion
    cost: it weighs a longer path's extra link time against a busier link,
    which the min-max key ignores). With `heavy` (per link: the scarce class,
    a Dragonfly's global links) the enumerated paths with the fewest heavy
    links win first, then the shortest of those, then the congestion cost
    (power 2 unless given): a piece crosses one global link, not two, even when the
    two-global path has fewer hops (so a Dragonfly's global links carry no
    more than the bisection demands). Otherwise the path is built step by step
    on the productive link whose orbit carries the least so far.""" 
    dist = net.dist
    orbit = sym.orbit.tolist()
    load = [0] * sym.n_orbits
    dur_l = [vec * s for s in net.ser_l]
    out_l, dst_l = net.out_l, net.dst_l
    rows: dict[int, list[int]] = {}
    order = []
    for p, (s, d) in enumerate(pieces):
        row = rows.get(d)
        if row is None:
            row = rows[d] = dist[:, d].tolist()
        here = row[s]
        choices = sum(1 for lid in out_l[s] if row[dst_l[lid]] < here)
        order.append((choices, -here, p))
    order.sort()
    paths: list[list[int]] = [[] for _ in pieces]
    # the congestion cost works in units of the mean final orbit load, so powers stay small
    scale = 1.0
    hp = power if power is not None else 2.0
    if power is not None or heavy is not None:
        total = sum(float(net.ser_l[0] * vec) * int(dist[s, d]) for s, d in pieces)
        scale = max(1.0, total / max(1, sym.n_orbits))

    def best_path(s: int, d: int, row: list[int], hops: int) -> list[int]:
        best: list = [None, None]  # (key, path)
        path: list[int] = []

        def walk(u: int, left: int, worst: int, total: int) -> None:
            if u == d:
                key = (worst, total)
                if best[0] is None or key < best[0]:
                    best[0], best[1] = key, list(path)
                return
            for lid in out_l[u]:
                v = dst_l[lid]
                if row[v] > left - 1:
                    continue
                w = load[orbit[lid]]
                if best[0] is not None and w > best[0][0]:
                    continue
                path.append(lid)
                walk(v, left - 1, max(worst, w), total + w)
                path.pop()

        def walk_cost(u: int, left: int, cost: float) -> None:
            if best[0] is not None and cost >= best[0]:
                return
            if u == d:
                best[0], best[1] = cost, list(path)
                return
            for lid in out_l[u]:
                v = dst_l[lid]
                if row[v] > left - 1:
                    continue
                w = load[orbit[lid]] / scale
                path.append(lid)
                walk_cost(v, left - 1, cost + (w + dur_l[lid] / scale) ** power - w ** power)
                path.pop()

        def walk_heavy(u: int, left: int, nheavy: int, cost: float) -> None:
            if best[0] is not None and (nheavy, len(path), cost) >= best[0]:
                return
            if u == d:
                best[0], best[1] = (nheavy, len(path), cost), list(path)
                return
            for lid in out_l[u]:
                v = dst_l[lid]
                if row[v] > left - 1:
                    continue
                w = load[orbit[lid]] / scale
                path.append(lid)
                walk_heavy(v, left - 1, nheavy + heavy[lid], cost + (w + dur_l[lid] / scale) ** hp - w ** hp)
                path.pop()

        if heavy is not None:
            walk_heavy(s, hops, 0, 0.0)
        elif power is None:
            walk(s, hops, 0, 0)
        else:
            walk_cost(s, hops, 0.0)
        return best[1]

    for _, _, p in order:
        s, d = pieces[p]
        row = rows[d]
        if row[s] < enumerate_below:
            path = best_path(s, d, row, row[s] + slack)
            for lid in path:
                load[orbit[lid]] += dur_l[lid]
            paths[p] = path
            continue
        u = s
        path = paths[p]
        while u != d:
            here = row[u]
            best = None
            for lid in out_l[u]:
                if row[dst_l[lid]] < here:
                    o = orbit[lid]
                    if best is None or load[o] < best[0]:
                        best = (load[o], lid)
            lid = best[1]
            load[orbit[lid]] += dur_l[lid]
            path.append(lid)
            u = dst_l[lid]
    return paths


# -- scheduler 3: fixed chains (rings), hop by hop in time order -------------


def chain_greedy(net: Net, chains: list[list[int]], vec: int, first_ready: list[int] | None = None) -> Pattern:
    """Move chunk i along link ids chains[i] (each link's far end forwards it on),
    every hop first-fit on its link's calendar, hops taken in time order."""
    cal = [Calendar() for _ in range(len(net))]
    pattern = Pattern()
    heap = [((first_ready[i] if first_ready else 0), i, 0) for i, ch in enumerate(chains) if ch]
    heapq.heapify(heap)
    dur_l = [vec * s for s in net.ser_l]
    lat_l = net.lat_l
    while heap:
        t, i, at = heapq.heappop(heap)
        lid = chains[i][at]
        c = cal[lid]
        s = c.fit(t, dur_l[lid])
        e = s + dur_l[lid]
        c.take(s, e)
        pattern.add(lid, s, e, i)
        if at + 1 < len(chains[i]):
            heapq.heappush(heap, (e + lat_l[lid], i, at + 1))
    return pattern


# -- whole-schedule transforms -----------------------------------------------


def reverse_tree_hops(net: Net, hops: Hops, owner_chip: np.ndarray, rank_of: np.ndarray) -> Hops | None:
    """Turn an all-gather / broadcast schedule around in time: every hop u->v of
    chunk c becomes v->u carrying the partial sum of v's subtree of c's tree,
    so the sums flow to the chunk's owner (owner_chip[c]). Hops that bring a
    chip a chunk it already has (routes through a chip) are dropped first, so
    the hops of a chunk form a tree. None if a link has no like twin.

    The sources are the trees' ranks in preorder (`tree_preorder`), once: a
    subtree is a slice of them, so a chain of N chips costs N entries, not the
    N^2 / 2 of listing every hop's whole upstream arc."""
    if len(hops) == 0:
        return hops
    ckey = hops.chunk.astype(np.int64) * net.n + hops.dst
    first = np.lexsort((hops.arrive, ckey))
    key = ckey[first]
    keep_first = np.ones(len(first), dtype=bool)
    keep_first[1:] = key[1:] != key[:-1]
    sel = np.sort(first[keep_first])
    sel = sel[hops.dst[sel] != owner_chip[hops.chunk[sel]]]
    if len(sel) != len(hops):
        hops = hops.take(sel)
    lids = net.lookup(hops.src, hops.dst, hops.port)
    twin = net.reverse[lids]
    if (twin < 0).any():
        return None
    T = int(hops.arrive.max())
    pos, size = tree_preorder(_hop_into_src(net.n, hops, np.asarray(owner_chip, dtype=np.int64)))
    # node h is chip dst[h] in its chunk's tree; relays carry no contribution, so only ranks are listed
    at_pos = np.empty_like(pos)
    at_pos[pos] = np.arange(len(pos))
    ranks = rank_of[hops.dst[at_pos]].astype(np.int64)
    listed = ranks >= 0
    before = np.concatenate([[0], np.cumsum(listed)])  # ranks listed before each preorder position
    begin, end = before[pos], before[pos + size]
    keep = end > begin
    dur = (hops.end - hops.start)[keep]
    new_start = T - hops.arrive[keep]
    new_end = new_start + dur
    return Hops(hops.dst[keep].copy(), hops.src[keep].copy(), hops.port[keep].copy(), new_start, new_end,
                T - hops.start[keep], hops.chunk[keep].copy(), begin[keep], end[keep], ranks[listed])


def _hop_into_src(n: int, hops: Hops, owner_chip: np.ndarray) -> np.ndarray:
    """Per hop of a forest of chunk trees (one hop into each chip but the
    owner): the hop that brought its chunk to its src, -1 at the owner."""
    key = hops.chunk.astype(np.int64) * n + hops.dst
    want = hops.chunk.astype(np.int64) * n + hops.src
    span = (int(hops.chunk.max()) + 1) * n
    if span <= 1 << 26:  # a dense (chunk, chip) -> hop table
        table = np.full(span, -1, dtype=np.int64)
        table[key] = np.arange(len(hops))
        parent = table[want]
    else:
        by_key = np.argsort(key, kind="stable")
        parent = by_key[np.minimum(np.searchsorted(key[by_key], want), len(key) - 1)]
    return np.where(hops.src == owner_chip[hops.chunk], -1, parent)


def tree_preorder(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A preorder of the forest in which node i's parent is parent[i] (-1 at a
    root): every node's position and its subtree's size, so the subtree of i
    is positions pos[i] .. pos[i] + size[i] - 1. Vectorised a tree level at a
    time (a chain of N nodes: N small steps)."""
    count = len(parent)
    depth = (parent >= 0).astype(np.int64)  # hops from each node up to `anc`
    anc = parent.copy()
    for _ in range(max(1, count).bit_length() + 1):  # pointer jumping: the climb doubles every round
        up = np.flatnonzero(anc >= 0)
        if not len(up):
            break
        a = anc[up]
        depth[up] += depth[a]
        anc[up] = anc[a]
    else:
        raise ValueError("tree_preorder: the parent links have a cycle")
    order = np.argsort(depth, kind="stable")
    bounds = np.searchsorted(depth[order], np.arange(int(depth.max(initial=0)) + 2))
    levels = [order[bounds[d]:bounds[d + 1]] for d in range(len(bounds) - 1)]
    size = np.ones(count, dtype=np.int64)
    for level in levels[:0:-1]:  # deepest first: children add into their parents
        np.add.at(size, parent[level], size[level])
    pos = np.empty(count, dtype=np.int64)
    for d, level in enumerate(levels):
        # siblings side by side (node order among them), each after the subtrees of those before it
        level = level[np.argsort(parent[level], kind="stable")]
        par, sz = parent[level], size[level]
        before = np.cumsum(sz) - sz
        first = np.ones(len(level), dtype=bool)
        first[1:] = par[1:] != par[:-1]
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(level)), 0))
        pos[level] = before - before[group_start] + (pos[par] + 1 if d else 0)
    return pos, size


def concat_hops(parts: list[Hops]) -> Hops:
    parts = [p for p in parts if len(p)]
    if not parts:
        z = np.zeros(0, dtype=np.int64)
        return Hops(z, z, z, z, z, z, z, z, z, z)
    offsets = np.cumsum([0] + [len(p.sources_idx) for p in parts[:-1]])
    cols = [np.concatenate([getattr(p, f) for p in parts]) for f in ("src", "dst", "port", "start", "end", "arrive", "chunk")]
    begin = np.concatenate([p.sources_begin + off for p, off in zip(parts, offsets)])
    end = np.concatenate([p.sources_end + off for p, off in zip(parts, offsets)])
    return Hops(*cols, begin, end, np.concatenate([p.sources_idx for p in parts]),
                np.concatenate([p.all_sources for p in parts]))


def shift_hops(h: Hops, dt: int) -> Hops:
    return Hops(h.src, h.dst, h.port, h.start + dt, h.end + dt, h.arrive + dt, h.chunk, h.sources_begin,
                h.sources_end, h.sources_idx, h.all_sources)


def link_key(net: Net, h: Hops) -> np.ndarray:
    return net.lookup(h.src, h.dst, h.port)


def overlap_shift(net: Net, first: Hops, second: Hops) -> int:
    """The smallest shift (from a few safe candidates) that lets `second` follow
    `first`: no link used by both at once, and every chunk's hops in `second`
    start after that chunk has landed at the end of `first` (chunk_ready)."""
    if len(first) == 0:
        return 0
    T = int(first.arrive.max())
    if len(second) == 0:
        return T
    L = len(net)
    lf, ls = link_key(net, first), link_key(net, second)
    last_end = np.full(L, -INF)
    np.maximum.at(last_end, lf, first.end)
    first_start = np.full(L, INF)
    np.minimum.at(first_start, ls, second.start)
    used = (last_end > -INF) & (first_start < INF)
    shift = int((last_end[used] - first_start[used]).max()) if used.any() else 0
    # per chunk: its last landing in `first` before its first departure in `second`
    nchunk = int(max(first.chunk.max(), second.chunk.max())) + 1
    done = np.full(nchunk, 0, dtype=np.int64)
    np.maximum.at(done, first.chunk, first.arrive)
    begin = np.full(nchunk, INF)
    np.minimum.at(begin, second.chunk, second.start)
    has = begin < INF
    shift = max(shift, int((done[has] - begin[has]).max()) if has.any() else 0)
    return max(0, min(shift, T))
