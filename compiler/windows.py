"""Sliding windows (Conv, pooling, im2col) as numpy index arithmetic.

One place for the index maps that the `tops` interpreter, `normalise` (weights,
padding masks, average divisors) and `lower-to-chip` (the im2col element mapping)
share. Everything is vectorised over whole tensors: no per-element Python loops.
Windows have k >= 1 spatial axes; pads are ONNX-ordered [begins..., ends...] (for 2-D
[top, left, bottom, right]). The windows' element order is `tops.im2col_windows`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

import numpy as np

from dialects import tops


def positions(size: int, kernel: int, stride: int, begin: int, dilation: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Input position of every (window, tap) along one axis, [out, kernel], and whether it is inside."""
    p = np.arange(out)[:, None] * stride - begin + np.arange(kernel)[None, :] * dilation
    return p, (p >= 0) & (p < size)


def out_size(spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
             dilations: Sequence[int], ceil_mode: bool = False) -> tuple[int, ...]:
    out = tops.windows_shape(spatial, kernel, strides, pads, dilations, ceil_mode)
    assert isinstance(out, tuple), out
    return out


def _placed(array: np.ndarray, rank: int, axes: Sequence[int]) -> np.ndarray:
    """`array` with its axis i at axis axes[i] of a rank-`rank` array (size 1 elsewhere), to broadcast."""
    shape = [1] * rank
    for axis, size in zip(axes, array.shape):
        shape[axis] = size
    return np.transpose(array, np.argsort(axes)).reshape(shape)


def im2col_source(shape: Sequence[int], kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
                  dilations: Sequence[int], out: Sequence[int] | None = None) -> np.ndarray:
    """Row-major flat index into the input (shape [N, S_1..S_k, C] or [N, S_1..S_k]) of every
    element of its windows (`tops.im2col_windows` order: the kernel axes before the last
    axis), -1 where the window is in the padding."""
    k, rank = len(kernel), len(shape)
    out = out or out_size(shape[1:k + 1], kernel, strides, pads, dilations)
    total = rank + k
    # where input axis a's (window) index goes among the windows' axes; kernel axis j goes to rank - 1 + j
    at = [a if a < rank - 1 else total - 1 for a in range(rank)]
    element_strides = np.cumprod([1, *shape[:0:-1]])[::-1]
    flat, inside = np.zeros([1] * total, dtype=np.int64), np.ones([1] * total, dtype=bool)
    for a in range(rank):
        if 1 <= a <= k:
            j = a - 1
            p, valid = positions(shape[a], kernel[j], strides[j], pads[j], dilations[j], out[j])
            flat = flat + _placed(p, total, (at[a], rank - 1 + j)) * element_strides[a]
            inside = inside & _placed(valid, total, (at[a], rank - 1 + j))
        else:
            flat = flat + _placed(np.arange(shape[a]), total, (at[a],)) * element_strides[a]
    return np.where(inside, flat, -1)


def im2col(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
           dilations: Sequence[int], out: Sequence[int] | None = None) -> np.ndarray:
    """The windows of an array (see im2col_source), zero in the padding."""
    source = im2col_source(x.shape, kernel, strides, pads, dilations, out)
    flat = np.append(np.asarray(x, dtype=np.float32).reshape(-1), np.float32(0))
    return flat[source]


def conv_weight_matrix(weight: np.ndarray, group: int) -> np.ndarray:
    """ONNX weight [M, C/g, KH, KW] as the [KH*KW*C, M] matrix that multiplies NHWC im2col rows
    (columns ordered kh, kw, c); a grouped conv is block diagonal (zero across groups)."""
    m, cg, kh, kw = weight.shape
    mg = m // group
    full = np.zeros((kh, kw, cg * group, m), dtype=np.float32)
    for g in range(group):  # one block per group (a handful of numpy copies)
        block = np.transpose(weight[g * mg:(g + 1) * mg], (2, 3, 1, 0))  # [KH, KW, Cg, Mg]
        full[:, :, g * cg:(g + 1) * cg, g * mg:(g + 1) * mg] = block
    return full.reshape(kh * kw * cg * group, m)


def conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, strides: Sequence[int], pads: Sequence[int],
         dilations: Sequence[int], group: int) -> np.ndarray:
    """Reference ONNX Conv (NCHW), float64 accumulation."""
    kernel = weight.shape[2:]
    cols = im2col(np.transpose(x, (0, 2, 3, 1)), kernel, strides, pads, dilations)
    n, oh, ow = cols.shape[:3]
    m, cg = weight.shape[:2]
    cols = cols.reshape(n, oh, ow, kernel[0], kernel[1], group, cg).astype(np.float64)
    w = weight.reshape(group, m // group, cg, *kernel).astype(np.float64)
    out = np.einsum("nhwijgc,gmcij->nhwgm", cols, w).reshape(n, oh, ow, m)
    out = np.transpose(out, (0, 3, 1, 2))
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out.astype(np.float32)


def tap_counts(size: int, kernel: int, stride: int, begin: int, end: int, dilation: int, out: int,
               include_pad: bool) -> np.ndarray:
    """Taps of every window along one axis that an average divides by: inside the input, or
    with include_pad inside the explicitly padded input [-begin, size + end) (never the
    ceil_mode extension past it), as onnxruntime counts."""
    p, inside = positions(size, kernel, stride, begin, dilation, out)
    counted = (p >= -begin) & (p < size + end) if include_pad else inside
    return counted.sum(axis=1)


def avg_divisor(spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
                dilations: Sequence[int], out: Sequence[int], include_pad: bool) -> np.ndarray:
    """Divisors of an average pool per output position ([OH, OW] for 2-D): the product of the
    per-axis tap counts, the windows being boxes."""
    k = len(kernel)
    counts = [tap_counts(spatial[i], kernel[i], strides[i], pads[i], pads[i + k], dilations[i], out[i], include_pad)
              for i in range(k)]
    return np.maximum(reduce(np.multiply.outer, counts), 1).astype(np.float32)


def pool(x: np.ndarray, kind: str, kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
         dilations: Sequence[int], ceil_mode: bool, include_pad: bool = False) -> np.ndarray:
    """Reference max or average pooling of an [N, C, S_1..S_k] array."""
    n, c, *spatial = x.shape
    k = len(kernel)
    out = out_size(spatial, kernel, strides, pads, dilations, ceil_mode)
    source = im2col_source((n * c, *spatial), kernel, strides, pads, dilations, out)
    cols = np.append(np.asarray(x, dtype=np.float64).reshape(-1), 0.0)[source]  # [N*C, O_1..O_k-1, K..., O_k]
    taps = tuple(range(k, 2 * k))
    if kind == "max":
        pooled = np.where(source < 0, -np.inf, cols).max(axis=taps)
    else:
        pooled = cols.sum(axis=taps) / avg_divisor(spatial, kernel, strides, pads, dilations, out, include_pad)
    return pooled.reshape(n, c, *out).astype(np.float32)


def lrn_band(channels: int, size: int) -> np.ndarray:
    """[C, C] 0/1 matrix: column c sums channels [c - (size-1)//2, c + size//2] (ONNX LRN)."""
    c = np.arange(channels)
    offset = c[:, None] - c[None, :]  # source - destination
    return ((offset >= -((size - 1) // 2)) & (offset <= size // 2)).astype(np.float32)


def lrn(x: np.ndarray, size: int, alpha: float, beta: float, bias: float) -> np.ndarray:
    moved = np.moveaxis(x.astype(np.float64), 1, -1)
    total = (moved * moved) @ lrn_band(x.shape[1], size).astype(np.float64)
    return np.moveaxis(moved / (bias + alpha / size * total) ** beta, -1, 1).astype(np.float32)


def batch_norm(x: np.ndarray, scale: np.ndarray, bias: np.ndarray, mean: np.ndarray, var: np.ndarray,
               epsilon: float) -> np.ndarray:
    shape = (1, -1) + (1,) * (x.ndim - 2)
    a = scale / np.sqrt(var.astype(np.float64) + epsilon)
    return ((x - mean.reshape(shape)) * a.reshape(shape) + bias.reshape(shape)).astype(np.float32)


def _ints(op, name: str) -> tuple[int, ...]:
    return op.ints(name)


def _eval_conv(op: tops.ConvOp, xs: Sequence[np.ndarray]) -> np.ndarray:
    return conv(xs[0], xs[1], xs[2] if len(xs) > 2 else None, _ints(op, "strides"), _ints(op, "pads"),
                _ints(op, "dilations"), op.group.value.data)


def _eval_pool(op: tops.PoolOp, xs: Sequence[np.ndarray]) -> np.ndarray:
    include = isinstance(op, tops.AvgPoolOp) and bool(op.count_include_pad.value.data)
    return pool(xs[0], "max" if isinstance(op, tops.MaxPoolOp) else "avg", _ints(op, "kernel"), _ints(op, "strides"),
                _ints(op, "pads"), _ints(op, "dilations"), bool(op.ceil_mode.value.data), include)


def _eval_im2col(op: tops.Im2colOp, xs: Sequence[np.ndarray]) -> np.ndarray:
    windows = im2col(xs[0], _ints(op, "kernel"), _ints(op, "strides"), _ints(op, "pads"), _ints(op, "dilations"))
    return windows.reshape(op.out_shape())


def _eval_lrn(op: tops.LRNOp, xs: Sequence[np.ndarray]) -> np.ndarray:
    return lrn(xs[0], op.size.value.data, op.alpha.value.data, op.beta.value.data, op.bias.value.data)


def _eval_batch_norm(op: tops.BatchNormOp, xs: Sequence[np.ndarray]) -> np.ndarray:
    return batch_norm(*xs, op.epsilon.value.data)


KERNELS = {
    tops.ConvOp: _eval_conv,
    tops.MaxPoolOp: _eval_pool,
    tops.AvgPoolOp: _eval_pool,
    tops.Im2colOp: _eval_im2col,
    tops.LRNOp: _eval_lrn,
    tops.BatchNormOp: _eval_batch_norm,
}
"""The `tops` interpreter's kernels for these ops (compiler/tops_eval.py)."""
