"""The system description: presets, TOML round trips, routes, distances and every error."""
from collections import deque
from dataclasses import replace
from itertools import product
from pathlib import Path

import pytest

import compiler.system
from compiler.errors import LockstepError
from compiler.system import PRESET_DIR, Link, System, load_system, presets

PRESETS = ["dragonfly72", "groq576", "node8", "ring8", "single", "torus4x4", "torus4x4x4"]


def toml_with(topology: str) -> str:
    """The single-chip preset with another [topology] table."""
    text = load_system("single").to_toml()
    return text[: text.index("[topology]")] + "[topology]\n" + topology


def from_topology(topology: str) -> System:
    return System.from_toml(toml_with(topology))


def bfs_hops(system: System, src: int) -> dict[int, int]:
    """Hop counts by a plain BFS, independent of the one under test."""
    hops = {src: 0}
    todo = deque([src])
    while todo:
        chip = todo.popleft()
        for link in system.links:
            if link.src == chip and link.dst not in hops:
                hops[link.dst] = hops[chip] + 1
                todo.append(link.dst)
    return hops


def assert_path(system: System, path: list[Link], src: int, dst: int) -> None:
    assert all(link in system.links for link in path)
    chips = [src] + [link.dst for link in path]
    assert chips[-1] == dst
    assert all(a.dst == b.src for a, b in zip(path, path[1:]))
    assert len(set(chips)) == len(chips), "a path never visits a chip twice"


# -- presets and machine numbers ---------------------------------------------


def test_presets_are_listed():
    assert presets() == PRESETS


@pytest.mark.parametrize(
    "name, chips, topology, links",
    [
        ("single", 1, "fc:1", 0), ("node8", 8, "fc:8", 56), ("ring8", 8, "ring:8", 16), ("torus4x4", 16, "torus:4x4", 64),
        ("torus4x4x4", 64, "torus:4x4x4", 384), ("dragonfly72", 72, "dragonfly:a=8,h=4,g=9", 9 * 8 * 7 + 72 * 4),
    ],
)
def test_preset_loads(name, chips, topology, links):
    system = load_system(name)
    assert (system.name, system.chips, system.topology, len(system.links), system.spec) == (name, chips, topology, links, name)


def test_machine_numbers():
    system = load_system()
    assert system.name == "single"
    assert (system.clock_hz, system.lanes, system.element_bytes) == (900_000_000, 320, 4)
    assert system.vector_bytes == 1280
    assert system.sram_vectors == 220 * 2**20 // 1280
    assert system.units == {"mxm": 4, "vxm": 16, "sxm": 4, "mem": 2}
    assert system.latency == {
        "mxm_load": 1, "mxm": 20, "vxm": 4, "vxm_transcendental": 12, "sxm": 6, "sxm_transpose": 24, "mem": 2,
    }
    assert system.unit_names("vxm") == tuple(f"vxm{i}" for i in range(16))
    assert system.unit_names("mem") == ("mem0", "mem1")


def test_link_timing():
    system = load_system("node8")
    link = system.link(0, 1)
    assert link == Link(0, 1, 0, "c2c")
    assert system.serialization_cycles(link) == 77  # 1280 bytes at 16.67 bytes per cycle
    assert system.hop_latency(link) == 450


def test_serialization_cycles_of_an_exact_fraction_is_not_rounded_up():
    system = System.from_toml(load_system("node8").to_toml().replace("16.666666666666668", "12.8"))
    assert system.serialization_cycles(system.links[0]) == 100


def test_links_from_a_chip():
    system = load_system("torus4x4")
    assert [link.dst for link in system.links_from(5)] == [1, 4, 6, 9]
    assert all(link.src == 5 for link in system.links_from(5))


# -- TOML round trips and specs ------------------------------------------------


@pytest.mark.parametrize("name", PRESETS)
def test_preset_round_trips(name):
    system = load_system(name)
    assert System.from_toml(system.to_toml()) == system


@pytest.mark.parametrize(
    "topology",
    [
        'kind = "torus"\nchips = 8\ndims = [2, 2, 2]\n',
        'kind = "ring"\nchips = 5\nlinks_per_pair = 2\n',
        'kind = "explicit"\nchips = 4\nlinks = [[0, 1], [1, 2], [2, 3], [0, 1]]\n',
        'kind = "explicit"\nchips = 3\nlinks = [[0, 1], [1, 2], [2, 0]]\n',
    ],
)
def test_round_trip(topology):
    system = from_topology(topology)
    again = System.from_toml(system.to_toml())
    assert again == system
    assert again.to_toml() == system.to_toml()


def test_round_trip_with_two_link_classes():
    text = toml_with('kind = "explicit"\nchips = 3\nlink_class = "c2c"\nlinks = [[0, 1], [1, 2, "slow"]]\n')
    text = text.replace("[topology]", "[link_classes.slow]\nbytes_per_cycle = 4\nhop_latency = 900\n\n[topology]")
    system = System.from_toml(text)
    assert system.route(0, 2) == [Link(0, 1, 0, "c2c"), Link(1, 2, 0, "slow")]
    assert system.serialization_cycles(system.link(1, 2)) == 320
    assert system.hop_latency(system.link(2, 1)) == 900
    assert System.from_toml(system.to_toml()) == system


