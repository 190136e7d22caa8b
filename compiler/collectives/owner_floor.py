"""The least cycles of any *sum-then-broadcast* all-reduce: a floor for a class
of schedules, not a lower bound for every schedule (bounds.py holds those).

A schedule is sum-then-broadcast when every chunk's full sum is formed by
addition at one chip only, its owner `x`, and reaches every other chip by
forwarding from there. Every all-reduce the synthesizer makes for more than a
few vectors is of this class (pipelined_all_reduce, tree_all_reduce, and the
reduce-scatter + all-gather of ring and direct); gathering every contribution
everywhere (gather_all_reduce) and the Dragonfly three-hop all-reduce are not.
The floor says how far such a schedule can get, so whether a target needs a
different kind of schedule (docs/network.md, "The sum-then-broadcast floor").

The argument, for chunks of `v` vectors (all chunks alike, contract), at
least `C = ceil(Q / v)` of them (more only add hops), `h` the least
`v ser + lat` of a link, `T` the cycles:

- Chunk c's sum is complete at its owner `x` at `R`: every participant's
  contribution reached `x` along a chain of hops each taking >= h from start
  to landing, so `R >= ecc_in(x) h`; the sum then reaches every chip, so
  `T >= R + ecc_out(x) h`.
- For each participant `y != x` two distinct hops: `S(y)`, the earliest
  starting hop that leaves `y` with `y`'s contribution, and `B(y)`, the hop
  that brings `y` the full sum. The chain carrying `y`'s contribution to `x`
  starts no earlier than `S(y)`, so `S(y)` starts by `R - d(y, x) h`; `B(y)`
  ends a chain of `d(x, y)` hops from `x` that starts at or after `R`, so it
  starts at or after `R + (d(x, y) - 1) h`. (`S(y)` does not carry the full
  sum, which `y` only gets later, so it is no `B`.)
- So within a window of start times `[a, b)` a chunk has at most
  `H = #{y : d(y, x) <= (R - a) / h} + #{y : R + (d(x, y) - 1) h < b}` of its
  `2 (N - 1)` S and B hops, maximised over the owners and the `R` allowed; the
  rest start outside the window, where link `l` has room for
  `ceil(a / (v ser_l))` hop starts before it and `floor((T - h_l - b) /
  (v ser_l)) + 1` after it (hops on a link do not overlap; a hop landing by
  `T` starts by `T - h_l`). If `C (2 (N - 1) - H)` exceeds that room for some
  window, no such schedule takes `T` cycles.

Every chunk's sum is complete at its owner within `[ecc_in h, T - ecc_out h]`,
a window of about one hop when `T` is near `2 ecc h`: around it a chunk has
little to do (its last partial sums land near the owner and its first
broadcast hops leave it), so the links idle unless `T` grows. Torus 32x32,
1 MiB: 35801 cycles against the chain's 33728, where 0.95 of the all-reduce
ramp bound asks for 34286.

Distances are hop counts over all chips (an adding relay may own a sum), the
per-owner counts replaced by their maximum over owners and the eccentricities
by their minimum where the wiring is not symmetric: both only weaken the
floor. Windows are tried on a grid; any window that overflows is a proof, so
a coarse grid only weakens it too.
"""
from __future__ import annotations

import math

import numpy as np

from compiler.collectives.engine import Net

# Window edges are tried every max(one hop's link time, T / WINDOW_STEPS) cycles.
WINDOW_STEPS = 400


