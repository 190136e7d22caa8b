"""The `net` dialect: vector transfers between chips along concrete routes.

A `net.transfer` moves `repeat` vectors from `src_addr` on one chip to
`dst_addr` on another along `route`, a list of directed links given as flat
(src, dst, port) triples. Intermediate chips store and forward through the
buffers in `via` (one base address per intermediate chip). After `schedule`,
`hops` holds the cycle at which the first vector enters each hop; vector i
enters hop h at `hops[h] + i*stride`. Its result token stands for the data
landed on the destination chip, so `chip` instructions there can name it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from xdsl.dialects.builtin import I64, DenseArrayBase, IntegerAttr, i64
from xdsl.ir import Dialect, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    opt_prop_def,
    prop_def,
    result_def,
    var_operand_def,
)
from xdsl.utils.exceptions import VerifyException

from dialects.chip import TOKEN, TokenType, i64_attr


def int_array(values: Sequence[int]) -> DenseArrayBase:
    return _int_array(tuple(values))


@lru_cache(maxsize=1 << 14)
def _int_array(values: tuple[int, ...]) -> DenseArrayBase:
    """Routes repeat a lot and attributes are immutable: build each once."""
    return DenseArrayBase.from_list(i64, list(values))


@irdl_op_definition
class TransferOp(IRDLOperation):
    name = "net.transfer"

    src_core = prop_def(IntegerAttr[I64])
    dst_core = prop_def(IntegerAttr[I64])
    count = prop_def(IntegerAttr[I64])
    stride = prop_def(IntegerAttr[I64])
    src_addr = prop_def(IntegerAttr[I64])
    dst_addr = prop_def(IntegerAttr[I64])
    route = prop_def(DenseArrayBase.constr(i64))
    via = prop_def(DenseArrayBase.constr(i64))
    hops = opt_prop_def(DenseArrayBase.constr(i64))
    src = var_operand_def(TokenType)
    result = result_def(TokenType)

    assembly_format = (
        "`from` $src_core `at` $src_addr `to` $dst_core `at` $dst_addr `repeat` $count `stride` $stride "
        "`route` $route `via` $via (`hops` $hops^)? `(` $src `)` attr-dict"
    )

    def __init__(
        self,
        src: Sequence[SSAValue],
        src_core: int,
        src_addr: int,
        dst_core: int,
        dst_addr: int,
        count: int,
        stride: int,
        route: Sequence[tuple[int, int, int]],
        via: Sequence[int],
    ):
        super().__init__(
            operands=[src],
            properties={
                "src_core": i64_attr(src_core),
                "dst_core": i64_attr(dst_core),
                "count": i64_attr(count),
                "stride": i64_attr(stride),
                "src_addr": i64_attr(src_addr),
                "dst_addr": i64_attr(dst_addr),
                "route": int_array([x for link in route for x in link]),
                "via": int_array(via),
            },
            result_types=[TOKEN],
        )

    def links(self) -> list[tuple[int, int, int]]:
        flat = self.route.get_values()
        return [tuple(flat[i : i + 3]) for i in range(0, len(flat), 3)]  # type: ignore[misc]

    def verify_(self) -> None:
        flat = self.route.get_values()
        if not flat or len(flat) % 3:
            raise VerifyException("net.transfer route must be a non-empty list of (src, dst, port) triples")
        links = self.links()
        if self.count.value.data < 1 or self.stride.value.data < 1:
            raise VerifyException("net.transfer needs repeat >= 1 and stride >= 1")
        if self.src_addr.value.data < 0 or self.dst_addr.value.data < 0:
            raise VerifyException("net.transfer addresses must not be negative")
        if any(a == b for a, b, _ in links):
            raise VerifyException("net.transfer route has a link from a chip to itself")
        if links[0][0] != self.src_core.value.data or links[-1][1] != self.dst_core.value.data:
            raise VerifyException(
                f"net.transfer route runs {links[0][0]} -> {links[-1][1]}, "
                f"not {self.src_core.value.data} -> {self.dst_core.value.data}"
            )
        for (_, a, _), (b, _, _) in zip(links, links[1:]):
            if a != b:
                raise VerifyException(f"net.transfer route is broken between chip {a} and chip {b}")
        if len(self.via.get_values()) != len(links) - 1:
            raise VerifyException(
                f"net.transfer needs one via buffer per intermediate chip: {len(links) - 1}, "
                f"got {len(self.via.get_values())}"
            )
        if self.hops is not None and len(self.hops.get_values()) != len(links):
            raise VerifyException(f"net.transfer has {len(links)} hops but {len(self.hops.get_values())} hop cycles")
        if not self.src:
            raise VerifyException("net.transfer must name the producers of what it sends")


Net = Dialect("net", [TransferOp], [])