def test_explicit_parallel_links_get_ports():
    system = from_topology('kind = "explicit"\nchips = 2\nlinks = [[0, 1], [1, 0]]\n')
    assert sorted(system.links) == [Link(0, 1, 0, "c2c"), Link(0, 1, 1, "c2c"), Link(1, 0, 0, "c2c"), Link(1, 0, 1, "c2c")]


def test_a_fc_system_with_missing_links_is_written_as_explicit():
    full = load_system("node8")
    cut = replace(full, links=tuple(l for l in full.links if {l.src, l.dst} != {0, 1}))
    text = cut.to_toml()
    assert 'kind = "explicit"' in text
    assert System.from_toml(text).links == cut.links


def test_one_way_links_cannot_be_written():
    single = load_system()
    system = replace(single, chips=2, links=(Link(0, 1, 0, "c2c"), Link(1, 0, 1, "c2c")))
    with pytest.raises(LockstepError, match="one-way links"):
        system.to_toml()


def test_load_from_a_file(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(load_system("ring8").to_toml())
    system = load_system(str(path))
    assert system == load_system("ring8")
    assert system.spec == str(path.resolve())


@pytest.mark.parametrize(
    "kwargs, topology, spec",
    [
        ({}, "fc:1", "single"),
        ({"chips": 8}, "fc:8", "fc:8"),
        ({"chips": 8, "topology": "ring"}, "ring:8", "ring:8"),
        ({"chips": 16, "topology": "torus"}, "torus:4x4", "torus:4x4"),
        ({"chips": 12, "topology": "torus"}, "torus:3x4", "torus:3x4"),
        ({"chips": 8, "topology": "torus"}, "torus:2x4", "torus:2x4"),
        ({"topology": "torus:2x2x2"}, "torus:2x2x2", "torus:2x2x2"),
        ({"chips": 8, "topology": "torus:2x2x2"}, "torus:2x2x2", "torus:2x2x2"),
        ({"spec": "fc:4"}, "fc:4", "fc:4"),
        ({"spec": "node8", "chips": 4}, "fc:4", "node8@fc:4"),
        ({"spec": "torus4x4", "chips": 9}, "torus:3x3", "torus4x4@torus:3x3"),
        ({"spec": "node8", "topology": "ring:6"}, "ring:6", "node8@ring:6"),
        ({"spec": "node8@ring:6"}, "ring:6", "node8@ring:6"),
    ],
)
def test_load_with_a_topology(kwargs, topology, spec):
    system = load_system(**kwargs)
    assert (system.topology, system.spec) == (topology, spec)
    assert load_system(system.spec) == system


# -- routes and distances ------------------------------------------------------


@pytest.mark.parametrize("spec", ["node8", "ring8", "torus4x4", "torus:2x2x2", "ring:7", "torus:3x5"])
def test_routes_are_shortest_and_connected(spec):
    system = load_system(spec)
    for src in range(system.chips):
        hops = bfs_hops(system, src)
        for dst in range(system.chips):
            path = system.route(src, dst)
            assert_path(system, path, src, dst)
            assert len(path) == hops[dst] == system.distance(src, dst)
            assert all(link.port == 0 for link in path)


def test_routes_are_deterministic():
    first = load_system("torus4x4")
    again = load_system("torus4x4")
    assert [first.route(0, d) for d in range(16)] == [again.route(0, d) for d in range(16)]
    # ties go to the lowest-numbered previous chip
    assert [link.dst for link in first.route(0, 5)] == [1, 5]


def test_route_on_a_port():
    system = from_topology('kind = "ring"\nchips = 6\nlinks_per_pair = 2\n')
    path = system.route(0, 3, port=1)
    assert_path(system, path, 0, 3)
    assert len(path) == 3 and all(link.port == 1 for link in path)
    assert all(link.port == 0 for link in system.route(0, 3))
    with pytest.raises(LockstepError, match="no link from chip 0 to chip 1 on port 2"):
        system.route(0, 3, port=2)


def test_torus_wraps_around():
    system = load_system("torus4x4")
    assert system.distance(0, 3) == 1
    assert system.distance(0, 12) == 1
    assert system.distance(0, 15) == 2
    assert system.distance(5, 15) == 4
    assert [link.dst for link in system.route(0, 3)] == [3]


@pytest.mark.parametrize(
    "spec, diameter",
    [
        ("single", 0), ("node8", 1), ("fc:2", 1), ("ring8", 4), ("ring:7", 3), ("ring:2", 1),
        ("torus4x4", 4), ("torus:5x5", 4), ("torus:2x2x2", 3), ("torus:4x4x4", 6), ("torus:32x32", 32),
    ],
)
def test_diameter(spec, diameter):
    assert load_system(spec).diameter() == diameter


def test_diameter_of_an_explicit_line():
    line = from_topology('kind = "explicit"\nchips = 5\nlinks = [[0, 1], [1, 2], [2, 3], [3, 4]]\n')
    assert line.diameter() == 4


def test_route_to_itself_is_empty():
    assert load_system("ring8").route(3, 3) == []


def test_disjoint_routes():
    system = load_system("torus4x4")
    for src, dst in product([0, 5], [1, 10, 15]):
        paths = system.routes(src, dst, 4)
        assert paths[0] == system.route(src, dst)
        assert len(paths) >= 2
        for path in paths:
            assert_path(system, path, src, dst)
            assert len(path) <= system.distance(src, dst) + 2
        used = [link for path in paths for link in path]
        assert len(used) == len(set(used)), "the paths share a link"


def test_disjoint_routes_use_parallel_links_and_stop_at_k():
    system = from_topology('kind = "fc"\nchips = 4\nlinks_per_pair = 2\n')
    paths = system.routes(0, 1, 2)
    assert paths == [[system.link(0, 1, 0)], [system.link(0, 1, 1)]]
    assert len(system.routes(0, 1, 10, slack=1)) == 2 + 2 * 2  # two direct, then via chip 2 and 3 on each port
    assert system.routes(2, 2, 3) == [[]]


# -- errors ----------------------------------------------------------------------


def test_unknown_preset_lists_the_presets():
    with pytest.raises(LockstepError, match=r"unknown system preset 'nope' \(presets: dragonfly72, groq576, node8, ring8, single, torus4x4, torus4x4x4"):
        load_system("nope")


def test_missing_file():
    with pytest.raises(LockstepError, match="system file 'no/such.toml' does not exist"):
        load_system("no/such.toml")


def test_malformed_toml_says_where(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[machine]\nname = \n")
    with pytest.raises(LockstepError, match=rf"{path}: malformed TOML: .*line 2"):
        load_system(str(path))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t[: t.index("[units]")] + t[t.index("[latency]") :], r"missing table \[units\]"),
        (lambda t: t.replace("lanes = 320\n", ""), r"missing key 'lanes' in \[machine\]"),
        (lambda t: t.replace("lanes = 320", 'lanes = "320"'), r"'lanes' in \[machine\] must be an integer"),
        (lambda t: t.replace("lanes = 320", "lanes = true"), r"'lanes' in \[machine\] must be an integer"),
        (lambda t: t.replace("lanes = 320", "lanes = 320\nlane = 3"), r"unknown key 'lane' in \[machine\]"),
        (lambda t: t + "[extra]\n", r"unknown table \[extra\]"),
        (lambda t: t.replace("mxm = 4\n", ""), r"needs at least one 'mxm' unit"),
        (lambda t: t.replace("sxm_transpose = 24\n", ""), r"needs a positive 'sxm_transpose' latency"),
        (lambda t: t.replace("bytes_per_cycle = 16.666666666666668", "bytes_per_cycle = 0"), r"bytes_per_cycle > 0"),
    ],
)
def test_bad_machine_description(edit, message):
    with pytest.raises(LockstepError, match=message):
        System.from_toml(edit(load_system("node8").to_toml()))


