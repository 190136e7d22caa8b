"""Synthesis of collective schedules: `synthesize(kind, system, nbytes)`.

`nbytes` follows nccl-tests: the buffer each chip holds at the end of an
all-gather, at the start of a reduce-scatter, throughout an all-reduce, sends
in an all-to-all, and the broadcast buffer. Data moves in chunks of whole
vectors; a rank's piece (nbytes / N) is cut into k chunks of the same number of
vectors, rounded up (a piece smaller than a vector is padded to one vector:
`bytes_per_chip` keeps the real size, so the padding shows in the cycles).

Algorithms (ALGORITHMS; `auto` runs the applicable ones and keeps the fewest
cycles, recording its pick in `algorithm` as "auto:<name>"):
- direct: every chip sends to every other chip on its route (fc, small N);
- ring: NCCL-style bidirectional logical ring, the baseline;
- greedy: greedy time-expanded trees / routes on link calendars, copied by the
  wiring's symmetry when it has one (engine.py);
- greedy-shortest: the same restricted to shortest paths, the baseline.
reduce-scatter is an all-gather turned around in time (partial sums flow up
its trees; for the tree algorithms the small symmetric pattern is turned
around and then copied, not the expanded hops). all-reduce, for greedy and
greedy-shortest, has its own chunking: chunks that hold the buffer with
little padding, on a subgroup of the wiring's symmetry (not N equal pieces,
which pad 1 MiB on 1024 chips by 25 %), summed up turned-around tree_greedy
trees and broadcast; the broadcast hops carry the full sum as `all_sources`.
greedy schedules sums and broadcasts as one link-centric list schedule,
each chunk's broadcast as soon as its sum is done while later chunks are
still being summed (common.pipelined_all_reduce), or, where that leaves
links idle, mirrors an all-gather's timing (common.tree_all_reduce, which is
all greedy-shortest does); for a buffer of a few vectors it gathers every
chip's contribution everywhere instead (common.gather_all_reduce) or, on a
Dragonfly, sums within groups, across global links and within groups again
(hierarchical.py): algorithms/greedy.py, all_reduce. direct and ring:
reduce-scatter then all-gather of N pieces, overlapped as far as links and
chunks allow.
On a Dragonfly the greedy all-to-all routes every piece over one global link
and injects in an order that feeds every global link evenly (greedy.py).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from compiler.collectives.algorithms import direct, greedy, ring
from compiler.collectives.algorithms.common import Job, Plan, all_reduce_from, reduce_scatter_from, tree_all_reduce
from compiler.collectives.engine import Net
from compiler.collectives.schedule import KINDS, CollectiveSchedule
from compiler.errors import LockstepError

ALGORITHMS = ("auto", "direct", "ring", "greedy", "greedy-shortest")
# Work above which `auto` leaves out the slow baselines (N * (N - 1) chunk steps).
_AUTO_RING_LIMIT = 300_000
_AUTO_DIRECT_CHIPS = 64


def _gather_family(kind: str, job: Job, make_ag: Callable[[Job], Plan]) -> Plan | None:
    if kind == "all-reduce" and make_ag in _TREE_AR:
        return _TREE_AR[make_ag](job)
    ag = make_ag(job)
    if kind == "all-gather":
        return ag
    if kind == "reduce-scatter":
        return reduce_scatter_from(job, ag)
    return all_reduce_from(job, ag)


def _greedy_ag(job: Job) -> Plan:
    return greedy.all_gather(job, minimal_only=False)


def _shortest_ag(job: Job) -> Plan:
    return greedy.all_gather(job, minimal_only=True)


# The tree algorithms' all-reduce: their own chunking, not the all-gather's N pieces.
_TREE_AR = {
    _greedy_ag: greedy.all_reduce,
    _shortest_ag: lambda job: tree_all_reduce(job, minimal_only=True),
}


def _run(name: str, kind: str, job: Job) -> Plan | None:
    """One algorithm's plan, None if it does not apply."""
    fc = job.system.topology_kind == "fc"
    if kind in ("all-gather", "reduce-scatter", "all-reduce"):
        make = {
            "direct": direct.all_gather,
            "ring": ring.all_gather,
            "greedy": _greedy_ag,
            "greedy-shortest": _shortest_ag,
        }[name]
        if name == "direct" and not (fc or job.N <= _AUTO_DIRECT_CHIPS):
            return None
        return _gather_family(kind, job, make)
    if kind == "all-to-all":
        if name == "direct" and not (fc or job.N <= _AUTO_DIRECT_CHIPS):
            return None
        return {
            "direct": direct.all_to_all,
            "ring": ring.all_to_all,
            "greedy": lambda j: greedy.all_to_all(j, slack=0, balanced=True),
            "greedy-shortest": lambda j: greedy.all_to_all(j, slack=0),
        }[name](job)
    if name == "direct" and not (fc or job.N <= _AUTO_DIRECT_CHIPS):
        return None
    return {
        "direct": direct.broadcast,
        "ring": ring.broadcast,
        "greedy": lambda j: greedy.broadcast(j, minimal_only=False),
        "greedy-shortest": lambda j: greedy.broadcast(j, minimal_only=True),
    }[name](job)


