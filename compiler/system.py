"""The machine the compiler targets: chips, their units and latencies, and the links between them.

A `System` is read from a TOML description (`compiler/systems/*.toml` are the
presets) and answers the questions the passes ask: how many units of a kind,
how long an instruction or a hop takes, and which links a vector travels on.
Routes are shortest paths found by breadth-first search over a CSR view of the
links, computed on demand and cached per source, so that 1000+ chip systems
cost memory in proportion to their links, not to chips squared.

Topologies (docs/topologies.md): fully connected (`fc:8`), ring (`ring:8`),
torus (`torus:4x4`, `torus:8x8x8`), Dragonfly (`dragonfly:a=8,h=4,g=33`) and
explicit link lists. Failed links and chips (`[failures]` in TOML, or a
`/fail=3-4,7-15/failchip=9` suffix on a spec) are taken out of `links`, so
every route, distance and link id only ever sees links in service.
"""
from __future__ import annotations

import math
import re
import tomllib
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from compiler.errors import LockstepError

PRESET_DIR = Path(__file__).parent / "systems"
UNIT_KINDS = ("mxm", "vxm", "sxm", "mem")
LATENCY_KEYS = ("mxm_load", "mxm", "vxm", "vxm_transcendental", "sxm", "sxm_transpose", "mem")
TOPOLOGY_KINDS = ("fc", "ring", "torus", "dragonfly", "explicit")
GENERATED_KINDS = ("fc", "ring", "torus", "dragonfly")
# The link classes of a Dragonfly: inside a group, and between groups.
DRAGONFLY_CLASSES = ("local", "global")
# BFS trees kept, counted in chips (two int32 per chip): every source of a
# 2k-chip system, while a 10k-chip one stays within 64 MiB.
_ROUTE_CACHE_CHIPS = 1 << 23
# bytes_per_cycle is usually a rounded quotient (15 GB/s / 900 MHz); without
# this slack 1280 / 12.8 would round up to 101 cycles instead of 100.
_CEIL_SLACK = 1e-9


@dataclass(frozen=True)
class LinkClass:
    name: str
    bytes_per_cycle: float
    hop_latency: int  # cycles from the end of serialisation to landing in the receiver's SRAM


@dataclass(frozen=True, order=True)
class Link:
    """A directed link; `port` tells apart parallel links from `src` to `dst` (0, 1, ...)."""

    src: int
    dst: int
    port: int
    cls: str


@dataclass(frozen=True, eq=False)
class LinkArrays:
    """The links in service as columns, indexed by link id (the index into `System.links`).

    Links are sorted by (src, dst, port), so the links leaving chip c are the
    ids `out_ptr[c] .. out_ptr[c+1]-1`. The arrays are read-only."""

    src: np.ndarray  # int64
    dst: np.ndarray  # int64
    port: np.ndarray  # int64
    cls: np.ndarray  # int64, index into class_names
    class_names: tuple[str, ...]
    bytes_per_cycle: np.ndarray  # float64
    hop_latency: np.ndarray  # int64, cycles
    ser_cycles: np.ndarray  # int64, cycles one vector occupies the link
    out_ptr: np.ndarray  # int64, chips + 1 entries

    def __len__(self) -> int:
        return len(self.src)


@dataclass(frozen=True)
class _Csr:
    """Links grouped by one endpoint: links `order[ptr[c]:ptr[c+1]]` leave (or enter) chip c."""

    ptr: np.ndarray
    far: np.ndarray  # the other endpoint of each grouped link
    order: np.ndarray  # index into System.links


