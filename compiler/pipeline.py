"""The compile pipeline: ONNX model -> per-chip streams, and the report that describes them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from xdsl.context import Context
from xdsl.dialects.builtin import Builtin, DictionaryAttr, FloatAttr, IntegerAttr, ModuleOp
from xdsl.dialects.func import Func
from xdsl.passes import ModulePass, PassPipeline

from compiler.dumps import PassDumper, chain
from compiler.errors import LockstepError
from compiler.onnx_import import import_model
from compiler.registry import lockstep_dialects, lockstep_passes
from compiler.system import System, load_system
from dialects.chip import ChipInstruction, ProgramOp
from dialects.net import TransferOp
from dialects.part import SRAM_TOP
from passes.partition import STRATEGIES, partition_choices


@dataclass(frozen=True)
class CompileOptions:
    system: str | None = None
    chips: int | None = None
    topology: str | None = None
    strategy: str = "tensor"
    shapes: dict[str, list[int]] = field(default_factory=dict)


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


def compile_passes(strategy: str, chips: int, system: str) -> tuple[ModulePass, ...]:
    """The whole pipeline, from normalisation to emitted streams."""
    passes = lockstep_passes()
    tail = ("place", "lower-to-chip", "lower-collectives", "schedule", "verify-schedule", "emit-streams")
    return (
        passes["normalise"]()(),
        passes["partition"]()(chips=chips, strategy=strategy, system=system),
        *(passes[name]()() for name in tail),
    )


def summarise(program: ProgramOp, system: System, sram_top: list[int], strategy: str,
              partition: list[dict[str, str]] | None = None) -> dict:
    """Figures read off the scheduled program, before it is split per chip."""
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
    }


def compile_model(model: str | Path, options: CompileOptions, dumper: PassDumper | None = None) -> Compiled:
    if options.strategy not in STRATEGIES:
        raise LockstepError(f"unknown strategy '{options.strategy}'; choose one of {', '.join(STRATEGIES)}")
    system = load_system(options.system, options.chips, options.topology)
    chips = options.chips or (1 if options.system is None and options.topology is None else len(system.alive_chips()))
    module = import_model(model, options.shapes or None)
    figures: dict = {}
    choices: list[dict[str, str]] = []

    def read_schedule(_previous: ModulePass | None, scheduled: ModuleOp, next_pass: ModulePass | None) -> None:
        """The figures come off the verified schedule, just before it is split per chip."""
        if _previous is not None and _previous.name == "partition":
            choices.extend(partition_choices(scheduled))
        if next_pass is not None and next_pass.name == "emit-streams":
            program = next(op for op in scheduled.ops if isinstance(op, ProgramOp))
            top = list(scheduled.attributes[SRAM_TOP].get_values())  # type: ignore[union-attr]
            figures.update(summarise(program, system, top, options.strategy, choices))

    callback = chain(read_schedule, dumper.callback) if dumper else read_schedule
    PassPipeline(compile_passes(options.strategy, chips, system.spec), callback).apply(context(), module)
    report = {**figures, "model": str(Path(model).resolve())}
    return Compiled(module, system, report)


def write_program(compiled: Compiled, directory: Path) -> None:
    from passes.emit_streams import write_streams

    directory.mkdir(parents=True, exist_ok=True)
    write_streams(compiled.module, directory, compiled.system)
    (directory / "report.json").write_text(json.dumps(compiled.report, indent=2) + "\n")

