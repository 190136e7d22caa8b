"""How tensors sit in SRAM vectors, and plans for moving elements between layouts.

Layout (docs/architecture.md): a tensor of shape S is `rows = prod(S[:-1])` rows
of `vpr = ceil(S[-1] / lanes)` vectors each; padding lanes are zero. Everything
here is numpy over whole tensors: no per-element Python loops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from math import ceil, prod

import numpy as np


@dataclass(frozen=True)
class Layout:
    """A tensor's place in SRAM vectors (see above). Immutable, so its sizes are computed once:
    the lowerings read them in their innermost loops, ~10^5 times for a large model."""

    shape: tuple[int, ...]
    lanes: int

    @cached_property
    def width(self) -> int:
        return self.shape[-1] if self.shape else 1

    @cached_property
    def rows(self) -> int:
        return prod(self.shape[:-1]) if self.shape else 1

    @cached_property
    def vpr(self) -> int:
        return max(1, ceil(self.width / self.lanes))

    @cached_property
    def vectors(self) -> int:
        return self.rows * self.vpr

    def chunk_lanes(self, chunk: int) -> int:
        """Valid lanes of vector `chunk` of a row."""
        return min(self.lanes, self.width - chunk * self.lanes)


def to_vectors(array: np.ndarray, lanes: int) -> np.ndarray:
    """The [vectors x lanes] SRAM image of a tensor, zero padded."""
    layout = Layout(tuple(array.shape), lanes)
    padded = np.zeros((layout.rows, layout.vpr * lanes), dtype=np.float32)
    padded[:, : layout.width] = np.asarray(array, dtype=np.float32).reshape(layout.rows, layout.width)
    return padded.reshape(layout.vectors, lanes)


def from_vectors(vectors: np.ndarray, shape: Sequence[int], lanes: int) -> np.ndarray:
    """Inverse of to_vectors."""
    layout = Layout(tuple(shape), lanes)
    rows = vectors.reshape(layout.rows, layout.vpr * lanes)
    return rows[:, : layout.width].reshape(tuple(shape)).astype(np.float32)


@dataclass(frozen=True)
class Run:
    """`count` items: item i maps dst index `dst + i*dst_step` from `src + i*src_step`."""

    dst: int
    src: int
    count: int
    dst_step: int
    src_step: int


def runs(dst: np.ndarray, src: np.ndarray) -> list[Run]:
    """Compress index pairs (in the given order) into runs of constant strides."""
    out: list[Run] = []
    i, n = 0, len(dst)
    while i < n:
        if i + 1 == n:
            out.append(Run(int(dst[i]), int(src[i]), 1, 1, 1))
            break
        dd, ds = int(dst[i + 1] - dst[i]), int(src[i + 1] - src[i])
        j = i + 1
        while j + 1 < n and dst[j + 1] - dst[j] == dd and src[j + 1] - src[j] == ds:
            j += 1
        if dd <= 0:  # a run must write distinct vectors in increasing order
            j = i
        out.append(Run(int(dst[i]), int(src[i]), j - i + 1, dd if j > i else 1, ds if j > i else 1))
        i = j + 1
    return out


def strided_runs(dst: np.ndarray, src: np.ndarray, period: int) -> list[Run]:
    """runs() of increasing `dst`, or, when that takes more runs, runs() of each residue of dst
    modulo `period` (for vectors of rows `period` vectors long: runs down the rows, one vector
    position of a row at a time)."""
    along = runs(dst, src)
    if period <= 1 or len(along) <= period:
        return along
    down = [run for j in range(period) for run in runs(dst[dst % period == j], src[dst % period == j])]
    return down if len(down) < len(along) else along


@dataclass(frozen=True)
class MoveGroup:
    """Lane moves with one lane pattern, repeated over vectors (see chip.sxm_move).

    `order` is the move's position among the moves into one destination vector:
    0 starts the vector (other lanes zeroed), k > 0 merges into order k-1's result.
    `source` says which of several source tensors the run's vectors are in (see lane_moves).
    """

    order: int
    src_lane: int
    dst_lane: int
    width: int
    run: Run
    source: int = 0


def plan_moves(
    src: Layout, dst: Layout, dst_row_of: np.ndarray, dst_col_of: np.ndarray
) -> list[MoveGroup]:
    """Lane moves that put element e of `src` (row-major order) at (dst_row_of[e], dst_col_of[e])."""
    lanes = src.lanes
    flat = np.arange(src.rows * src.width)
    s_row, s_col = flat // src.width, flat % src.width
    return lane_moves(s_row * src.vpr + s_col // lanes, s_col % lanes,
                      dst_row_of * dst.vpr + dst_col_of // lanes, dst_col_of % lanes, period=dst.vpr)


def lane_moves(s_vec: np.ndarray, s_lane: np.ndarray, d_vec: np.ndarray, d_lane: np.ndarray,
               source: np.ndarray | None = None, period: int = 1, part: np.ndarray | None = None) -> list[MoveGroup]:
    """Lane moves that put element e, lane s_lane[e] of vector s_vec[e] of tensor source[e]
    (0 when None), at lane d_lane[e] of destination vector d_vec[e]. Every destination element
    is written once; a destination vector's lanes that no element names end up zero.
    `period` is the destination's vectors per row (see strided_runs). Segments of different
    `part` numbers are grouped apart: a caller's hint that runs are regular within a part
    (one window tap of an im2col) but interleave across parts."""
    n = len(s_vec)
    source = np.zeros(n, dtype=np.int64) if source is None else np.asarray(source)
    part = np.zeros(n, dtype=np.int64) if part is None else np.asarray(part)
    order = np.lexsort((d_lane, d_vec))
    s_vec, s_lane, d_vec, d_lane, source, part = (a[order] for a in (s_vec, s_lane, d_vec, d_lane, source, part))
    # a segment continues while both lanes advance by one inside the same vectors
    cont = np.zeros(n, dtype=bool)
    cont[1:] = (s_vec[1:] == s_vec[:-1]) & (d_vec[1:] == d_vec[:-1]) & (s_lane[1:] == s_lane[:-1] + 1) & (
        d_lane[1:] == d_lane[:-1] + 1
    ) & (source[1:] == source[:-1])
    starts = np.flatnonzero(~cont)
    widths = np.diff(np.append(starts, n))
    seg_dvec, seg_svec, seg_source = d_vec[starts], s_vec[starts], source[starts]
    seg_slane, seg_dlane, seg_part = s_lane[starts], d_lane[starts], part[starts]
    first_of_vec = np.ones(len(starts), dtype=bool)
    first_of_vec[1:] = seg_dvec[1:] != seg_dvec[:-1]
    seg_order = np.arange(len(starts)) - np.maximum.accumulate(np.where(first_of_vec, np.arange(len(starts)), 0))
    key = np.lexsort((seg_dvec, widths, seg_dlane, seg_slane, seg_source, seg_part, seg_order))
    groups: list[MoveGroup] = []
    pattern = np.stack([seg_order, seg_part, seg_source, seg_slane, seg_dlane, widths])[:, key]
    boundaries = np.flatnonzero(np.any(pattern[:, 1:] != pattern[:, :-1], axis=0)) + 1
    for lo, hi in zip(np.r_[0, boundaries], np.r_[boundaries, len(key)]):
        idx = key[lo:hi]
        o, _, k, sl, dl, w = (int(v) for v in pattern[:, lo])
        for run in strided_runs(seg_dvec[idx], seg_svec[idx], period):
            groups.append(MoveGroup(o, sl, dl, w, run, k))
    return groups


def reshape_targets(src: Layout, dst: Layout) -> tuple[np.ndarray, np.ndarray]:
    flat = np.arange(src.rows * src.width)
    return flat // dst.width, flat % dst.width


def permuted_rows(shape: Sequence[int], perm: Sequence[int]) -> np.ndarray:
    """For a permutation that keeps the last axis: source row of every destination row."""
    lead = list(shape[:-1])
    index = np.arange(prod(lead) if lead else 1).reshape(lead) if lead else np.arange(1)
    return np.transpose(index, perm[:-1]).reshape(-1) if lead else index


def broadcast_rows(src_shape: Sequence[int], dst_shape: Sequence[int]) -> np.ndarray:
    """Source row of every destination row under numpy broadcasting of the leading axes."""
    rank = len(dst_shape)
    src = [1] * (rank - len(src_shape)) + list(src_shape)
    lead_src = src[:-1]
    index = np.arange(prod(lead_src) if lead_src else 1).reshape(lead_src) if lead_src else np.arange(1)
    return np.broadcast_to(index, tuple(dst_shape[:-1])).reshape(-1)


def plan_gather(src: Layout, dst: Layout, source_of: np.ndarray, part: np.ndarray | None = None) -> list[MoveGroup]:
    """Lane moves that fill element e of `dst` (row-major) with element source_of[e] of `src`
    (row-major; one source element may go to many places), or with 0 where source_of[e] < 0.
    A destination vector that receives nothing is started by a width-0 move (all zeros).
    `part` (a number per element): see lane_moves."""
    lanes = src.lanes
    source_of = np.asarray(source_of).reshape(-1)
    target = np.flatnonzero(source_of >= 0)
    source = source_of[target]
    d_vec = (target // dst.width) * dst.vpr + (target % dst.width) // lanes
    parts = None if part is None else np.asarray(part).reshape(-1)[target]
    groups = lane_moves((source // src.width) * src.vpr + (source % src.width) // lanes,
                        (source % src.width) % lanes, d_vec, (target % dst.width) % lanes,
                        part=parts) if len(target) else []
    empty = np.setdiff1d(np.arange(dst.vectors), d_vec)
    return groups + [MoveGroup(0, 0, 0, 0, run) for run in runs(empty, np.zeros_like(empty))]
