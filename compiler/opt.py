"""`lockstep-opt`: xDSL's opt driver with lockstep's dialects, passes and an ONNX front end.

On top of xDSL's flags it shows the IR between passes (`--print-ir-after-all`,
`--print-ir-after=PASS`, `--dump-dir DIR`, see compiler/dumps.py), and it turns
bad input into one line, `lockstep-opt: error: <file>:<line>:<col>: <message>`,
instead of a traceback.
"""
import argparse
import dataclasses
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.parser import Parser
from xdsl.passes import ModulePass, PassPipeline
from xdsl.utils.arg_spec import parse_pipeline
from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException, ParseError, VerifyException
from xdsl.utils.lexer import Span
from xdsl.xdsl_opt_main import xDSLOptMain

from compiler.dumps import PassDumper, chain
from compiler.errors import LockstepError
from compiler.registry import lockstep_dialect_factories, lockstep_passes


class _LocatingParser(Parser):
    """A parser that remembers where in the input each operation starts, for verifier errors."""

    def __init__(self, ctx, text: bytes, name: str, starts: dict[Operation, Span]):
        super().__init__(ctx, text, name)
        self._starts = starts

    def parse_operation(self) -> Operation:
        start = Span(self.pos, self.pos, self.lexer.input)
        op = super().parse_operation()
        self._starts[op] = start
        return op


class LockstepOptMain(xDSLOptMain):
    def __init__(self, description: str = "lockstep modular optimizer driver", args: Sequence[str] | None = None):
        self._op_starts: dict[Operation, Span] = {}
        self._line_offset = 0  # of the current chunk under --split-input-file
        self._after: str | None = None  # the pass that ran last
        self._running: str | None = None  # the pass running now
        super().__init__(description, args)

    def register_all_dialects(self):
        super().register_all_dialects()
        for name, factory in lockstep_dialect_factories().items():
            self.ctx.register_dialect(name, factory)

    def register_all_passes(self):
        super().register_all_passes()
        for name, factory in lockstep_passes().items():
            self.register_pass(name, factory)

    def register_all_frontends(self):
        super().register_all_frontends()

        def parse_mlir(stream: IO[bytes]) -> ModuleOp:
            parser = _LocatingParser(self.ctx, stream.read(), self.get_input_name(), self._op_starts)
            return parser.parse_module(not self.args.no_implicit_module)

        def parse_onnx(stream: IO[bytes]) -> ModuleOp:
            from compiler.onnx_import import import_model_bytes

            return import_model_bytes(stream.read())

        self.available_frontends["mlir"] = parse_mlir
        self.available_frontends["onnx"] = parse_onnx

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser):
        super().register_all_arguments(arg_parser)
        arg_parser.add_argument(
            "--print-ir-after-all", action="store_true", help="print the IR to stderr after every pass"
        )
        arg_parser.add_argument(
            "--print-ir-after",
            action="append",
            default=[],
            metavar="PASS",
            help="print the IR to stderr after PASS (repeatable, or a comma separated list)",
        )
        arg_parser.add_argument(
            "--dump-dir",
            type=Path,
            metavar="DIR",
            help="write DIR/00-input.mlir and DIR/NN-<pass>.mlir after every pass",
        )

    def setup_pipeline(self):
        names = self._pipeline_names()
        if unknown := [name for name in names if name not in self.available_passes]:
            close = difflib.get_close_matches(unknown[0], self.available_passes, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else "; `lockstep-opt --help` lists the passes"
            raise LockstepError(f"unknown pass '{unknown[0]}'{hint}")
        super().setup_pipeline()
        dumper = PassDumper(
            print_after_all=self.args.print_ir_after_all,
            print_after=frozenset(n for arg in self.args.print_ir_after for n in arg.split(",") if n),
            dump_dir=self.args.dump_dir,
            generic=self.args.print_op_generic,
            debuginfo=self.args.print_debuginfo,
        )
        dumper.check(names)
        # Dump before xDSL's verification so that IR a pass broke is still shown; the
        # dump's time then counts towards that pass under --time-passes.
        self.pipeline = PassPipeline(self.pipeline.passes, chain(self._track, dumper.callback, self.pipeline.callback))

    def _pipeline_names(self) -> list[str]:
        try:
            return [spec.name for spec in parse_pipeline(self.args.passes)]
        except ArgSpecParseError as err:
            raise LockstepError(f"bad pass pipeline '{self.args.passes}': {_last_line(str(err))}") from None

    def _track(self, previous: ModulePass | None, _module: ModuleOp, next_pass: ModulePass | None) -> None:
        self._after = previous.name if previous else None
        self._running = next_pass.name if next_pass else None

    def prepare_input(self):
        try:
            return super().prepare_input()
        except ValueError as err:  # xDSL's way of saying it has no front end for the file
            raise LockstepError(f"{self.get_input_name()}: {err}") from None

    def parse_chunk(self, chunk: IO[bytes], file_extension: str, start_offset: int = 0) -> ModuleOp | None:
        self._line_offset = start_offset
        return super().parse_chunk(chunk, file_extension, start_offset)

    def apply_passes(self, prog: ModuleOp):
        try:
            super().apply_passes(prog)
        except DiagnosticException as err:
            if self.args.verify_diagnostics:  # xDSL prints it and carries on
                raise
            raise LockstepError(self._describe(prog, err)) from None

    def _describe(self, module: ModuleOp, err: DiagnosticException) -> str:
        """`<file>:<line>:<col>: <message>` for an error in the IR, as precisely as is known."""
        message = _one_line(str(err))
        if not isinstance(err, VerifyException):  # a pass gave up
            return f"{self.get_input_name()}: in pass '{self._running}': {message}"
        culprit = _failing_op(module)
        where = self.get_input_name()
        if culprit in self._op_starts:
            where = str(dataclasses.replace(self._op_starts[culprit], line_offset=self._line_offset).get_location())
        if self._after is not None:
            where += f": after pass '{self._after}'"
        op_name = f"'{culprit.name}': " if culprit is not None else ""
        return f"{where}: {op_name}{message}"


def _failing_op(module: ModuleOp) -> Operation | None:
    """The op a module verifier error comes from: the first that fails alone,
    nested ops before their parents as in `Operation.verify`."""
    for op in module.walk(region_first=True):
        try:
            op.verify(verify_nested_ops=False)
        except VerifyException:
            return op
    return None


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip()) or "unknown error"


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1].strip()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        LockstepOptMain(args=argv).run()
    except ParseError as err:
        print(f"lockstep-opt: error: {err.span.get_location()}: {_one_line(err.msg)}", file=sys.stderr)
        return 1
    except LockstepError as err:
        print(f"lockstep-opt: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"lockstep-opt: error: {err.filename or ''}: {err.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
