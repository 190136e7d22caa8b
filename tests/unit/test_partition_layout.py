"""The index arithmetic of tensor partitioning (passes/partition_layout.py, the spatial tiling
of passes/partition_conv.py, the heads of passes/partition_heads.py), checked against numpy:
what each chip holds after a reshape, a slice, a rearranged split or an all-gather."""

import numpy as np
import pytest
from xdsl.ir import Block

from dialects import tops
from passes.partition_conv import (
    CHANNELS,
    REPLICATED,
    SPATIAL,
    conv_choice,
    spatial_tiling,
)
from passes.partition_layout import (
    Shard,
    arranged,
    largest_divisor,
    reshaped,
    restore_order,
    sliced,
)


def pieces(array: np.ndarray, shard: Shard) -> list[np.ndarray]:
    """What every chip holds: its indices along the axis, in its order."""
    return [np.take(array, list(held), axis=shard.axis) for held in shard.holds]


def test_blocks_replicated_blocks_and_copies():
    assert Shard.blocks(1, 8, 4).holds == ((0, 1), (2, 3), (4, 5), (6, 7))
    twice = Shard.blocks(0, 4, 4, parts=2)
    assert twice.holds == ((0, 1), (0, 1), (2, 3), (2, 3))
    assert twice.copies() == 2 and Shard.blocks(0, 4, 4).copies() == 1
    assert twice.size == 4 and twice.local == 2
    assert Shard.blocks(0, 4, 2).is_blocks() and not twice.is_blocks()


def test_dealt_orders_the_chips_by_the_block_they_hold():
    assert Shard.blocks(1, 8, 4).dealt() == [0, 1, 2, 3]
    assert Shard.blocks(0, 4, 4, parts=2).dealt() == [0, 1, 2, 3]  # blocks shared by consecutive chips
    by_position_mod_2 = Shard(1, ((0, 1), (2, 3), (0, 1), (2, 3)))
    assert by_position_mod_2.dealt() == [0, 2, 1, 3]
    assert Shard(0, ((1, 2), (0, 3))).dealt() is None  # not whole blocks
    assert Shard(0, ((0,), (0,), (1,))).dealt() is None  # block 0 held twice, block 1 once
    assert Shard(0, ((2, 3), (0, 1))).dealt() == [1, 0]


@pytest.mark.parametrize("src, dst, axis", [
    ((3, 8), (3, 2, 4), 1),        # [S, H*hd] -> [S, H, hd]: whole heads per chip
    ((3, 2, 4), (3, 8), 1),        # heads merged back
    ((64, 1, 1, 16), (1, 8, 8, 16), 0),  # pool windows -> output rows
    ((2, 2, 1, 3), (4, 1, 3), 0),  # KV heads merged with their repeats
    ((4, 3, 2), (2, 6, 2), 0),     # query heads [H, S, d] -> [KV, G*S, d], whole KV groups
    ((2, 6, 2), (4, 3, 2), 0),     # and back
])
def test_reshaped_matches_numpy(src, dst, axis):
    """A reshape that keeps every chip's slices whole: reshaping each chip's piece gives the
    piece of the reshaped tensor that the new sharding names."""
    x = np.arange(int(np.prod(src))).reshape(src)
    for shard in (Shard.blocks(axis, src[axis], 2), Shard(axis, tuple(reversed(Shard.blocks(axis, src[axis], 2).holds)))):
        out = reshaped(shard, src, dst)
        assert out is not None
        y = x.reshape(dst)
        for piece, expect in zip(pieces(x, shard), pieces(y, out)):
            local = list(dst)
            local[out.axis] = out.local
            np.testing.assert_array_equal(piece.reshape(local), expect)


def test_reshape_that_interleaves_chips_is_refused():
    # [S, 8] -> [S, 2, 4] with 4 chips: a chip's 2 columns are half a head
    assert reshaped(Shard.blocks(1, 8, 4), (3, 8), (3, 2, 4)) is None
    # [4, 6] -> [2, 12] when chip 0 holds rows 0 and 2: result row 0 is rows 0 and 1
    assert reshaped(Shard(0, ((0, 2), (1, 3))), (4, 6), (2, 12)) is None


