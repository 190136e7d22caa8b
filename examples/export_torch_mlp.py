"""Export a seeded PyTorch MLP to examples/mlp_torch.onnx with torch.onnx.export.

This is the framework-exported counterpart of make_mlp.py (which synthesises its
models with onnx.helper): a `torch.nn.Module` of three `nn.Linear` layers
784 -> 512 -> 256 -> 10 with ReLU between them (535,818 parameters, initialised
by PyTorch's default `nn.Linear` init under `torch.manual_seed(0)`), exported
the way a user would today:

- Exporter: the dynamo-based one (`torch.onnx.export(..., dynamo=True)`, the
  default since torch 2.9) at opset 18. It needs `onnxscript`; no fallback to
  the legacy TorchScript exporter was needed. Its graph is
  Gemm(transB=1) -> Relu -> Gemm -> Relu -> Gemm with the weights as
  initializers named after the module's parameters ("fc1.weight", ...).
- Batch size: fixed at 1 (no `dynamic_shapes`), so the file has static shapes
  and `lockstep run examples/mlp_torch.onnx` needs no `--shape`. A model
  exported with a symbolic batch runs with `--shape input=1,784`.
- Weights inside the file: the dynamo exporter writes them to a side file
  (`mlp_torch.onnx.data`) by default; `external_data=False` keeps the model one
  self-contained ~2 MB file.
- Node metadata: kept as exported (module scopes, FX nodes), except the Python
  stack traces, which name the exporting machine's file paths; without them the
  file is byte-for-byte reproducible.
- IR version: the exporter writes 10, which the onnxruntime 1.32 here loads
  (it accepts up to 13). The project allows onnxruntime >= 1.20, which loads IR
  10 at most, so should a later exporter write a newer IR the script lowers it
  to IR_VERSION: the graph uses nothing newer than IR 10 (plain initializers,
  no functions), and every supported onnxruntime then keeps loading the file.

The script checks the file against the PyTorch module with onnxruntime before
keeping it. Needs the optional extra: pip install -e '.[export]'
Run: python examples/export_torch_mlp.py
"""
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch
from torch import nn

SIZES = [784, 512, 256, 10]
OPSET = 18
IR_VERSION = 10  # the newest IR onnxruntime 1.20 (the oldest the project allows) loads
SEED = 0
HERE = Path(__file__).resolve().parent
OUT = HERE / "mlp_torch.onnx"


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(SIZES[0], SIZES[1])
        self.fc2 = nn.Linear(SIZES[1], SIZES[2])
        self.fc3 = nn.Linear(SIZES[2], SIZES[3])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


def export(path: Path = OUT) -> onnx.ModelProto:
    torch.manual_seed(SEED)
    model = MLP().eval()
    example = torch.randn(1, SIZES[0])
    program = torch.onnx.export(
        model,
        (example,),
        dynamo=True,
        opset_version=OPSET,
        input_names=["input"],
        output_names=["output"],
        external_data=False,
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
    x = np.random.default_rng(SEED).standard_normal((1, SIZES[0])).astype(np.float32)
    (got,) = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    return proto


def main() -> None:
    proto = export()
    ops = [n.op_type for n in proto.graph.node]
    opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    weights = sum(int(np.prod(t.dims)) for t in proto.graph.initializer)
    print(f"wrote {OUT.name}: ops {ops}, opsets {opsets}, ir_version {proto.ir_version}, {weights} weights")


if __name__ == "__main__":
    main()