@dataclass(frozen=True)
class System:
    name: str
    clock_hz: int
    lanes: int
    element_bytes: int
    sram_bytes: int
    units: dict[str, int]
    latency: dict[str, int]
    chips: int
    links: tuple[Link, ...]
    link_classes: dict[str, LinkClass]
    topology: str  # canonical: "fc:8", "ring:8", "torus:4x4", "torus:2x2x2", "dragonfly:a=8,h=4,g=9" or "explicit"
    spec: str = field(default="", compare=False)  # what load_system() needs to rebuild it
    # Links of the wiring that are out of service: failed ones (both directions)
    # and every link of a failed chip. They are not in `links`.
    failed_links: tuple[Link, ...] = ()
    failed_chips: tuple[int, ...] = ()
    _trees: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=OrderedDict, init=False, repr=False, compare=False
    )
    _unit_names: dict[str, tuple[str, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Link order means nothing; a canonical order makes equal systems compare equal.
        object.__setattr__(self, "links", tuple(sorted(self.links)))
        object.__setattr__(self, "failed_links", tuple(sorted(set(self.failed_links))))
        object.__setattr__(self, "failed_chips", tuple(sorted(set(self.failed_chips))))
        _validate(self)

    def __hash__(self) -> int:
        return hash((self.name, self.chips, self.topology, len(self.links)))

    # -- machine ----------------------------------------------------------

    @property
    def vector_bytes(self) -> int:
        return self.lanes * self.element_bytes

    @property
    def sram_vectors(self) -> int:
        return self.sram_bytes // self.vector_bytes

    def unit_names(self, kind: str) -> tuple[str, ...]:
        """The instances of a unit kind on every chip ("vxm0", ...), built once per kind: the
        scheduler, the verifier and the runtime ask for every instruction."""
        if (names := self._unit_names.get(kind)) is None:
            if kind not in self.units:
                raise LockstepError(f"unknown unit kind '{kind}' (the system has {', '.join(self.units)})")
            names = self._unit_names[kind] = tuple(f"{kind}{i}" for i in range(self.units[kind]))
        return names

    # -- topology ---------------------------------------------------------

    @property
    def topology_kind(self) -> str:
        """"fc", "ring", "torus", "dragonfly" or "explicit"."""
        return self.topology.partition(":")[0]

    @property
    def dims(self) -> tuple[int, ...]:
        """Torus: its dims (chip id = row-major index); fc and ring: (chips,);
        dragonfly: (a, h, g) (chip id = group * a + index in group); explicit: ()."""
        if self.topology_kind == "explicit":
            return ()
        return parse_topology(self.topology)[1]

    def alive_chips(self) -> list[int]:
        """The chips in service, ascending."""
        if not self.failed_chips:
            return list(range(self.chips))
        failed = set(self.failed_chips)
        return [c for c in range(self.chips) if c not in failed]

    @property
    def failure_spec(self) -> str:
        """The failures as a spec suffix ("/fail=3-4,7-15:1/failchip=9"), "" if none."""
        pairs, chips = self._failure_entries()
        return _failure_suffix(pairs, chips)

    # -- links ------------------------------------------------------------

    def links_from(self, chip: int) -> tuple[Link, ...]:
        self._check_chip(chip)
        csr = self._out
        return tuple(self.links[i] for i in csr.order[csr.ptr[chip] : csr.ptr[chip + 1]])

    def link(self, src: int, dst: int, port: int = 0) -> Link:
        return self.links[self.link_id(src, dst, port)]

    def link_id(self, src: int, dst: int, port: int = 0) -> int:
        """The index into `links` (and into `link_arrays()`) of a link in service."""
        index = self._link_ids.get((src, dst, port))
        if index is None:
            self._check_chip(src)
            if any((l.src, l.dst, l.port) == (src, dst, port) for l in self.failed_links):
                raise LockstepError(f"system '{self.name}': the link from chip {src} to chip {dst} on port {port} has failed")
            raise LockstepError(f"system '{self.name}' has no link from chip {src} to chip {dst} on port {port}")
        return index

    def out_links(self, chip: int) -> range:
        """Ids of the links in service leaving `chip` (sorted by dst, then port)."""
        self._check_chip(chip)
        ptr = self._link_arrays.out_ptr
        return range(int(ptr[chip]), int(ptr[chip + 1]))

    def in_links(self, chip: int) -> np.ndarray:
        """Ids of the links in service entering `chip` (sorted by src, then port)."""
        self._check_chip(chip)
        csr = self._in
        return csr.order[csr.ptr[chip] : csr.ptr[chip + 1]]

    def link_arrays(self) -> LinkArrays:
        """The links in service as read-only numpy columns, built once."""
        return self._link_arrays

    def serialization_cycles(self, link: Link) -> int:
        """Cycles one vector occupies `link`."""
        return math.ceil(self.vector_bytes / self.link_classes[link.cls].bytes_per_cycle - _CEIL_SLACK)

    def hop_latency(self, link: Link) -> int:
        return self.link_classes[link.cls].hop_latency

    # -- routes -----------------------------------------------------------

    def parts(self, chips: Sequence[int], classes: Collection[str] | None = None) -> list[list[int]]:
        """`chips` split into the parts that the links among them (of `classes`, or all) connect,
        each sorted, in the order of their first chip in `chips`."""
        inside, seen, parts = set(chips), set(), []
        for start in chips:
            if start in seen:
                continue
            seen.add(start)
            part, frontier = [start], [start]
            while frontier:
                for link in self.links_from(frontier.pop()):
                    if link.dst in inside and link.dst not in seen and (classes is None or link.cls in classes):
                        seen.add(link.dst)
                        part.append(link.dst)
                        frontier.append(link.dst)
            parts.append(sorted(part))
        return parts

    def distance(self, src: int, dst: int) -> int:
        """Hops on a shortest path from `src` to `dst` (over links in service)."""
        self._check_alive(src)
        self._check_alive(dst)
        hops = int(self._tree(src)[0][dst])
        if hops < 0:
            raise self._disconnected(src, dst)
        return hops

    def route(self, src: int, dst: int, port: int = 0) -> list[Link]:
        """A shortest path in hops. Ties go to the lowest-numbered previous chip,
        so a route is the same on every run; every hop uses `port`."""
        self._check_alive(src)
        self._check_alive(dst)
        dist, via = self._tree(src)
        if dist[dst] < 0:
            raise self._disconnected(src, dst)
        hops = [self.links[i] for i in _walk_back(self.links, via, src, dst)]
        if port == 0:  # the tree already prefers the lowest port
            return hops
        return [self.link(hop.src, hop.dst, port) for hop in hops]

    def routes(self, src: int, dst: int, k: int, slack: int = 2) -> list[list[Link]]:
        """Up to `k` edge-disjoint paths, shortest first, none longer than the
        shortest plus `slack` hops; parallel links count as separate edges.
        Greedy (each path is a shortest one avoiding the links of earlier paths),
        so it can find fewer than the maximum number of disjoint paths.
        With `slack` > 0 later paths may be non-minimal: around a torus ring the
        other way or through a parallel row, and on a Dragonfly through the
        parallel global links of the group pair or (Valiant style) through an
        intermediate group, local-global-local-global-local."""
        self._check_alive(src)
        self._check_alive(dst)
        if src == dst:
            return [[]]
        allowed = np.ones(len(self.links), dtype=bool)
        found: list[list[Link]] = []
        limit = self.distance(src, dst) + slack
        while len(found) < k:
            dist, via = _bfs(self._out, src, self.chips, allowed)
            if dist[dst] < 0 or dist[dst] > limit:
                break
            path = _walk_back(self.links, via, src, dst)
            allowed[path] = False
            found.append([self.links[i] for i in path])
        return found

    def diameter(self) -> int:
        """The longest shortest path between chips in service, in hops."""
        kind = self.topology_kind
        sources: Iterable[int]
        if self.failed_links or self.failed_chips:
            sources = self.alive_chips()
        elif kind in ("fc", "ring", "torus"):
            sources = [0]  # they look the same from every chip
        elif kind == "dragonfly":
            sources = range(self.dims[0])  # turning every group by one is a symmetry of the wiring
        else:
            sources = range(self.chips)
        alive = np.ones(self.chips, dtype=bool)
        alive[list(self.failed_chips)] = False
        longest = 0
        for src in sources:
            dist = _bfs(self._out, src, self.chips)[0]
            if (lost := alive & (dist < 0)).any():
                raise self._disconnected(src, int(np.argmax(lost)))
            longest = max(longest, int(dist.max()))
        return longest

    # -- TOML -------------------------------------------------------------

    def to_toml(self) -> str:
        """The description as TOML; `System.from_toml` of it gives back an equal System."""
        tables: list[tuple[str, Mapping[str, Any]]] = [
            (
                "machine",
                {
                    "name": self.name,
                    "clock_hz": self.clock_hz,
                    "lanes": self.lanes,
                    "element_bytes": self.element_bytes,
                    "sram_bytes": self.sram_bytes,
                },
            ),
            ("units", self.units),
            ("latency", self.latency),
        ]
        for cls in self.link_classes.values():
            tables.append(
                (f"link_classes.{cls.name}", {"bytes_per_cycle": cls.bytes_per_cycle, "hop_latency": cls.hop_latency})
            )
        tables.append(("topology", self._topology_table()))
        pairs, chips = self._failure_entries()
        failures: dict[str, Any] = {}
        if pairs:
            failures["links"] = [[a, b] if port is None else [a, b, port] for a, b, port in pairs]
        if chips:
            failures["chips"] = chips
        if failures:
            tables.append(("failures", failures))
        return "\n".join(f"[{name}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in body.items()) for name, body in tables)

    @classmethod
    def from_toml(cls, text: str, origin: str = "<string>", spec: str = "") -> System:
        return _system_from_data(_parse_toml(text, origin), origin, spec, override=None)

    def _topology_table(self) -> dict[str, Any]:
        kind, dims = self.topology_kind, self.dims
        wired = tuple(sorted(self.links + self.failed_links))  # the cabling, failed or not
        per_pair = 1
        if wired:
            ports: dict[tuple[int, int], int] = {}
            for l in wired:
                ports[(l.src, l.dst)] = ports.get((l.src, l.dst), 0) + 1
            per_pair = min(ports.values())  # parallel Dragonfly links come on top
        if kind == "dragonfly":
            link_class = DRAGONFLY_CLASSES[0]
        else:
            link_class = wired[0].cls if wired else next(iter(self.link_classes))
        table: dict[str, Any] = {"kind": kind, "chips": self.chips}
        if kind != "explicit" and wired == _generate_links(kind, dims, per_pair, link_class):
            if kind == "torus":
                table["dims"] = list(dims)
            if kind == "dragonfly":
                table.update(zip("ahg", dims))
            return table | {"links_per_pair": per_pair, "link_class": link_class}
        # Anything else is written link by link, which needs every link to have its twin.
        if list(wired) != sorted(Link(l.dst, l.src, l.port, l.cls) for l in wired):
            raise LockstepError(f"system '{self.name}' has one-way links, which the TOML format cannot describe")
        table["kind"] = "explicit"
        table["link_class"] = link_class
        table["links"] = [[l.src, l.dst, l.cls] for l in wired if l.src < l.dst]
        return table

    # -- internals --------------------------------------------------------

    def _check_chip(self, chip: int) -> None:
        if not 0 <= chip < self.chips:
            raise LockstepError(f"chip {chip} is not in system '{self.name}' (chips 0..{self.chips - 1})")

    def _check_alive(self, chip: int) -> None:
        self._check_chip(chip)
        if self.failed_chips and chip in self._failed_chip_set:
            raise LockstepError(f"chip {chip} of system '{self.name}' has failed")

    def _disconnected(self, src: int, dst: int) -> LockstepError:
        return LockstepError(
            f"system '{self.name}': chip {dst} cannot be reached from chip {src} over the links in service"
            + (f" (failures {self.failure_spec.lstrip('/')})" if self.failure_spec else "")
        )

    @cached_property
    def _failed_chip_set(self) -> frozenset[int]:
        return frozenset(self.failed_chips)

    def _failure_entries(self) -> tuple[list[tuple[int, int, int | None]], list[int]]:
        """Failed links as (a, b, port) with a < b (port None: every port of the
        pair failed), leaving out links of failed chips; and the failed chips."""
        dead = set(self.failed_chips)
        failed: dict[tuple[int, int], set[int]] = {}
        for l in self.failed_links:
            if l.src < l.dst and l.src not in dead and l.dst not in dead:
                failed.setdefault((l.src, l.dst), set()).add(l.port)
        if not failed:
            return [], list(self.failed_chips)
        wired: dict[tuple[int, int], int] = {}
        for l in self.links + self.failed_links:
            if (l.src, l.dst) in failed:
                wired[(l.src, l.dst)] = wired.get((l.src, l.dst), 0) + 1
        entries: list[tuple[int, int, int | None]] = []
        for (a, b), ports in sorted(failed.items()):
            if len(ports) == wired[(a, b)]:
                entries.append((a, b, None))
            else:
                entries += [(a, b, p) for p in sorted(ports)]
        return entries, list(self.failed_chips)

    @cached_property
    def _link_ids(self) -> dict[tuple[int, int, int], int]:
        return {(l.src, l.dst, l.port): i for i, l in enumerate(self.links)}

    @cached_property
    def _link_arrays(self) -> LinkArrays:
        names = tuple(self.link_classes)
        index = {name: i for i, name in enumerate(names)}
        cls = np.fromiter((index[l.cls] for l in self.links), dtype=np.int64, count=len(self.links))
        per_class = [self.link_classes[n] for n in names]
        bpc = np.array([c.bytes_per_cycle for c in per_class], dtype=np.float64)
        lat = np.array([c.hop_latency for c in per_class], dtype=np.int64)
        ser = np.array([math.ceil(self.vector_bytes / c.bytes_per_cycle - _CEIL_SLACK) for c in per_class], dtype=np.int64)
        src = self._src_array.copy()
        arrays = LinkArrays(
            src=src,
            dst=self._dst_array.copy(),
            port=np.fromiter((l.port for l in self.links), dtype=np.int64, count=len(self.links)),
            cls=cls,
            class_names=names,
            bytes_per_cycle=bpc[cls],
            hop_latency=lat[cls],
            ser_cycles=ser[cls],
            out_ptr=np.searchsorted(src, np.arange(self.chips + 1)).astype(np.int64),
        )
        for column in (arrays.src, arrays.dst, arrays.port, arrays.cls, arrays.bytes_per_cycle,
                       arrays.hop_latency, arrays.ser_cycles, arrays.out_ptr):
            column.setflags(write=False)
        return arrays

    @cached_property
    def _src_array(self) -> np.ndarray:
        return np.fromiter((l.src for l in self.links), dtype=np.int64, count=len(self.links))

    @cached_property
    def _dst_array(self) -> np.ndarray:
        return np.fromiter((l.dst for l in self.links), dtype=np.int64, count=len(self.links))

    @cached_property
    def _out(self) -> _Csr:
        ports = np.fromiter((l.port for l in self.links), dtype=np.int64, count=len(self.links))
        return _csr(self._src_array, self._dst_array, ports, self.chips)

    @cached_property
    def _in(self) -> _Csr:
        ports = np.fromiter((l.port for l in self.links), dtype=np.int64, count=len(self.links))
        return _csr(self._dst_array, self._src_array, ports, self.chips)

    def _tree(self, src: int) -> tuple[np.ndarray, np.ndarray]:
        """(hops to every chip, the link that reaches it) from `src`, LRU-cached."""
        self._check_chip(src)
        if src in self._trees:
            self._trees.move_to_end(src)
        else:
            self._trees[src] = _bfs(self._out, src, self.chips)
            while len(self._trees) > 1 and len(self._trees) * self.chips > _ROUTE_CACHE_CHIPS:
                self._trees.popitem(last=False)
        return self._trees[src]


# -- graph algorithms ------------------------------------------------------


def _csr(keys: np.ndarray, far: np.ndarray, ports: np.ndarray, chips: int) -> _Csr:
    order = np.lexsort((ports, far, keys))
    ptr = np.searchsorted(keys[order], np.arange(chips + 1))
    return _Csr(ptr=ptr, far=far[order], order=order)


def _bfs(csr: _Csr, src: int, chips: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Breadth-first search from `src` over the links `allowed` (all by default).

    Returns hops to every chip (-1 if unreachable) and, per chip, the index of
    the link it was reached by. Frontiers are sorted and each chip's links are
    sorted by (dst, port), so the first link found into a chip comes from the
    lowest-numbered chip one hop nearer, on its lowest port."""
    dist = np.full(chips, -1, dtype=np.int32)
    via = np.full(chips, -1, dtype=np.int32)
    dist[src] = 0
    frontier = np.array([src], dtype=np.int64)
    level = 0
    while frontier.size:
        level += 1
        starts = csr.ptr[frontier]
        counts = csr.ptr[frontier + 1] - starts
        # positions starts[i] .. starts[i]+counts[i]-1 for every frontier chip, flattened
        slots = np.arange(counts.sum()) + np.repeat(starts - (np.cumsum(counts) - counts), counts)
        if allowed is not None:
            slots = slots[allowed[csr.order[slots]]]
        slots = slots[dist[csr.far[slots]] < 0]
        reached, first = np.unique(csr.far[slots], return_index=True)
        dist[reached] = level
        via[reached] = csr.order[slots[first]]
        frontier = reached
    return dist, via


def _walk_back(links: tuple[Link, ...], via: np.ndarray, src: int, dst: int) -> list[int]:
    """The link indices from `src` to `dst` along a BFS tree."""
    path: list[int] = []
    chip = dst
    while chip != src:
        index = int(via[chip])
        if index < 0:
            raise LockstepError(f"chip {dst} cannot be reached from chip {src}")
        path.append(index)
        chip = links[index].src
    return path[::-1]


def _validate(system: System) -> None:
    where = f"system '{system.name}'"
    if system.chips < 1:
        raise LockstepError(f"{where} needs at least one chip, not {system.chips}")
    for key in UNIT_KINDS:
        if system.units.get(key, 0) < 1:
            raise LockstepError(f"{where} needs at least one '{key}' unit in [units]")
    for key in LATENCY_KEYS:
        if system.latency.get(key, 0) < 1:
            raise LockstepError(f"{where} needs a positive '{key}' latency in [latency]")
    for cls in system.link_classes.values():
        if cls.bytes_per_cycle <= 0 or cls.hop_latency < 0:
            raise LockstepError(f"{where}: link class '{cls.name}' needs bytes_per_cycle > 0 and hop_latency >= 0")
    seen: set[tuple[int, int, int]] = set()
    for link in system.links:
        if not (0 <= link.src < system.chips and 0 <= link.dst < system.chips) or link.src == link.dst:
            raise LockstepError(f"{where}: link {link.src}->{link.dst} must join two different chips in 0..{system.chips - 1}")
        if link.cls not in system.link_classes:
            raise LockstepError(f"{where}: link {link.src}->{link.dst} uses unknown link class '{link.cls}'")
        if (link.src, link.dst, link.port) in seen:
            raise LockstepError(f"{where} has two links {link.src}->{link.dst} on port {link.port}")
        seen.add((link.src, link.dst, link.port))
    if not (system.failed_links or system.failed_chips):
        _check_connected(system._src_array, system._dst_array, system.chips, where)
        return
    # With failures, the links in service may fall apart: routing between the
    # pieces is an error then, naming the chips (the wiring was checked whole).
    dead = set(system.failed_chips)
    if not all(0 <= chip < system.chips for chip in dead):
        raise LockstepError(f"{where}: failed chips {sorted(dead)} must be in 0..{system.chips - 1}")
    if len(dead) == system.chips:
        raise LockstepError(f"{where}: every chip has failed")
    if any(link.src in dead or link.dst in dead for link in system.links):
        raise LockstepError(f"{where}: a link in service touches a failed chip")
    if set(system.failed_links) & set(system.links):
        raise LockstepError(f"{where}: a link is both failed and in service")


def _check_connected(src: np.ndarray, dst: np.ndarray, chips: int, where: str) -> None:
    """Every chip reaches chip 0 and is reached from it."""
    ports = np.zeros(len(src), dtype=np.int64)
    forward = _bfs(_csr(src, dst, ports, chips), 0, chips)[0]
    backward = _bfs(_csr(dst, src, ports, chips), 0, chips)[0]
    for dist, verb in ((forward, "be reached from"), (backward, "reach")):
        if (dist < 0).any():
            raise LockstepError(f"{where} is not connected: chip {int(np.argmax(dist < 0))} cannot {verb} chip 0")


# -- topologies ------------------------------------------------------------

_SIZED_RE = re.compile(r"(fc|ring|torus)(?::(\d+(?:x\d+)*))?")
_DRAGONFLY_RE = re.compile(r"dragonfly(?::(\w+=\d+(?:,\w+=\d+)*))?")
_TOPOLOGY_HELP = "fc, ring, torus or dragonfly: fc:8, ring:4, torus:4x4, torus:2x2x2, dragonfly:a=8,h=4,g=9"


def _is_topology(text: str) -> bool:
    return bool(_SIZED_RE.fullmatch(text) or _DRAGONFLY_RE.fullmatch(text))


def parse_topology(text: str, chips: int | None = None) -> tuple[str, tuple[int, ...]]:
    """(kind, dims) from "fc", "ring:4", "torus:4x4", "dragonfly:a=8,h=4,g=9", ...;
    a bare kind takes its size from `chips` (a torus the most square 2-D shape).
    A Dragonfly's dims are (a, h, g); without g it has chips / a groups given
    a chip count, else the most a*h + 1."""
    text = text.strip()
    dragonfly = _DRAGONFLY_RE.fullmatch(text)
    match = dragonfly or _SIZED_RE.fullmatch(text)
    if match is None:
        raise LockstepError(f"unknown topology '{text}' (use {_TOPOLOGY_HELP})")
    if chips is not None and chips < 1:
        raise LockstepError(f"the chip count must be at least 1, not {chips}")
    if dragonfly:
        kind, dims = "dragonfly", _dragonfly_dims(text, dragonfly.group(1), chips)
    else:
        kind, size = match.groups()
        if size is None:
            if chips is None:
                raise LockstepError(f"topology '{text}' needs a chip count (give chips, or write {kind}:N)")
            dims = _squarest(chips) if kind == "torus" else (chips,)
        else:
            dims = tuple(int(d) for d in size.split("x"))
            if kind != "torus" and len(dims) > 1:
                raise LockstepError(f"topology '{text}': only a torus has several dimensions")
        if min(dims) < 1:
            raise LockstepError(f"topology '{text}' has a dimension of size 0")
    if chips is not None and chip_count(kind, dims) != chips:
        raise LockstepError(f"topology '{text}' has {chip_count(kind, dims)} chips but {chips} chips were asked for")
    return kind, dims


def _dragonfly_dims(text: str, params: str | None, chips: int | None) -> tuple[int, int, int]:
    if params is None:
        raise LockstepError(
            f"topology '{text}' needs its sizes, e.g. dragonfly:a=8,h=4,g=9 "
            "(a chips per group, h global links per chip, g groups)"
        )
    values: dict[str, int] = {}
    for item in params.split(","):
        key, _, value = item.partition("=")
        if key not in ("a", "h", "g"):
            raise LockstepError(f"topology '{text}': unknown size '{key}' (a chips per group, h global links per chip, g groups)")
        if key in values:
            raise LockstepError(f"topology '{text}' gives '{key}' twice")
        values[key] = int(value)
    if "a" not in values or "h" not in values:
        raise LockstepError(f"topology '{text}' needs a (chips per group) and h (global links per chip)")
    a, h = values["a"], values["h"]
    if a < 1 or h < 1:
        raise LockstepError(f"topology '{text}': a and h must be at least 1")
    if "g" in values:
        g = values["g"]
    elif chips is not None:
        if chips % a:
            raise LockstepError(f"topology '{text}': {chips} chips do not make whole groups of {a}")
        g = chips // a
    else:
        g = a * h + 1
    if g < 1:
        raise LockstepError(f"topology '{text}': g must be at least 1")
    if g > a * h + 1:
        raise LockstepError(
            f"topology '{text}': a group of {a} chips with {h} global links each reaches at most "
            f"{a * h} other groups, so g can be at most {a * h + 1}, not {g}"
        )
    return a, h, g


def chip_count(kind: str, dims: tuple[int, ...]) -> int:
    """Chips of a generated topology: a*g for a Dragonfly, the product of dims otherwise."""
    return dims[0] * dims[2] if kind == "dragonfly" else math.prod(dims)


def topology_name(kind: str, dims: tuple[int, ...]) -> str:
    if kind == "dragonfly":
        a, h, g = dims
        return f"dragonfly:a={a},h={h},g={g}"
    return f"{kind}:{'x'.join(map(str, dims))}"


def _squarest(chips: int) -> tuple[int, int]:
    short = max(d for d in range(1, math.isqrt(chips) + 1) if chips % d == 0)
    return short, chips // short


def _generate_links(kind: str, dims: tuple[int, ...], per_pair: int, cls: str) -> tuple[Link, ...]:
    """The links of a generated topology, all of class `cls` (a Dragonfly's are "local" and "global")."""
    if kind == "dragonfly":
        return tuple(sorted(_bidirectional(_dragonfly_pairs(*dims), per_pair)))
    chips = math.prod(dims)
    if kind == "fc":
        pairs: Iterable[tuple[int, int]] = ((a, b) for a in range(chips) for b in range(a + 1, chips))
    else:  # a ring is a 1-D torus
        pairs = _torus_pairs(dims)
    return tuple(sorted(_bidirectional(((a, b, cls) for a, b in pairs), per_pair)))


def dragonfly_slot_offsets(a: int, h: int, g: int) -> list[int]:
    """The wiring rule of a Dragonfly (docs/topologies.md), the same in every group.

    A group has a*h global port slots, slot j = (chip index in the group) * h
    + port. Entry j is the group offset d that slot j leads to: slot j of
    group G is cabled to group (G + d) mod g (0: the slot is unused). Each
    offset d gets n_d slots, n_d = floor(a*h / (g-1)) or one more, with
    n_d = n_(g-d); the extra slots go to the smallest offsets (to g/2 first
    when one is left over and g is even). The slots are dealt round robin,
    offsets 1, 2, ..., g-1, then again for the second copies, ..., so the
    copies of one offset land on different chips. For g = a*h + 1 this is
    the consecutive ("palm tree") arrangement: slot j leads to offset j + 1."""
    if g == 1:
        return [0] * (a * h)
    share, extra = divmod(a * h, g - 1)
    count = [0] + [share] * (g - 1)  # by offset
    if g % 2 == 0 and extra % 2:
        count[g // 2] += 1
        extra -= 1
    offset = 1
    while extra >= 2:
        assert 2 * offset < g
        count[offset] += 1
        count[g - offset] += 1
        extra -= 2
        offset += 1
    slots = [d for copy in range(max(count)) for d in range(1, g) if count[d] > copy]
    return slots + [0] * (a * h - len(slots))


def _dragonfly_pairs(a: int, h: int, g: int) -> list[tuple[int, int, str]]:
    """Local links (all pairs inside a group), then global links (`dragonfly_global_pairs`)."""
    pairs = [(base + i, base + j, "local") for base in range(0, a * g, a) for i in range(a) for j in range(i + 1, a)]
    return pairs + dragonfly_global_pairs(a, h, g, "global")


def dragonfly_global_pairs(a: int, h: int, g: int, cls: str, first: int = 0) -> list[tuple[int, int, str]]:
    """The global cables of `g` groups of `a` chips (chip ids from `first`): the k-th slot with
    offset d in group G is cabled to the k-th slot with offset g-d in group G+d (for d = g/2
    slot k of G to slot k of G+g/2)."""
    pairs = []
    by_offset: dict[int, list[int]] = {}
    for slot, offset in enumerate(dragonfly_slot_offsets(a, h, g)):
        if offset:
            by_offset.setdefault(offset, []).append(slot)
    for group in range(g):
        for offset, slots in by_offset.items():
            if 2 * offset > g or (2 * offset == g and group >= offset):
                continue  # listed from the other end
            other = (group + offset) % g
            for mine, theirs in zip(slots, by_offset[g - offset]):
                pairs.append((first + group * a + mine // h, first + other * a + theirs // h, cls))
    return pairs


def _torus_pairs(dims: tuple[int, ...]) -> list[tuple[int, int]]:
    """Neighbour pairs, each once: a dimension of 2 has one pair, of 1 none."""
    coords = np.indices(dims).reshape(len(dims), -1)
    pairs: set[tuple[int, int]] = set()
    for axis, size in enumerate(dims):
        if size == 1:
            continue
        step = coords.copy()
        step[axis] = (step[axis] + 1) % size
        here = np.ravel_multi_index(tuple(coords), dims)
        there = np.ravel_multi_index(tuple(step), dims)
        pairs.update(zip(np.minimum(here, there).tolist(), np.maximum(here, there).tolist()))
    return sorted(pairs)


def _bidirectional(pairs: Iterable[tuple[int, int, str]], per_pair: int) -> tuple[Link, ...]:
    """Both directions of every pair, `per_pair` times; a pair listed again adds more parallel links."""
    used_ports: dict[tuple[int, int], int] = {}
    links: list[Link] = []
    for a, b, cls in pairs:
        key = (min(a, b), max(a, b))
        first = used_ports.get(key, 0)
        used_ports[key] = first + per_pair
        for port in range(first, first + per_pair):
            links += [Link(a, b, port, cls), Link(b, a, port, cls)]
    return tuple(links)


# -- reading TOML ----------------------------------------------------------


def _parse_toml(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise LockstepError(f"{origin}: malformed TOML: {err}") from None


def _table(data: Mapping[str, Any], name: str, origin: str, allowed: Iterable[str] | None) -> dict[str, Any]:
    table = data.get(name)
    if not isinstance(table, dict):
        raise LockstepError(f"{origin}: missing table [{name}]")
    if allowed is not None and (unknown := sorted(set(table) - set(allowed))):
        raise LockstepError(f"{origin}: unknown key '{unknown[0]}' in [{name}] (known: {', '.join(allowed)})")
    return table


_KIND_NAMES: dict[type | tuple[type, ...], str] = {
    int: "an integer",
    str: "a string",
    list: "a list",
    (int, float): "a number",
}


def _get(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], origin: str, section: str, default: Any = None) -> Any:
    value = table.get(key, default)
    if value is None:
        raise LockstepError(f"{origin}: missing key '{key}' in [{section}]")
    # bool is an int to Python but never a count in a system description.
    if isinstance(value, bool) or not isinstance(value, kind):
        raise LockstepError(f"{origin}: '{key}' in [{section}] must be {_KIND_NAMES[kind]}, not {value!r}")
    return value


def _int_map(data: Mapping[str, Any], name: str, origin: str) -> dict[str, int]:
    table = _table(data, name, origin, None)
    return {key: _get(table, key, int, origin, name) for key in table}


_MACHINE_KEYS = ("name", "clock_hz", "lanes", "element_bytes", "sram_bytes")
_TOPOLOGY_KEYS = ("kind", "chips", "dims", "a", "h", "g", "links_per_pair", "link_class", "links")
_TABLES = ("machine", "units", "latency", "link_classes", "topology", "failures")

# (failed links as (a, b, port or None for every port), failed chips)
Failures = tuple[list[tuple[int, int, int | None]], list[int]]


def _system_from_data(
    data: dict[str, Any],
    origin: str,
    spec: str,
    override: tuple[str, tuple[int, ...]] | None,
    failures: Failures | None = None,
) -> System:
    """Build a System from parsed TOML; `override` replaces the topology's kind
    and dims (and drops the file's [failures], which name its own wiring);
    `failures` take more links and chips out of service."""
    if unknown := sorted(set(data) - set(_TABLES)):
        raise LockstepError(f"{origin}: unknown table [{unknown[0]}]")
    machine = _table(data, "machine", origin, _MACHINE_KEYS)
    classes = {
        name: LinkClass(
            name,
            float(_get(body, "bytes_per_cycle", (int, float), origin, f"link_classes.{name}")),
            _get(body, "hop_latency", int, origin, f"link_classes.{name}"),
        )
        for name, body in _table(data, "link_classes", origin, None).items()
    }
    if not classes:
        raise LockstepError(f"{origin}: [link_classes] defines no link class")
    topo = _table(data, "topology", origin, _TOPOLOGY_KEYS)
    kind, chips, links, classes = _topology_links(topo, origin, classes, override)
    name = _get(machine, "name", str, origin, "machine")
    name = f"{name}@{kind}" if override else name
    failed_pairs, failed_chips = _failures_table(data, origin)
    if override:
        failed_pairs, failed_chips = [], []
    if failures:
        failed_pairs, failed_chips = failed_pairs + failures[0], failed_chips + failures[1]
    failed: tuple[Link, ...] = ()
    if failed_pairs or failed_chips:
        # The wiring itself must hold together; what failures cut off is found when routing.
        src = np.array([l.src for l in links], dtype=np.int64)
        dst = np.array([l.dst for l in links], dtype=np.int64)
        _check_connected(src, dst, chips, f"system '{name}'")
        links, failed = _apply_failures(links, chips, failed_pairs, failed_chips, origin)
    return System(
        name=name,
        clock_hz=_get(machine, "clock_hz", int, origin, "machine"),
        lanes=_get(machine, "lanes", int, origin, "machine"),
        element_bytes=_get(machine, "element_bytes", int, origin, "machine"),
        sram_bytes=_get(machine, "sram_bytes", int, origin, "machine"),
        units=_int_map(data, "units", origin),
        latency=_int_map(data, "latency", origin),
        chips=chips,
        links=links,
        link_classes=classes,
        topology=kind,
        spec=spec,
        failed_links=failed,
        failed_chips=tuple(failed_chips),
    )


def _topology_links(
    topo: Mapping[str, Any],
    origin: str,
    classes: dict[str, LinkClass],
    override: tuple[str, tuple[int, ...]] | None,
) -> tuple[str, int, tuple[Link, ...], dict[str, LinkClass]]:
    """(canonical topology name, chips, links, link classes) of a [topology] table."""
    kind = _get(topo, "kind", str, origin, "topology")
    if kind not in TOPOLOGY_KINDS:
        raise LockstepError(f"{origin}: unknown topology kind '{kind}' (use {', '.join(TOPOLOGY_KINDS)})")
    chips = _get(topo, "chips", int, origin, "topology") if kind != "dragonfly" or "chips" in topo else None
    per_pair = _get(topo, "links_per_pair", int, origin, "topology", default=1)
    if per_pair < 1:
        raise LockstepError(f"{origin}: links_per_pair in [topology] must be at least 1, not {per_pair}")
    default_class = next(iter(classes)) if len(classes) == 1 else None
    link_class: str | None = None
    if "link_class" in topo or default_class is not None:
        link_class = _get(topo, "link_class", str, origin, "topology", default=default_class)
        if link_class not in classes:
            raise LockstepError(f"{origin}: link_class '{link_class}' is not defined in [link_classes]")

    def one_class() -> str:
        if link_class is None:
            raise LockstepError(f"{origin}: missing key 'link_class' in [topology] (which of the link classes the links use)")
        return link_class

    if override is not None:
        kind, dims = override
    elif kind == "explicit":
        pairs = [_explicit_pair(entry, origin, one_class()) for entry in _get(topo, "links", list, origin, "topology")]
        return "explicit", chips, _bidirectional(pairs, per_pair), classes
    else:
        try:
            kind, dims = parse_topology(_generated_topology_name(topo, kind, origin), chips)
        except LockstepError as err:
            raise LockstepError(f"{origin}: {err}") from None
    if kind == "dragonfly":
        classes = _dragonfly_classes(classes, link_class, origin)
        cls = DRAGONFLY_CLASSES[0]
    else:
        cls = one_class()
    return topology_name(kind, dims), chip_count(kind, dims), _generate_links(kind, dims, per_pair, cls), classes


def _dragonfly_classes(classes: dict[str, LinkClass], link_class: str | None, origin: str) -> dict[str, LinkClass]:
    """`classes` with "local" and "global" added where missing, with the numbers of `link_class`."""
    missing = [name for name in DRAGONFLY_CLASSES if name not in classes]
    if not missing:
        return classes
    others = [name for name in classes if name not in DRAGONFLY_CLASSES]
    if link_class is None and len(others) == 1:
        link_class = others[0]  # the preset's one class, e.g. "c2c"
    if link_class is None:
        raise LockstepError(
            f"{origin}: a dragonfly needs [link_classes.local] and [link_classes.global], "
            "or a link_class in [topology] whose numbers they take"
        )
    source = classes[link_class]
    return classes | {name: LinkClass(name, source.bytes_per_cycle, source.hop_latency) for name in missing}


def _generated_topology_name(topo: Mapping[str, Any], kind: str, origin: str) -> str:
    """"torus:4x4" from a [topology] with dims, "torus" (sized by parse_topology) without;
    "dragonfly:a=8,h=4,g=9" from a, h and g."""
    if kind != "dragonfly":
        if misplaced := [key for key in ("a", "h", "g") if key in topo]:
            raise LockstepError(f"{origin}: '{misplaced[0]}' in [topology] is only for kind = \"dragonfly\"")
    else:
        if "dims" in topo:
            raise LockstepError(f"{origin}: a dragonfly takes a, h and g in [topology], not dims")
        sizes = {key: _get(topo, key, int, origin, "topology") for key in ("a", "h", "g") if key in topo or key != "g"}
        return "dragonfly:" + ",".join(f"{key}={value}" for key, value in sizes.items())
    if "dims" not in topo:
        return kind
    dims = _get(topo, "dims", list, origin, "topology")
    if not dims or not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
        raise LockstepError(f"{origin}: dims in [topology] must be a list of integers, not {dims!r}")
    return topology_name(kind, tuple(dims))


# -- failures --------------------------------------------------------------


def _failures_table(data: Mapping[str, Any], origin: str) -> Failures:
    """[failures] links = [[a, b], [a, b, port], ...], chips = [...]."""
    if "failures" not in data:
        return [], []
    table = _table(data, "failures", origin, ("links", "chips"))
    pairs: list[tuple[int, int, int | None]] = []
    for entry in _get(table, "links", list, origin, "failures", default=[]):
        if not (isinstance(entry, list) and len(entry) in (2, 3) and all(_is_int(x) for x in entry)):
            raise LockstepError(f"{origin}: each entry of links in [failures] must be [a, b] or [a, b, port], not {entry!r}")
        pairs.append((entry[0], entry[1], entry[2] if len(entry) == 3 else None))
    chips = _get(table, "chips", list, origin, "failures", default=[])
    if not all(_is_int(c) for c in chips):
        raise LockstepError(f"{origin}: chips in [failures] must be a list of chip numbers, not {chips!r}")
    return pairs, list(chips)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _apply_failures(
    links: tuple[Link, ...], chips: int, pairs: list[tuple[int, int, int | None]], dead: list[int], origin: str
) -> tuple[tuple[Link, ...], tuple[Link, ...]]:
    """(links in service, links out of service): a failed link goes in both
    directions (on one port, or on every port between the two chips), and a
    failed chip takes all its links with it."""
    ports: dict[tuple[int, int], set[int]] = {}
    for l in links:
        ports.setdefault((l.src, l.dst), set()).add(l.port)
    gone: set[tuple[int, int, int]] = set()
    for a, b, port in pairs:
        wired = ports.get((a, b), set()) & ports.get((b, a), set())
        if not wired:
            raise LockstepError(f"{origin}: cannot fail link {a}-{b}: chips {a} and {b} are not linked")
        if port is not None and port not in wired:
            raise LockstepError(f"{origin}: cannot fail link {a}-{b} on port {port}: its ports are {sorted(wired)}")
        for p in [port] if port is not None else sorted(wired):
            gone.update(((a, b, p), (b, a, p)))
    for chip in dead:
        if not 0 <= chip < chips:
            raise LockstepError(f"{origin}: cannot fail chip {chip}: the chips are 0..{chips - 1}")
    dead_set = set(dead)
    alive: list[Link] = []
    failed: list[Link] = []
    for l in links:
        out = (l.src, l.dst, l.port) in gone or l.src in dead_set or l.dst in dead_set
        (failed if out else alive).append(l)
    return tuple(alive), tuple(failed)


_FAILURE_SUFFIX_RE = re.compile(r"(?:/(?:fail|failchip)=[^/@]*)+$")
_FAILED_LINK_RE = re.compile(r"(\d+)-(\d+)(?::(\d+))?")


def _split_failures(text: str) -> tuple[str, Failures]:
    """("torus:8x8", ([(3, 4, None), (7, 15, 1)], [9])) from "torus:8x8/fail=3-4,7-15:1/failchip=9"."""
    match = _FAILURE_SUFFIX_RE.search(text)
    if match is None:
        return text, ([], [])
    pairs: list[tuple[int, int, int | None]] = []
    chips: list[int] = []
    for part in match.group(0).split("/")[1:]:
        key, _, items = part.partition("=")
        for item in items.split(","):
            if key == "fail":
                link = _FAILED_LINK_RE.fullmatch(item.strip())
                if link is None:
                    raise LockstepError(f"bad failed link '{item}' in '{text}' (write A-B or A-B:PORT, e.g. /fail=3-4,7-15:1)")
                pairs.append((int(link[1]), int(link[2]), None if link[3] is None else int(link[3])))
            elif item.strip().isdigit():
                chips.append(int(item))
            else:
                raise LockstepError(f"bad failed chip '{item}' in '{text}' (write chip numbers, e.g. /failchip=9,12)")
    return text[: match.start()], (pairs, chips)


def _failure_suffix(pairs: Iterable[tuple[int, int, int | None]], chips: Iterable[int]) -> str:
    """The canonical spec suffix of some failures: "/fail=3-4,7-15:1/failchip=9"."""
    links = sorted({(min(a, b), max(a, b), p) for a, b, p in pairs}, key=lambda e: (e[0], e[1], -1 if e[2] is None else e[2]))
    text = ""
    if links:
        text += "/fail=" + ",".join(f"{a}-{b}" + ("" if p is None else f":{p}") for a, b, p in links)
    if chips := sorted(set(chips)):
        text += "/failchip=" + ",".join(map(str, chips))
    return text


def _explicit_pair(entry: Any, origin: str, default_class: str) -> tuple[int, int, str]:
    """[a, b] or [a, b, "class"] from an explicit topology's links list."""
    if (
        isinstance(entry, list)
        and len(entry) in (2, 3)
        and all(isinstance(x, int) and not isinstance(x, bool) for x in entry[:2])
        and (len(entry) == 2 or isinstance(entry[2], str))
    ):
        return entry[0], entry[1], entry[2] if len(entry) == 3 else default_class
    raise LockstepError(f"{origin}: each entry of links in [topology] must be [src, dst] or [src, dst, \"class\"], not {entry!r}")


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)  # int, or a float repr that TOML reads back exactly


# -- loading ---------------------------------------------------------------


CHIP_COUNT_PRESETS = {576: "groq576"}
"""`--chips N` alone selects the published deployment of that size (else `single`'s numbers on fc:N)."""


def presets() -> list[str]:
    return sorted(path.stem for path in PRESET_DIR.glob("*.toml"))


def load_system(spec: str | None = None, chips: int | None = None, topology: str | None = None) -> System:
    """The system named by `spec`, optionally with another topology.

    `spec` is a preset name, a path to a TOML file, a topology ("fc:8",
    "torus:4x4", "dragonfly:a=8,h=4,g=9": the machine numbers of "single" on
    that topology), or "BASE@TOPOLOGY". `chips` and `topology` replace the
    base's topology; with only `chips` the base's kind is kept. A failure
    suffix on `spec` or `topology` ("torus:8x8/fail=3-4,7-15:1/failchip=9")
    takes those links (both directions; every port, or the one after ':') and
    chips out of service, besides any in the file's [failures] (which are
    dropped when the topology is replaced). The result's `spec` rebuilds it."""
    if not spec and not topology and chips in CHIP_COUNT_PRESETS:
        spec, chips = CHIP_COUNT_PRESETS[chips], None
    spec_text, (spec_pairs, spec_chips) = _split_failures(spec or "")
    topology_text, (topology_pairs, topology_chips) = _split_failures(topology or "")
    failures: Failures = (spec_pairs + topology_pairs, spec_chips + topology_chips)
    topology = topology_text or None
    base, _, spec_topology = spec_text.partition("@")
    if base and _is_topology(base) and base not in presets():
        base, spec_topology = "", base
    if spec_topology and topology:
        raise LockstepError(f"the topology is given twice: '{spec_topology}' in the system spec and '{topology}'")
    topology = topology or spec_topology or None
    base = base or "single"
    path, base_spec = _locate(base)
    origin = str(path)
    try:
        data = _parse_toml(path.read_text(), origin)
    except OSError as err:
        raise LockstepError(f"cannot read system file {origin}: {err.strerror}") from None
    override = None
    if topology is not None or chips is not None:
        override = _override(data, origin, chips, topology)
    name = topology_name(*override) if override else ""
    if not override:
        spec_out = base_spec
    elif base_spec == "single":
        spec_out = name
    else:
        spec_out = f"{base_spec}@{name}"
    spec_out += _failure_suffix(*failures)
    return _system_from_data(data, origin, spec_out, override, failures)


def _locate(base: str) -> tuple[Path, str]:
    """(file, spec) of a preset name or a path."""
    if base in presets():
        return PRESET_DIR / f"{base}.toml", base
    path = Path(base)
    if path.suffix == ".toml" or "/" in base or path.exists():
        if not path.is_file():
            raise LockstepError(f"system file '{base}' does not exist")
        return path, str(path.resolve())
    raise LockstepError(f"unknown system preset '{base}' (presets: {', '.join(presets())}; or give a path to a .toml file)")


def _override(data: Mapping[str, Any], origin: str, chips: int | None, topology: str | None) -> tuple[str, tuple[int, ...]]:
    if topology is None:
        table = data.get("topology", {})
        kind = table.get("kind")
        if kind == "dragonfly":
            # the same groups and ports, chips / a of them
            topology = "dragonfly:" + ",".join(f"{key}={table.get(key)}" for key in ("a", "h"))
        elif kind in ("fc", "ring", "torus"):
            topology = kind
        else:
            raise LockstepError(f"{origin}: cannot change the chip count of a '{kind}' topology; give a topology too")
    return parse_topology(topology, chips)
