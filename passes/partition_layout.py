"""Shardings for `partition` (strategy `tensor`): which slices of a tensor every chip holds.

A value is either whole on every chip (replicated) or a `Shard`: along one axis, chip i of
the group holds the global indices `holds[i]` in that order (its local tensor is those
slices, stacked). Three kinds occur:

- blocks: chip i holds block i (the Megatron column split);
- replicated blocks: fewer blocks than chips, block b on consecutive chips (4 attention
  heads on 8 chips: 2 chips per head, each computing it whole);
- permuted: a chip's indices come from several places (a fused QKV projection: chip i holds
  its heads' q, k and v columns, so the Split into q, k, v is local).

Every rule here is index arithmetic on `holds`, so the same few functions serve all three:
how a reshape or a slice carries a sharding, how a constant is rearranged before
`part.split`, and which gather restores the global order after `part.all_gather`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod

import numpy as np

Holds = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Shard:
    axis: int
    holds: Holds
    """Per chip (position in the group), the global indices along `axis` it holds, in local order."""

    @staticmethod
    def blocks(axis: int, size: int, chips: int, parts: int | None = None) -> Shard:
        """`parts` equal blocks (default one per chip), block b on chips [b*chips/parts, (b+1)*chips/parts)."""
        parts = parts or chips
        width = size // parts
        return Shard(axis, tuple(tuple(range(b * width, (b + 1) * width))
                                 for b in (i * parts // chips for i in range(chips))))

    @property
    def size(self) -> int:
        """The axis's global extent (every index is held by some chip)."""
        return max(max(held) for held in self.holds) + 1

    @property
    def local(self) -> int:
        """How many indices along the axis each chip holds."""
        return len(self.holds[0])

    def copies(self) -> int:
        """How many chips hold each slice (1 unless blocks are replicated)."""
        return len(self.holds) // len(set(self.holds))

    def order(self) -> list[int]:
        """The global indices in chip order: the layout `part.all_gather` produces."""
        return [g for held in self.holds for g in held]

    def is_blocks(self) -> bool:
        """Chip i holds block i (so `part.split` and `part.all_gather` need no rearranging)."""
        return self.order() == list(range(len(self.holds) * self.local))

    def dealt(self) -> list[int] | None:
        """Chip positions in the order in which `part.split` over them deals each its slice: when
        every chip holds one whole block of the axis and every block has as many holders, the
        positions sorted by block (plain blocks: in order; 2 KV heads on 4 chips: 0, 1, 2, 3;
        rows cut in 2 on chips 0-3 by position mod 2: 0, 2, 1, 3). None otherwise."""
        local = self.local
        blocks = sorted(set(self.holds))
        if local == 0 or blocks != [tuple(range(b * local, (b + 1) * local)) for b in range(len(blocks))]:
            return None
        if len(self.holds) % len(blocks) or any(self.holds.count(b) != len(self.holds) // len(blocks) for b in blocks):
            return None
        return sorted(range(len(self.holds)), key=lambda i: self.holds[i][0])

    def moved(self, axis: int) -> Shard:
        return Shard(axis, self.holds)

    def first_holders(self) -> np.ndarray:
        """[chips, local] booleans: the chip is the first to hold that index (a partial sum
        over chips must count every index once)."""
        seen: set[int] = set()
        out = np.zeros((len(self.holds), self.local), dtype=bool)
        for i, held in enumerate(self.holds):
            for j, g in enumerate(held):
                out[i, j] = g not in seen
                seen.add(g)
        return out


def local_shape(shape: Sequence[int], shard: Shard | None) -> list[int]:
    out = list(shape)
    if shard is not None:
        out[shard.axis] = shard.local
    return out


def arranged(array: np.ndarray, shard: Shard, count_once: bool = False) -> np.ndarray:
    """`array` rearranged so that a plain split along the axis gives chip i its `holds[i]`;
    with `count_once`, an index also held by an earlier chip is zero there (row-split weights
    of a replicated-block input: the all-reduce then sums every row once)."""
    out = np.take(array, shard.order(), axis=shard.axis)
    if count_once:
        keep = shard.first_holders().reshape(-1)
        view = [1] * array.ndim
        view[shard.axis] = keep.size
        out = out * keep.reshape(view)
    return out


def restore_order(shard: Shard, size: int) -> list[int] | None:
    """After an all-gather (chip order), the positions that give global order (first copy of
    each index); None when the gathered tensor is already in order."""
    order = shard.order()
    if order == list(range(size)):
        return None
    first: dict[int, int] = {}
    for position, g in enumerate(order):
        first.setdefault(g, position)
    if sorted(first) != list(range(size)):
        raise ValueError(f"internal: the sharding {shard} does not cover all {size} indices")
    return [first[g] for g in range(size)]


def reshaped(shard: Shard, src: Sequence[int], dst: Sequence[int]) -> Shard | None:
    """The sharding of reshape(src -> dst) (global shapes), if every chip's slices stay whole
    rows of one result axis b (the axes before it hold the same elements as before the
    sharded axis): the sharded axis merges with t elements after it ([S, H, hd] -> [S, H*hd],
    chip rows h -> h*t..h*t+t-1), or every chip holds whole runs of t indices that become
    one index of axis b ([S, H*hd] -> [S, H, hd] with whole heads per chip; query heads
    [H, S, d] -> [H/G, G*S, d] with whole KV groups). None when the chips' slices would
    interleave."""
    axis, size = shard.axis, src[shard.axis]
    outer, inner = prod(src[:axis]), prod(src[axis + 1:])
    for b in range(len(dst)):
        if prod(dst[:b]) != outer:
            continue
        if dst[b] % size == 0 and inner % (dst[b] // size) == 0:  # merge with t elements after it
            t = dst[b] // size
            return Shard(b, tuple(tuple(g * t + u for g in held for u in range(t)) for held in shard.holds))
        if size % dst[b] == 0:  # runs of t indices become one
            t = size // dst[b]
            firsts = [held[::t] for held in shard.holds]
            if all(held == tuple(g + u for g in first for u in range(t)) and all(g % t == 0 for g in first)
                   for held, first in zip(shard.holds, firsts)):
                return Shard(b, tuple(tuple(g // t for g in first) for first in firsts))
    return None


def sliced(shard: Shard, start: int, count: int) -> tuple[Shard, int] | None:
    """A unit-step slice [start, start+count) along the sharded axis, run locally: the
    result's sharding and the local start (the same on every chip), or None when the chips
    hold different numbers of the sliced indices or not at one local offset."""
    positions = [[j for j, g in enumerate(held) if start <= g < start + count] for held in shard.holds]
    first = positions[0]
    if not first or any(p != first for p in positions) or first != list(range(first[0], first[0] + len(first))):
        return None
    return Shard(shard.axis, tuple(tuple(held[j] - start for j in first) for held in shard.holds)), first[0]


def largest_divisor(chips: int, of: Sequence[int]) -> int:
    """The largest number of parts that divides `chips` and every count in `of`."""
    return max(d for d in range(1, chips + 1) if chips % d == 0 and all(n % d == 0 for n in of))