@pytest.mark.parametrize(
    "topology, message",
    [
        ('kind = "mesh"\nchips = 4\n', "unknown topology kind 'mesh'"),
        ('kind = "torus"\nchips = 8\ndims = [4, 4]\n', "'torus:4x4' has 16 chips but 8 chips were asked for"),
        ('kind = "torus"\nchips = 4\ndims = [0, 4]\n', "dimension of size 0"),
        ('kind = "torus"\nchips = 0\n', "chip count must be at least 1"),
        ('kind = "torus"\nchips = 4\ndims = ["a"]\n', "dims in \\[topology\\] must be a list of integers"),
        ('kind = "ring"\nchips = 4\nlinks_per_pair = 0\n', "links_per_pair .* must be at least 1"),
        ('kind = "ring"\nchips = 4\nlink_class = "optical"\n', "link_class 'optical' is not defined"),
        ('kind = "explicit"\nchips = 4\nlinks = [[0, 1], [2, 3]]\n', "not connected: chip 2 cannot be reached from chip 0"),
        ('kind = "explicit"\nchips = 2\nlinks = [[0, 0]]\n', "must join two different chips"),
        ('kind = "explicit"\nchips = 2\nlinks = [[0, 5]]\n', "must join two different chips in 0..1"),
        ('kind = "explicit"\nchips = 2\nlinks = [[0, 1, "optical"]]\n', "unknown link class 'optical'"),
        ('kind = "explicit"\nchips = 2\nlinks = [[0]]\n', r"must be \[src, dst\]"),
        ('kind = "explicit"\nchips = 2\n', "missing key 'links'"),
        ('kind = "fc"\nchips = 0\n', "chip count must be at least 1"),
        ('kind = "explicit"\nchips = 0\nlinks = []\n', "needs at least one chip"),
    ],
)
def test_bad_topology(topology, message):
    with pytest.raises(LockstepError, match=message):
        from_topology(topology)


def test_one_way_links_are_not_connected():
    single = load_system()
    with pytest.raises(LockstepError, match="not connected: chip 1 cannot reach chip 0"):
        replace(single, chips=2, links=(Link(0, 1, 0, "c2c"),))


