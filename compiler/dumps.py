"""Showing the IR between passes: printed to a stream and/or saved one file per pass.

`PassDumper.callback` is a `PassPipeline` callback, so `lockstep-opt` and the
`lockstep compile` driver share it: `--print-ir-after-all`,
`--print-ir-after=PASS` and `--dump-dir DIR` (DIR/00-input.mlir, then
DIR/01-<pass>.mlir, ... after every pass).
"""
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import IO

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.printer import Printer

from compiler.errors import LockstepError

PipelineCallback = Callable[[ModulePass | None, ModuleOp, ModulePass | None], None]


@dataclass
class PassDumper:
    print_after_all: bool = False
    print_after: frozenset[str] = frozenset()
    dump_dir: Path | None = None
    # Looked up when the dumper is made, so a redirected sys.stderr is honoured.
    stream: IO[str] = field(default_factory=lambda: sys.stderr)
    generic: bool = False
    debuginfo: bool = False
    _index: int = field(default=0, init=False)

    def check(self, pipeline: Iterable[str]) -> None:
        """Fail early if --print-ir-after names a pass the pipeline never runs."""
        names = list(pipeline)
        if missing := sorted(self.print_after - set(names)):
            raise LockstepError(
                f"--print-ir-after={missing[0]} names no pass of the pipeline ({', '.join(names) or 'no passes'})"
            )

    def callback(self, previous: ModulePass | None, module: ModuleOp, _next: ModulePass | None) -> None:
        if previous is None:  # the pipeline is starting: the input comes first
            self._index = 0
            self._save("input", module)
            return
        self._index += 1
        if self.print_after_all or previous.name in self.print_after:
            self.stream.write(f"// -----// IR Dump After {previous.name} //----- //\n{self._render(module)}\n")
        self._save(previous.name, module)

    def _save(self, step: str, module: ModuleOp) -> None:
        if self.dump_dir is None:
            return
        self.dump_dir.mkdir(parents=True, exist_ok=True)
        (self.dump_dir / f"{self._index:02d}-{step}.mlir").write_text(self._render(module) + "\n")

    def _render(self, module: ModuleOp) -> str:
        text = StringIO()
        Printer(stream=text, print_generic_format=self.generic, print_debuginfo=self.debuginfo).print_op(module)
        return text.getvalue()


def chain(*callbacks: PipelineCallback) -> PipelineCallback:
    """One pipeline callback that calls `callbacks` in order."""

    def run_all(previous: ModulePass | None, module: ModuleOp, next_pass: ModulePass | None) -> None:
        for callback in callbacks:
            callback(previous, module, next_pass)

    return run_all
