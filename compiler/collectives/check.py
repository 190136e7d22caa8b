"""An independent checker for collective schedules.

It shares no code with the synthesizer: it reads the system's links itself and
replays every hop against the contract in `schedule.py` (see docs/network.md):

- the hop's directed link (src, dst, port) exists and is alive, and so are
  the participants;
- it occupies the link for ceil(chunk_bytes / vector_bytes) * ser cycles,
  [start, end) with start >= 0, and lands at arrive = end + hop latency;
- no two hops overlap on one directed link;
- a chip sends only data it holds, fully arrived by the hop's start: the
  hop's sources must be its own contribution, a received partial sum, or a
  sum of such partial sums of the same chunk with pairwise disjoint sources
  (a full-sum hop, `all_sources`, carries every rank and is held to that);
- at the end every participant holds what the collective promises it.

Timing checks are vectorised with numpy; the holdings replay walks the hops in
start order with Python ints as bitsets over ranks (a hop's built from its
slice of `sources_idx`, see `_source_masks`). Any violation raises a
LockstepError naming the hop (index, src->dst, cycle, chunk) and the problem.
"""

from __future__ import annotations

import numpy as np

from compiler.collectives.schedule import KINDS, CollectiveSchedule
from compiler.errors import LockstepError
from compiler.system import System

# Exact-cover search steps allowed per "can this chip form these sources?" question.
_COVER_BUDGET = 20_000


def check_schedule(schedule: CollectiveSchedule, system: System) -> None:
    """Raise LockstepError at the first way `schedule` breaks the contract on `system`."""
    _Checker(schedule, system).run()


