"""Every dialect and pass lockstep defines, for the opt driver and the compile pipeline."""
import importlib
from collections.abc import Callable
from functools import partial

from xdsl.ir import Dialect
from xdsl.passes import ModulePass

# pass name -> (module, class); imported lazily so `lockstep-opt --help` stays fast.
PASSES: dict[str, tuple[str, str]] = {
    "normalise": ("passes.normalise", "NormalisePass"),
    "quantize-weights": ("passes.quantize_weights", "QuantizeWeightsPass"),
    "partition": ("passes.partition", "PartitionPass"),
    "place": ("passes.place", "PlacePass"),
    "lower-to-chip": ("passes.lower_to_chip", "LowerToChipPass"),
    "lower-collectives": ("passes.lower_collectives", "LowerCollectivesPass"),
    "schedule": ("passes.schedule", "SchedulePass"),
    "verify-schedule": ("passes.verify_schedule", "VerifySchedulePass"),
    "emit-streams": ("passes.emit_streams", "EmitStreamsPass"),
}

# dialect name -> (module, class); registered as factories so a dialect is imported on first use.
DIALECTS: dict[str, tuple[str, str]] = {
    "tops": ("dialects.tops", "Tops"),
    "part": ("dialects.part", "Part"),
    "net": ("dialects.net", "Net"),
    "chip": ("dialects.chip", "Chip"),
}


def _load(module: str, name: str):
    return getattr(importlib.import_module(module), name)


def lockstep_dialect_factories() -> dict[str, Callable[[], Dialect]]:
    return {name: partial(_load, module, cls) for name, (module, cls) in DIALECTS.items()}


def lockstep_dialects() -> list[Dialect]:
    return [factory() for factory in lockstep_dialect_factories().values()]


def lockstep_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    return {name: partial(_load, module, cls) for name, (module, cls) in PASSES.items()}
