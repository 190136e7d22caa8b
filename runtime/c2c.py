"""Chip-to-chip links: one vector at a time per directed link, and every arrival met by a recv.

A send iteration occupies its link for [issue, issue + ser) and lands at
issue + ser + hop in the receiver; a recv iteration on the same link must wait
at exactly that cycle. Numerically a recv writes what the matched send read.
"""

from __future__ import annotations

import numpy as np

from runtime.program import Events, Program
from runtime.search import earliest, find


def match_transfers(program: Program, sends: Events, recvs: Events) -> np.ndarray:
    """Checks link occupancy and arrivals; returns, per recv event, its send event."""
    _check_occupancy(program, sends)
    arrival = sends.cycle + program.link_delay[sends.key]
    horizon = int(max(arrival.max(initial=0), recvs.cycle.max(initial=0))) + 1
    recv_keys = recvs.key * horizon + recvs.cycle
    order = np.argsort(recv_keys, kind="stable")
    sorted_keys = recv_keys[order]
    if (bad := earliest(sorted_keys[1:] == sorted_keys[:-1], recvs.cycle[order[1:]])) is not None:
        first, second = int(order[bad]), int(order[bad + 1])
        raise program.blame(
            int(recvs.op[second]),
            int(recvs.cycle[second]),
            f"waits on {_link(program, int(recvs.key[second]))} in the same cycle as "
            f"{program.describe(int(recvs.op[first]))}: one vector arrives per cycle",
        )
    position, matched = find(sorted_keys, sends.key * horizon + arrival)
    received = np.zeros(recvs.cycle.size, dtype=bool)
    received[order[position[matched]]] = True
    lost, idle = earliest(~matched, arrival), earliest(~received, recvs.cycle)
    if lost is not None and (idle is None or arrival[lost] <= recvs.cycle[idle]):
        link = int(sends.key[lost])
        raise program.blame(
            int(sends.op[lost]),
            int(sends.cycle[lost]),
            f"the vector sent here (iteration {int(sends.iteration[lost])}) arrives on {_link(program, link)} "
            f"at cycle {int(arrival[lost])} and no recv takes it",
        )
    if idle is not None:
        raise program.blame(
            int(recvs.op[idle]),
            int(recvs.cycle[idle]),
            f"recv iteration {int(recvs.iteration[idle])} waits on {_link(program, int(recvs.key[idle]))} "
            "but nothing arrives in this cycle",
        )
    result = np.empty(recvs.cycle.size, dtype=np.int64)
    result[order[position]] = np.arange(sends.cycle.size)
    return result


def _check_occupancy(program: Program, sends: Events) -> None:
    order = np.lexsort((sends.cycle, sends.key))
    link, cycle = sends.key[order], sends.cycle[order]
    busy_until = cycle + program.link_ser[link]
    overlap = (link[1:] == link[:-1]) & (cycle[1:] < busy_until[:-1])
    if (bad := earliest(overlap, cycle[1:])) is not None:
        first, second = int(order[bad]), int(order[bad + 1])
        raise program.blame(
            int(sends.op[second]),
            int(cycle[bad + 1]),
            f"iteration {int(sends.iteration[second])} is sent while {_link(program, int(link[bad]))} still carries "
            f"iteration {int(sends.iteration[first])} of {program.describe(int(sends.op[first]))}, sent at cycle "
            f"{int(cycle[bad])}, until cycle {int(busy_until[bad])}",
        )


def _link(program: Program, link: int) -> str:
    found = program.links[link]
    return f"link {found.src}->{found.dst} port {found.port}"
