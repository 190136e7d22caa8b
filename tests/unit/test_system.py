"""The system description: presets, TOML round trips, routes, distances and every error."""
from collections import deque
from dataclasses import replace
from itertools import product
from pathlib import Path

import pytest

import compiler.system
from compiler.errors import LockstepError
from compiler.system import Link, System, load_system, presets

PRESETS = ["node8", "ring8", "single", "torus4x4"]


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
    "name, chips, topology, links", [("single", 1, "fc:1", 0), ("node8", 8, "fc:8", 56), ("ring8", 8, "ring:8", 16), ("torus4x4", 16, "torus:4x4", 64)]
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
    assert system.unit_names("vxm") == [f"vxm{i}" for i in range(16)]
    assert system.unit_names("mem") == ["mem0", "mem1"]


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
    with pytest.raises(LockstepError, match=r"unknown system preset 'nope' \(presets: node8, ring8, single, torus4x4"):
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
