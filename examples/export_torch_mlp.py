"""Export a seeded PyTorch MLP to examples/mlp_torch.onnx with torch.onnx.export.

This is the framework-exported counterpart of make_mlp.py (which synthesises its
models with onnx.helper): a `torch.nn.Module` of three `nn.Linear` layers
784 -> 512 -> 256 -> 10 with ReLU between them (535,818 parameters, initialised
by PyTorch's default `nn.Linear` init under `torch.manual_seed(0)`), exported
the way a user would (torch_export.py says how: dynamo, opset 18, weights in the
file). Its graph is Gemm(transB=1) -> Relu -> Gemm -> Relu -> Gemm with the
weights as initializers named after the module's parameters ("fc1.weight", ...).
Batch size is fixed at 1, so `lockstep run examples/mlp_torch.onnx` needs no
`--shape`; a model exported with a symbolic batch runs with `--shape input=1,784`.

Needs the optional extra: pip install -e '.[export]'
Run: python examples/export_torch_mlp.py
"""
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_export import describe, export  # noqa: E402

SIZES = [784, 512, 256, 10]
SEED = 0
OUT = Path(__file__).resolve().parent / "mlp_torch.onnx"


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


def main() -> None:
    torch.manual_seed(SEED)
    model = MLP()
    x = np.random.default_rng(SEED).standard_normal((1, SIZES[0])).astype(np.float32)
    print(describe(OUT, export(model, {"input": x}, ["output"], OUT)))


if __name__ == "__main__":
    main()
