"""A collective's schedule: every hop of every chunk, with its link time slot.

Columnar (numpy) so a 1000-chip schedule with millions of hops stays compact.
Conventions (also the `--export-schedule` JSON contract, see docs/network.md):
- `participants[r]` is the system chip id of rank r; pieces are numbered by rank.
- A hop carries one chunk (`chunk_bytes`, a whole number of vectors on the
  wire) over directed link (src, dst, port): it occupies the link during
  [start, end) and lands at dst at `arrive` (= end + hop latency). A chip
  forwards a chunk only once it has fully arrived.
- `sources` are the chips (ranks) whose contributions the hop's data carries:
  one chip for a gathered piece, several for a partial sum. A chip may add
  partial sums of one chunk whose sources are disjoint; reductions take no
  link time. Hop h's sources are the slice
  `sources_idx[sources_begin[h]:sources_end[h]]`. Slices may overlap and
  share entries, which keeps a reduction's sources linear in size: a
  reduce-scatter that is an all-gather turned around stores each chunk's
  tree once, its ranks in preorder, so that every subtree (what one reversed
  hop carries) is a slice; a chain (ring) of N chips costs N entries rather
  than the N^2/2 of listing every hop's upstream arc (N^3/4 ~ 2.7e8 for a
  ring reduce-scatter on 1024 chips). Entries no slice covers are allowed.
  The JSON export still lists every hop's sources in full (export.py).
- `all_sources` (bool per hop) marks a full sum: the hop carries every
  participant's contribution, and its slice is empty (an all-reduce's
  broadcast hops would otherwise list all N ranks each: ~1G entries at 1024
  chips). `sources(hop, ranks)` expands it.
- dtypes: chip, port, chunk and rank columns are int32 (ids far below 2**31),
  times and the slice bounds int64; `Hops` converts on construction. Code that
  combines ids into one key (`chunk * chips + dst`) must widen to int64 first.
- Ownership of chunk c (count = chunk_count, N = len(participants), k = count / N):
  all-gather: starts on rank c // k, ends everywhere. reduce-scatter: every rank
  starts with its contribution to every chunk; ends on rank c // k summed over
  all ranks. all-reduce: every chunk ends everywhere summed. all-to-all:
  chunk (i*N + j)*k' + n goes from rank i to rank j (k' = count / N^2).
  broadcast: every chunk starts on rank 0 and ends everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KINDS = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "broadcast")


ID = np.int32  # chips, ports, chunks, ranks
TIME = np.int64  # cycles, offsets into sources_idx


@dataclass
class Hops:
    src: np.ndarray
    dst: np.ndarray
    port: np.ndarray
    start: np.ndarray
    end: np.ndarray
    arrive: np.ndarray
    chunk: np.ndarray
    sources_begin: np.ndarray
    sources_end: np.ndarray
    sources_idx: np.ndarray
    all_sources: np.ndarray | None = None  # bool per hop: carries every participant (empty slice)

    def __post_init__(self) -> None:
        # no copy when a column already has its dtype
        self.src, self.dst, self.port, self.chunk, self.sources_idx = (
            np.asarray(c, dtype=ID) for c in (self.src, self.dst, self.port, self.chunk, self.sources_idx))
        self.start, self.end, self.arrive, self.sources_begin, self.sources_end = (
            np.asarray(c, dtype=TIME) for c in (self.start, self.end, self.arrive, self.sources_begin,
                                                self.sources_end))
        if self.all_sources is None:
            self.all_sources = np.zeros(len(self.src), dtype=bool)
        else:
            self.all_sources = np.asarray(self.all_sources, dtype=bool)

    def __len__(self) -> int:
        return len(self.src)

    def sources(self, hop: int, ranks: int | None = None) -> np.ndarray:
        """The ranks hop `hop` carries. A full-sum hop (`all_sources`) carries
        every rank 0..ranks-1, so its readers must pass the rank count."""
        if self.all_sources[hop]:
            if ranks is None:
                raise ValueError(f"hop {hop} carries the full sum: pass the number of ranks")
            return np.arange(ranks, dtype=ID)
        return self.sources_idx[self.sources_begin[hop] : self.sources_end[hop]]

    def take(self, sel: np.ndarray) -> Hops:
        """The hops `sel` (indices or a mask), their slices still into the same `sources_idx`."""
        return Hops(self.src[sel], self.dst[sel], self.port[sel], self.start[sel], self.end[sel], self.arrive[sel],
                    self.chunk[sel], self.sources_begin[sel], self.sources_end[sel], self.sources_idx,
                    self.all_sources[sel])


def ptr_slices(ptr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sources_begin, sources_end) of consecutive lists: list h is idx[ptr[h]:ptr[h + 1]]."""
    ptr = np.asarray(ptr, dtype=TIME)
    return ptr[:-1], ptr[1:]


class HopsBuilder:
    """Appends hops into growable Python lists, then freezes them into arrays once."""

    def __init__(self) -> None:
        self._cols: list[list[int]] = [[] for _ in range(7)]
        self._sources: list[int] = []
        self._ptr: list[int] = [0]
        self._all: list[bool] = []

    def add(self, src: int, dst: int, port: int, start: int, end: int, arrive: int, chunk: int,
            sources: list[int] | np.ndarray | str) -> None:
        """`sources` is a list of ranks, or "all" for a full sum (every participant)."""
        for col, value in zip(self._cols, (src, dst, port, start, end, arrive, chunk)):
            col.append(value)
        full = isinstance(sources, str)
        if full and sources != "all":
            raise ValueError(f"sources must be a list of ranks or 'all', not {sources!r}")
        self._all.append(full)
        if not full:
            self._sources.extend(int(s) for s in sources)
        self._ptr.append(len(self._sources))

    def build(self) -> Hops:
        src, dst, port, start, end, arrive, chunk = (np.asarray(c, dtype=np.int64) for c in self._cols)
        return Hops(src, dst, port, start, end, arrive, chunk, *ptr_slices(self._ptr),
                    np.asarray(self._sources, dtype=np.int64), np.asarray(self._all, dtype=bool))


@dataclass
class CollectiveSchedule:
    kind: str
    participants: tuple[int, ...]
    bytes_per_chip: int
    chunk_count: int
    chunk_bytes: int
    hops: Hops
    algorithm: str
    synthesis_seconds: float = 0.0
    notes: dict = field(default_factory=dict)

    def sources(self, hop: int) -> np.ndarray:
        """The ranks hop `hop` carries (a full-sum hop: every rank)."""
        return self.hops.sources(hop, len(self.participants))

    @property
    def cycles(self) -> int:
        return int(self.hops.arrive.max()) if len(self.hops) else 0
