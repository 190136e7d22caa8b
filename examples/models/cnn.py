"""A small residual CNN (NCHW, the way torch exports it): Conv + BatchNormalization + Relu,
a residual block (two Conv + BN with an identity skip, Add, Relu), MaxPool, a strided
Conv + BN + Relu, AveragePool, GlobalAveragePool, Flatten and a Gemm classifier.
Seeded; writes examples/models/cnn.onnx.

Run: python examples/models/cnn.py
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Graph, save  # noqa: E402

CHANNELS, SIZE, CLASSES = 3, 16, 10


def conv_bn(g: Graph, x: str, c_in: int, c_out: int, name: str, stride: int = 1, relu: bool = True) -> str:
    w = g.weight((c_out, c_in, 3, 3), f"{name}.conv.weight", scale=np.sqrt(2.0 / (9 * c_in)))
    y = g.op("Conv", [x, w], f"{name}/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[stride, stride])
    r = g.rng
    bn = [
        g.const((1.0 + 0.1 * r.standard_normal(c_out)).astype(np.float32), f"{name}.bn.weight"),
        g.const((0.1 * r.standard_normal(c_out)).astype(np.float32), f"{name}.bn.bias"),
        g.const((0.1 * r.standard_normal(c_out)).astype(np.float32), f"{name}.bn.running_mean"),
        g.const((0.5 + r.random(c_out)).astype(np.float32), f"{name}.bn.running_var"),
    ]
    y = g.op("BatchNormalization", [y, *bn], f"{name}/BatchNormalization", epsilon=1e-5)
    return g.op("Relu", [y], f"{name}/Relu") if relu else y


def cnn(seed: int = 3):
    g = Graph(seed)
    x = conv_bn(g, "input", CHANNELS, 16, "/stem")
    skip = x
    x = conv_bn(g, x, 16, 16, "/block1/a")
    x = conv_bn(g, x, 16, 16, "/block1/b", relu=False)
    x = g.op("Relu", [g.op("Add", [x, skip], "/block1/Add")], "/block1/Relu")
    x = g.op("MaxPool", [x], "/pool/MaxPool", kernel_shape=[2, 2], strides=[2, 2])
    x = conv_bn(g, x, 16, 32, "/block2", stride=2)
    x = g.op("AveragePool", [x], "/pool2/AveragePool", kernel_shape=[2, 2], strides=[1, 1])
    x = g.op("GlobalAveragePool", [x], "/gap/GlobalAveragePool")
    x = g.op("Flatten", [x], "/Flatten", axis=1)
    w = g.weight((CLASSES, 32), "fc.weight", scale=np.sqrt(1.0 / 32))
    b = g.const((0.02 * g.rng.standard_normal(CLASSES)).astype(np.float32), "fc.bias")
    y = g.op("Gemm", [x, w, b], "/fc/Gemm", transB=1)
    return g.model("cnn", {"input": [1, CHANNELS, SIZE, SIZE]}, {"output": y}, {"output": [1, CLASSES]})


if __name__ == "__main__":
    print(save(cnn(), "cnn"))
