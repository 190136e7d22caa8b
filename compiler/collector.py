"""Python's cyclic garbage collector, paused while a pass or the runtime builds a large program.

xDSL IR and the runtime's op tables are millions of linked objects made at once and freed
almost never; each automatic collection walks all of them again, which took a fifth of a
lowering pass and half of loading a 576-chip program. Cycles made meanwhile are collected
once the collector is back on.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