def test_duplicate_links():
    single = load_system()
    twice = (Link(0, 1, 0, "c2c"), Link(1, 0, 0, "c2c"), Link(0, 1, 0, "c2c"))
    with pytest.raises(LockstepError, match="two links 0->1 on port 0"):
        replace(single, chips=2, links=twice)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"chips": 8, "topology": "torus:4x4"}, "'torus:4x4' has 16 chips but 8 chips were asked for"),
        ({"topology": "ring"}, "topology 'ring' needs a chip count"),
        ({"spec": "fc"}, "topology 'fc' needs a chip count"),
        ({"topology": "mesh:4"}, "unknown topology 'mesh:4'"),
        ({"topology": "torus:4x"}, "unknown topology 'torus:4x'"),
        ({"topology": "ring:2x2"}, "only a torus has several dimensions"),
        ({"topology": "torus:0x4"}, "dimension of size 0"),
        ({"chips": 0}, "at least 1"),
        ({"chips": 0, "topology": "torus"}, "at least 1"),
        ({"spec": "node8@ring:4", "topology": "fc"}, "topology is given twice"),
    ],
)
def test_bad_load_arguments(kwargs, message):
    with pytest.raises(LockstepError, match=message):
        load_system(**kwargs)


def test_explicit_chip_count_cannot_change(tmp_path):
    path = tmp_path / "line.toml"
    path.write_text(toml_with('kind = "explicit"\nchips = 2\nlinks = [[0, 1]]\n'))
    with pytest.raises(LockstepError, match="cannot change the chip count of a 'explicit' topology"):
        load_system(str(path), chips=4)
    assert load_system(str(path), topology="ring:4").topology == "ring:4"


def test_bad_queries():
    system = load_system("ring8")
    with pytest.raises(LockstepError, match="chip 8 is not in system 'ring8'"):
        system.route(0, 8)
    with pytest.raises(LockstepError, match="chip -1 is not in system"):
        system.links_from(-1)
    with pytest.raises(LockstepError, match="no link from chip 0 to chip 4 on port 0"):
        system.link(0, 4)
    with pytest.raises(LockstepError, match="unknown unit kind 'gpu'"):
        system.unit_names("gpu")


def test_preset_files_are_commented():
    # numbers in presets carry their source, or [u] when unconfirmed
    for path in (Path(__file__).parents[2] / "compiler" / "systems").glob("*.toml"):
        assert "[u]" in path.read_text() and "ISCA" in path.read_text()


def test_route_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(compiler.system, "_ROUTE_CACHE_CHIPS", 16)  # two ring8 trees
    system = load_system("ring8")
    for src in range(8):
        for dst in range(8):
            assert len(system.route(src, dst)) == min((dst - src) % 8, (src - dst) % 8)
        assert len(system._trees) <= 2


# -- Dragonfly -------------------------------------------------------------------

DRAGONFLIES = [(8, 4, 9), (8, 4, 33), (4, 2, 5), (4, 3, 6), (4, 3, 4), (4, 2, 2), (2, 2, 3), (3, 1, 1)]


def dragonfly(a: int, h: int, g: int) -> System:
    return load_system(f"dragonfly:a={a},h={h},g={g}")


