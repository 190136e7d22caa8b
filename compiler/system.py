"""The machine the compiler targets: chips, their units and latencies, and the links between them.

A `System` is read from a TOML description (`compiler/systems/*.toml` are the
presets) and answers the questions the passes ask: how many units of a kind,
how long an instruction or a hop takes, and which links a vector travels on.
Routes are shortest paths found by breadth-first search over a CSR view of the
links, computed on demand and cached per source, so that 1000+ chip systems
cost memory in proportion to their links, not to chips squared.
"""
from __future__ import annotations

import math
import re
import tomllib
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from compiler.errors import LockstepError

PRESET_DIR = Path(__file__).parent / "systems"
UNIT_KINDS = ("mxm", "vxm", "sxm", "mem")
LATENCY_KEYS = ("mxm_load", "mxm", "vxm", "vxm_transcendental", "sxm", "sxm_transpose", "mem")
TOPOLOGY_KINDS = ("fc", "ring", "torus", "explicit")
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
    topology: str  # canonical: "fc:8", "ring:8", "torus:4x4", "torus:2x2x2" or "explicit"
    spec: str = field(default="", compare=False)  # what load_system() needs to rebuild it
    _trees: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=OrderedDict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # Link order means nothing; a canonical order makes equal systems compare equal.
        object.__setattr__(self, "links", tuple(sorted(self.links)))
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

    def unit_names(self, kind: str) -> list[str]:
        if kind not in self.units:
            raise LockstepError(f"unknown unit kind '{kind}' (the system has {', '.join(self.units)})")
        return [f"{kind}{i}" for i in range(self.units[kind])]

    # -- links ------------------------------------------------------------

    def links_from(self, chip: int) -> tuple[Link, ...]:
        self._check_chip(chip)
        csr = self._out
        return tuple(self.links[i] for i in csr.order[csr.ptr[chip] : csr.ptr[chip + 1]])

    def link(self, src: int, dst: int, port: int = 0) -> Link:
        for candidate in self.links_from(src):
            if candidate.dst == dst and candidate.port == port:
                return candidate
        raise LockstepError(f"system '{self.name}' has no link from chip {src} to chip {dst} on port {port}")

    def serialization_cycles(self, link: Link) -> int:
        """Cycles one vector occupies `link`."""
        return math.ceil(self.vector_bytes / self.link_classes[link.cls].bytes_per_cycle - _CEIL_SLACK)

    def hop_latency(self, link: Link) -> int:
        return self.link_classes[link.cls].hop_latency

    # -- routes -----------------------------------------------------------

    def distance(self, src: int, dst: int) -> int:
        """Hops on a shortest path from `src` to `dst`."""
        self._check_chip(dst)
        return int(self._tree(src)[0][dst])

    def route(self, src: int, dst: int, port: int = 0) -> list[Link]:
        """A shortest path in hops. Ties go to the lowest-numbered previous chip,
        so a route is the same on every run; every hop uses `port`."""
        self._check_chip(dst)
        hops = [self.links[i] for i in _walk_back(self.links, self._tree(src)[1], src, dst)]
        if port == 0:  # the tree already prefers the lowest port
            return hops
        return [self.link(hop.src, hop.dst, port) for hop in hops]

    def routes(self, src: int, dst: int, k: int, slack: int = 2) -> list[list[Link]]:
        """Up to `k` edge-disjoint paths, shortest first, none longer than the
        shortest plus `slack` hops; parallel links count as separate edges.
        Greedy (each path is a shortest one avoiding the links of earlier paths),
        so it can find fewer than the maximum number of disjoint paths."""
        self._check_chip(src)
        self._check_chip(dst)
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
        """The longest shortest path, in hops."""
        kind = self.topology.partition(":")[0]
        # Generated topologies look the same from every chip.
        sources: Iterable[int] = [0] if kind in ("fc", "ring", "torus") else range(self.chips)
        return max(int(_bfs(self._out, s, self.chips)[0].max()) for s in sources)

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
        return "\n".join(f"[{name}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in body.items()) for name, body in tables)

    @classmethod
    def from_toml(cls, text: str, origin: str = "<string>", spec: str = "") -> System:
        return _system_from_data(_parse_toml(text, origin), origin, spec, override=None)

    def _topology_table(self) -> dict[str, Any]:
        kind, dims = parse_topology(self.topology) if self.topology != "explicit" else ("explicit", ())
        link_class = self.links[0].cls if self.links else next(iter(self.link_classes))
        per_pair = 1 + max((link.port for link in self.links), default=0)
        table: dict[str, Any] = {"kind": kind, "chips": self.chips}
        if kind != "explicit" and self.links == _generate_links(kind, dims, per_pair, link_class):
            if kind == "torus":
                table["dims"] = list(dims)
            return table | {"links_per_pair": per_pair, "link_class": link_class}
        # Anything else is written link by link, which needs every link to have its twin.
        if sorted(self.links) != sorted(Link(l.dst, l.src, l.port, l.cls) for l in self.links):
            raise LockstepError(f"system '{self.name}' has one-way links, which the TOML format cannot describe")
        table["kind"] = "explicit"
        table["link_class"] = link_class
        table["links"] = [[l.src, l.dst, l.cls] for l in sorted(self.links) if l.src < l.dst]
        return table

    # -- internals --------------------------------------------------------

    def _check_chip(self, chip: int) -> None:
        if not 0 <= chip < self.chips:
            raise LockstepError(f"chip {chip} is not in system '{self.name}' (chips 0..{self.chips - 1})")

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
    ports = np.zeros(len(system.links), dtype=np.int64)
    forward = _bfs(system._out, 0, system.chips)[0]
    backward = _bfs(_csr(system._dst_array, system._src_array, ports, system.chips), 0, system.chips)[0]
    for dist, verb in ((forward, "be reached from"), (backward, "reach")):
        if (dist < 0).any():
            raise LockstepError(f"{where} is not connected: chip {int(np.argmax(dist < 0))} cannot {verb} chip 0")


# -- topologies ------------------------------------------------------------

_TOPOLOGY_RE = re.compile(r"(fc|ring|torus)(?::(\d+(?:x\d+)*))?")


def parse_topology(text: str, chips: int | None = None) -> tuple[str, tuple[int, ...]]:
    """("fc"|"ring"|"torus", dims) from "fc", "ring:4", "torus:4x4", ...;
    a bare kind takes its size from `chips` (a torus the most square 2-D shape)."""
    match = _TOPOLOGY_RE.fullmatch(text.strip())
    if match is None:
        raise LockstepError(f"unknown topology '{text}' (use fc, ring or torus, optionally with a size: fc:8, ring:4, torus:4x4, torus:2x2x2)")
    kind, size = match.groups()
    if chips is not None and chips < 1:
        raise LockstepError(f"the chip count must be at least 1, not {chips}")
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
    if chips is not None and math.prod(dims) != chips:
        raise LockstepError(f"topology '{text}' has {math.prod(dims)} chips but {chips} chips were asked for")
    return kind, dims


def topology_name(kind: str, dims: tuple[int, ...]) -> str:
    return f"{kind}:{'x'.join(map(str, dims))}"


def _squarest(chips: int) -> tuple[int, int]:
    short = max(d for d in range(1, math.isqrt(chips) + 1) if chips % d == 0)
    return short, chips // short


def _generate_links(kind: str, dims: tuple[int, ...], per_pair: int, cls: str) -> tuple[Link, ...]:
    chips = math.prod(dims)
    if kind == "fc":
        pairs: Iterable[tuple[int, int]] = ((a, b) for a in range(chips) for b in range(a + 1, chips))
    else:  # a ring is a 1-D torus
        pairs = _torus_pairs(dims)
    return tuple(sorted(_bidirectional(((a, b, cls) for a, b in pairs), per_pair)))


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
_TOPOLOGY_KEYS = ("kind", "chips", "dims", "links_per_pair", "link_class", "links")


def _system_from_data(
    data: dict[str, Any], origin: str, spec: str, override: tuple[str, tuple[int, ...]] | None
) -> System:
    """Build a System from parsed TOML; `override` replaces the topology's kind and dims."""
    if unknown := sorted(set(data) - {"machine", "units", "latency", "link_classes", "topology"}):
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
    kind, chips, links = _topology_links(topo, origin, classes, override)
    name = _get(machine, "name", str, origin, "machine")
    return System(
        name=f"{name}@{kind}" if override else name,
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
    )


def _topology_links(
    topo: Mapping[str, Any],
    origin: str,
    classes: Mapping[str, LinkClass],
    override: tuple[str, tuple[int, ...]] | None,
) -> tuple[str, int, tuple[Link, ...]]:
    """(canonical topology name, chips, links) of a [topology] table."""
    kind = _get(topo, "kind", str, origin, "topology")
    if kind not in TOPOLOGY_KINDS:
        raise LockstepError(f"{origin}: unknown topology kind '{kind}' (use {', '.join(TOPOLOGY_KINDS)})")
    chips = _get(topo, "chips", int, origin, "topology")
    per_pair = _get(topo, "links_per_pair", int, origin, "topology", default=1)
    if per_pair < 1:
        raise LockstepError(f"{origin}: links_per_pair in [topology] must be at least 1, not {per_pair}")
    default_class = next(iter(classes)) if len(classes) == 1 else None
    link_class = _get(topo, "link_class", str, origin, "topology", default=default_class)
    if link_class not in classes:
        raise LockstepError(f"{origin}: link_class '{link_class}' is not defined in [link_classes]")
    if override is not None:
        kind, dims = override
    elif kind == "explicit":
        pairs = [_explicit_pair(entry, origin, link_class) for entry in _get(topo, "links", list, origin, "topology")]
        return "explicit", chips, _bidirectional(pairs, per_pair)
    else:
        try:
            kind, dims = parse_topology(_generated_topology_name(topo, kind, origin), chips)
        except LockstepError as err:
            raise LockstepError(f"{origin}: {err}") from None
    return topology_name(kind, dims), math.prod(dims), _generate_links(kind, dims, per_pair, link_class)


def _generated_topology_name(topo: Mapping[str, Any], kind: str, origin: str) -> str:
    """"torus:4x4" from a [topology] with dims, "torus" (sized by parse_topology) without."""
    if "dims" not in topo:
        return kind
    dims = _get(topo, "dims", list, origin, "topology")
    if not dims or not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
        raise LockstepError(f"{origin}: dims in [topology] must be a list of integers, not {dims!r}")
    return topology_name(kind, tuple(dims))


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


def presets() -> list[str]:
    return sorted(path.stem for path in PRESET_DIR.glob("*.toml"))


def load_system(spec: str | None = None, chips: int | None = None, topology: str | None = None) -> System:
    """The system named by `spec`, optionally with another topology.

    `spec` is a preset name, a path to a TOML file, a topology ("fc:8",
    "torus:4x4": the machine numbers of "single" on that topology), or
    "BASE@TOPOLOGY". `chips` and `topology` replace the base's topology; with
    only `chips` the base's kind is kept. The result's `spec` rebuilds it."""
    base, _, spec_topology = (spec or "").partition("@")
    if base and _TOPOLOGY_RE.fullmatch(base) and base not in presets():
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
    return _system_from_data(data, origin, spec_out, override)


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
        kind = data.get("topology", {}).get("kind")
        if kind not in ("fc", "ring", "torus"):
            raise LockstepError(f"{origin}: cannot change the chip count of a '{kind}' topology; give a topology too")
        topology = kind
    return parse_topology(topology, chips)
