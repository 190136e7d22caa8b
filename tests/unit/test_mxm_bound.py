"""The `mxm_path` lower bound (passes/mxm_bound.py): tiles wait for their activation, stages add up."""

from __future__ import annotations

from test_schedule import attr_int, bounds, program_text, runtime_cycles, schedule

from compiler.system import load_system

ROWS = 320


def stage(chip: int, tiles: int, x: str, x_addr: int, out: int) -> list[str]:
    """`tiles` weight tiles of ROWS rows on `chip`, each multiplied by the vector at x_addr, joined as %s<chip>."""
    body = []
    for k in range(tiles):
        body.append(f'%l{chip}_{k} = chip.mxm_load core {chip} unit "mxm" repeat {ROWS} stride 1 src [0, 1] (%w{chip})')
        body.append(f'%m{chip}_{k} = chip.mxm_matmul core {chip} unit "mxm" repeat 1 stride 1 weights (%l{chip}_{k}) '
                    f'dst [{out + k}, 1] src [{x_addr}, 1] ({x})')
    body.append(f"%s{chip} = chip.join core {chip} (" + ", ".join(f"%m{chip}_{k}" for k in range(tiles)) + ")")
    return body


def test_tiles_beyond_one_per_plane_load_after_the_activation(tmp_path):
    system = load_system("single")
    planes, tiles = system.units["mxm"], 12
    body = [f"%w0 = chip.preload core 0 at 0 dense<1.0> : tensor<{ROWS}x320xf32>",
            f"%x = chip.input \"x\" core 0 at {ROWS} : tensor<1x320xf32>"]
    body += stage(0, tiles, "%x", ROWS, 1000)
    body.append(f'%y = chip.vxm "exp" core 0 unit "vxm" repeat {tiles} stride 1 lanes 320 dst [2000, 1] lhs [1000, 1] (%s0)')
    module, program = schedule(program_text("single", body))
    found, cycles = bounds(program), attr_int(program, "schedule.cycles")
    # every matmul can issue once its tile has landed (cycle ROWS); the other tiles' rows load after that
    first = ROWS - 1 + system.latency["mxm_load"]
    floor = first + -(-(tiles - planes) * ROWS // planes) - 1 + system.latency["mxm_load"] + system.latency["mxm"]
    assert found["mxm_path"] == floor + system.latency["vxm_transcendental"] + tiles - 1
    assert found["critical_path"] < found["mxm_path"] <= cycles
    assert runtime_cycles(module, "single", tmp_path) == cycles


def test_pipeline_stages_add_up(tmp_path):
    """Chip 1's result travels to chip 0, whose tiles cannot all be loaded before it lands."""
    spec, tiles = "fc:2", 16
    body = [f"%w{c} = chip.preload core {c} at 0 dense<1.0> : tensor<{ROWS}x320xf32>" for c in (0, 1)]
    body.append(f"%x = chip.input \"x\" core 1 at {ROWS} : tensor<1x320xf32>")
    body += stage(1, tiles, "%x", ROWS, 1000)
    stride = load_system(spec).serialization_cycles(load_system(spec).link(1, 0))
    body.append(f"%t = net.transfer from 1 at 1000 to 0 at 3000 repeat 1 stride {stride} route [1, 0, 0] via [] (%s1)")
    body += stage(0, tiles, "%t", 3000, 4000)
    module, program = schedule(program_text(spec, body))
    found, cycles = bounds(program), attr_int(program, "schedule.cycles")
    one_stage = tiles * ROWS // load_system(spec).units["mxm"]
    assert found["critical_path"] < one_stage + 1000 < found["mxm_path"] <= cycles
    assert found["mxm_path"] > 2 * one_stage - 2 * ROWS
    assert runtime_cycles(module, spec, tmp_path) == cycles


def test_independent_matmuls_sharing_the_planes_add_up(tmp_path):
    """Like a layer's q and k projections: two sets of tiles, each named by its own op, then one op
    after both. Each set alone fits its floor; the op after both waits for all their rows."""
    system = load_system("single")
    planes, tiles = system.units["mxm"], 6
    body = [f"%w0 = chip.preload core 0 at 0 dense<1.0> : tensor<{ROWS}x320xf32>",
            f"%x = chip.input \"x\" core 0 at {ROWS} : tensor<1x320xf32>"]
    for name, out in (("a", 1000), ("b", 1100)):
        for k in range(tiles):
            body.append(f'%l{name}{k} = chip.mxm_load core 0 unit "mxm" repeat {ROWS} stride 1 src [0, 1] (%w0)')
            body.append(f'%m{name}{k} = chip.mxm_matmul core 0 unit "mxm" repeat 1 stride 1 weights (%l{name}{k}) '
                        f'dst [{out + k}, 1] src [{ROWS}, 1] (%x)')
        body.append(f"%s{name} = chip.join core 0 (" + ", ".join(f"%m{name}{k}" for k in range(tiles)) + ")")
        body.append(f'%y{name} = chip.vxm "exp" core 0 unit "vxm" repeat {tiles} stride 1 lanes 320 '
                    f'dst [{out + 500}, 1] lhs [{out}, 1] (%s{name})')
    # long enough to end well after the program's own floor (all tiles' rows), which it starts at
    after = 200
    body.append(f'%z = chip.vxm "add" core 0 unit "vxm" repeat {after} stride 1 lanes 320 dst [3000, 1] '
                f'lhs [1500, 0] (%ya) rhs [1600, 0] (%yb)')
    module, program = schedule(program_text("single", body))
    found, cycles = bounds(program), attr_int(program, "schedule.cycles")
    first = ROWS - 1 + system.latency["mxm_load"]
    both = first + -(-(2 * tiles - planes) * ROWS // planes) - 1 + system.latency["mxm_load"] + system.latency["mxm"]
    assert found["mxm_path"] == both + system.latency["vxm"] + after - 1
    assert found["mxm_path"] <= cycles
    assert runtime_cycles(module, "single", tmp_path) == cycles
