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
