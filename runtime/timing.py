"""The clock: every promise a program makes about time, checked on whole arrays.

SRAM bounds, one issue per unit per cycle, links (runtime/c2c.py), the MXM
tiles (runtime/mxm.py), one landing per address per cycle, and the operand and
output promises (the latest write at or before a read comes from a producer
the operand names). A write's cycle is its landing cycle. Each check finds all violations at once and reports the
earliest as a BrokenPromise; the result says, for every read, which write event
produced its value, which is all the numbers need to know about time.

The checks run in a fixed order (CHECKS) and the one reported is the earliest
violation of the first check that fails. All but the links are promises on one
chip, so a timing-only run (`check_by_chip`) expands and checks one chip at a
time and keeps only that chip's events: each check raises a Violation keyed as
the all-chips check would rank it (cycle, then the event's row and iteration,
or the unit or address its arrays are sorted by), a chip stops at its first
failing check, and the smallest (check, key) over chips is reported, unless the
links, checked on all chips at once after the loop, fail at an earlier check.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, replace

import numpy as np

from compiler.errors import LockstepError
from runtime import c2c, mxm
from runtime.program import Events, Program
from runtime.search import Violation, earliest, member, pair_members

_KEY_LIMIT = 1 << 62  # (address, cycle) keys are packed into one int64
CHECKS = ("sram reads", "sram writes", "single issue", "links", "tiles", "landings", "operands", "int8 reads")


@dataclass(frozen=True)
class Timeline:
    cycles: int  # the largest landing or ready cycle of anything
    reads: Events  # output reads carry cycle `cycles + 1`
    read_source: np.ndarray  # per read event: its value's write event (index into writes)
    writes: Events
    sends: Events
    recv_source: np.ndarray  # per recv event: the send event it receives (index into sends)
    matmul_load: np.ndarray  # per matmul event: the mxm_load op whose tile it multiplies


@dataclass(frozen=True)
class _Part:
    """The rows (ascending) of each table one pass of the checks expands: all, or one chip's."""

    reads: np.ndarray
    writes: np.ndarray
    issues: np.ndarray
    sends: np.ndarray
    recvs: np.ndarray
    loads: np.ndarray
    matmuls: np.ndarray


def check(program: Program) -> Timeline:
    """Every timing promise of the program, on all chips at once (what the numbers need);
    raises BrokenPromise for the first one broken."""
    every = {table.name: np.arange(getattr(program, table.name).count.size) for table in fields(_Part)}
    try:
        return _check(program, _Part(**every), *_clock(program))
    except Violation as found:
        raise found.error from None


def check_by_chip(program: Program) -> int:
    """The promises `check` checks, with the same BrokenPromise for the first one broken, in the
    memory of one chip's events (and every link's); returns the program's cycles."""
    cycles, horizon = _clock(program)
    found = []
    for part in _chips(program):
        try:
            _check(program, part, cycles, horizon)
        except Violation as violation:
            found.append(violation)
    first = min(found, key=lambda violation: (_rank(violation), violation.key), default=None)
    if first is None or _rank(first) > CHECKS.index("links"):
        c2c.match_transfers(program, program.sends.expand(), program.recvs.expand())
    if first is not None:
        raise first.error
    return cycles


def _rank(violation: Violation) -> int:
    return CHECKS.index(violation.check)


def _clock(program: Program) -> tuple[int, int]:
    """The program's cycles (the largest landing or ready cycle) and a horizon past every event's
    cycle, output reads (at cycles + 1) included."""
    cycles = max(program.writes.latest, int(program.load_ready.max(initial=0)))
    return cycles, max(program.reads.latest, cycles + 1) + 1


def _chips(program: Program) -> Iterator[_Part]:
    """One part per chip, without links: they are checked on all chips at once."""
    chips, none = program.system.chips, np.zeros(0, dtype=np.int64)
    tables = ("reads", "writes", "issues", "loads", "matmuls")
    for rows in zip(*(getattr(program, table).by_chip(chips) for table in tables)):
        yield _Part(sends=none, recvs=none, **dict(zip(tables, rows)))


def _check(program: Program, part: _Part, cycles: int, horizon: int) -> Timeline:
    """The checks, in CHECKS order, on the part's events; raises at the first failing check
    (a Violation, or the links' BrokenPromise)."""
    reads, writes = program.reads.expand(part.reads), program.writes.expand(part.writes)
    final = program.read_final[reads.run]
    _check_sram(program, reads, final, "reads")
    _check_sram(program, writes, np.zeros(writes.run.size, dtype=bool), "writes")
    _check_single_issue(program, program.issues.expand(part.issues))
    sends = program.sends.expand(part.sends)
    recv_source = c2c.match_transfers(program, sends, program.recvs.expand(part.recvs))
    # Output reads happen after the last cycle: they see every write.
    reads = replace(reads, cycle=np.where(final, cycles + 1, reads.cycle))
    matmul_load = mxm.check_tiles(program, program.matmuls.expand(part.matmuls), part.loads)
    read_source = _check_operands(program, reads, writes, final, horizon)
    mxm.check_int8_reads(program, reads, writes, read_source)
    return Timeline(cycles, reads, read_source, writes, sends, recv_source, matmul_load)


def cycle_name(cycle: int, final: bool) -> str:
    return f"end (after cycle {cycle - 1})" if final else str(cycle)


