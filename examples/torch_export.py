"""How the example scripts export a PyTorch module to ONNX, the way a user would today.

Shared by export_torch_mlp.py and export_torch_models.py:

- Exporter: the dynamo-based one (`torch.onnx.export(..., dynamo=True)`, the
  default since torch 2.9) at opset 18. It needs `onnxscript`; no fallback to
  the legacy TorchScript exporter.
- Shapes: static (no `dynamic_shapes`), so `lockstep run` needs no `--shape`;
  or, given `dynamic`, symbolic dimensions (then `lockstep run --shape ...`).
- The exporter's ONNX optimiser (constant folding, ...) runs, as by default;
  `optimize=False` keeps the raw decomposition of the PyTorch program.
- Weights inside the file: the dynamo exporter writes them to a side file by
  default; `external_data=False` keeps each model one self-contained file.
- Node metadata: kept as exported (module scopes, FX nodes), except the Python
  stack traces, which name the exporting machine's file paths; without them the
  files are byte-for-byte reproducible.
- IR version: the exporter writes 10, which the onnxruntime 1.32 here loads
  (it accepts up to 13). The project allows onnxruntime >= 1.20, which loads IR
  10 at most, so should a later exporter write a newer IR it is lowered to
  IR_VERSION: the graphs use nothing newer than IR 10 (plain initializers, no
  functions), and every supported onnxruntime then keeps loading the files.

Every file is checked against its PyTorch module with onnxruntime before it is kept.
Needs the optional extra: pip install -e '.[export]'
"""
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch

OPSET = 18
IR_VERSION = 10  # the newest IR onnxruntime 1.20 (the oldest the project allows) loads


def export(module: torch.nn.Module, inputs: dict[str, np.ndarray], outputs: list[str], path: Path,
           dynamic: dict[str, dict[int, torch.export.Dim]] | None = None, optimize: bool = True) -> onnx.ModelProto:
    """Export `module` (called with `inputs`, in order) to `path`; its outputs are named `outputs`.
    `dynamic` gives the symbolic dimensions of inputs (by input name, then axis)."""
    module = module.eval()
    example = tuple(torch.from_numpy(a) for a in inputs.values())
    program = torch.onnx.export(
        module,
        example,
        dynamo=True,
        opset_version=OPSET,
        input_names=list(inputs),
        output_names=outputs,
        external_data=False,
        dynamic_shapes=None if dynamic is None else tuple(dynamic.get(name, {}) for name in inputs),
        optimize=optimize,
    )
    proto = program.model_proto
    for node in proto.graph.node:  # drop the stack traces: they name this machine's paths
        kept = [p for p in node.metadata_props if p.key != "pkg.torch.onnx.stack_trace"]
        del node.metadata_props[:]
        node.metadata_props.extend(kept)
    if proto.ir_version > IR_VERSION:
        proto.ir_version = IR_VERSION
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, path)  # small enough (< 2 GB) to keep the weights inside the file

    # the saved file computes what the PyTorch module computes
    got = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, inputs)
    with torch.no_grad():
        want = module(*example)
    for g, w in zip(got, want if isinstance(want, tuple) else (want,)):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-4, atol=1e-5)
    return proto


def describe(path: Path, proto: onnx.ModelProto) -> str:
    """One line: the ops, opsets, IR version and weight count of an exported file."""
    ops = sorted({n.op_type for n in proto.graph.node})
    opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    weights = sum(int(np.prod(t.dims)) for t in proto.graph.initializer)
    return f"wrote {path.name}: ops {ops}, opsets {opsets}, ir_version {proto.ir_version}, {weights} weights"
