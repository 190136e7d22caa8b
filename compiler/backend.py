"""An ONNX backend (`onnx.backend.base.Backend`) that compiles with lockstep and runs on its runtime.

    from compiler.backend import LockstepBackend
    rep = LockstepBackend.prepare(model, chips=2, strategy="tensor")
    (y,) = rep.run([x])

`prepare` compiles the model for a system (`chips`, `system`, `topology`,
`strategy`, as on the command line) through the whole pipeline and loads the
emitted per-chip streams into the runtime (in memory; `via_text=True` prints
and parses them back, as `lockstep run` does); `run` executes them, checks that
the measured cycle count equals the compiler's, and returns the outputs in the
graph's output order.

The machine computes in float32 (bool and integer tensors ride in it as exact
values, float64 as float32: see `compiler.onnx_import`). At the host boundary
the backend converts other element types losslessly where it can: bool and
narrow integers always, wide integers when every value is exact in float32
(|x| <= 2**24, else `LockstepError`), float16 inputs. float64 inputs are rounded
to float32 (relative error at most 2**-24, well inside the ONNX node cases'
rtol 1e-3; values beyond float32's range raise). Outputs go back to the graph's
declared element type when the float32 results are exactly representable in it
(bool outputs must be 0 or 1, integer outputs integral and in range); anything
else raises `LockstepError`.

Statically compiled means every shape is known when compiling. Graph inputs
that fix a shape (a Reshape target, Slice bounds, Range limits, ...) can be
named in `constant_inputs` (names, or positions among the graph's runtime
inputs): compilation is then deferred to `run`, which binds their values as
initializers, and the program is cached per distinct set of constant values.
"""
from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper
from onnx.backend.base import Backend, BackendRep, namedtupledict

from compiler.errors import LockstepError
from compiler.onnx_import import machine_array


_INTEGER_TYPES = {
    TensorProto.INT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64,
    TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64,
}


@dataclass(frozen=True)
class _Value:
    name: str
    elem_type: int

    @property
    def type_name(self) -> str:
        return TensorProto.DataType.Name(self.elem_type)


def _elem_type(value: onnx.ValueInfoProto) -> int:
    if not value.type.HasField("tensor_type"):
        raise LockstepError(f"'{value.name}' is not a tensor; only tensor inputs and outputs are supported")
    return value.type.tensor_type.elem_type


def to_machine(value: _Value, array: Any) -> np.ndarray:
    """A host input as the float32 array the machine reads; raises unless the conversion is lossless
    (the importer's rule for constants: one rule for everything that enters the machine)."""
    array = np.asarray(array)
    return machine_array(array, f"input '{value.name}' ({array.dtype})")


def from_machine(value: _Value, array: np.ndarray) -> np.ndarray:
    """A float32 machine output as the graph's declared element type; raises unless that is exact."""
    elem, what = value.elem_type, f"output '{value.name}' ({value.type_name})"
    if elem in (TensorProto.FLOAT, TensorProto.UNDEFINED):
        return array
    if elem == TensorProto.DOUBLE:
        return array.astype(np.float64)
    if elem == TensorProto.BOOL:
        if not np.isin(array, (0.0, 1.0)).all():
            raise LockstepError(f"{what}: the machine produced values other than 0 and 1")
        return array != 0
    dtype = onnx.helper.tensor_dtype_to_np_dtype(elem) if elem in _INTEGER_TYPES else None
    if dtype is None:
        raise LockstepError(f"{what}: the machine computes in float32 and cannot produce this element type exactly")
    info = np.iinfo(dtype)
    if not np.isfinite(array).all() or not np.array_equal(array, np.trunc(array)):
        raise LockstepError(f"{what}: the machine produced non-integral values")
    if array.size and (array.min() < info.min or array.max() > info.max):
        raise LockstepError(f"{what}: the machine produced values outside the range of {np.dtype(dtype).name}")
    return array.astype(dtype)


@dataclass
class _Loaded:
    program: Any  # runtime.Program
    report: dict


