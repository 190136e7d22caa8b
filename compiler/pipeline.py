"""The compile pipeline: ONNX model -> per-chip streams, and the report that describes them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from xdsl.context import Context
from xdsl.dialects.builtin import (
    Builtin,
    DictionaryAttr,
    FloatAttr,
    IntegerAttr,
    ModuleOp,
)
from xdsl.dialects.func import Func
from xdsl.passes import ModulePass, PassPipeline

from compiler.dumps import PassDumper, chain
from compiler.errors import LockstepError, SramOverflow
from compiler.onnx_import import import_model
from compiler.performance import Step, performance, pipeline_stages, read_step
from compiler.quantize import WEIGHTS
from compiler.registry import lockstep_dialects, lockstep_passes
from compiler.system import System, load_system
from dialects.chip import ChipInstruction, ProgramOp
from dialects.net import TransferOp
from dialects.part import SRAM_TOP
from passes.partition import STRATEGIES, partition_choices, partition_strategy
from passes.quantize_weights import quantized_nodes


@dataclass(frozen=True)
class CompileOptions:
    system: str | None = None
    chips: int | None = None
    topology: str | None = None
    strategy: str = "auto"
    shapes: dict[str, list[int]] = field(default_factory=dict)
    shape_only: bool = False  # ignore the weights' values: the program can be timed, not run
    group: int = 8  # chips per tensor-parallel group under the `hybrid` strategy
    weights: str = "fp32"  # or "int8": weight-only quantization (passes/quantize_weights.py)


@dataclass
class Compiled:
    module: ModuleOp
    """Emitted streams: one chip.stream per chip."""
    system: System
    report: dict


def context() -> Context:
    ctx = Context()
    for dialect in (Builtin, Func, *lockstep_dialects()):
        ctx.load_dialect(dialect)
    return ctx


def compile_passes(strategy: str, chips: int, system: str, group: int = 8,
                   weights: str = "fp32", dropped: Sequence[str] = ()) -> tuple[ModulePass, ...]:
    """The whole pipeline, from normalisation to emitted streams; `dropped`: `auto` candidates that
    did not fit once lowered."""
    passes = lockstep_passes()
    tail = ("place", "lower-to-chip", "lower-collectives", "schedule", "verify-schedule", "emit-streams")
    return (
        passes["normalise"]()(),
        *((passes["quantize-weights"]()(),) if weights == "int8" else ()),
        passes["partition"]()(chips=chips, strategy=strategy, system=system, group=group, dropped=";".join(dropped)),
        *(passes[name]()() for name in tail),
    )


def summarise(program: ProgramOp, system: System, sram_top: list[int], strategy: str,
              partition: list[dict[str, str]] | None = None, step: Step | None = None,
              stages: list[list[int]] | None = None) -> dict:
    """Figures read off the scheduled program, before it is split per chip; `step` (a decoder's)
    and `stages` (the chips of each pipeline stage) feed the predicted performance."""
    attrs = program.attributes
    cycles = attrs["schedule.cycles"].value.data  # type: ignore[union-attr]
    bounds_attr = attrs["schedule.bounds"]
    assert isinstance(bounds_attr, DictionaryAttr)
    bounds = {k: v.value.data for k, v in bounds_attr.data.items() if isinstance(v, IntegerAttr)}
    busy: dict[str, int] = {}
    transfers = vectors_moved = 0
    for op in program.body.block.ops:
        if isinstance(op, ChipInstruction):
            kind = op.UNIT_KIND
            busy[kind] = busy.get(kind, 0) + op.count.value.data
        elif isinstance(op, TransferOp):
            transfers += 1
            vectors_moved += op.count.value.data * len(op.links())
    efficiency = attrs.get("schedule.efficiency")
    used = sorted({c for c in range(system.chips) if sram_top[c] > 0})
    return {
        "chips": len(used) or 1,
        "system": system.spec,
        "strategy": strategy,
        "cycles": cycles,
        "latency_us": cycles / system.clock_hz * 1e6,
        "sram_bytes_per_chip": [sram_top[c] * system.vector_bytes for c in (used or [0])],
        "transfers": transfers,
        "link_vector_hops": vectors_moved,
        "vector_instructions": sum(busy.values()),
        "unit_issues": busy,
        "lower_bounds": bounds,
        "efficiency": efficiency.value.data if isinstance(efficiency, FloatAttr) else None,
        "partition": partition or [],
        **performance(program, system, step, stages),
    }


def lap(clock: list[float]) -> float:
    """Seconds since the last lap (a one-element list holds the clock)."""
    now = time.perf_counter()
    elapsed, clock[0] = now - clock[0], now
    return round(elapsed, 3)


def compile_system(options: CompileOptions) -> System:
    """The system compiled for. `--system S --chips N` on a system wired chip by chip (the 576-chip
    preset) keeps S's wiring and takes its first N chips in service (64 of them: a rack's first
    eight nodes); the others are out of service, so no route or collective relays through them.
    Other systems are resized to N chips as `load_system` does."""
    if options.system and options.chips and not options.topology:
        whole = load_system(options.system)
        alive = whole.alive_chips()
        if whole.topology == "explicit":
            if options.chips > len(alive):
                raise LockstepError(f"system '{options.system}' has {len(alive)} chips in service, "
                                    f"fewer than the {options.chips} asked for")
            unused = alive[options.chips:]
            return whole if not unused else load_system(f"{whole.spec}/failchip={','.join(map(str, unused))}")
    return load_system(options.system, options.chips, options.topology)


Progress = Callable[[str, float], None]
"""Told each pass's name and seconds as the pass finishes (`lockstep compile -v`)."""


