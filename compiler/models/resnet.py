"""ResNet image classifiers as ONNX (`lockstep model resnet`): ResNet-50 v1.5 for the published
one-chip comparison (docs/scale.md) and a tiny preset with weights for the tests.

The layout is torchvision's (He et al. 2016, "v1.5": the stride of a downsampling bottleneck is on
its 3x3 conv): a 7x7/2 stem conv, BatchNormalization, Relu, a 3x3/2 max pool; stages of bottleneck
blocks (1x1 conv to the stage's width, 3x3 conv, 1x1 conv to `expansion` x the width, each followed
by BatchNormalization, Relu after the first two and after the residual Add), the first block of a
stage with a projection shortcut (1x1 conv + BatchNormalization, strided like the 3x3) where the
shape changes; global average pool, Flatten and the fully connected classifier. Convs have no bias
(the batch norm after each one supplies it), as in torchvision; the compiler folds each batch norm
into its conv (docs/conv.md).

A module at path P (`/layer2.0/conv2`) has nodes `P/Op` and parameters `P.weight`, `P.bias`, and for
a batch norm the buffers `P.running_mean` and `P.running_var`, which, as in torch, are not counted
as parameters.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from compiler.errors import LockstepError
from compiler.models.graph import Graph, save_model

INPUT = "input"
RESIDUAL_GAIN = 0.2
BUFFERS = (".running_mean", ".running_var")
"""Batch-norm statistics: initializers that are buffers, not parameters (torch's count)."""


@dataclass(frozen=True)
class Block:
    """One bottleneck block: c_in -> width (1x1) -> width (3x3, `stride`) -> out (1x1), plus the
    shortcut (a strided 1x1 conv when `projected`)."""

    name: str  # torchvision's module path, /layer<stage>.<block>
    c_in: int
    width: int
    out: int
    stride: int
    projected: bool


@dataclass(frozen=True)
class ResNetConfig:
    """Bottleneck stages: `blocks[i]` blocks of width `widths[i]` (output `expansion` x that);
    `image` is the default input side."""

    stem: int
    blocks: tuple[int, ...]
    widths: tuple[int, ...]
    classes: int
    image: int
    expansion: int = 4

    @property
    def features(self) -> int:
        """Channels into the classifier: the last stage's output."""
        return self.widths[-1] * self.expansion

    def bottlenecks(self) -> Iterator[Block]:
        """Every bottleneck block, in order."""
        channels = self.stem
        for stage, (count, width) in enumerate(zip(self.blocks, self.widths)):
            for block in range(count):
                stride = 2 if stage > 0 and block == 0 else 1
                out = width * self.expansion
                yield Block(f"/layer{stage + 1}.{block}", channels, width, out, stride, stride != 1 or channels != out)
                channels = out

    def params(self) -> int:
        """Conv weights, batch-norm scales and shifts, the classifier's weight and bias."""
        total = 3 * self.stem * 7 * 7 + 2 * self.stem
        for b in self.bottlenecks():
            total += b.c_in * b.width + 9 * b.width * b.width + b.width * b.out + 2 * (2 * b.width + b.out)
            total += (b.c_in * b.out + 2 * b.out) if b.projected else 0
        return total + self.features * self.classes + self.classes


PRESETS: dict[str, ResNetConfig] = {
    # torchvision resnet50 (IMAGENET1K_V2 and V1 share it): 25,557,032 parameters
    "resnet50": ResNetConfig(64, (3, 4, 6, 3), (64, 128, 256, 512), 1000, 224),
    # small enough to run with numbers in the tests: a projected and an identity shortcut, a stride
    "tiny": ResNetConfig(8, (1, 2), (4, 8), 10, 32),
}


def conv_bn(g: Graph, x: str, c_in: int, c_out: int, kernel: int, stride: int, conv: str, bn: str,
            relu: bool, gain: float = 1.0) -> str:
    """Conv (no bias, padding kernel // 2) + BatchNormalization (+ Relu): weights He-initialised,
    batch-norm statistics random but positive in the variance, scales about `gain`."""
    pad = kernel // 2
    w = g.weight((c_out, c_in, kernel, kernel), f"{conv}.weight", scale=np.sqrt(2.0 / (c_in * kernel * kernel)))
    y = g.op("Conv", [x, w], f"{conv}/Conv", kernel_shape=[kernel, kernel], strides=[stride, stride],
             pads=[pad] * 4)
    r = g.rng
    stats = [
        g.param((c_out,), f"{bn}.weight", lambda: (gain * (1.0 + 0.1 * r.standard_normal(c_out))).astype(np.float32)),
        g.param((c_out,), f"{bn}.bias", lambda: (0.1 * r.standard_normal(c_out)).astype(np.float32)),
        g.param((c_out,), f"{bn}.running_mean", lambda: (0.1 * r.standard_normal(c_out)).astype(np.float32)),
        g.param((c_out,), f"{bn}.running_var", lambda: (0.5 + r.random(c_out)).astype(np.float32)),
    ]
    y = g.op("BatchNormalization", [y, *stats], f"{bn}/BatchNormalization", epsilon=1e-5)
    return g.op("Relu", [y], f"{bn}/Relu") if relu else y


def bottleneck(g: Graph, x: str, b: Block) -> str:
    n = b.name
    h = conv_bn(g, x, b.c_in, b.width, 1, 1, f"{n}/conv1", f"{n}/bn1", relu=True)
    h = conv_bn(g, h, b.width, b.width, 3, b.stride, f"{n}/conv2", f"{n}/bn2", relu=True)
    # a small last scale (torchvision's zero_init_residual makes it 0) keeps the 16 residual sums O(1)
    h = conv_bn(g, h, b.width, b.out, 1, 1, f"{n}/conv3", f"{n}/bn3", relu=False, gain=RESIDUAL_GAIN)
    skip = (conv_bn(g, x, b.c_in, b.out, 1, b.stride, f"{n}/downsample.0", f"{n}/downsample.1", relu=False)
            if b.projected else x)
    return g.op("Relu", [g.op("Add", [h, skip], f"{n}/Add")], f"{n}/Relu")


def resnet_model(cfg: ResNetConfig, name: str, image: int, batch: int, seed: int = 0,
                 external: str | None = None) -> onnx.ModelProto:
    """`batch` images of `image` x `image` RGB (NCHW `input`) to `logits` [batch, classes];
    `external` names the (absent) weights file, None for seeded weights."""
    g = Graph(seed, external)
    x = conv_bn(g, INPUT, 3, cfg.stem, 7, 2, "/conv1", "/bn1", relu=True)
    x = g.op("MaxPool", [x], "/maxpool/MaxPool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    for block in cfg.bottlenecks():
        x = bottleneck(g, x, block)
    x = g.op("GlobalAveragePool", [x], "/avgpool/GlobalAveragePool")
    x = g.op("Flatten", [x], "/Flatten", axis=1)
    logits = g.linear(x, cfg.features, cfg.classes, "/fc")
    return g.model(name, {INPUT: [batch, 3, image, image]}, {"logits": logits}, {"logits": [batch, cfg.classes]})


def write_resnet(preset: str, path: Path, image: int | None = None, batch: int = 1, weights: bool = True,
                 seed: int = 0) -> onnx.ModelProto:
    """Generate the preset for `batch` images of side `image` (default: the preset's) and save it to
    `path`: weights inline, or external in `<path name>.data`, which is not written."""
    if preset not in PRESETS:
        raise LockstepError(f"unknown preset '{preset}' (known: {', '.join(PRESETS)})")
    cfg = PRESETS[preset]
    image = cfg.image if image is None else image
    for what, value in (("--image", image), ("--batch", batch)):
        if value < 1:
            raise LockstepError(f"{what} must be at least 1, got {value}")
    external = None if weights else f"{path.name}.data"
    model = resnet_model(cfg, f"{preset}_{image}px_batch{batch}", image, batch, seed, external)
    save_model(model, path)
    return model
