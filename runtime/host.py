"""The host's side of SRAM: tensors to vectors and back, in the layout of docs/architecture.md.

Shape S (rank 0 counts as [1]) has rows = prod(S[:-1]) and vpr = ceil(S[-1] / lanes)
vectors per row; element (r, c) is lane c % lanes of vector r*vpr + c // lanes,
and padding lanes are zero. int8 weights pack INT8_PER_ADDRESS int8 vectors into
an address (vector v in byte plane v % 4 of address v // 4). A graph input or output
may be held in shards, one box per chip (`chip.input ... slice OFFSETS of WHOLE`),
which must tile the tensor.
"""

from __future__ import annotations

import math

import numpy as np
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, i8

from dialects.chip import INT8_PER_ADDRESS
from runtime.errors import BrokenPromise


def layout(shape: tuple[int, ...], lanes: int) -> tuple[int, int, int]:
    """(rows, width, vectors per row) of a tensor shape."""
    dims = shape or (1,)
    width = dims[-1]
    return math.prod(dims[:-1]), width, max(1, -(-width // lanes))


def vectors_of(shape: tuple[int, ...], lanes: int) -> int:
    rows, _, vpr = layout(shape, lanes)
    return rows * vpr


def to_vectors(tensor: np.ndarray, lanes: int) -> np.ndarray:
    """[vectors x lanes] float32 SRAM image of a tensor."""
    rows, width, vpr = layout(tensor.shape, lanes)
    padded = np.zeros((rows, vpr * lanes), dtype=np.float32)
    padded[:, :width] = tensor.reshape(rows, width)
    return padded.reshape(rows * vpr, lanes)


def from_vectors(vectors: np.ndarray, shape: tuple[int, ...], lanes: int) -> np.ndarray:
    """The tensor of `shape` held by its SRAM image (the inverse of to_vectors)."""
    rows, width, vpr = layout(shape, lanes)
    return np.ascontiguousarray(vectors.reshape(rows, vpr * lanes)[:, :width]).reshape(shape)


def preload_vectors(data: DenseIntOrFPElementsAttr) -> np.ndarray:
    """A chip.preload's [vectors x lanes] payload as float32. int8 vectors fill whole addresses,
    INT8_PER_ADDRESS each: the unused byte planes of the last one read as zeros."""
    element = np.dtype(data.get_element_type().format)
    vectors = np.frombuffer(data.data.data, dtype=element).astype(np.float32).reshape(data.get_shape())
    if data.get_element_type() != i8:
        return vectors
    padded = np.zeros((-(-vectors.shape[0] // INT8_PER_ADDRESS) * INT8_PER_ADDRESS, vectors.shape[1]), np.float32)
    padded[: vectors.shape[0]] = vectors
    return padded


Shard = tuple[int, tuple[int, ...], tuple[int, ...]]
"""(chip, offsets, shape) of one box of a graph tensor held by a chip."""


def box(offsets: tuple[int, ...], shape: tuple[int, ...]) -> tuple[slice, ...]:
    """The numpy index of a box of a tensor."""
    return tuple(slice(o, o + n) for o, n in zip(offsets, shape))


def check_tiling(what: str, whole: tuple[int, ...], shards: list[Shard]) -> None:
    """The distinct shards of one graph tensor (`what`: "input 'x'") must tile it: each inside
    the whole, none overlapping another, together covering it."""
    for chip, offsets, shape in shards:
        if not len(offsets) == len(shape) == len(whole) or any(
                o < 0 or o + n > w for o, n, w in zip(offsets, shape, whole)):
            raise BrokenPromise(f"{what}: the {list(shape)} shard at {list(offsets)} on chip {chip} "
                                f"is outside the whole tensor {list(whole)}")
    chips = [chip for chip, _, _ in shards]
    starts = np.array([o for _, o, _ in shards], dtype=np.int64).reshape(len(shards), len(whole))
    ends = starts + np.array([s for _, _, s in shards], dtype=np.int64).reshape(len(shards), len(whole))
    meet = np.all((starts[:, None] < ends[None]) & (starts[None] < ends[:, None]), axis=2)
    np.fill_diagonal(meet, False)
    if meet.any():
        a, b = np.argwhere(meet)[0]
        raise BrokenPromise(f"{what}: the shards on chips {chips[a]} and {chips[b]} overlap "
                            f"(both hold element {np.maximum(starts[a], starts[b]).tolist()})")
    covered, size = int(np.prod(ends - starts, axis=1).sum()), math.prod(whole)
    if covered != size:
        raise BrokenPromise(f"{what}: the shards on chips {', '.join(map(str, sorted(set(chips))))} cover "
                            f"{covered} of its {size} elements (a gap)")