def _auto_candidates(kind: str, job: Job) -> list[str]:
    names = ["greedy", "greedy-shortest"]
    if job.system.topology_kind == "fc" or job.N <= _AUTO_DIRECT_CHIPS:
        names.append("direct")
    ring_work = job.N * (job.N - 1) * (job.N if kind == "all-to-all" else 1)
    if ring_work <= _AUTO_RING_LIMIT:
        names.append("ring")
    return names


def _job(kind: str, system, nbytes: int, participants: Sequence[int] | None) -> Job:
    if kind not in KINDS:
        raise LockstepError(f"unknown collective '{kind}' (known: {', '.join(KINDS)})")
    if nbytes < 0:
        raise LockstepError(f"a collective moves a non-negative number of bytes, not {nbytes}")
    net = Net(system)
    alive = set(net.alive)
    parts = list(net.alive) if participants is None else [int(p) for p in participants]
    if not parts:
        raise LockstepError("a collective needs at least one participant")
    if len(set(parts)) != len(parts):
        raise LockstepError("a chip is listed twice among the participants")
    for p in parts:
        if p not in alive:
            raise LockstepError(f"participant chip {p} is not a chip in service of system '{system.name}'")
    return Job(kind, system, net, parts, int(nbytes))


def ring_all_to_all_floor(system, nbytes: int, participants: Sequence[int] | None = None) -> int:
    """Cycles the `ring` all-to-all cannot beat, from its routes' link loads alone: how the
    benchmark compares with the ring on systems where scheduling its ~N^3/4 hops is too slow."""
    return ring.all_to_all_floor(_job("all-to-all", system, nbytes, participants))


def synthesize(kind: str, system, nbytes: int, participants: Sequence[int] | None = None,
               algorithm: str = "auto") -> CollectiveSchedule:
    """A collision-free schedule of collective `kind` moving `nbytes` per chip."""
    if algorithm not in ALGORITHMS:
        raise LockstepError(f"unknown collective algorithm '{algorithm}' (known: {', '.join(ALGORITHMS)})")
    t0 = time.perf_counter()
    job = _job(kind, system, nbytes, participants)
    if algorithm == "auto":
        best: tuple[int, str, Plan] | None = None
        tried: dict[str, int] = {}
        for name in _auto_candidates(kind, job):
            plan = _run(name, kind, job)
            if plan is None:
                continue
            cycles = int(plan.hops.arrive.max()) if len(plan.hops) else 0
            tried[name] = cycles
            if best is None or cycles < best[0]:
                best = (cycles, name, plan)
        if best is None:
            raise LockstepError(f"no algorithm applies to {kind} on system '{system.name}'")
        _, name, plan = best
        label = f"auto:{name}"
        plan.notes["auto_tried"] = tried
    else:
        plan = _run(algorithm, kind, job)
        if plan is None:
            raise LockstepError(f"algorithm '{algorithm}' does not apply to {kind} on system '{system.name}'")
        label = algorithm
    return CollectiveSchedule(
        kind=kind,
        participants=tuple(job.participants),
        bytes_per_chip=int(nbytes),
        chunk_count=plan.chunk_count,
        chunk_bytes=plan.chunk_vectors * job.vb,
        hops=plan.hops,
        algorithm=label,
        synthesis_seconds=time.perf_counter() - t0,
        notes=plan.notes,
    )