def _owner_distances(net: Net, participants: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hops from every chip in service (a possible owner, rows) to every
    participant (columns) and back, and where the two are the same chip."""
    parts = np.asarray(participants, dtype=np.int64)
    owners = np.asarray(net.alive, dtype=np.int64)
    d_out = net.dist[np.ix_(owners, parts)].astype(np.int64)
    d_in = net.dist[np.ix_(parts, owners)].T.astype(np.int64)
    return d_out, d_in, parts[None, :] == owners[:, None]


def _eccentricities(d_out: np.ndarray, d_in: np.ndarray, same: np.ndarray) -> tuple[int, int]:
    """The least eccentricity of an owner towards the participants, and from them."""
    return int(np.where(same, 0, d_out).max(axis=1).min()), int(np.where(same, 0, d_in).max(axis=1).min())


def chain_floor(net: Net, participants: list[int]) -> int:
    """The chain alone, for one-vector chunks: the farthest contribution's
    way to the owner, then the sum's way to the farthest chip."""
    if len(participants) < 2 or len(net) == 0:
        return 0
    ecc_out, ecc_in = _eccentricities(*_owner_distances(net, participants))
    return (ecc_in + ecc_out) * int((net.ser + net.lat).min())


class _Profile:
    """What the floor needs of the wiring, independent of `v` and `T`."""

    def __init__(self, net: Net, participants: list[int]) -> None:
        d_out, d_in, same = _owner_distances(net, participants)
        far = int(max(d_out.max(), d_in.max()))
        self.depth = far
        if far >= net.n:
            return  # a participant is cut off (no schedule at all): the caller stops here
        # cum[j]: the most participants other than the owner within j hops, over all owners
        self.cum_out = self._cumulative(np.where(same, far + 1, d_out), far)
        self.cum_in = self._cumulative(np.where(same, far + 1, d_in), far)
        self.ecc_out, self.ecc_in = _eccentricities(d_out, d_in, same)
        self.pairs = len(participants) - 1
        classes, counts = np.unique(np.stack([net.ser, net.lat], axis=1), axis=0, return_counts=True)
        self.ser = classes[:, 0]
        self.lat = classes[:, 1]
        self.count = counts

    @staticmethod
    def _cumulative(dist: np.ndarray, far: int) -> np.ndarray:
        rows = dist.shape[0]
        hist = np.bincount((np.arange(rows)[:, None] * (far + 2) + dist).ravel(), minlength=rows * (far + 2))
        return np.cumsum(hist.reshape(rows, far + 2)[:, :far + 1], axis=1).max(axis=0)


def _overflows(p: _Profile, v: int, chunks: int, T: int) -> bool:
    """Does some window prove that no sum-then-broadcast schedule with chunks
    of v vectors finishes within T cycles?"""
    vs = p.ser * v
    hop_l = vs + p.lat
    h = int(hop_l.min())
    r_lo, r_hi = p.ecc_in * h, T - p.ecc_out * h
    if r_hi < r_lo:
        return True  # the chain alone does not fit
    need = 2 * p.pairs * chunks
    step = max(int(vs.min()), math.ceil(T / WINDOW_STEPS))
    edges = np.arange(0, T + 1, step, dtype=np.int64)
    # starts after b, per link class, for every candidate b
    after = (np.maximum(0, (T - hop_l[None, :] - edges[:, None]) // vs[None, :] + 1) * p.count).sum(axis=1)
    for a in edges.tolist():
        before = int((-(-np.minimum(a, np.maximum(0, T - hop_l + 1)) // vs) * p.count).sum())
        ks = np.arange(max(0, -(-(r_lo - a) // h)), (r_hi - a) // h + 1, dtype=np.int64)
        rs = np.unique(np.concatenate([[r_lo], a + ks * h]))
        rs = rs[(rs >= r_lo) & (rs <= r_hi)]
        s = p.cum_in[np.clip((rs - a) // h, 0, p.depth)] * (rs >= a)
        later = edges > a
        bs = edges[later]
        jb = np.clip(-((rs[:, None] - bs[None, :]) // h), 0, p.depth)  # ceil((b - R) / h), at least 0
        most = (s[:, None] + p.cum_out[jb]).max(axis=0)
        if (need - chunks * np.minimum(most, 2 * p.pairs) > before + after[later]).any():
            return True
    return False


def sum_then_broadcast_floor(net: Net, participants: list[int], vector_bytes: int, nbytes: int) -> int:
    """The least cycles of any sum-then-broadcast all-reduce of `nbytes` per
    chip (module docstring): every chunk size is proven unable to finish one
    cycle sooner."""
    if len(participants) < 2 or len(net) == 0:
        return 0
    p = _Profile(net, participants)
    if p.depth >= net.n:
        return 0
    q = max(1, math.ceil(nbytes / vector_bytes))

    def chain(v: int) -> int:
        return (p.ecc_in + p.ecc_out) * int((p.ser * v + p.lat).min())

    def proven(T: int) -> bool:
        v = 1
        while chain(v) <= T:  # longer chunks: their chain alone does not fit
            if not _overflows(p, v, math.ceil(q / v), T):
                return False
            v += 1
        return True

    lo = chain(1) - 1  # proven by the chain alone
    step = int((p.ser + p.lat).min())
    hi = lo + step
    while proven(hi):
        lo, step = hi, step * 2
        hi = lo + step
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if proven(mid):
            lo = mid
        else:
            hi = mid
    return lo + 1