def test_slice_of_a_permuted_sharding_is_local():
    """A fused QKV split: chip i holds its heads' q, k, v columns; each Split piece is the
    same local slice on every chip."""
    qkv = Shard(1, ((0, 1, 4, 5, 8, 9), (2, 3, 6, 7, 10, 11)))
    x = np.arange(24).reshape(2, 12)
    for start, local_start in ((0, 0), (4, 2), (8, 4)):
        out, at = sliced(qkv, start, 4)
        assert at == local_start
        for piece, expect in zip(pieces(x, qkv), pieces(x[:, start:start + 4], out)):
            np.testing.assert_array_equal(piece[:, at:at + 2], expect)
    assert sliced(qkv, 2, 4) is None  # chip 0 holds 2 of these columns, but not together
    assert sliced(Shard.blocks(1, 12, 2), 0, 4) is None  # chip 1 holds none of them


def test_arranged_split_and_restored_gather_round_trip():
    x = np.arange(24, dtype=np.float32).reshape(2, 12)
    for shard in (Shard(1, ((0, 1, 4, 5, 8, 9), (2, 3, 6, 7, 10, 11))), Shard.blocks(1, 12, 4, parts=2)):
        chips = np.split(arranged(x, shard), len(shard.holds), axis=1)
        for piece, expect in zip(chips, pieces(x, shard)):
            np.testing.assert_array_equal(piece, expect)
        gathered = np.concatenate(chips, axis=1)
        positions = restore_order(shard, 12)
        assert positions is not None
        np.testing.assert_array_equal(gathered[:, positions], x)
    assert restore_order(Shard.blocks(1, 12, 2), 12) is None


def test_count_once_zeroes_repeated_rows():
    """Row-split weights of an input held twice: summing every chip's partial product
    (the all-reduce) gives x @ w exactly once."""
    x, w = np.arange(8.0).reshape(1, 8), np.arange(16.0).reshape(8, 2)
    shard = Shard.blocks(1, 8, 4, parts=2)
    weights = np.split(arranged(w, shard.moved(0), count_once=True), 4, axis=0)
    total = sum(piece @ local for piece, local in zip(pieces(x, shard), weights))
    np.testing.assert_array_equal(total, x @ w)


def test_largest_divisor():
    assert largest_divisor(8, [4]) == 4 and largest_divisor(8, [2, 4]) == 2 and largest_divisor(8, [3]) == 1


def im2col(x: tuple[int, ...], kernel, strides, pads) -> tops.Im2colOp:
    block = Block(arg_types=[tops.tensor(x)])
    return tops.Im2colOp(block.args[0], kernel, strides, pads, [1] * len(kernel))


@pytest.mark.parametrize("x, kernel, strides, pads, chips, expect", [
    ((1, 16, 16, 16), [3, 3], [1, 1], [1, 1, 1, 1], 8, (1, 1)),  # 3x3 pad 1: a row each way
    ((1, 8, 8, 16), [3, 3], [2, 2], [1, 1, 1, 1], 4, (1, 0)),    # stride 2: only the row above
    ((1, 16, 16, 16), [2, 2], [2, 2], [0, 0, 0, 0], 8, (0, 0)),  # a 2x2 pool: no halo
    ((1, 8, 8, 16), [3, 3], [2, 2], [1, 1, 1, 1], 8, None),      # 4 output rows on 8 chips
    ((1, 4, 4, 2), [5, 5], [1, 1], [2, 2, 2, 2], 4, None),       # halo of 2 rows, tiles of 1
])
def test_spatial_tiling(x, kernel, strides, pads, chips, expect):
    tiling = spatial_tiling(im2col(x, kernel, strides, pads), x, chips)
    assert (tiling and (tiling.above, tiling.below)) == expect
    if tiling:
        assert tiling.out_axis == 1 and tiling.pads[0] == tiling.pads[len(kernel)] == 0


def test_conv_choice_by_vectors():
    windows = (1, 16, 16, 144)
    assert conv_choice(windows, 16, 8, 320) == SPATIAL         # 16 channels: one vector per pixel
    assert conv_choice(windows, 2560, 8, 320) == CHANNELS      # 8 vectors per pixel: 1 each
    assert conv_choice((1, 4, 4, 144), 32, 8, 320) == REPLICATED  # 4 rows, one vector per pixel
    assert conv_choice((1, 4, 4, 144), 640, 8, 320) == CHANNELS   # 2 vectors per pixel -> 1
