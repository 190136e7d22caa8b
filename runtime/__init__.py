"""The runtime: the hardware's stand-in that executes emitted chip streams and checks every promise."""

from runtime.errors import BrokenPromise
from runtime.machine import RunResult, run
from runtime.program import Program

__all__ = ["BrokenPromise", "Program", "RunResult", "run"]