def _check_sram(program: Program, events: Events, final: np.ndarray, verb: str) -> None:
    size = program.system.sram_vectors
    # Report output reads (no clock yet) last: any other event has a real cycle.
    order_cycle = np.where(final, np.iinfo(np.int64).max, events.cycle)
    if (bad := earliest((events.addr < 0) | (events.addr >= size), order_cycle)) is not None:
        op, addr = int(events.op[bad]), int(events.addr[bad])
        cycle = "end" if final[bad] else int(events.cycle[bad])
        iteration = int(events.iteration[bad])
        if verb == "reads":  # an int8 load's reads rows split its iterations (runtime/program.py)
            iteration = program.read_iteration(int(events.run[bad]), iteration)
        what = f"iteration {iteration} {verb} address {addr}, outside SRAM (0..{size - 1})"
        raise Violation(f"sram {verb}", events.place(bad, int(order_cycle[bad])), program.blame(op, cycle, what))


def _check_single_issue(program: Program, issues: Events) -> None:
    horizon = int(issues.cycle.max(initial=0)) + 1
    keys = issues.key * horizon + issues.cycle
    order = np.argsort(keys, kind="stable")
    cycle = issues.cycle[order]
    if (bad := earliest(np.diff(keys[order]) == 0, cycle[1:])) is not None:
        first, second = int(issues.op[order[bad]]), int(issues.op[order[bad + 1]])
        error = program.blame(second, int(cycle[bad]), f"the unit already issues {program.describe(first)} in this cycle")
        raise Violation("single issue", (int(cycle[bad]), int(issues.key[order[bad]])), error)


def _locations(program: Program, events: Events) -> np.ndarray:
    """A chip-wide SRAM address: chip * sram_vectors + address."""
    return events.chip * program.system.sram_vectors + events.addr


def _check_operands(program: Program, reads: Events, writes: Events, final: np.ndarray, horizon: int) -> np.ndarray:
    """The operand and output promises; returns each read's write event."""
    if (program.system.chips * program.system.sram_vectors) * horizon >= _KEY_LIMIT:
        raise LockstepError(f"{horizon} cycles on {program.system.chips} chips do not fit the runtime's int64 keys")
    write_loc, read_loc = _locations(program, writes), _locations(program, reads)
    write_keys = write_loc * horizon + writes.cycle
    order = np.argsort(write_keys, kind="stable")
    sorted_keys = write_keys[order]
    if (bad := earliest(sorted_keys[1:] == sorted_keys[:-1], writes.cycle[order[1:]])) is not None:
        first, second = order[bad], order[bad + 1]
        error = program.blame(
            int(writes.op[second]),
            int(writes.cycle[second]),
            f"two writes land at address {int(writes.addr[second])} in one cycle: this one's "
            f"and {program.describe(int(writes.op[first]))}'s",
        )
        raise Violation("landings", (int(writes.cycle[second]), int(write_loc[second])), error)
    position = np.searchsorted(sorted_keys, read_loc * horizon + reads.cycle, side="right") - 1
    source = order[np.maximum(position, 0)]
    written = (position >= 0) & (write_loc[source] == read_loc)
    promised = written & member(program.allowed, reads.run * program.n_ops + writes.op[source])
    if (bad := earliest(~promised, reads.cycle)) is not None:
        error = _broken_operand(program, reads, writes, bad, bool(final[bad]), write_loc, read_loc[bad])
        raise Violation("operands", reads.place(bad, int(reads.cycle[bad])), error)
    return source


def _broken_operand(
    program: Program, reads: Events, writes: Events, bad: int, final: bool, write_loc: np.ndarray, loc: int
) -> Exception:
    """Why one read breaks its promise: nothing there, late data, or overwritten."""
    op, run, cycle, addr = int(reads.op[bad]), int(reads.run[bad]), int(reads.cycle[bad]), int(reads.addr[bad])
    producers = pair_members(program.allowed, run, program.n_ops)
    here = np.flatnonzero(write_loc == loc)
    here = here[np.argsort(writes.cycle[here], kind="stable")]
    landed = here[writes.cycle[here] <= cycle]
    ours = np.isin(writes.op[here], producers)
    late = here[ours & (writes.cycle[here] > cycle)]
    early = here[ours & (writes.cycle[here] <= cycle)]
    what = "the output" if final else f"operand '{program.read_slot[run]}'"
    names = ", ".join(program.describe(p) for p in producers)
    at = f"{what} reads address {addr} (iteration {program.read_iteration(run, int(reads.iteration[bad]))})"
    if landed.size == 0 and late.size:
        story = f"before its producer's value lands: {program.describe(int(writes.op[late[0]]))} lands it at cycle {int(writes.cycle[late[0]])} (late data)"
    elif landed.size == 0:
        story = f"where nothing has been written yet (it names {names})"
    else:
        last = landed[-1]
        culprit = f"{program.describe(int(writes.op[last]))} at cycle {int(writes.cycle[last])}"
        if early.size:
            story = f"after its producer's value (landed at cycle {int(writes.cycle[early[-1]])}) was overwritten by {culprit}"
        elif late.size:
            story = (
                f"before its producer's value lands: {program.describe(int(writes.op[late[0]]))} lands it at cycle "
                f"{int(writes.cycle[late[0]])} (late data); the address holds the value written by {culprit}"
            )
        else:
            story = f"which holds the value written by {culprit}, none of the producers it names ({names}) writes there"
    return program.blame(op, cycle_name(cycle, final), f"{at} {story}")
