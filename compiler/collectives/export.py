"""The `--export-schedule` JSON form of a collective schedule (see docs/network.md).

    {"kind": "all-gather", "chips": 4, "bytes_per_chip": 5120,
     "links": [{"src": 0, "dst": 1, "bytes_per_cycle": 16.67, "latency": 450}, ...],
     "chunks": {"count": 4, "bytes": 1280},
     "hops": [{"src": 0, "dst": 1, "start": 0, "end": 77, "arrive": 527,
               "chunk": 0, "sources": [0]}, ...]}

"chips" is the system's chip count and every chip id is a system chip id;
"sources" are ranks, listed in full for every hop (the slices that share
entries in memory, `Hops.sources_begin/end`, are expanded). Two optional keys
appear only when needed: "participants" (the system chip of each rank) when they are not all chips
0..chips-1 in order (failed chips, a subset), and "port" on every link and hop
when the system has parallel links between a pair of chips. A hop carrying the
full sum (every rank; `Hops.all_sources`) writes "sources": "all" instead of
the list of all N ranks, which for an all-reduce on 1024 chips would be ~1G
numbers; `from_json` reads both forms. "links" lists the
alive directed links only. Columns are turned into lists by numpy's .tolist()
and the caller writes the dict with one json.dump, so a million hops export
in seconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from compiler.collectives.schedule import KINDS, CollectiveSchedule, Hops, ptr_slices
from compiler.errors import LockstepError
from compiler.system import System

_HOP_KEYS = ("src", "dst", "start", "end", "arrive", "chunk", "sources")


def to_json(schedule: CollectiveSchedule, system: System) -> dict[str, Any]:
    links = system.links  # the links in service
    hops = schedule.hops
    parallel = any(l.port for l in system.links) or bool(len(hops) and int(np.max(hops.port)) > 0)
    data: dict[str, Any] = {
        "kind": schedule.kind,
        "chips": system.chips,
        "bytes_per_chip": int(schedule.bytes_per_chip),
    }
    participants = [int(p) for p in schedule.participants]
    if participants != list(range(system.chips)):
        data["participants"] = participants
    link_rows = []
    for l in links:
        cls = system.link_classes[l.cls]
        row: dict[str, Any] = {"src": l.src, "dst": l.dst}
        if parallel:
            row["port"] = l.port
        row["bytes_per_cycle"] = cls.bytes_per_cycle
        row["latency"] = cls.hop_latency
        link_rows.append(row)
    data["links"] = link_rows
    data["chunks"] = {"count": int(schedule.chunk_count), "bytes": int(schedule.chunk_bytes)}
    flat = hops.sources_idx.tolist()
    sources = [flat[a:b] for a, b in zip(hops.sources_begin.tolist(), hops.sources_end.tolist())]
    for i in np.flatnonzero(hops.all_sources).tolist():
        sources[i] = "all"
    columns = [hops.src.tolist(), hops.dst.tolist(), hops.start.tolist(), hops.end.tolist(),
               hops.arrive.tolist(), hops.chunk.tolist(), sources]
    if parallel:
        keys = ("src", "dst", "port", "start", "end", "arrive", "chunk", "sources")
        columns.insert(2, hops.port.tolist())
    else:
        keys = _HOP_KEYS
    data["hops"] = [dict(zip(keys, row)) for row in zip(*columns)]
    return data


def write_json(schedule: CollectiveSchedule, system: System, path: str | Path) -> None:
    data = to_json(schedule, system)
    try:
        with open(path, "w") as out:
            json.dump(data, out, separators=(",", ":"))
    except OSError as err:
        raise LockstepError(f"cannot write the schedule to '{path}': {err.strerror}") from None


def from_json(data: Mapping[str, Any]) -> CollectiveSchedule:
    """The schedule of a dict in the export format (the links are not needed:
    check the schedule against the System it was made for)."""
    if not isinstance(data, Mapping):
        raise LockstepError("schedule JSON: the top level must be an object")
    kind = _field(data, "kind", str)
    if kind not in KINDS:
        raise LockstepError(f"schedule JSON: unknown kind '{kind}' (use {', '.join(KINDS)})")
    chips = _field(data, "chips", int)
    participants = data.get("participants", list(range(chips)))
    if not isinstance(participants, list) or not all(_is_int(p) for p in participants):
        raise LockstepError("schedule JSON: 'participants' must be a list of chip ids")
    chunks = _field(data, "chunks", Mapping)
    count, size = _field(chunks, "count", int, "chunks."), _field(chunks, "bytes", int, "chunks.")
    rows = _field(data, "hops", list)
    n = len(rows)
    cols = {key: np.zeros(n, dtype=np.int64) for key in ("src", "dst", "port", "start", "end", "arrive", "chunk")}
    ptr = np.zeros(n + 1, dtype=np.int64)
    full = np.zeros(n, dtype=bool)
    flat: list[int] = []
    try:
        for key in ("src", "dst", "start", "end", "arrive", "chunk"):
            cols[key][:] = [row[key] for row in rows]
        cols["port"][:] = [row.get("port", 0) for row in rows]
        for i, row in enumerate(rows):
            sources = row["sources"]
            if sources == "all":
                full[i] = True
            elif isinstance(sources, str):
                raise ValueError(sources)
            else:
                flat.extend(sources)
            ptr[i + 1] = len(flat)
        idx = np.asarray(flat, dtype=np.int64)
    except KeyError as err:
        raise LockstepError(f"schedule JSON: a hop lacks '{err.args[0]}'") from None
    except (TypeError, ValueError, AttributeError, OverflowError):
        raise LockstepError("schedule JSON: every hop needs integer src, dst, start, end, arrive, chunk "
                            "and sources: a list of integer ranks or \"all\"") from None
    hops = Hops(cols["src"], cols["dst"], cols["port"], cols["start"], cols["end"], cols["arrive"],
                cols["chunk"], *ptr_slices(ptr), idx, full)
    return CollectiveSchedule(kind=kind, participants=tuple(int(p) for p in participants),
                              bytes_per_chip=_field(data, "bytes_per_chip", int), chunk_count=count,
                              chunk_bytes=size, hops=hops, algorithm=str(data.get("algorithm", "imported")))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _field(data: Mapping[str, Any], key: str, kind: type, prefix: str = "") -> Any:
    if key not in data:
        raise LockstepError(f"schedule JSON: missing '{prefix}{key}'")
    value = data[key]
    ok = _is_int(value) if kind is int else isinstance(value, kind)
    if not ok:
        raise LockstepError(f"schedule JSON: '{prefix}{key}' has the wrong type ({type(value).__name__})")
    return value
