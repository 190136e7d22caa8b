"""The runtime's promise checks: one valid two-chip program, corrupted by hand one promise at a time."""

import re

import numpy as np
import pytest

from compiler.system import load_system
from runtime import BrokenPromise, Program, run
from runtime.program import parse_module

SYSTEM = load_system("fc:2")
LANES = SYSTEM.lanes
LAT = SYSTEM.latency
LINK = SYSTEM.link(0, 1, 0)
SER = SYSTEM.serialization_cycles(LINK)
ARRIVE = 40 + SER + SYSTEM.hop_latency(LINK)  # the first vector sent at cycle 40 lands on chip 1
COPY = ARRIVE + 3 * SER  # chip 1 copies once the last vector has landed
MATMUL = 8  # the plane's tile is ready at 6 + mxm_load, the sum lands at 3 + vxm
assert MATMUL >= 6 + LAT["mxm_load"] and MATMUL >= 3 + LAT["vxm"] and 40 >= MATMUL + 6 + LAT["mxm"]

CHIP0 = f"""builtin.module {{
  chip.stream core 0 "fc:2" {{
    %x = chip.input "X" core 0 at 0 : tensor<4x{LANES}xf32>
    %w = chip.input "W" core 0 at 10 : tensor<4x{LANES}xf32>
    %a = chip.vxm "add" core 0 unit "vxm0" cycle 0 repeat 4 stride 1 lanes {LANES} dst [20, 1] lhs [0, 1] (%x) rhs [10, 1] (%w)
    %l = chip.mxm_load core 0 unit "mxm0" cycle 0 repeat 4 stride 2 src [10, 1] (%w)
    %m = chip.mxm_matmul core 0 unit "mxm0" cycle {MATMUL} repeat 4 stride 2 weights (%l) dst [30, 1] src [20, 1] (%a)
    %s = chip.send core 0 unit "c2c0" cycle 40 repeat 4 stride {SER} to 1 port 0 src [30, 1] (%m)
    chip.output "A" core 0 at 20 : tensor<4x{LANES}xf32> (%a)
  }}
}}"""
CHIP1 = f"""builtin.module {{
  chip.stream core 1 "fc:2" {{
    %r = chip.recv core 1 unit "c2c0" cycle {ARRIVE} repeat 4 stride {SER} from 0 port 0 dst [0, 1]
    %c = chip.mem_copy core 1 unit "mem0" cycle {COPY} repeat 4 stride 1 dst [10, 1] src [0, 1] (%r)
    chip.output "Y" core 1 at 10 : tensor<4x{LANES}xf32> (%c)
  }}
}}"""
INPUTS = {"X": np.ones((4, LANES), np.float32), "W": np.eye(4, LANES, dtype=np.float32)}


def execute(chip0: str = CHIP0, chip1: str = CHIP1):
    program = Program.from_modules([parse_module(chip0), parse_module(chip1)], SYSTEM)
    return run(program, INPUTS)


