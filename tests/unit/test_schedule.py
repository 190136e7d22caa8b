"""The scheduler's promises, checked against brute force, the independent
verifier and the runtime: calendars never double-book, transfers never share a
link slot, hops store and forward, MXM tiles stay on their plane, and no lower
bound ever exceeds the achieved cycle count."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import Builtin, ModuleOp
from xdsl.parser import Parser

from compiler.errors import LockstepError
from compiler.registry import lockstep_dialects
from compiler.system import load_system
from dialects.chip import ChipInstruction, ProgramOp
from dialects.net import TransferOp
from passes.emit_streams import EmitStreamsPass, write_streams
from passes.schedule import Calendar, SchedulePass
from passes.verify_schedule import VerifySchedulePass
from runtime.machine import run
from runtime.program import Program


def parse(text: str) -> ModuleOp:
    ctx = Context()
    ctx.load_dialect(Builtin)
    for dialect in lockstep_dialects():
        ctx.load_dialect(dialect)
    return Parser(ctx, text).parse_module()


def schedule(text: str) -> tuple[ModuleOp, ProgramOp]:
    module = parse(text)
    SchedulePass().apply(Context(), module)
    VerifySchedulePass().apply(Context(), module)
    program = next(op for op in module.ops if isinstance(op, ProgramOp))
    return module, program


def attr_int(program: ProgramOp, name: str) -> int:
    return program.attributes[name].value.data  # type: ignore[union-attr]


def bounds(program: ProgramOp) -> dict[str, int]:
    return {k: v.value.data for k, v in program.attributes["schedule.bounds"].data.items()}  # type: ignore[union-attr]


def runtime_cycles(module: ModuleOp, spec: str, tmp_path: Path) -> int:
    EmitStreamsPass().apply(Context(), module)
    write_streams(module, tmp_path, load_system(spec))
    return run(Program.load(tmp_path), {}, timing_only=True).cycles


def program_text(spec: str, body: list[str]) -> str:
    return f'builtin.module {{\n  chip.program "{spec}" {{\n    ' + "\n    ".join(body) + "\n  }\n}\n"


# -- calendars --------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_calendar_first_fit_is_earliest_and_never_double_books(seed):
    rng = random.Random(seed)
    calendar, busy = Calendar(), np.zeros(4000, dtype=bool)
    for _ in range(150):
        width = rng.choice([1, 1, 3])
        count, stride = rng.randint(1, 6), rng.choice([width, width + 1, width + 4])
        earliest = rng.randint(0, 300)
        start = calendar.first_fit(earliest, count, stride, width)
        cells = (start + stride * np.arange(count))[:, None] + np.arange(width)
        assert not busy[cells].any()
        for before in range(earliest, start):  # brute force: nothing earlier was free
            assert busy[(before + stride * np.arange(count))[:, None] + np.arange(width)].any()
        calendar.reserve(start, count, stride, width)
        busy[cells] = True
    # The interval set stays sorted, disjoint and merged, and covers exactly what was reserved.
    assert np.all(calendar.begins[1:] > calendar.ends[:-1])
    covered = np.zeros_like(busy)
    for b, e in zip(calendar.begins, calendar.ends):
        covered[b:e] = True
    assert np.array_equal(covered, busy)


# -- transfers --------------------------------------------------------------------


def random_transfers(spec: str, n: int, seed: int) -> str:
    """`n` transfers between random chips along shortest routes, each with its own buffers."""
    system, rng = load_system(spec), random.Random(seed)
    body = [f"%p{c} = chip.preload core {c} at 0 dense<1.0> : tensor<4x320xf32>" for c in range(system.chips)]
    for k in range(n):
        src, dst = rng.sample(range(system.chips), 2)
        route = system.route(src, dst)
        ser = system.serialization_cycles(route[0])
        count, stride = rng.randint(1, 4), rng.choice([ser, ser, 2 * ser + 5])
        flat = ", ".join(f"{l.src}, {l.dst}, {l.port}" for l in route)
        via = ", ".join(str(100 + 8 * k) for _ in route[1:])
        body.append(
            f"%t{k} = net.transfer from {src} at 0 to {dst} at {5000 + 8 * k} repeat {count} stride {stride} "
            f"route [{flat}] via [{via}] (%p{src})"
        )
    return program_text(spec, body)


def test_random_transfers_on_a_ring_never_share_a_link_slot(tmp_path):
    spec = "ring:8"
    module, program = schedule(random_transfers(spec, 120, seed=1))
    system = load_system(spec)
    busy: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
    for op in program.body.ops:
        if isinstance(op, TransferOp):
            count, stride = op.count.value.data, op.stride.value.data
            for (a, b, port), start in zip(op.links(), op.hops.get_values()):  # type: ignore[union-attr]
                ser = system.serialization_cycles(system.link(a, b, port))
                busy.setdefault((a, b, port), []).extend((start + i * stride, start + i * stride + ser) for i in range(count))
    for intervals in busy.values():
        intervals.sort()
        assert all(end <= nxt for (_, end), (nxt, _) in zip(intervals, intervals[1:]))
    cycles = attr_int(program, "schedule.cycles")
    assert all(bound <= cycles for bound in bounds(program).values())
    assert runtime_cycles(module, spec, tmp_path) == cycles


def test_multi_hop_transfer_stores_and_forwards():
    system = load_system("ring:8")
    body = [
        "%p = chip.preload core 0 at 0 dense<1.0> : tensor<4x320xf32>",
        "%t = net.transfer from 0 at 0 to 3 at 0 repeat 4 stride 80 route [0, 1, 0, 1, 2, 0, 2, 3, 0] via [10, 10] (%p)",
    ]
    _, program = schedule(program_text("ring:8", body))
    link = system.link(0, 1)
    transit = system.serialization_cycles(link) + system.hop_latency(link)
    transfer = next(op for op in program.body.ops if isinstance(op, TransferOp))
    # On idle links each hop leaves as soon as the first vector has landed on the chip before it.
    assert list(transfer.hops.get_values()) == [0, transit, 2 * transit]  # type: ignore[union-attr]
    assert attr_int(program, "schedule.cycles") == 2 * transit + 3 * 80 + transit
    assert bounds(program)["hop_latency"] == 3 * transit


# -- units and planes ----------------------------------------------------------------


def random_program(spec: str, n: int, seed: int) -> str:
    """A random DAG of vxm ops, tile loads with their matmuls and transfers over every chip."""
    system, rng = load_system(spec), random.Random(seed)
    body, made = [], {c: [(f"%p{c}", 0)] for c in range(system.chips)}
    free = [4] * system.chips  # every op writes 4 fresh vectors

    def allocate(chip: int) -> int:
        free[chip] += 4
        return free[chip] - 4

    for c in range(system.chips):
        body.append(f"%p{c} = chip.preload core {c} at 0 dense<1.0> : tensor<4x320xf32>")
    for k in range(n):
        chip = rng.randrange(system.chips)
        (a, a_addr), (b, b_addr) = rng.choice(made[chip]), rng.choice(made[chip])
        kind, stride = rng.random(), rng.choice([1, 1, 2])
        if kind < 0.5:
            op, addr = rng.choice(["add", "mul", "exp"]), allocate(chip)
            rhs = f" rhs [{b_addr}, 1] ({b})" if op != "exp" else ""
            body.append(
                f'%v{k} = chip.vxm "{op}" core {chip} unit "vxm" repeat 4 stride {stride} lanes 320 '
                f"dst [{addr}, 1] lhs [{a_addr}, 1] ({a}){rhs}"
            )
            made[chip].append((f"%v{k}", addr))
        elif kind < 0.8:
            addr = allocate(chip)
            body.append(f'%l{k} = chip.mxm_load core {chip} unit "mxm" repeat 4 stride 1 src [0, 1] (%p{chip})')
            body.append(
                f'%v{k} = chip.mxm_matmul core {chip} unit "mxm" repeat 4 stride {stride} weights (%l{k}) '
                f"dst [{addr}, 1] src [{a_addr}, 1] ({a})"
            )
            made[chip].append((f"%v{k}", addr))
        elif system.chips > 1:
            dst = rng.choice([c for c in range(system.chips) if c != chip])
            route = system.route(chip, dst)
            flat = ", ".join(f"{l.src}, {l.dst}, {l.port}" for l in route)
            via = ", ".join(str(allocate(link.src)) for link in route[1:])
            stride, addr = system.serialization_cycles(route[0]), allocate(dst)
            body.append(
                f"%v{k} = net.transfer from {chip} at {a_addr} to {dst} at {addr} repeat 4 stride {stride} "
                f"route [{flat}] via [{via}] ({a})"
            )
            made[dst].append((f"%v{k}", addr))
    return program_text(spec, body)


@pytest.mark.parametrize(("spec", "seed"), [("single", 0), ("single", 1), ("ring:4", 2), ("fc:2", 3)])
def test_random_programs_verify_and_match_the_runtime(tmp_path, spec, seed):
    module, program = schedule(random_program(spec, 80, seed))
    cycles = attr_int(program, "schedule.cycles")
    assert all(bound <= cycles for bound in bounds(program).values())
    issues: dict[tuple[int, str], list[int]] = {}
    for op in program.body.ops:
        if isinstance(op, ChipInstruction):
            start, count, stride = op.cycle.value.data, op.count.value.data, op.stride.value.data  # type: ignore[union-attr]
            issues.setdefault((op.core.value.data, op.unit.data), []).extend(range(start, start + count * stride, stride))
    assert all(len(cycles_) == len(set(cycles_)) for cycles_ in issues.values())
    assert runtime_cycles(module, spec, tmp_path) == cycles


def test_a_new_tile_waits_for_the_matmuls_of_the_plane_it_replaces():
    body = ["%w = chip.preload core 0 at 0 dense<1.0> : tensor<4x320xf32>"]
    for k in range(6):  # six tiles on four planes
        body.append(f'%l{k} = chip.mxm_load core 0 unit "mxm" repeat 2 stride 1 src [0, 1] (%w)')
        body.append(f'%m{k} = chip.mxm_matmul core 0 unit "mxm" repeat 3 stride 1 weights (%l{k}) dst [{10 + 4 * k}, 1] src [0, 1] (%w)')
    _, program = schedule(program_text("single", body))
    ops = {op.results[0].name_hint: op for op in program.body.ops if isinstance(op, ChipInstruction)}
    for k in range(6):
        load, matmul = ops[f"l{k}"], ops[f"m{k}"]
        assert matmul.unit == load.unit
        reused = [j for j in range(k) if ops[f"l{j}"].unit == load.unit]
        if reused:
            previous = ops[f"m{reused[-1]}"]
            assert load.cycle.value.data > previous.cycle.value.data + 2  # type: ignore[union-attr]


def test_more_pending_tiles_than_planes_is_an_error():
    body = ["%w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>"]
    body += [f'%l{k} = chip.mxm_load core 0 unit "mxm" repeat 2 stride 1 src [0, 1] (%w)' for k in range(5)]
    body += [
        f'%m{k} = chip.mxm_matmul core 0 unit "mxm" repeat 1 stride 1 weights (%l{k}) dst [{10 + k}, 1] src [0, 1] (%w)'
        for k in range(5)
    ]
    with pytest.raises(LockstepError, match="every MXM plane holding a tile"):
        schedule(program_text("single", body))
