"""Running a loaded program: check every promise, then (unless timing only) compute the numbers."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from compiler.errors import LockstepError
from runtime import numbers, timing
from runtime.program import Program


@dataclass(frozen=True)
class RunResult:
    outputs: dict[str, np.ndarray]  # empty when timing only
    cycles: int  # the largest landing or ready cycle of anything (0 for an empty program)
    vector_instructions: int  # sum of repeat counts
    seconds: float  # wall time of run()
    unit_busy: dict[str, int]  # issued vector instructions per unit kind (c2c: sends and recvs)


def run(program: Program, inputs: dict[str, np.ndarray], timing_only: bool = False) -> RunResult:
    """Executes every chip's stream on one clock; raises BrokenPromise at the first broken promise.

    Timing only skips the numbers, and with them the inputs (which may then be empty)."""
    start = time.perf_counter()
    if program.absent and not timing_only:
        raise LockstepError(
            f"{program.describe(program.absent[0])} has no data: a shape-only program runs timing only (lockstep run --timing-only)"
        )
    if timing_only:  # no numbers need every event at once: check one chip at a time
        outputs, cycles = {}, timing.check_by_chip(program)
    else:
        host_inputs = _checked_inputs(program, inputs)
        timeline = timing.check(program)
        held = numbers.evaluate(program, timeline, host_inputs)
        outputs, cycles = {name: _as_graph(program, name, array) for name, array in held.items()}, timeline.cycles
    return RunResult(
        outputs=outputs,
        cycles=cycles,
        vector_instructions=program.vector_instructions,
        seconds=time.perf_counter() - start,
        unit_busy=dict(program.unit_busy),
    )


def _checked_inputs(program: Program, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The inputs as float32 arrays of exactly the shapes the streams declare."""
    if missing := sorted(set(program.inputs) - set(inputs)):
        raise LockstepError(f"missing input(s): {', '.join(missing)} (the program reads {', '.join(sorted(program.inputs))})")
    if extra := sorted(set(inputs) - set(program.inputs)):
        raise LockstepError(f"unknown input(s): {', '.join(extra)} (the program reads {', '.join(sorted(program.inputs)) or 'none'})")
    checked = {}
    for name, shape in program.inputs.items():
        array = np.asarray(inputs[name], dtype=np.float32)
        if array.shape != shape:
            raise LockstepError(f"input '{name}' has shape {list(array.shape)}, the program needs {list(shape)}")
        perm = program.perms.get(("input", name))
        checked[name] = array if perm is None else np.ascontiguousarray(np.transpose(array, perm))
    return checked


def _as_graph(program: Program, name: str, held: np.ndarray) -> np.ndarray:
    """An output the chips hold transposed (chip.output `perm`) turned back to the graph's layout."""
    perm = program.perms.get(("output", name))
    return held if perm is None else np.ascontiguousarray(np.transpose(held, np.argsort(perm)))
