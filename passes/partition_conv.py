"""Convolutions and pools under `partition` (strategy `tensor`): output channels or spatial tiles.

After `normalise` a convolution is `im2col` (the windows of an NHWC tensor) times a constant
`[KH*KW*C, M]` weight, and a pool is `im2col` then a reduction over the window axis
(docs/conv.md). Each conv is split one of three ways, recorded in `part.split_kind`:

- **spatial rows**: chip i computes output rows `[i*OH/P, (i+1)*OH/P)`. Its windows read its
  own input rows plus `above` rows of the previous chip and `below` rows of the next (the
  halo): each chip sends its boundary rows to its neighbours (two cyclic `part.transfer`s;
  the wrapped-around rows are zeroed on the first and last chip, where they are padding),
  stacks them around its rows and runs im2col on that tile without top and bottom padding.
  The result stays split by rows, so the bias, batch norm, relu, residual add and the next
  conv or pool (with its own halo) run on the tiles. A conv on a whole input splits its
  windows by rows on every chip (a local copy) instead.
- **output channels**: the weight's columns are split (Megatron column split); the next
  window op needs whole pixels and all-gathers them.
- **replicated**: every chip computes the whole conv.

Every unit and link moves whole `lanes`-wide vectors, and an NHWC pixel is one row, so
splitting channels cuts a chip's vectors only when M spans several vectors (M/P >= lanes
for the full P-fold cut); tiles cut the rows P-fold. So: spatial when the windows tile the
rows evenly and channels would cut less; else channels when that cuts vectors at all; else
replicated (a split that saves no vector would only add an all-gather).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil, prod
from typing import TYPE_CHECKING

import numpy as np
from xdsl.dialects.builtin import DenseArrayBase, i64
from xdsl.ir import SSAValue

from dialects import tops
from dialects.part import TransferOp
from passes.partition_layout import Shard

if TYPE_CHECKING:
    from passes.partition_tensor import TensorParallel

SPATIAL, CHANNELS, REPLICATED = "spatial rows", "output channels", "replicated"


@dataclass(frozen=True)
class Tiling:
    """How an im2col runs on row tiles of its input (split along axis 1 into equal blocks)."""

    above: int
    """Halo rows from the previous chip (the first chip's are zero: top padding)."""
    below: int
    """Halo rows from the next chip (the last chip's are zero: bottom padding)."""
    out_axis: int
    """The result axis split into the chips' output rows."""
    pads: tuple[int, ...]
    """The local im2col's pads: the original ones without top and bottom."""


def spatial_tiling(op: tops.Im2colOp, x: tuple[int, ...], chips: int) -> Tiling | None:
    """The row tiling over `chips` of `op` on an input of global shape `x` (its result type
    still global), or None when the output rows do not split evenly, a chip's windows do not
    start at its first row, or a halo is deeper than a neighbour's tile."""
    kernel, strides, pads, dilations = (op.ints(n) for n in ("kernel", "strides", "pads", "dilations"))
    windows, out = tops.im2col_windows(x, kernel, strides, pads, dilations), op.out_shape()
    assert isinstance(windows, tuple), windows
    spatial = len(kernel)
    rows, out_rows, stride = x[1], windows[1], strides[0]
    if rows % chips or out_rows % chips or rows // chips != out_rows // chips * stride:
        return None
    tile = rows // chips
    above = pads[0]
    below = max(0, (kernel[0] - 1) * dilations[0] + 1 - stride - pads[0])
    if above > tile or below > tile:
        return None
    local_pads = list(pads)
    local_pads[0] = local_pads[spatial] = 0
    local_x = (x[0], tile + above + below, *x[2:])
    local = tops.im2col_windows(local_x, kernel, strides, local_pads, dilations)
    if isinstance(local, str) or local[1] != out_rows // chips or local[2:] != windows[2:]:
        return None
    out_axis = next((b for b in range(len(out)) if prod(out[:b]) == x[0] and out[b] % chips == 0), None)
    if out_axis is None:
        return None
    return Tiling(above, below, out_axis, tuple(local_pads))


def spatial_rows_axis(a: tuple[int, ...], chips: int) -> int | None:
    """The axis of a conv's windows [N, OH, OW, K] that splits them into whole output rows."""
    return 1 if len(a) >= 3 and a[1] % chips == 0 else None


def conv_choice(a: tuple[int, ...], n: int, chips: int, lanes: int | None) -> str:
    """Spatial rows, output channels or replicated for a conv whose windows `a` are whole on
    every chip and whose weight has `n` columns (see the module docstring). Without the
    machine's `lanes` a channel split is taken to cut vectors whenever it is even."""
    even = n % chips == 0 and n >= chips
    cut = (chips if lanes is None else ceil(n / lanes) / ceil(n // chips / lanes)) if even else 1
    if spatial_rows_axis(a, chips) is not None and cut < chips:
        return SPATIAL
    return CHANNELS if cut > 1 else REPLICATED


def spatial_label(tiling: Tiling) -> str:
    if not (tiling.above or tiling.below):
        return SPATIAL
    return f"{SPATIAL}, halo {tiling.above}+{tiling.below}"


def run_on_tiles(walker: TensorParallel, op: tops.Im2colOp, tiling: Tiling) -> None:
    """Rewrite `op` (its input split by rows, already retyped) to build its windows from the
    chip's tile: halo rows above, its rows, halo rows below."""
    x = op.input
    pieces = [halo(walker, x, tiling.above, op, from_previous=True)] if tiling.above else []
    pieces.append(x)
    if tiling.below:
        pieces.append(halo(walker, x, tiling.below, op, from_previous=False))
    op.operands[0] = walker.insert(tops.ConcatOp(pieces, 1), op).results[0] if len(pieces) > 1 else x
    op.pads = DenseArrayBase.from_list(i64, list(tiling.pads))
    out = op.out_shape()
    walker.shard_result(op, Shard.blocks(tiling.out_axis, out[tiling.out_axis], len(walker.chips)))


def halo(walker: TensorParallel, x: SSAValue, rows: int, user: tops.Im2colOp, from_previous: bool) -> SSAValue:
    """The `rows` rows next to each chip's tile: the previous chip's last rows (or the next
    chip's first), sent over one link per chip. The transfer is cyclic, so the chip at the
    edge receives the other edge's rows, which a select replaces by zeros (the padding)."""
    chips = list(walker.chips)
    shape = list(tops.shape_of(x))
    starts = [0] * len(shape)
    starts[1] = shape[1] - rows if from_previous else 0
    edge_shape = [*shape[:1], rows, *shape[2:]]
    edge = walker.insert(tops.SliceOp(x, starts, [1] * len(shape), edge_shape), user).results[0]
    to = chips[1:] + chips[:1] if from_previous else chips[-1:] + chips[:-1]
    sent = walker.insert(TransferOp([edge], chips, to, [edge.type]), user).results[0]
    wrapped = 0 if from_previous else len(chips) - 1  # the chip that got the other edge's rows
    keep = np.ones([*shape[:1], rows * len(chips), *shape[2:]], dtype=np.float32)
    keep[:, wrapped * rows:(wrapped + 1) * rows] = 0
    mask = walker.insert(tops.ConstantOp.from_array(keep), user).results[0]
    zeros = walker.insert(tops.ConstantOp.from_array(np.zeros(edge_shape, dtype=np.float32)), user).results[0]
    local_mask = walker.split_constant(mask, Shard.blocks(1, rows * len(chips), len(chips)), user)
    return walker.insert(tops.WhereOp(local_mask, sent, zeros), user).results[0]
