"""The scheduler's fast paths (passes/schedule.py): packed SRAM reads keep each address's latest
access, and the cycle limit holds for them as for runs."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.errors import LockstepError
from passes.schedule import SramGuard
from passes.timing import Run


def test_packed_reads_keep_each_address_latest_access():
    guard = SramGuard()
    addrs = (np.arange(10, dtype=np.int64) + 2) // 4  # int8 rows 2..11 packed four to an address
    cycles = 100 + 3 * np.arange(10, dtype=np.int64)
    guard.use_addresses(0, addrs, cycles)
    for address in range(4):
        rows = np.flatnonzero(addrs == address)
        # a write landing at cycle c after issue must start after the address's last read
        expected = int(cycles[rows].max()) + 1 if rows.size else 0
        assert guard.floor(0, Run(address, 0, 1, 0, 1)) == expected


def test_packed_reads_past_the_cycle_limit_are_refused():
    guard = SramGuard()
    with pytest.raises(LockstepError, match="would run past cycle"):
        guard.use_addresses(3, np.array([0, 0, 1]), np.array([5, 1 << 31, 6]))


def _brute_floor(accesses: list[tuple[int, int]], write: Run) -> int:
    """The earliest start at which every write of `write` lands after each (address, cycle) access."""
    start = 0
    for i in range(write.count):
        address, landing = write.base + i * write.step, write.cycle + i * write.every
        for a, c in accesses:
            if a == address:
                start = max(start, c + 1 - landing)
    return start


@pytest.mark.parametrize("read", [Run(4, 3, 10, 50, 2), Run(2, 1, 25, 50, 2), Run(12, 0, 3, 50, 2),
                                  Run(5, 0, 2, 50, 1), Run(30, -1, 25, 50, 2), Run(33, -4, 8, 50, 3)])
def test_reads_into_the_unwritten_span_are_not_recorded_the_rest_are(read):
    """A run reaching into or across a chip's unwritten span keeps exactly its accesses outside it."""
    lo, hi = 10, 20
    guard = SramGuard({0: (lo, hi)})
    guard.use(0, read)
    kept = [(read.base + i * read.step, read.cycle + i * read.every) for i in range(read.count)
            if not lo <= read.base + i * read.step < hi]
    for address in [*range(lo), *range(hi, 40)]:
        write = Run(address, 0, 1, 0, 1)
        assert guard.floor(0, write) == _brute_floor(kept, write), address
    for write in (Run(0, 1, 10, 3, 1), Run(hi, 2, 8, 3, 1), Run(39, -1, 20, 0, 2)):
        assert guard.floor(0, write) == _brute_floor(kept, write)


def test_packed_reads_into_the_unwritten_span_are_dropped():
    guard = SramGuard({0: (2, 4)})
    guard.use_addresses(0, np.array([0, 1, 2, 3, 4, 5]), np.array([7, 8, 9, 10, 11, 12]))
    assert [guard.floor(0, Run(a, 0, 1, 0, 1)) for a in (0, 1, 4, 5, 6)] == [8, 9, 12, 13, 0]


def test_unwritten_spans_are_the_widest_gap_between_writes():
    from compiler.system import Link
    from passes.schedule import Step, unwritten_spans
    from passes.timing import Hop, Kind

    def write(chip: int, run: Run) -> Step:
        return Step(None, 0, Kind.INSTRUCTION, (), chip=chip, dst=run)

    hop = Hop(Link(1, 2, 0, "local"), 1, 1)
    steps = [
        write(1, Run(0, 1, 4, 0, 1)),  # 0..3
        write(1, Run(40, -4, 3, 0, 1)),  # 32, 36, 40: the gap 4..31 is the widest
        write(1, Run(45, 0, 2, 0, 1)),  # 45: a narrower gap 41..44
        Step(None, 1, Kind.TRANSFER, (), count=3, hops=(hop,), buffers=(32, 25)),  # chip 2: 25..27
        write(3, Run(0, 1, 8, 0, 1)),  # chip 3 writes from 0 without a gap
    ]
    assert unwritten_spans(steps) == {1: (4, 32), 2: (0, 25)}