class _Checker:
    def __init__(self, schedule: CollectiveSchedule, system: System) -> None:
        self.s = schedule
        self.system = system
        self.hops = schedule.hops
        self.n = len(schedule.participants)

    def run(self) -> None:
        self.check_header()
        self.check_arrays()
        if len(self.hops):
            link_index = self.check_links()
            self.check_timing(link_index)
            self.check_overlaps(link_index)
        self.replay()

    # -- where a hop is ------------------------------------------------------

    def where(self, i: int) -> str:
        h = self.hops
        port = int(h.port[i])
        via = f" port {port}" if port else ""
        return (f"hop {i} ({int(h.src[i])}->{int(h.dst[i])}{via}, cycle {int(h.start[i])}, "
                f"chunk {int(h.chunk[i])})")

    # -- the header ----------------------------------------------------------

    def check_header(self) -> None:
        s, system = self.s, self.system
        if s.kind not in KINDS:
            raise LockstepError(f"schedule: unknown collective '{s.kind}' (use {', '.join(KINDS)})")
        parts = [int(p) for p in s.participants]
        if not parts:
            raise LockstepError("schedule: no participants")
        if len(set(parts)) != len(parts):
            raise LockstepError(f"schedule: participants list a chip twice: {parts}")
        alive = _alive_chips(system)
        for rank, chip in enumerate(parts):
            if not 0 <= chip < system.chips:
                raise LockstepError(f"schedule: rank {rank} is chip {chip}, which is not in system "
                                    f"'{system.name}' (chips 0..{system.chips - 1})")
            if not alive[chip]:
                raise LockstepError(f"schedule: rank {rank} is chip {chip}, which has failed")
        if s.bytes_per_chip < 0 or s.chunk_count < 0 or s.chunk_bytes < 0:
            raise LockstepError(f"schedule: negative sizes (bytes_per_chip {s.bytes_per_chip}, "
                                f"chunk count {s.chunk_count}, chunk bytes {s.chunk_bytes})")
        if s.chunk_count and s.chunk_bytes < 1:
            raise LockstepError("schedule: chunks of 0 bytes")
        per = self.n * self.n if s.kind == "all-to-all" else self.n
        if s.kind in ("all-gather", "reduce-scatter", "all-to-all") and s.chunk_count % per:
            raise LockstepError(f"schedule: {s.kind} on {self.n} ranks needs a chunk count divisible by "
                                f"{per}, not {s.chunk_count}")
        need = s.bytes_per_chip * (self.n if s.kind == "all-to-all" else 1)
        if self.n > 1 and s.chunk_count * s.chunk_bytes < need:
            raise LockstepError(f"schedule: {s.chunk_count} chunks of {s.chunk_bytes} bytes cannot hold "
                                f"{need} bytes ({s.kind} of {s.bytes_per_chip} bytes per chip on {self.n} ranks)")
        self.vectors = -(-s.chunk_bytes // system.vector_bytes)

    def check_arrays(self) -> None:
        h = self.hops
        count = len(h.src)
        for name in ("dst", "port", "start", "end", "arrive", "chunk", "sources_begin", "sources_end", "all_sources"):
            if len(getattr(h, name)) != count:
                raise LockstepError(f"schedule: hop column '{name}' has {len(getattr(h, name))} entries, not {count}")
        begin = np.asarray(h.sources_begin, dtype=np.int64)
        end = np.asarray(h.sources_end, dtype=np.int64)
        full = np.asarray(h.all_sources, dtype=bool)
        idx = np.asarray(h.sources_idx, dtype=np.int64)
        if (bad := np.flatnonzero((begin < 0) | (end < begin) | (end > len(idx)))).size:
            i = int(bad[0])
            raise LockstepError(f"{self.where(i)}: its sources [{int(begin[i])}, {int(end[i])}) are not a slice of "
                                f"the {len(idx)} entries of sources_idx")
        listed = end - begin
        if count and (bad := np.flatnonzero((listed < 1) & ~full)).size:
            raise LockstepError(f"{self.where(int(bad[0]))}: carries no sources")
        if count and (bad := np.flatnonzero((listed > 0) & full)).size:
            raise LockstepError(f"{self.where(int(bad[0]))}: is marked all_sources but also lists sources")
        # slices may share entries and leave some out: a hop is wrong if its slice covers a bad entry
        not_rank = (idx < 0) | (idx >= self.n)
        seen = np.concatenate([[0], np.cumsum(not_rank)])
        if (bad := np.flatnonzero(seen[end] > seen[begin])).size:
            i = int(bad[0])
            rank = int(idx[begin[i] + int(np.argmax(not_rank[begin[i]:end[i]]))])
            raise LockstepError(f"{self.where(i)}: source rank {rank} is not a rank (0..{self.n - 1})")
        if count and (bad := np.flatnonzero((h.chunk < 0) | (h.chunk >= self.s.chunk_count))).size:
            raise LockstepError(f"{self.where(int(bad[0]))}: no such chunk (0..{self.s.chunk_count - 1})")

    # -- links and time ------------------------------------------------------

    def check_links(self) -> np.ndarray:
        """Index of every hop's link among the links in service (`System.links`,
        sorted by src, dst, port; failed links are not among them)."""
        system, h = self.system, self.hops
        arrays = system.link_arrays()
        ports = 1 + max(int(arrays.port.max(initial=0)), int(h.port.max(initial=0)))
        key = (arrays.src * system.chips + arrays.dst) * ports + arrays.port
        order = np.argsort(key, kind="stable")
        key = key[order]
        self.link_ser = np.asarray(arrays.ser_cycles)[order]
        self.link_lat = np.asarray(arrays.hop_latency)[order]
        inside = (h.src >= 0) & (h.src < system.chips) & (h.dst >= 0) & (h.dst < system.chips) & (h.port >= 0)
        src, dst, port = (np.clip(np.asarray(c, dtype=np.int64), 0, None) for c in (h.src, h.dst, h.port))
        want = (src * system.chips + dst) * ports + port
        pos = np.clip(np.searchsorted(key, want), 0, max(len(key) - 1, 0))
        found = inside & (key[pos] == want) if len(key) else np.zeros(len(h), dtype=bool)
        if (bad := np.flatnonzero(~found)).size:
            i = int(bad[0])
            failed = {(l.src, l.dst, l.port) for l in system.failed_links}
            if (int(h.src[i]), int(h.dst[i]), int(h.port[i])) in failed:
                raise LockstepError(f"{self.where(i)}: the link has failed")
            raise LockstepError(f"{self.where(i)}: system '{system.name}' has no such link")
        return pos

    def check_timing(self, link: np.ndarray) -> None:
        h = self.hops
        if (bad := np.flatnonzero(h.start < 0)).size:
            raise LockstepError(f"{self.where(int(bad[0]))}: starts before cycle 0")
        occupancy = self.vectors * self.link_ser[link]
        if (bad := np.flatnonzero(h.end - h.start != occupancy)).size:
            i = int(bad[0])
            raise LockstepError(f"{self.where(i)}: occupies the link [{int(h.start[i])}, {int(h.end[i])}) = "
                                f"{int(h.end[i] - h.start[i])} cycles, but {self.s.chunk_bytes} bytes are "
                                f"{self.vectors} vector(s) x {int(self.link_ser[link[i]])} cycles = "
                                f"{int(occupancy[i])}")
        landing = h.end + self.link_lat[link]
        if (bad := np.flatnonzero(h.arrive != landing)).size:
            i = int(bad[0])
            raise LockstepError(f"{self.where(i)}: arrives at {int(h.arrive[i])}, but end {int(h.end[i])} + hop "
                                f"latency {int(self.link_lat[link[i]])} = {int(landing[i])}")

    def check_overlaps(self, link: np.ndarray) -> None:
        h = self.hops
        order = np.lexsort((h.start, link))
        same = link[order][1:] == link[order][:-1]
        clash = same & (h.start[order][1:] < h.end[order][:-1])
        if (bad := np.flatnonzero(clash)).size:
            first, second = int(order[bad[0]]), int(order[bad[0] + 1])
            raise LockstepError(f"{self.where(second)}: overlaps hop {first} on the link "
                                f"([{int(h.start[first])}, {int(h.end[first])}) and "
                                f"[{int(h.start[second])}, {int(h.end[second])}))")

    # -- what each chip holds ------------------------------------------------

    def owners(self) -> list[int] | None:
        """The rank that starts with each chunk, None when every rank does."""
        kind, n, count = self.s.kind, self.n, self.s.chunk_count
        if kind in ("all-reduce", "reduce-scatter"):
            return None
        if kind == "broadcast":
            return [0] * count
        if kind == "all-gather":
            return (np.arange(count) // (count // n)).tolist()
        return (np.arange(count) // (count // (n * n)) // n).tolist()  # all-to-all: chunk (i*N + j)*k' + m

    def initial(self, rank: int | None, chunk: int) -> int:
        """The partial sum (bitset of ranks) chip of `rank` starts with for `chunk`, or 0."""
        if rank is None or (self.owner is not None and self.owner[chunk] != rank):
            return 0
        return 1 << rank

    def held(self, chip: int, chunk: int) -> set[int]:
        got = self.holdings.get(chip * self.s.chunk_count + chunk)
        first = self.initial(self.rank_of.get(chip), chunk)
        out = set(got) if got else set()
        if first:
            out.add(first)
        return out

    def can_form(self, chip: int, chunk: int, want: int) -> bool:
        """Does the chip hold partial sums of `chunk` with pairwise disjoint
        sources whose union is exactly `want`?"""
        got = self.holdings.get(chip * self.s.chunk_count + chunk)
        if got is not None and want in got:
            return True
        rank = self.rank_of.get(chip)
        if rank is not None and want == 1 << rank and (self.owner is None or self.owner[chunk] == rank):
            return True
        parts = [m for m in self.held(chip, chunk) if m & ~want == 0]
        union = bits = 0
        for m in parts:
            union |= m
            bits += m.bit_count()
        if union != want:
            return False
        return bits == want.bit_count() or _exact_cover(want, parts)  # pairwise disjoint: add them all

    def replay(self) -> None:
        s, h = self.s, self.hops
        self.rank_of = {int(chip): rank for rank, chip in enumerate(s.participants)}
        self.holdings: dict[int, set[int]] = {}
        self.owner = self.owners()
        count = s.chunk_count
        by_start = np.argsort(h.start, kind="stable").tolist()
        by_arrive = np.argsort(h.arrive, kind="stable").tolist()
        start, arrive = h.start.tolist(), h.arrive.tolist()
        src, dst, chunk = h.src.tolist(), h.dst.tolist(), h.chunk.tolist()
        masks, counts = _source_masks(h.sources_begin, h.sources_end, h.sources_idx)
        if (bad := np.flatnonzero(counts != h.sources_end - h.sources_begin)).size:
            raise LockstepError(f"{self.where(int(bad[0]))}: lists a source rank twice")
        full = (1 << self.n) - 1
        for i in np.flatnonzero(h.all_sources).tolist():
            masks[i] = full
        landed = 0
        for i in by_start:
            while landed < len(by_arrive) and arrive[by_arrive[landed]] <= start[i]:
                j = by_arrive[landed]
                self.holdings.setdefault(dst[j] * count + chunk[j], set()).add(masks[j])
                landed += 1
            if not self.can_form(src[i], chunk[i], masks[i]):
                raise LockstepError(f"{self.where(i)}: chip {src[i]} does not hold {_describe(masks[i])} of chunk "
                                    f"{chunk[i]} by cycle {start[i]}{self.hint(i)}")
        for j in by_arrive[landed:]:
            self.holdings.setdefault(dst[j] * count + chunk[j], set()).add(masks[j])
        self.check_complete()

    def hint(self, i: int) -> str:
        """Why hop i's data was not there: it lands later, or the partial sums overlap."""
        h = self.hops
        chip, chunk, mask = int(h.src[i]), int(h.chunk[i]), self.mask_of(i)
        held = self.held(chip, chunk)
        union = 0
        for m in held:
            if m & ~mask == 0:
                union |= m
        if union == mask:
            return " (the partial sums it holds overlap, so they cannot be added)"
        later = np.flatnonzero((h.dst == chip) & (h.chunk == chunk) & (h.arrive > h.start[i])).tolist()
        later = [j for j in later if self.mask_of(j) & mask]
        if later:
            j = min(later, key=lambda j: int(h.arrive[j]))
            return f" (hop {j} brings {_describe(self.mask_of(j))} only at cycle {int(h.arrive[j])})"
        if held:
            return f" (it holds {', '.join(_describe(m) for m in sorted(held))})"
        return " (it holds nothing of that chunk)"

    def mask_of(self, j: int) -> int:
        mask = 0
        for r in self.hops.sources(j, self.n).tolist():
            mask |= 1 << r
        return mask

    def check_complete(self) -> None:
        s, n, count = self.s, self.n, self.s.chunk_count
        if n == 1 or count == 0:
            return
        full = (1 << n) - 1
        parts = [int(p) for p in s.participants]
        kind = s.kind
        for rank, chip in enumerate(parts):
            if kind == "all-gather":
                k = count // n
                wanted = ((c, 1 << (c // k)) for c in range(count))
            elif kind == "broadcast":
                wanted = ((c, 1) for c in range(count))
            elif kind == "all-reduce":
                wanted = ((c, full) for c in range(count))
            elif kind == "reduce-scatter":
                k = count // n
                wanted = ((c, full) for c in range(rank * k, (rank + 1) * k))
            else:  # all-to-all: chunk (i*N + j)*k' + m goes from rank i to rank j
                k = count // (n * n)
                wanted = (((i * n + rank) * k + m, 1 << i) for i in range(n) for m in range(k))
            for c, want in wanted:
                if not self.can_form(chip, c, want):
                    what = "the full sum" if want == full and kind in ("all-reduce", "reduce-scatter") \
                        else f"the data of rank {want.bit_length() - 1}"
                    raise LockstepError(f"incomplete {kind}: rank {rank} (chip {chip}) never gets {what} "
                                        f"of chunk {c}")


# -- helpers ---------------------------------------------------------------------


def _exact_cover(want: int, parts: list[int]) -> bool:
    """Pick pairwise disjoint sets from `parts` whose union is `want`. Largest
    first, which succeeds at once on the laminar families real schedules make."""
    parts = sorted(set(parts), key=lambda m: -m.bit_count())
    steps = 0

    def search(left: int) -> bool:
        nonlocal steps
        if left == 0:
            return True
        low = left & -left
        for m in parts:
            if m & low and m & ~left == 0:
                steps += 1
                if steps > _COVER_BUDGET:
                    raise LockstepError("schedule: too many overlapping partial sums to check "
                                        f"(gave up after {_COVER_BUDGET} steps)")
                if search(left & ~m):
                    return True
        return False

    return search(want)


def _source_masks(begin: np.ndarray, end: np.ndarray, idx: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Every hop's listed sources as a Python int bitset over ranks (0 for a
    full-sum hop, which lists none), and how many distinct ranks each lists.

    One-rank hops are shifted directly. For the rest, X[p] = XOR of 1 << idx[j]
    over j < p is taken at every slice bound in one walk over sources_idx, and
    a slice's bitset is X[end] ^ X[begin]: linear in len(sources_idx) however
    many slices overlap (a ring reduce-scatter's, ~N^2 / 4 ranks per chunk if
    expanded). A rank listed twice in a slice cancels out, so such a slice has
    fewer distinct ranks than entries."""
    begin = np.asarray(begin, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    lens = end - begin
    masks: list[int] = [0] * len(lens)
    counts = lens.copy()
    single = np.flatnonzero(lens == 1)
    for i, r in zip(single.tolist(), np.asarray(idx)[begin[single]].tolist()):
        masks[i] = 1 << r
    multi = np.flatnonzero(lens > 1)
    if not len(multi):
        return masks, counts
    marks = np.unique(np.concatenate([begin[multi], end[multi]]))
    first = int(marks[0])
    # check_arrays rejected slices covering a non-rank; entries no slice covers cancel out of
    # every X[end] ^ X[begin], so a negative one may be clipped to keep the shifts legal
    ranks = np.maximum(np.asarray(idx, dtype=np.int64)[first : int(marks[-1])], 0).tolist()
    prefix: list[int] = []
    acc, at = 0, first
    for mark in marks.tolist():
        for r in ranks[at - first : mark - first]:
            acc ^= 1 << r
        prefix.append(acc)
        at = mark
    lo = np.searchsorted(marks, begin[multi]).tolist()
    hi = np.searchsorted(marks, end[multi]).tolist()
    for i, a, b in zip(multi.tolist(), lo, hi):
        masks[i] = m = prefix[a] ^ prefix[b]
        counts[i] = m.bit_count()
    return masks, counts


def _describe(mask: int) -> str:
    ranks = [i for i in range(mask.bit_length()) if mask >> i & 1]
    if len(ranks) == 1:
        return f"the data of rank {ranks[0]}"
    shown = ", ".join(map(str, ranks[:8])) + (", ..." if len(ranks) > 8 else "")
    return f"a partial sum of ranks {{{shown}}}"


def _alive_chips(system: System) -> np.ndarray:
    alive = np.zeros(system.chips, dtype=bool)
    alive[np.asarray(system.alive_chips(), dtype=np.int64)] = True
    return alive
