"""Timing only checks one chip at a time (runtime/timing.py `check_by_chip`): on randomly broken
multi-chip programs it finds the same cycles, or the same first BrokenPromise, as the check of all
chips at once that the numbers use (`check`)."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from test_schedule import random_program, schedule
from xdsl.context import Context

from compiler.system import System, load_system
from passes.emit_streams import EmitStreamsPass, write_streams
from runtime import BrokenPromise, Program, timing
from runtime.program import parse_module

_NUMBER = re.compile(r'(cycle |repeat |\[|unit "mxm)(\d+)')  # issue cycles, repeat counts, SRAM addresses, planes


def emitted_streams(spec: str, seed: int, directory: Path) -> list[str]:
    """The chip stream texts of a scheduled random program (test_schedule.random_program)."""
    module, _ = schedule(random_program(spec, 80, seed))
    EmitStreamsPass().apply(Context(), module)
    write_streams(module, directory, load_system(spec))
    files = sorted(directory.glob("chip*.mlir"), key=lambda file: int(file.stem.removeprefix("chip")))
    return [file.read_text() for file in files]


def mutated(texts: list[str], rng: random.Random, system: System) -> list[str]:
    """1 to 4 numbers (cycles, repeats, addresses, planes) on random chips moved a little, an address
    moved to the top of SRAM or past it, or an MXM op moved to another plane."""
    texts, planes = list(texts), len(system.unit_names("mxm"))
    for _ in range(rng.randint(1, 4)):
        chip = rng.randrange(len(texts))
        matches = list(_NUMBER.finditer(texts[chip]))
        if not matches:
            continue
        found = rng.choice(matches)
        value = int(found.group(2))
        if found.group(1) == 'unit "mxm':
            value = (value + rng.randrange(1, planes)) % planes
        elif found.group(1) == "[" and rng.random() < 0.2:
            value = rng.choice([system.sram_vectors - 2, system.sram_vectors])
        else:
            value = max(1 if found.group(1) == "repeat " else 0, value + rng.choice([-3, -2, -1, 1, 2, 3]))
        start, end = found.span(2)
        texts[chip] = texts[chip][:start] + str(value) + texts[chip][end:]
    return texts


def outcome(check: Callable[[Program], timing.Timeline | int], program: Program) -> tuple[str, int | str]:
    """("cycles", n) or ("broken", the BrokenPromise's text)."""
    try:
        result = check(program)
    except BrokenPromise as error:
        return "broken", str(error)
    return "cycles", result if isinstance(result, int) else result.cycles


@pytest.mark.parametrize(("spec", "seed"), [("ring:4", 2), ("fc:2", 3), ("ring:4", 5)])
def test_chip_by_chip_reports_what_all_chips_at_once_report(tmp_path, spec, seed):
    system = load_system(spec)
    texts, rng = emitted_streams(spec, seed, tmp_path), random.Random(seed)
    parsed = {text: parse_module(text) for text in texts}  # parsing dominates: only mutated chips anew
    found: Counter[str] = Counter()
    for trial in range(30):
        chips = texts if trial == 0 else mutated(texts, rng, system)
        program = Program.from_modules([parsed.get(text) or parse_module(text) for text in chips], system)
        expected = outcome(timing.check, program)
        assert outcome(timing.check_by_chip, program) == expected
        found[expected[0] if expected[0] == "cycles" else str(expected[1]).split(": ")[1][:12]] += 1
    assert found["cycles"] < 10 and len(found) >= 5, found  # the mutations break many different promises
