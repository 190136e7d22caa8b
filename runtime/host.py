"""The host's side of SRAM: tensors to vectors and back, in the layout of docs/architecture.md.

Shape S (rank 0 counts as [1]) has rows = prod(S[:-1]) and vpr = ceil(S[-1] / lanes)
vectors per row; element (r, c) is lane c % lanes of vector r*vpr + c // lanes,
and padding lanes are zero. int8 weights pack INT8_PER_ADDRESS int8 vectors into
an address (vector v in byte plane v % 4 of address v // 4).
"""

from __future__ import annotations

import math

import numpy as np
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, i8

from dialects.chip import INT8_PER_ADDRESS


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