def compile_model(model: str | Path, options: CompileOptions, dumper: PassDumper | None = None,
                  progress: Progress | None = None) -> Compiled:
    """Under `auto`, a candidate that fits as `place` allocates but not with the lowering's scratch
    is dropped and the model partitioned again (the report's `partition_dropped` says so)."""
    if options.strategy not in STRATEGIES:
        raise LockstepError(f"unknown strategy '{options.strategy}'; choose one of {', '.join(STRATEGIES)}")
    if options.weights not in WEIGHTS:
        raise LockstepError(f"unknown weights '{options.weights}'; choose one of {', '.join(WEIGHTS)}")
    system = compile_system(options)
    chips = options.chips or (1 if options.system is None and options.topology is None else len(system.alive_chips()))
    dropped: list[dict] = []
    while True:
        chosen: dict[str, str] = {}
        seconds: dict[str, float] = {}
        try:
            compiled = _compile_once(model, options, system, chips, [d["strategy"] for d in dropped],
                                     chosen, seconds, dumper, progress)
        except SramOverflow as overflow:
            if options.strategy != "auto" or "strategy" not in chosen:
                raise
            dropped.append({"strategy": chosen["strategy"], "error": str(overflow),
                            "seconds": round(sum(seconds.values()), 3)})
            if progress is not None:
                progress(f"{chosen['strategy']} does not fit once lowered, partitioning again",
                         dropped[-1]["seconds"])
            continue
        if dropped:
            compiled.report["partition_dropped"] = dropped
        return compiled


def _compile_once(model: str | Path, options: CompileOptions, system: System, chips: int, dropped: list[str],
                  chosen: dict[str, str], seconds: dict[str, float], dumper: PassDumper | None,
                  progress: Progress | None) -> Compiled:
    """One run of the pipeline; fills `chosen` (the strategy) and `seconds` (per pass) as it goes."""
    clock = [time.perf_counter()]
    module = import_model(model, options.shapes or None, options.shape_only)
    seconds["import"] = lap(clock)
    if progress is not None:
        progress("import", seconds["import"])
    step = read_step(str(model))
    stages: list[list[int]] = []  # of a pipelined program
    figures: dict = {}
    choices: list[dict[str, str]] = []
    quantized: list[str] = []

    def read_schedule(_previous: ModulePass | None, scheduled: ModuleOp, next_pass: ModulePass | None) -> None:
        """The figures come off the verified schedule, just before it is split per chip."""
        if _previous is not None:
            seconds[_previous.name] = lap(clock)
            if progress is not None:
                progress(_previous.name, seconds[_previous.name])
        if _previous is not None and _previous.name == "partition":
            choices.extend(partition_choices(scheduled))
            chosen.update(partition_strategy(scheduled))
            stages.extend(pipeline_stages(scheduled))
        if _previous is not None and _previous.name == "quantize-weights":
            quantized.extend(quantized_nodes(scheduled))
        if next_pass is not None and next_pass.name == "emit-streams":
            program = next(op for op in scheduled.ops if isinstance(op, ProgramOp))
            top = list(scheduled.attributes[SRAM_TOP].get_values())  # type: ignore[union-attr]
            figures.update(summarise(program, system, top, chosen["strategy"], choices, step, stages or None))
            figures.update(chosen)

    callback = chain(read_schedule, dumper.callback) if dumper else read_schedule
    passes = compile_passes(options.strategy, chips, system.spec, options.group, options.weights, dropped)
    clock[0] = time.perf_counter()
    PassPipeline(passes, callback).apply(context(), module)  # (the callback also follows the last pass)
    report = {**figures, "model": str(Path(model).resolve()), "weights": options.weights, "pass_seconds": seconds}
    if options.weights == "int8":
        report["quantized_matmuls"] = quantized  # ONNX nodes, for the oracle (compiler/quantize.py)
    return Compiled(module, system, report)


def write_program(compiled: Compiled, directory: Path) -> None:
    from passes.emit_streams import write_streams

    directory.mkdir(parents=True, exist_ok=True)
    write_streams(compiled.module, directory, compiled.system)
    (directory / "report.json").write_text(json.dumps(compiled.report, indent=2) + "\n")

