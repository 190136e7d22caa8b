"""Attention heads under `partition` (strategy `tensor`): which columns a projection's chips
compute so that attention runs per head group on each chip, with no collective until the
output projection (Megatron).

A projection is a matmul by a constant weight whose result (after a bias add) is cut into
heads by a reshape `[.., N] -> [.., H, hd]`, either directly (BERT's and Llama's separate
q, k, v) or after a Split into pieces along the last axis (GPT-2's fused `[D, 3D]` QKV
projection, then Split into q, k, v). Each chip gets whole heads of every piece: with
`parts` the largest divisor of the chip count that divides every piece's heads, chip i
computes head block `i * parts / chips` of each piece (a permuted column split of a fused
weight: its q, k and v columns). With fewer heads than chips (4 heads on 8 chips) each head
block is computed by `chips / parts` chips.

Grouped-query attention (Llama: 8 query heads, 2 KV heads, groups of G = 4) reaches
`partition` as matmuls batched on the KV heads (passes/normalise_attention.py): the query
heads [.., H, S, d] are viewed as [.., KV, G*S, d] and multiplied by the un-repeated K and
V. A chip's query heads are either whole KV groups or a consecutive run inside one group
(`head_blocks`), never parts of two groups. The K and V projections split by KV heads as
any projection does, so with more chips than KV heads a KV head is computed on several
chips (8 chips, 2 KV heads: each on 4). The query projection splits by query heads as far
as the chips allow: 8 chips, one query head each; chips 0-3 hold KV head 0. The grouped
matmuls stay local: with whole groups per chip they are batched on the chip's KV heads;
with part of a group (`kv_heads_of`) each chip multiplies only its heads' rows [.., 1,
its heads * S, d] of the grouped view by its group's K and V (passes/partition_tensor.py),
and the output projection then takes its rows by query heads. Compared with computing
every group whole on each of its chips, that divides each chip's share of the query and
output projections and its attention rows by up to the chips per KV head (Llama-2-70B, 64
query heads in 8 groups, on 64 chips: by 8). `attention_projections` finds the
projections behind the grouped matmuls. K and V may also be graph inputs and outputs (the
KV cache a decode step takes and returns): each chip holds only its KV heads of the cache,
which the host writes and reads in slices (passes/host_io.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.ir import SSAValue

from dialects import tops
from passes.partition_layout import Shard, largest_divisor

Piece = tuple[int, int, int]
"""(first column, columns, heads) of one part of a projection's output."""


def splits_heads(op: tops.ReshapeOp) -> int | None:
    """Heads of a reshape [.., N] -> [.., H, hd] (the leading axes unchanged), else None."""
    src, dst = tops.shape_of(op.input), tops.shape_of(op.result)
    if len(dst) != len(src) + 1 or dst[:-2] != src[:-1] or dst[-2] * dst[-1] != src[-1]:
        return None
    return dst[-2]


def only_user(value: SSAValue) -> object | None:
    users = [use.operation for use in value.uses]
    return users[0] if len(users) == 1 else None


def bias_end(value: SSAValue) -> SSAValue:
    """Past the elementwise ops with a constant operand that only this value feeds (a bias)."""
    while isinstance(user := only_user(value), tops.BinaryOp) and any(
            isinstance(v.owner, tops.ConstantOp) for v in user.operands):
        value = user.results[0]
    return value


def head_pieces(op: tops.MatmulOp) -> list[Piece] | None:
    """How the projection's output is cut into heads, or None if it is not."""
    out = bias_end(op.result)
    n = tops.shape_of(out)[-1]
    users = [use.operation for use in out.uses]
    if len(users) == 1 and isinstance(users[0], tops.ReshapeOp):
        heads = splits_heads(users[0])
        return None if heads is None else [(0, n, heads)]
    pieces = []
    for user in users:
        if not isinstance(user, tops.SliceOp):
            return None
        src, dst = tops.shape_of(user.input), tops.shape_of(user.result)
        starts, steps = user.starts.get_values(), user.steps.get_values()
        reshape = only_user(user.result)
        if set(steps) != {1} or any(starts[:-1]) or src[:-1] != dst[:-1] or not isinstance(reshape, tops.ReshapeOp):
            return None
        heads = splits_heads(reshape)
        if heads is None:
            return None
        pieces.append((starts[-1], dst[-1], heads))
    pieces.sort()
    covered = [c for start, width, _ in pieces for c in range(start, start + width)]
    return pieces if pieces and covered == list(range(n)) else None