class LockstepRep(BackendRep):
    """A model compiled for one system; `run` executes it on the runtime."""

    def __init__(
        self, model: onnx.ModelProto, options: Any, constant_inputs: Iterable[str | int] = (), via_text: bool = False
    ) -> None:
        self.model = model
        self.options = options
        self.via_text = via_text
        graph = model.graph
        initializers = {t.name for t in graph.initializer}
        self.inputs = [_Value(v.name, _elem_type(v)) for v in graph.input if v.name not in initializers]
        self.outputs = [_Value(v.name, _elem_type(v)) for v in graph.output]
        names = [v.name for v in self.inputs]
        self.constant_inputs: list[str] = []
        for item in constant_inputs:
            if isinstance(item, int):
                if not -len(names) <= item < len(names):
                    raise LockstepError(f"constant input {item} is out of range: the model has {len(names)} input(s)")
                item = names[item]
            if item not in names:
                raise LockstepError(f"constant input '{item}' is not a graph input; inputs: {', '.join(names)}")
            if item not in self.constant_inputs:
                self.constant_inputs.append(item)
        self._programs: dict[bytes, _Loaded] = {}
        self.last_result: Any = None  # runtime.RunResult of the latest run
        if not self.constant_inputs:
            self._programs[b""] = self._compile(model)

    @property
    def report(self) -> dict:
        """The compile report (chips, cycles, latency, ...) of the most recently compiled program."""
        return next(reversed(self._programs.values())).report if self._programs else {}

    def _compile(self, model: onnx.ModelProto) -> _Loaded:
        from xdsl.dialects.builtin import ModuleOp

        from compiler.pipeline import compile_model, write_program
        from dialects.chip import StreamOp
        from runtime import Program

        with tempfile.TemporaryDirectory(prefix="lockstep-backend-") as scratch:
            path = Path(scratch) / "model.onnx"
            onnx.save_model(model, path)
            compiled = compile_model(path, self.options)
            if self.via_text:  # exactly what `lockstep run` does: print the streams, parse them back
                directory = Path(scratch) / "program"
                write_program(compiled, directory)
                return _Loaded(Program.load(directory), json.loads((directory / "report.json").read_text()))
        # the emitted per-chip streams, handed over without the print/parse round trip (which
        # costs more than compiling); the runtime still sees nothing but the streams
        streams = sorted((op for op in compiled.module.ops if isinstance(op, StreamOp)), key=lambda s: s.core.value.data)
        modules = []
        for stream in streams:
            stream.detach()
            modules.append(ModuleOp([stream]))
        return _Loaded(Program.from_modules(modules, compiled.system), compiled.report)

    def _bound(self, feeds: Mapping[str, np.ndarray]) -> _Loaded:
        """The program for these values of the constant inputs (compiled on first use)."""
        if not self.constant_inputs:
            return self._programs[b""]
        arrays = {name: np.asarray(feeds[name]) for name in self.constant_inputs}
        key = b"".join(
            name.encode() + str(a.dtype).encode() + repr(a.shape).encode() + a.tobytes() for name, a in arrays.items()
        )
        if key not in self._programs:
            model = onnx.ModelProto()
            model.CopyFrom(self.model)
            kept = [v for v in model.graph.input if v.name not in arrays]
            del model.graph.input[:]
            model.graph.input.extend(kept)
            model.graph.initializer.extend(numpy_helper.from_array(a, name) for name, a in arrays.items())
            self._programs[key] = self._compile(model)
        return self._programs[key]

    def _feeds(self, inputs: Any) -> dict[str, np.ndarray]:
        if isinstance(inputs, Mapping):
            unknown = sorted(set(inputs) - {v.name for v in self.inputs})
            if unknown:
                raise LockstepError(f"unknown input(s): {', '.join(unknown)}")
            feeds = dict(inputs)
        else:
            items = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
            if len(items) > len(self.inputs):
                raise LockstepError(f"{len(items)} inputs given, the model takes {len(self.inputs)}")
            feeds = {v.name: array for v, array in zip(self.inputs, items)}
        if missing := [v.name for v in self.inputs if v.name not in feeds]:
            raise LockstepError(f"missing input(s): {', '.join(missing)}")
        return feeds

    def run(self, inputs: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Outputs (in the graph's order, also addressable by name) for inputs given as a list
        in the graph's input order, a dict by name, or one array."""
        from runtime import run

        feeds = self._feeds(inputs)
        loaded = self._bound(feeds)
        program = loaded.program
        machine_inputs = {v.name: to_machine(v, feeds[v.name]) for v in self.inputs if v.name in program.inputs}
        result = run(program, machine_inputs)
        if result.cycles != loaded.report["cycles"]:
            raise LockstepError(
                f"the runtime measured {result.cycles} cycles, the compiler predicted {loaded.report['cycles']}"
            )
        self.last_result = result
        values = []
        for v in self.outputs:
            if v.name not in result.outputs:
                raise LockstepError(f"the program does not produce output '{v.name}'")
            values.append(from_machine(v, result.outputs[v.name]))
        return namedtupledict("Outputs", [v.name for v in self.outputs])(*values)


class LockstepBackend(Backend):
    """ONNX backend: compile with lockstep for a system, run on the reference runtime."""

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> LockstepRep:
        """Compile `model`. Keyword arguments: chips (default 1), strategy (default "tensor"),
        system, topology, shapes (input name -> static shape), constant_inputs (see the module
        docstring), via_text (print the streams and parse them back, as `lockstep run` does;
        default False hands the emitted streams over in memory). Others (rtol, atol from the
        ONNX test runner) are ignored."""
        from compiler.pipeline import CompileOptions

        if not cls.supports_device(device):
            raise LockstepError(f"device '{device}' is not supported; lockstep runs on its own runtime ('CPU')")
        if isinstance(model, (str, Path)):
            model = onnx.load_model(model)
        elif isinstance(model, bytes):
            model = onnx.load_model_from_string(model)
        system, topology = kwargs.get("system"), kwargs.get("topology")
        chips = kwargs.get("chips")
        if chips is None and system is None and topology is None:
            chips = 1
        options = CompileOptions(
            system=system,
            chips=chips,
            topology=topology,
            strategy=kwargs.get("strategy", "tensor"),
            shapes=dict(kwargs.get("shapes") or {}),
        )
        return LockstepRep(model, options, kwargs.get("constant_inputs") or (), bool(kwargs.get("via_text", False)))

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple[Any, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.split(":")[0].upper() == "CPU"


prepare = LockstepBackend.prepare
run_model = LockstepBackend.run_model
supports_device = LockstepBackend.supports_device

__all__ = ["LockstepBackend", "LockstepRep", "prepare", "run_model", "supports_device"]
