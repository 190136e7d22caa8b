"""`verify-schedule` checks one chip at a time, yet reports what a check of the whole program
would: the first check (in its fixed order) that fails on any chip, and within it the earliest
cycle over all chips, ties going to the op earlier in the program; a transfer's landing is
checked on its destination chip, and `schedule.cycles` against the last landing on any chip.
Timing from compiler/systems (fc:2): vxm 4, link ser 77 + hop latency 450."""

from __future__ import annotations

import pytest
from test_schedule import parse, program_text
from xdsl.context import Context
from xdsl.utils.exceptions import PassFailedException

from passes.verify_schedule import VerifySchedulePass


def early_read(chip: int, at: int) -> list[str]:
    """Ops on `chip` whose %b reads at cycle `at` what %a lands at cycle 4: too early if `at` < 4."""
    return [
        f"%w{chip} = chip.preload core {chip} at 0 dense<1.0> : tensor<2x320xf32>",
        f'%a{chip} = chip.vxm "relu" core {chip} unit "vxm0" cycle 0 repeat 1 stride 1 lanes 320 dst [2, 1] lhs [0, 1] (%w{chip})',
        f'%b{chip} = chip.vxm "neg" core {chip} unit "vxm1" cycle {at} repeat 1 stride 1 lanes 320 dst [4, 1] lhs [2, 1] (%a{chip})',
    ]


def early_read_story(chip: int, at: int, op: int) -> str:
    return (f"chip {chip}, unit vxm1, cycle {at}: chip.vxm %b{chip} (op {op} of the program) reads address 2 "
            f"(operand 'lhs') before chip.vxm %a{chip} (op {op - 1} of the program) lands it at cycle 4")


def apply(body: list[str], cycles: int) -> None:
    """verify-schedule on a two-chip program claiming `cycles`."""
    text = program_text("fc:2", body).replace('"fc:2" {', f'"fc:2" attributes {{schedule.cycles = {cycles} : i64}} {{')
    VerifySchedulePass().apply(Context(), parse(text))


def verify(body: list[str], cycles: int = 600) -> str:
    """The one-line failure verify-schedule reports (the test fails if it reports none)."""
    with pytest.raises(PassFailedException) as caught:
        apply(body, cycles)
    return str(caught.value)


# Chip 1's ops come first in the program: on a tie its violation is the earlier one.
@pytest.mark.parametrize(("at0", "at1", "chip"), [(3, 1, 1), (1, 3, 0), (2, 2, 1)])
def test_the_earliest_violation_over_both_chips_is_reported(at0, at1, chip):
    message = verify(early_read(1, at1) + early_read(0, at0))
    assert message == early_read_story(chip, at1 if chip else at0, 2 if chip else 5)


def test_the_first_check_to_fail_wins_over_an_earlier_cycle_on_another_chip():
    twice = '%c0 = chip.vxm "neg" core 0 unit "vxm1" cycle 10 repeat 1 stride 1 lanes 320 dst [6, 1] lhs [0, 1] (%w0)'
    message = verify(early_read(1, 1) + early_read(0, 10) + [twice])
    assert message == ("chip 0, unit vxm1, cycle 10: chip.vxm %c0 (op 6 of the program) issues on a unit that "
                       "chip.vxm %b0 (op 5 of the program) already uses in this cycle")


def test_a_colliding_landing_wins_over_an_earlier_bad_read_on_another_chip():
    collide = '%c0 = chip.vxm "neg" core 0 unit "vxm2" cycle 0 repeat 1 stride 1 lanes 320 dst [2, 1] lhs [1, 1] (%w0)'
    message = verify(early_read(1, 1) + early_read(0, 4) + [collide])
    assert message == ("chip 0, unit vxm2, cycle 4: chip.vxm %c0 (op 6 of the program) lands at address 2 "
                       "in the same cycle as chip.vxm %a0 (op 4 of the program)")


def test_a_transfer_lands_on_its_destination_chip():
    # The transfer lands at chip 1's address 0 at 0 + 77 + 450 = 527, as %c1 does.
    body = [
        "%w0 = chip.preload core 0 at 0 dense<1.0> : tensor<1x320xf32>",
        "%w1 = chip.preload core 1 at 8 dense<1.0> : tensor<1x320xf32>",
        "%t = net.transfer from 0 at 0 to 1 at 0 repeat 1 stride 77 route [0, 1, 0] via [] hops [0] (%w0)",
        '%c1 = chip.vxm "neg" core 1 unit "vxm0" cycle 523 repeat 1 stride 1 lanes 320 dst [0, 1] lhs [8, 1] (%w1)',
    ]
    assert verify(body) == ("chip 1, unit vxm0, cycle 527: chip.vxm %c1 (op 3 of the program) lands at address 0 "
                            "in the same cycle as net.transfer %t (op 2 of the program)")


def test_schedule_cycles_is_checked_against_the_last_landing_on_any_chip():
    body = early_read(0, 4) + early_read(1, 20)  # chip 0's last lands at 8, chip 1's at 24
    assert verify(body, 9) == ("chip 1, unit vxm1, cycle 24: chip.vxm %b1 (op 5 of the program) lands last, "
                               "so the program takes 24 cycles, but schedule.cycles says 9")
    apply(body, 24)  # the true makespan passes


def test_event_rows_expand_ramps_constants_and_packed_addresses():
    from passes.verify_schedule import _Rows

    rows = _Rows("op", "addr", "cycle")
    rows.add(3, op=7, addr=(10, 2), cycle=(100, 5))  # addresses 10, 12, 14 at 100, 105, 110
    rows.add(1, op=8, addr=40, cycle=0)
    rows.add(4, op=9, addr=(8, 1, 4), cycle=(0, 1))  # int8 rows 8..11 packed four to an address: 2, 2, 2, 2
    built = rows.build()
    assert built["op"].tolist() == [7, 7, 7, 8, 9, 9, 9, 9]
    assert built["addr"].tolist() == [10, 12, 14, 40, 2, 2, 2, 2]
    assert built["cycle"].tolist() == [100, 105, 110, 0, 0, 1, 2, 3]
    assert {k: v.size for k, v in _Rows("op").build().items()} == {"op": 0}