def projection_shard(op: tops.MatmulOp, chips: int, group: int = 1) -> Shard | None:
    """The column split of a projection that gives every chip whole heads of each piece (whole
    groups of `group` heads), or None (not cut into heads, or one head block only)."""
    pieces = head_pieces(op)
    if pieces is None or any(heads % group for _, _, heads in pieces):
        return None
    parts = head_blocks(chips, [heads for _, _, heads in pieces], group)
    if parts == 1:
        return None
    holds = []
    for i in range(chips):
        block = i * parts // chips
        holds.append(tuple(start + block * (width // parts) + u
                           for start, width, _ in pieces for u in range(width // parts)))
    rank = len(tops.shape_of(op.result))
    return Shard(rank - 1, tuple(holds))


def head_blocks(chips: int, heads: Sequence[int], group: int) -> int:
    """Into how many blocks of whole heads the chips split every piece: the most that divide
    the chips and each piece's heads, if every block is whole KV groups of `group` heads or
    lies inside one group; else the most blocks of whole groups (16 chips, 24 query heads in
    6 groups of 4: 8 blocks of 3 would straddle groups, so 2 blocks of 3 groups)."""
    parts = largest_divisor(chips, heads)
    if all((n // parts) % group == 0 or group % (n // parts) == 0 for n in heads):
        return parts
    return largest_divisor(chips, [n // group for n in heads])


def kv_heads_of(heads: Shard, group: int) -> Shard | None:
    """The KV heads the chips need when each holds a consecutive run of query heads (`heads`)
    inside one group of `group`, shorter than the group: chip i holds its group's KV head (same
    axis); None when some chip's heads are not such a run (whole groups: the grouped view keeps
    the chips' slices whole, passes/partition_layout.py `reshaped`)."""
    kv = []
    for held in heads.holds:
        first = held[0]
        if len(held) >= group or held != tuple(range(first, first + len(held))) or first // group != held[-1] // group:
            return None
        kv.append((first // group,))
    return Shard(heads.axis, tuple(kv))


def grouping(src: Sequence[int], dst: Sequence[int]) -> int | None:
    """G of a reshape [.., H, M, K] -> [.., H/G, G*M, K] (query heads gathered per KV head), else None."""
    src, dst = list(src), list(dst)
    if len(src) != len(dst) or len(src) < 3 or src[:-3] != dst[:-3] or src[-1] != dst[-1] or src[-3] % dst[-3]:
        return None
    group = src[-3] // dst[-3]
    return group if group > 1 and dst[-2] == group * src[-2] else None


def projections_behind(value: SSAValue) -> list[tops.MatmulOp]:
    """The matmuls by a constant weight whose results reach `value` through data movement and
    elementwise ops."""
    seen: set[SSAValue] = set()
    found: list[tops.MatmulOp] = []
    stack = [value]
    while stack:
        value = stack.pop()
        if value in seen:
            continue
        seen.add(value)
        owner = value.owner
        if isinstance(owner, tops.MatmulOp) and isinstance(owner.rhs.owner, tops.ConstantOp):
            found.append(owner)
        elif isinstance(owner, (tops.BinaryOp, tops.UnaryOp, tops.SelectOp, tops.ReshapeOp, tops.TransposeOp)):
            stack.extend(v for v in owner.operands if not isinstance(v.owner, tops.ConstantOp))
    return found


def attention_projections(ops: list) -> tuple[dict[tops.MatmulOp, int], set[tops.MatmulOp]]:
    """Around every grouped-query matmul (A a grouping reshape): the query projections with
    their group size G, and the K and V projections."""
    queries: dict[tops.MatmulOp, int] = {}
    kv: set[tops.MatmulOp] = set()
    for op in ops:
        if not isinstance(op, tops.MatmulOp) or not isinstance(reshape := op.lhs.owner, tops.ReshapeOp):
            continue
        if (group := grouping(tops.shape_of(reshape.input), tops.shape_of(reshape.result))) is None:
            continue
        for projection in projections_behind(reshape.input):
            queries[projection] = group
        kv.update(projections_behind(op.rhs))
    return queries, kv