def corrupt(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def broken(chip0: str = CHIP0, chip1: str = CHIP1) -> str:
    with pytest.raises(BrokenPromise) as caught:
        execute(chip0, chip1)
    return str(caught.value)


def assert_names(message: str, chip: int, unit: str, cycle: int | str, index: int, op: str, *why: str) -> None:
    assert f"chip {chip}, unit {unit}, cycle {cycle}" in message, message
    assert f"instruction #{index} of chip {chip}: " in message and op in message, message
    for words in why:
        assert re.search(words, message), (words, message)


def test_the_uncorrupted_program_runs():
    result = execute()
    expected = np.zeros((4, LANES), np.float32)
    expected[:, :4] = 1 + np.eye(4)  # (x + w) @ w with x all ones and w the first rows of I
    np.testing.assert_array_equal(result.outputs["Y"], expected)
    np.testing.assert_array_equal(result.outputs["A"], INPUTS["X"] + INPUTS["W"])
    assert result.cycles == COPY + 3 + LAT["mem"]


def test_read_before_ready_is_late_data():
    early = COPY - SER
    message = broken(chip1=corrupt(CHIP1, f"cycle {COPY}", f"cycle {early}"))
    landing = ARRIVE + 3 * SER
    assert_names(message, 1, "mem0", early + 3, 1, "chip.mem_copy", "operand 'src' reads address 3", f"lands it at cycle {landing}", "late data")


def test_read_after_overwrite():
    clobber = f'\n    %o = chip.vxm "neg" core 0 unit "vxm1" cycle 2 repeat 1 stride 1 lanes {LANES} dst [21, 1] lhs [0, 1] (%x)'
    chip0 = corrupt(CHIP0, "\n    %l = ", clobber + "\n    %l = ")
    message = broken(chip0)
    assert_names(
        message, 0, "mxm0", MATMUL + 2, 5, "chip.mxm_matmul", "reads address 21", "overwritten by #3", f"at cycle {2 + LAT['vxm']}"
    )


def test_nothing_written_yet():
    message = broken(corrupt(CHIP0, "src [20, 1] (%a)", "src [50, 1] (%a)"))
    assert_names(message, 0, "mxm0", MATMUL, 4, "chip.mxm_matmul", "address 50 .*where nothing has been written")


def test_output_must_read_its_producers_values():
    message = broken(corrupt(CHIP0, "(%a)\n  }", "(%x)\n  }"))
    assert_names(message, 0, "host", "end", 6, "chip.output", "the output reads address 20", "written by #2")


def test_two_writes_landing_at_one_address_in_one_cycle():
    twin = f'\n    %o = chip.vxm "neg" core 0 unit "vxm1" cycle 1 repeat 1 stride 1 lanes {LANES} dst [21, 1] lhs [0, 1] (%x)'
    message = broken(corrupt(CHIP0, "\n    %l = ", twin + "\n    %l = "))
    assert "cycle 5:" in message and "two writes land at address 21" in message, message


def test_two_sends_overlapping_on_a_link():
    message = broken(corrupt(CHIP0, f"stride {SER} to 1", f"stride {SER - 1} to 1"))
    assert_names(message, 0, "c2c0", 40 + SER - 1, 5, "chip.send", "iteration 1 is sent while link 0->1 port 0 still carries iteration 0", f"until cycle {40 + SER}")


def test_send_on_a_link_the_system_does_not_have():
    message = broken(corrupt(CHIP0, "to 1 port 0", "to 1 port 1"))
    assert_names(message, 0, "c2c0", 40, 5, "chip.send", "no such link")


def test_recv_with_nothing_arriving():
    message = broken(chip1=corrupt(CHIP1, f"repeat 4 stride {SER} from", f"repeat 5 stride {SER} from"))
    assert_names(message, 1, "c2c0", ARRIVE + 4 * SER, 0, "chip.recv", "iteration 4", "nothing arrives")


def test_arrival_with_no_recv():
    message = broken(corrupt(CHIP0, f"repeat 4 stride {SER} to", f"repeat 5 stride {SER} to"))
    assert_names(message, 0, "c2c0", 40 + 4 * SER, 5, "chip.send", "iteration 4", f"at cycle {ARRIVE + 4 * SER} and no recv")


def test_unit_issuing_twice_in_a_cycle():
    message = broken(corrupt(CHIP0, f"cycle {MATMUL} repeat 4 stride 2", f"cycle {MATMUL - 2} repeat 4 stride 2"))
    assert_names(message, 0, "mxm0", MATMUL - 2, 4, "chip.mxm_matmul", "already issues #3")


def test_sram_overflow():
    top = SYSTEM.sram_vectors - 2
    message = broken(chip1=corrupt(CHIP1, "dst [10, 1] src", f"dst [{top}, 1] src"))
    landing = COPY + 2 + LAT["mem"]
    assert_names(message, 1, "mem0", landing, 1, "chip.mem_copy", f"iteration 2 writes address {top + 2}, outside SRAM")


def test_output_extent_outside_sram():
    top = SYSTEM.sram_vectors - 2
    message = broken(chip1=corrupt(CHIP1, "at 10 :", f"at {top} :"))
    assert_names(message, 1, "host", "end", 2, "chip.output", "outside SRAM")


def test_matmul_on_a_tile_not_ready():
    message = broken(corrupt(CHIP0, f"cycle {MATMUL} repeat 4 stride 2", "cycle 1 repeat 4 stride 2"))
    assert_names(message, 0, "mxm0", 1, 4, "chip.mxm_matmul", "tile not ready", f"ready only at cycle {6 + LAT['mxm_load']}")


def test_matmul_on_an_overwritten_tile():
    reload = '\n    %l2 = chip.mxm_load core 0 unit "mxm0" cycle 9 repeat 1 stride 1 src [10, 1] (%w)'
    message = broken(corrupt(CHIP0, "\n    %m = ", reload + "\n    %m = "))
    assert_names(message, 0, "mxm0", MATMUL + 2, 5, "chip.mxm_matmul", "iteration 1", "tile overwritten", "#4")


def test_missing_cycle():
    message = broken(corrupt(CHIP0, 'unit "vxm0" cycle 0 repeat', 'unit "vxm0" repeat'))
    assert_names(message, 0, "vxm0", "none", 2, "chip.vxm", "no issue cycle")


def test_unknown_unit():
    message = broken(corrupt(CHIP0, 'unit "vxm0"', 'unit "vxm99"'))
    assert_names(message, 0, "vxm99", 0, 2, "chip.vxm", "no unit 'vxm99'")


def test_an_output_name_read_twice():
    twice = corrupt(CHIP1, 'chip.output "Y"', 'chip.output "A"')
    message = broken(chip1=twice)
    assert_names(message, 1, "host", "end", 2, "chip.output", "output 'A' is read twice", "#6")