def group_pair_links(system: System, a: int) -> dict[tuple[int, int], list[Link]]:
    """Global links by (group, other group), one direction each (lower group first)."""
    pairs: dict[tuple[int, int], list[Link]] = {}
    for link in system.links:
        if link.cls == "global" and link.src // a < link.dst // a:
            pairs.setdefault((link.src // a, link.dst // a), []).append(link)
    return pairs


@pytest.mark.parametrize("a, h, g", DRAGONFLIES)
def test_dragonfly_degrees(a, h, g):
    system = dragonfly(a, h, g)
    assert (system.chips, system.topology_kind, system.dims) == (a * g, "dragonfly", (a, h, g))
    for chip in range(system.chips):
        out = system.links_from(chip)
        local = [l.dst for l in out if l.cls == "local"]
        assert sorted(local) == [c for c in range(chip // a * a, chip // a * a + a) if c != chip]
        glob = [l for l in out if l.cls == "global"]
        assert len(glob) <= h
        assert all(l.dst // a != chip // a for l in glob)
        if g > 1 and (a * h) % (g - 1) == 0:
            assert len(glob) == h, "every global port is used when the groups share them evenly"


@pytest.mark.parametrize("a, h, g", DRAGONFLIES)
def test_dragonfly_group_pairs_are_joined_evenly(a, h, g):
    pairs = group_pair_links(dragonfly(a, h, g), a)
    assert sorted(pairs) == [(x, y) for x in range(g) for y in range(x + 1, g)]
    counts = {len(links) for links in pairs.values()}
    if g > 1:
        share = a * h // (g - 1)
        assert counts <= {share, share + 1}


def test_palm_tree_has_one_link_per_group_pair():
    system = dragonfly(8, 4, 33)
    assert {len(links) for links in group_pair_links(system, 8).values()} == {1}
    assert compiler.system.dragonfly_slot_offsets(8, 4, 33) == list(range(1, 33))
    # group G's chip i, port p leads to group G + 4i + p + 1
    assert [l.dst // 8 for l in system.links_from(8 * 5 + 2) if l.cls == "global"] == [(5 + 4 * 2 + p + 1) % 33 for p in range(4)]


def test_parallel_group_links_use_different_chips():
    system = dragonfly(8, 4, 9)
    assert compiler.system.dragonfly_slot_offsets(8, 4, 9) == list(range(1, 9)) * 4
    for links in group_pair_links(system, 8).values():
        assert len(links) == 4
        assert len({l.src for l in links}) == len({l.dst for l in links}) == 4


@pytest.mark.parametrize("a, h, g, diameter", [(8, 4, 9, 3), (8, 4, 33, 3), (16, 4, 65, 3), (4, 3, 6, 3), (4, 2, 2, 2), (3, 1, 1, 1)])
def test_dragonfly_diameter(a, h, g, diameter):
    assert dragonfly(a, h, g).diameter() == diameter


@pytest.mark.parametrize("a, h, g", [(4, 2, 5), (4, 3, 6), (2, 2, 3)])
def test_dragonfly_distances_match_a_plain_bfs(a, h, g):
    system = dragonfly(a, h, g)
    longest = 0
    for src in range(system.chips):
        hops = bfs_hops(system, src)
        longest = max(longest, max(hops.values()))
        for dst in range(system.chips):
            path = system.route(src, dst)
            assert_path(system, path, src, dst)
            assert len(path) == hops[dst] == system.distance(src, dst)
    assert system.diameter() == longest  # the diameter only searches from group 0


def test_dragonfly_classes_default_to_the_c2c_numbers():
    system = load_system("node8@dragonfly:a=4,h=2,g=3")
    c2c = system.link_classes["c2c"]
    for name in ("local", "global"):
        assert (system.link_classes[name].bytes_per_cycle, system.link_classes[name].hop_latency) == (c2c.bytes_per_cycle, c2c.hop_latency)
    assert system.spec == "node8@dragonfly:a=4,h=2,g=3"
    assert load_system(system.spec) == system


def test_dragonfly_classes_from_toml():
    text = toml_with('kind = "dragonfly"\na = 4\nh = 2\ng = 5\n').replace(
        "[topology]", "[link_classes.global]\nbytes_per_cycle = 6.4\nhop_latency = 900\n\n[topology]"
    )
    system = System.from_toml(text)
    local, glob = system.link(0, 1), next(l for l in system.links_from(0) if l.cls == "global")
    assert (system.serialization_cycles(local), system.hop_latency(local)) == (77, 450)  # local copies c2c
    assert (system.serialization_cycles(glob), system.hop_latency(glob)) == (200, 900)
    assert System.from_toml(system.to_toml()) == system
    assert system.chips == 20


def test_a_dragonfly_chip_count_changes_the_groups():
    system = load_system("dragonfly72", chips=16)
    assert (system.topology, system.spec) == ("dragonfly:a=8,h=4,g=2", "dragonfly72@dragonfly:a=8,h=4,g=2")
    with pytest.raises(LockstepError, match="12 chips do not make whole groups of 8"):
        load_system("dragonfly72", chips=12)


def test_dragonfly72_preset():
    system = load_system("dragonfly72")
    assert (system.topology, system.dims, system.diameter()) == ("dragonfly:a=8,h=4,g=9", (8, 4, 9), 3)
    assert set(system.link_classes) == {"local", "global"}
    assert load_system("dragonfly72", topology="torus:4x4").links[0].cls == "local"


@pytest.mark.parametrize(
    "kwargs, topology",
    [
        ({"topology": "dragonfly:a=8,h=4,g=33"}, "dragonfly:a=8,h=4,g=33"),
        ({"topology": "dragonfly:g=33,h=4,a=8"}, "dragonfly:a=8,h=4,g=33"),
        ({"topology": "dragonfly:a=8,h=4"}, "dragonfly:a=8,h=4,g=33"),
        ({"topology": "dragonfly:a=4,h=2", "chips": 12}, "dragonfly:a=4,h=2,g=3"),
        ({"spec": "dragonfly:a=2,h=1,g=3"}, "dragonfly:a=2,h=1,g=3"),
    ],
)
def test_load_a_dragonfly(kwargs, topology):
    system = load_system(**kwargs)
    assert (system.topology, system.spec) == (topology, topology)
    assert load_system(system.spec) == system
    assert System.from_toml(system.to_toml()) == system


@pytest.mark.parametrize(
    "topology, message",
    [
        ("dragonfly", "needs its sizes"),
        ("dragonfly:a=8", "needs a .* and h"),
        ("dragonfly:a=8,h=4,g=34", "g can be at most 33, not 34"),
        ("dragonfly:a=8,h=4,x=3", "unknown size 'x'"),
        ("dragonfly:a=8,a=4,h=1", "gives 'a' twice"),
        ("dragonfly:a=0,h=4", "a and h must be at least 1"),
    ],
)
def test_bad_dragonfly(topology, message):
    with pytest.raises(LockstepError, match=message):
        load_system(topology=topology)


@pytest.mark.parametrize(
    "topology, message",
    [
        ('kind = "dragonfly"\na = 4\nh = 2\ng = 3\nchips = 13\n', "has 12 chips but 13 chips were asked for"),
        ('kind = "dragonfly"\nh = 2\n', "missing key 'a' in \\[topology\\]"),
        ('kind = "dragonfly"\na = 4\nh = 2\ndims = [4]\n', "not dims"),
        ('kind = "torus"\nchips = 4\na = 4\n', "'a' in \\[topology\\] is only for"),
    ],
)
def test_bad_dragonfly_toml(topology, message):
    with pytest.raises(LockstepError, match=message):
        from_topology(topology)


def test_dragonfly_needs_its_classes():
    text = toml_with('kind = "dragonfly"\na = 2\nh = 1\n').replace("[topology]", "[link_classes.slow]\nbytes_per_cycle = 4\nhop_latency = 9\n\n[topology]")
    with pytest.raises(LockstepError, match=r"needs \[link_classes.local\] and \[link_classes.global\]"):
        System.from_toml(text)


# -- generated links are symmetric; metadata ---------------------------------------


@pytest.mark.parametrize("spec", ["node8", "ring8", "torus:3x4", "torus4x4x4", "dragonfly:a=4,h=3,g=4", "dragonfly72"])
def test_links_are_symmetric(spec):
    system = load_system(spec)
    assert sorted(system.links) == sorted(Link(l.dst, l.src, l.port, l.cls) for l in system.links)


@pytest.mark.parametrize(
    "spec, kind, dims",
    [
        ("node8", "fc", (8,)), ("ring8", "ring", (8,)), ("torus4x4", "torus", (4, 4)), ("torus:8x8x8", "torus", (8, 8, 8)),
        ("dragonfly:a=8,h=4,g=9", "dragonfly", (8, 4, 9)),
    ],
)
def test_topology_metadata(spec, kind, dims):
    system = load_system(spec)
    assert (system.topology_kind, system.dims) == (kind, dims)


def test_explicit_metadata():
    system = from_topology('kind = "explicit"\nchips = 3\nlinks = [[0, 1], [1, 2]]\n')
    assert (system.topology_kind, system.dims) == ("explicit", ())


# -- non-minimal routes ------------------------------------------------------------


def test_torus_routes_with_slack_go_the_long_way():
    system = load_system("torus:4x4")
    assert [len(p) for p in system.routes(0, 1, 8, slack=0)] == [1]
    paths = system.routes(0, 1, 8, slack=2)
    assert len(paths) == 4 and sorted(len(p) for p in paths) == [1, 3, 3, 3]
    for path in paths:
        assert_path(system, path, 0, 1)


def test_dragonfly_routes_with_slack_pass_through_other_groups():
    system = dragonfly(8, 4, 33)
    src, dst = 0, 8 * 12 + 5
    assert len(system.routes(src, dst, 4, slack=0)) == 1  # one global link per group pair
    paths = system.routes(src, dst, 4, slack=2)
    assert len(paths) == 4 and paths[0] == system.route(src, dst)
    used = [link for path in paths for link in path]
    assert len(used) == len(set(used))
    for path in paths[1:]:
        assert_path(system, path, src, dst)
        groups = {link.dst // 8 for link in path}
        assert groups - {0, 12}, "a non-minimal path visits an intermediate group (Valiant)"
        assert len(path) <= system.distance(src, dst) + 2


# -- failures ----------------------------------------------------------------------


def test_failed_links_and_chips_are_avoided():
    system = load_system("torus:4x4/fail=0-1,6-5/failchip=10")
    assert system.alive_chips() == [c for c in range(16) if c != 10]
    assert Link(0, 1, 0, "c2c") in system.failed_links and Link(1, 0, 0, "c2c") in system.failed_links
    assert Link(5, 6, 0, "c2c") in system.failed_links and Link(9, 10, 0, "c2c") in system.failed_links
    assert len(system.links) + len(system.failed_links) == 64
    dead = {(0, 1), (1, 0), (5, 6), (6, 5)}
    for link in system.links:
        assert (link.src, link.dst) not in dead and 10 not in (link.src, link.dst)
    for src in system.alive_chips():
        hops = bfs_hops(system, src)
        for dst in system.alive_chips():
            path = system.route(src, dst)
            assert_path(system, path, src, dst)
            assert len(path) == hops[dst] == system.distance(src, dst)
            for alt in system.routes(src, dst, 3):
                assert_path(system, alt, src, dst)
                assert all((l.src, l.dst) not in dead and 10 not in (l.src, l.dst) for l in alt)
    assert system.distance(0, 1) == 3
    assert system.diameter() == max(max(bfs_hops(system, s).values()) for s in system.alive_chips())


def test_failures_on_a_dragonfly():
    system = load_system("dragonfly:a=8,h=4,g=33/fail=0-1,0-15/failchip=9")  # 0-15: the only link of groups 0 and 1
    assert system.distance(0, 1) == 2
    assert all(9 not in (l.src, l.dst) for l in system.links)
    path = system.route(0, 15)
    assert_path(system, path, 0, 15)
    assert {l.dst // 8 for l in path} - {0, 1}, "groups 0 and 1 now meet through a third group"
    assert system.diameter() == 4
    with pytest.raises(LockstepError, match="chip 9 of system .* has failed"):
        system.route(0, 9)


def test_failed_chip_and_link_queries():
    system = load_system("ring:6/failchip=2")
    with pytest.raises(LockstepError, match="chip 2 of system 'single@ring:6' has failed"):
        system.route(2, 0)
    with pytest.raises(LockstepError, match="has failed"):
        system.distance(0, 2)
    with pytest.raises(LockstepError, match="the link from chip 1 to chip 2 on port 0 has failed"):
        system.link(1, 2)
    assert system.links_from(2) == ()
    assert system.route(1, 3) == [system.link(1, 0), system.link(0, 5), system.link(5, 4), system.link(4, 3)]


def test_disconnected_chips_are_named():
    system = load_system("ring:6/fail=0-1,3-4")
    assert system.distance(1, 3) == 2
    for call in (system.route, system.distance, lambda s, d: system.routes(s, d, 2)):
        with pytest.raises(LockstepError, match="chip 4 cannot be reached from chip 1 over the links in service"):
            call(1, 4)
    with pytest.raises(LockstepError, match="cannot be reached"):
        system.diameter()


def test_a_port_fails_alone():
    text = toml_with('kind = "fc"\nchips = 3\nlinks_per_pair = 2\n') + "\n[failures]\nlinks = [[0, 1, 1], [2, 1]]\n"
    system = System.from_toml(text)
    assert system.link(0, 1, 0) and system.link(1, 0, 0)
    with pytest.raises(LockstepError, match="has failed"):
        system.link(0, 1, 1)
    assert system.route(0, 1, port=0) == [system.link(0, 1, 0)]
    assert not any({l.src, l.dst} == {1, 2} for l in system.links)
    assert "links = [[0, 1, 1], [1, 2]]" in system.to_toml()
    assert System.from_toml(system.to_toml()) == system
    assert system.failure_spec == "/fail=0-1:1,1-2"


@pytest.mark.parametrize(
    "kwargs, spec",
    [
        ({"spec": "torus:8x8/fail=3-4,7-15/failchip=9"}, "torus:8x8/fail=3-4,7-15/failchip=9"),
        ({"spec": "torus:8x8/failchip=9,2/fail=15-7,4-3"}, "torus:8x8/fail=3-4,7-15/failchip=2,9"),
        ({"spec": "node8/fail=0-1"}, "node8/fail=0-1"),
        ({"spec": "node8", "topology": "ring:6/fail=0-1"}, "node8@ring:6/fail=0-1"),
        ({"spec": "node8@ring:6/fail=0-1", "chips": None}, "node8@ring:6/fail=0-1"),
        ({"topology": "dragonfly:a=8,h=4,g=9/fail=0-9:0/failchip=71"}, "dragonfly:a=8,h=4,g=9/fail=0-9:0/failchip=71"),
        ({"spec": "dragonfly72/failchip=3"}, "dragonfly72/failchip=3"),
    ],
)
def test_spec_round_trips_failures(kwargs, spec):
    system = load_system(**kwargs)
    assert system.spec == spec
    again = load_system(system.spec)
    assert again == system and again.failed_links and again.failed_links == system.failed_links
    assert System.from_toml(system.to_toml()) == system


def test_failures_in_a_file(tmp_path):
    path = tmp_path / "cut.toml"
    path.write_text(toml_with('kind = "ring"\nchips = 6\n') + "\n[failures]\nlinks = [[0, 1]]\nchips = [3]\n")
    system = load_system(str(path))
    assert system.failed_chips == (3,) and system.failure_spec == "/fail=0-1/failchip=3"
    assert system.spec == str(path.resolve())
    assert load_system(system.spec) == system
    more = load_system(f"{path}/fail=4-5")
    assert more.failure_spec == "/fail=0-1,4-5/failchip=3" and load_system(more.spec) == more
    rewired = load_system(str(path), topology="ring:6")  # the file's failures name its own wiring
    assert not rewired.failed_links and not rewired.failed_chips


def test_an_explicit_system_with_failures_round_trips():
    system = System.from_toml(toml_with('kind = "explicit"\nchips = 4\nlinks = [[0, 1], [1, 2], [2, 3], [3, 0], [0, 2]]\n') + "\n[failures]\nlinks = [[0, 2]]\n")
    assert system.distance(0, 2) == 2
    assert System.from_toml(system.to_toml()) == system


@pytest.mark.parametrize(
    "spec, message",
    [
        ("ring:6/fail=0-3", "cannot fail link 0-3: chips 0 and 3 are not linked"),
        ("ring:6/fail=0-1:1", r"cannot fail link 0-1 on port 1: its ports are \[0\]"),
        ("ring:6/failchip=6", "cannot fail chip 6: the chips are 0..5"),
        ("ring:6/fail=0_1", "bad failed link '0_1'"),
        ("ring:6/failchip=x", "bad failed chip 'x'"),
        ("fc:2/failchip=0,1", "every chip has failed"),
    ],
)
def test_bad_failures(spec, message):
    with pytest.raises(LockstepError, match=message):
        load_system(spec)


@pytest.mark.parametrize(
    "failures, message",
    [
        ("links = [[0]]", r"must be \[a, b\] or \[a, b, port\]"),
        ("chips = [true]", "chips in \\[failures\\] must be a list of chip numbers"),
        ("nodes = [1]", r"unknown key 'nodes' in \[failures\]"),
    ],
)
def test_bad_failures_table(failures, message):
    with pytest.raises(LockstepError, match=message):
        System.from_toml(toml_with('kind = "ring"\nchips = 4\n') + f"\n[failures]\n{failures}\n")


def test_a_disconnected_wiring_is_refused_even_with_failures():
    with pytest.raises(LockstepError, match="not connected"):
        System.from_toml(toml_with('kind = "explicit"\nchips = 4\nlinks = [[0, 1], [2, 3]]\n') + "\n[failures]\nchips = [3]\n")


# -- columnar links and link ids ---------------------------------------------------


@pytest.mark.parametrize("spec", ["single", "node8", "torus:3x4/fail=0-1/failchip=5", "dragonfly:a=4,h=2,g=5/fail=0-1"])
def test_link_arrays_match_links(spec):
    system = load_system(spec)
    arrays = system.link_arrays()
    assert arrays is system.link_arrays()
    assert len(arrays) == len(system.links)
    for i, link in enumerate(system.links):
        assert (arrays.src[i], arrays.dst[i], arrays.port[i]) == (link.src, link.dst, link.port)
        assert arrays.class_names[arrays.cls[i]] == link.cls
        assert arrays.bytes_per_cycle[i] == system.link_classes[link.cls].bytes_per_cycle
        assert arrays.hop_latency[i] == system.hop_latency(link)
        assert arrays.ser_cycles[i] == system.serialization_cycles(link)
        assert system.link_id(link.src, link.dst, link.port) == i
    for chip in range(system.chips):
        assert [system.links[i] for i in system.out_links(chip)] == list(system.links_from(chip))
        assert list(system.out_links(chip)) == list(range(arrays.out_ptr[chip], arrays.out_ptr[chip + 1]))
        assert sorted(system.links[i] for i in system.in_links(chip)) == sorted(l for l in system.links if l.dst == chip)
    with pytest.raises(ValueError):
        arrays.src[0:1] = 7


def test_link_arrays_per_class():
    text = toml_with('kind = "dragonfly"\na = 2\nh = 1\ng = 3\n').replace(
        "[topology]", "[link_classes.global]\nbytes_per_cycle = 6.4\nhop_latency = 900\n\n[topology]"
    )
    system = System.from_toml(text)
    arrays = system.link_arrays()
    glob = arrays.cls == arrays.class_names.index("global")
    assert set(arrays.ser_cycles[glob]) == {200} and set(arrays.hop_latency[glob]) == {900}
    assert set(arrays.ser_cycles[~glob]) == {77} and set(arrays.hop_latency[~glob]) == {450}


def test_link_id_errors():
    system = load_system("ring:4")
    assert system.link_id(0, 1) == system.links.index(Link(0, 1, 0, "c2c"))
    with pytest.raises(LockstepError, match="no link from chip 0 to chip 2 on port 0"):
        system.link_id(0, 2)
    with pytest.raises(LockstepError, match="chip 9 is not in system"):
        system.link_id(9, 0)
    with pytest.raises(LockstepError, match="chip 4 is not in system"):
        system.out_links(4)


def test_groq576_preset_is_the_generated_wiring():
    from compiler.wiring import preset_text

    assert (PRESET_DIR / "groq576.toml").read_text() == preset_text(), "rerun: python -m compiler.wiring"


def test_groq576_wiring():
    """8 racks x 9 nodes x 8 chips: 16 ports per chip; each rack wired exactly as dragonfly72."""
    system = load_system(chips=576)
    assert system.spec == "groq576" and system.chips == 576
    assert all(len(system.links_from(c)) == 16 for c in range(576))
    by_class = {cls: sum(1 for l in system.links_from(100) if l.cls == cls) for cls in ("local", "global", "rack")}
    assert by_class == {"local": 7, "global": 4, "rack": 5}
    rack = load_system("dragonfly72")
    for r in (0, 5):
        inside = sorted((l.src - 72 * r, l.dst - 72 * r, l.port, l.cls) for l in system.links
                        if l.cls != "rack" and l.src // 72 == r)
        assert inside == sorted((l.src, l.dst, l.port, l.cls) for l in rack.links)
    pairs = {(l.src // 72, l.dst // 72) for l in system.links if l.cls == "rack"}
    assert pairs == {(a, b) for a in range(8) for b in range(8) if a != b}
    assert system.diameter() <= 5


def test_parts_are_what_the_chips_own_links_connect():
    torus = load_system(topology="torus:4x4")
    assert torus.parts([5, 0, 1]) == [[0, 1, 5]]  # 0-1 and 1-5 are links
    assert torus.parts([0, 5, 10]) == [[0], [5], [10]]  # diagonal neighbours: no link among them
    groq576 = load_system(chips=576)
    nodes = groq576.parts(range(576), {"local"})
    assert len(nodes) == 72 and nodes[1] == list(range(8, 16))
    assert [len(p) for p in groq576.parts(range(576), {"local", "global"})] == [72] * 8
