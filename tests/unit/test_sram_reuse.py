"""SRAM reuse: `place` gives dead values' space to later ones, `schedule` keeps every write to
reused space after the previous occupant's last read, and `verify-schedule` and the runtime
catch a schedule that does not."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from onnx_cases import assert_matches, run_json
from test_schedule import parse, program_text, schedule
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import PassPipeline
from xdsl.utils.exceptions import PassFailedException

from compiler.cost_model import CostModel
from compiler.onnx_import import import_model
from compiler.pipeline import compile_passes, context
from compiler.system import load_system
from dialects.chip import ProgramOp
from dialects.part import ADDR, SRAM_TOP
from passes.emit_streams import EmitStreamsPass, write_streams
from passes.partition import main_function
from passes.place import vectors
from passes.schedule import (
    Machine,
    annotate,
    list_schedule,
    lower_bounds,
    program_steps,
    timed_routes,
)
from passes.verify_schedule import VerifySchedulePass
from runtime import BrokenPromise, Program, run

GPT2 = Path(__file__).parents[2] / "examples" / "models" / "gpt2_block.onnx"


def placed(model: Path, chips: int) -> ModuleOp:
    """The model through `place` (tensor partition on `chips` chips)."""
    module = import_model(model)
    passes = compile_passes("tensor", chips, load_system(None, chips, None).spec)
    names = [p.name for p in passes]
    PassPipeline(passes[: names.index("place") + 1]).apply(context(), module)
    return module


def test_a_model_reusing_sram_runs_and_matches_onnxruntime(capsys):
    module = placed(GPT2, 2)
    func, lanes = main_function(module), load_system("fc:2").lanes
    owners: dict[int, int] = {}
    total = sum(vectors(arg, lanes) for arg in func.args)
    for op in func.body.block.ops:
        if ADDR in op.attributes:
            addr = op.attributes[ADDR].value.data  # type: ignore[union-attr]
            owners[addr] = owners.get(addr, 0) + 1
            total += vectors(op.results[0], lanes)
    peak = max(module.attributes[SRAM_TOP].get_values())  # type: ignore[union-attr]
    assert max(owners.values()) > 2  # an address serves several values (aliases give at most 2)
    assert peak < total / 2
    assert_matches(run_json(capsys, str(GPT2), 2, extra=["--strategy", "tensor"]), 1e-3)


def test_the_cost_model_counts_memory_as_place_allocates_it():
    module = placed(GPT2, 2)
    system = load_system("fc:2")
    peak = max(module.attributes[SRAM_TOP].get_values())  # type: ignore[union-attr]
    estimate = CostModel(system).estimate(module, "tensor", 0, 2)
    assert estimate.sram_bytes == peak * system.vector_bytes


# -- write after read ----------------------------------------------------------------

# %r reads address 10 (%q) only after the slow exp chain; %w, independent of both and later in
# program order, writes address 10: with the guard it waits until %r has read, without it
# a free VXM unit lets it land first and %r reads %w's value.
WAR = [
    "%p = chip.preload core 0 at 0 dense<1.0> : tensor<1x320xf32>",
    "%q = chip.preload core 0 at 10 dense<2.0> : tensor<1x320xf32>",
    '%s = chip.vxm "exp" core 0 unit "vxm" repeat 1 stride 1 lanes 320 dst [1, 1] lhs [0, 1] (%p)',
    '%t = chip.vxm "exp" core 0 unit "vxm" repeat 1 stride 1 lanes 320 dst [2, 1] lhs [1, 1] (%s)',
    '%r = chip.vxm "add" core 0 unit "vxm" repeat 1 stride 1 lanes 320 dst [3, 1] lhs [2, 1] (%t) rhs [10, 1] (%q)',
    '%w = chip.vxm "neg" core 0 unit "vxm" repeat 1 stride 1 lanes 320 dst [10, 1] lhs [0, 1] (%p)',
    'chip.output "y" core 0 at 3 : tensor<1x320xf32> (%r)',
    'chip.output "z" core 0 at 10 : tensor<1x320xf32> (%w)',
]


def cycles_of(program: ProgramOp) -> dict[str, int]:
    return {op.results[0].name_hint: op.cycle.value.data for op in program.body.ops  # type: ignore[union-attr]
            if "cycle" in op.properties}


def unguarded(text: str) -> ModuleOp:
    """Scheduled as `schedule` would, but without its SRAM guard."""
    module = parse(text)
    program = next(op for op in module.ops if isinstance(op, ProgramOp))
    system = load_system(program.system.data)
    ops = list(program.body.ops)
    steps = program_steps(ops, timed_routes(ops, system), system)
    annotate(program, steps, list_schedule(steps, Machine(system)), lower_bounds(steps, system))
    return module


def emitted(module: ModuleOp, spec: str, directory: Path) -> Program:
    EmitStreamsPass().apply(Context(), module)
    write_streams(module, directory, load_system(spec))
    return Program.load(directory)


def test_a_write_to_reused_space_waits_for_the_last_read(tmp_path):
    module, program = schedule(program_text("single", WAR))  # verify-schedule passes
    at = cycles_of(program)
    vxm = load_system("single").latency["vxm"]
    assert at["w"] + vxm > at["r"]  # lands after %r has read address 10
    outputs = run(emitted(module, "single", tmp_path), {}).outputs
    np.testing.assert_allclose(outputs["y"], np.full((1, 320), np.exp(np.exp(1.0)) + 2), rtol=1e-6)  # %q's 2, not -1
    np.testing.assert_array_equal(outputs["z"], np.full((1, 320), -1.0, np.float32))


def test_verify_schedule_catches_a_write_before_the_last_read():
    module = unguarded(program_text("single", WAR))
    at = cycles_of(next(op for op in module.ops if isinstance(op, ProgramOp)))
    assert at["w"] + load_system("single").latency["vxm"] <= at["r"]  # the hazard is there
    story = (rf"chip 0, unit vxm\d+, cycle {at['r']}: chip.vxm %r .* reads address 10 \(operand 'rhs'\) "
             r"after the value chip.preload %q .* was overwritten: chip.vxm %w")
    with pytest.raises(PassFailedException, match=story):
        VerifySchedulePass().apply(Context(), module)


def test_the_runtime_catches_a_write_before_the_last_read(tmp_path):
    module = unguarded(program_text("single", WAR))
    at = cycles_of(next(op for op in module.ops if isinstance(op, ProgramOp)))
    with pytest.raises(BrokenPromise) as caught:
        run(emitted(module, "single", tmp_path), {})
    message = str(caught.value)
    assert "chip 0, unit vxm" in message and f"cycle {at['r']}:" in message, message
    assert "operand 'rhs' reads address 10" in message and "overwritten by" in message, message
    assert "instruction #" in message and 'chip.vxm "add"' in message, message


# -- random programs reusing addresses ---------------------------------------------------------


def reusing_program(spec: str, n: int, seed: int) -> str:
    """A random DAG of vxm ops, tile loads with their matmuls and transfers over every chip, whose
    values go to a few blocks per chip: each write ends the block's previous value, and later
    ops read only values still in place (the program stays sequentially meaningful)."""
    system, rng = load_system(spec), random.Random(seed)
    blocks = [4 * (1 + k) for k in range(5)]  # block 0 (address 0) holds the preload
    live: dict[int, dict[int, str]] = {c: {0: f"%p{c}"} for c in range(system.chips)}  # chip -> addr -> value
    via_top = [100] * system.chips
    body = [f"%p{c} = chip.preload core {c} at 0 dense<1.0> : tensor<4x320xf32>" for c in range(system.chips)]

    def write(chip: int, name: str) -> int:
        addr = rng.choice(blocks)
        live[chip][addr] = name
        return addr

    for k in range(n):
        chip = rng.randrange(system.chips)
        (a_addr, a), (b_addr, b) = rng.choice(sorted(live[chip].items())), rng.choice(sorted(live[chip].items()))
        kind, stride = rng.random(), rng.choice([1, 1, 2])
        if kind < 0.5:
            op = rng.choice(["add", "mul", "exp"])
            rhs = f" rhs [{b_addr}, 1] ({b})" if op != "exp" else ""
            body.append(f'%v{k} = chip.vxm "{op}" core {chip} unit "vxm" repeat 4 stride {stride} lanes 320 '
                        f"dst [{write(chip, f'%v{k}')}, 1] lhs [{a_addr}, 1] ({a}){rhs}")
        elif kind < 0.8:
            body.append(f'%l{k} = chip.mxm_load core {chip} unit "mxm" repeat 4 stride 1 src [0, 1] (%p{chip})')
            body.append(f'%v{k} = chip.mxm_matmul core {chip} unit "mxm" repeat 4 stride {stride} weights (%l{k}) '
                        f"dst [{write(chip, f'%v{k}')}, 1] src [{a_addr}, 1] ({a})")
        elif system.chips > 1:
            dst = rng.choice([c for c in range(system.chips) if c != chip])
            route = system.route(chip, dst)
            flat = ", ".join(f"{l.src}, {l.dst}, {l.port}" for l in route)
            via = []
            for link in route[1:]:
                via.append(str(via_top[link.src]))
                via_top[link.src] += 4
            body.append(f"%v{k} = net.transfer from {chip} at {a_addr} to {dst} at {write(dst, f'%v{k}')} repeat 4 "
                        f"stride {system.serialization_cycles(route[0])} route [{flat}] via [{', '.join(via)}] ({a})")
    return program_text(spec, body)


@pytest.mark.parametrize(("spec", "seed"), [("single", 0), ("single", 1), ("ring:4", 2), ("fc:2", 3)])
def test_random_programs_reusing_addresses_verify_and_match_the_runtime(tmp_path, spec, seed):
    text = reusing_program(spec, 80, seed)
    module, program = schedule(text)
    assert run(emitted(module, spec, tmp_path), {}, timing_only=True).cycles == program.attributes[
        "schedule.cycles"].value.data  # type: ignore[union-attr]
    with pytest.raises(PassFailedException, match="was overwritten|in the same cycle"):  # the guard was needed
        VerifySchedulePass().apply(Context(), unguarded(text))
