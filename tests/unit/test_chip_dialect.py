"""Shortcuts dialects/chip.py takes past xDSL's builders, and the assumptions they rest on."""

from __future__ import annotations

import pytest
from xdsl.dialects.builtin import IntegerAttr

from dialects import chip


@pytest.mark.parametrize("value", [0, 7, -3, 123_456_789, (1 << 63) - 1, -(1 << 63)])
def test_i64_attr_equals_what_xdsl_builds(value):
    built = chip.i64_attr(value)
    assert built == IntegerAttr(value, 64) and hash(built) == hash(IntegerAttr(value, 64))
    built.verify()  # what the shortcut skipped holds


@pytest.mark.parametrize("value", [1 << 63, -(1 << 63) - 1])
def test_i64_attr_refuses_what_does_not_fit(value):
    with pytest.raises(ValueError, match="64-bit"):
        chip.i64_attr(value)


def test_slot_tokens_follow_the_segment_sizes_of_each_op():
    """Segment starts are cached by the sizes attribute's identity: ops with different sizes
    (shared or not) each get their own."""
    from xdsl.dialects.test import TestOp

    values = TestOp.create(result_types=[chip.TOKEN] * 3).results
    one = chip.VxmOp(0, 1, {"lhs": (0, 1, [values[0]]), "rhs": (4, 1, [values[1], values[2]])}, dst=(8, 1),
                     fields={"op": "add", "lanes": 320})
    two = chip.VxmOp(0, 1, {"lhs": (0, 1, [values[0], values[1]])}, dst=(8, 1), fields={"op": "relu", "lanes": 320})
    assert one.slot_tokens("lhs") == (values[0],) and one.slot_tokens("rhs") == (values[1], values[2])
    assert two.slot_tokens("lhs") == (values[0], values[1]) and two.slot_tokens("rhs") == ()
