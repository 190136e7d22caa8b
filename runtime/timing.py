"""The clock: every promise a program makes about time, checked on whole arrays.

SRAM bounds, one issue per unit per cycle, links (runtime/c2c.py), the MXM
tiles (runtime/mxm.py), one landing per address per cycle, and the operand and
output promises (the latest write at or before a read comes from a producer
the operand names). A write's cycle is its landing cycle. Each check finds all violations at once and reports the
earliest as a BrokenPromise; the result says, for every read, which write event
produced its value, which is all the numbers need to know about time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from compiler.errors import LockstepError
from runtime import c2c, mxm
from runtime.program import Events, Program
from runtime.search import earliest, member, pair_members

_KEY_LIMIT = 1 << 62  # (address, cycle) keys are packed into one int64


@dataclass(frozen=True)
class Timeline:
    cycles: int  # the largest landing or ready cycle of anything
    reads: Events  # output reads carry cycle `cycles + 1`
    read_source: np.ndarray  # per read event: its value's write event (index into writes)
    writes: Events
    sends: Events
    recv_source: np.ndarray  # per recv event: the send event it receives (index into sends)
    matmul_load: np.ndarray  # per matmul event: the mxm_load op whose tile it multiplies


def check(program: Program) -> Timeline:
    """Every timing promise of the program; raises BrokenPromise for the first one broken."""
    reads, writes = program.reads.expand(), program.writes.expand()
    final = program.read_final[reads.run]
    _check_sram(program, reads, final, "reads")
    _check_sram(program, writes, np.zeros(writes.run.size, dtype=bool), "writes")
    _check_single_issue(program, program.issues.expand())
    sends = program.sends.expand()
    recv_source = c2c.match_transfers(program, sends, program.recvs.expand())
    cycles = int(max(writes.cycle.max(initial=0), program.load_ready.max(initial=0)))
    # Output reads happen after the last cycle: they see every write.
    reads = replace(reads, cycle=np.where(final, cycles + 1, reads.cycle))
    matmul_load = mxm.check_tiles(program, program.matmuls.expand())
    read_source = _check_operands(program, reads, writes, final, int(reads.cycle.max(initial=cycles)) + 1)
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
        raise program.blame(op, cycle, what)


def _check_single_issue(program: Program, issues: Events) -> None:
    horizon = int(issues.cycle.max(initial=0)) + 1
    keys = issues.key * horizon + issues.cycle
    order = np.argsort(keys, kind="stable")
    cycle = issues.cycle[order]
    if (bad := earliest(np.diff(keys[order]) == 0, cycle[1:])) is not None:
        first, second = int(issues.op[order[bad]]), int(issues.op[order[bad + 1]])
        raise program.blame(second, int(cycle[bad]), f"the unit already issues {program.describe(first)} in this cycle")


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
        raise program.blame(
            int(writes.op[second]),
            int(writes.cycle[second]),
            f"two writes land at address {int(writes.addr[second])} in one cycle: this one's "
            f"and {program.describe(int(writes.op[first]))}'s",
        )
    position = np.searchsorted(sorted_keys, read_loc * horizon + reads.cycle, side="right") - 1
    source = order[np.maximum(position, 0)]
    written = (position >= 0) & (write_loc[source] == read_loc)
    promised = written & member(program.allowed, reads.run * program.n_ops + writes.op[source])
    if (bad := earliest(~promised, reads.cycle)) is not None:
        raise _broken_operand(program, reads, writes, bad, bool(final[bad]), write_loc, read_loc[bad])
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
