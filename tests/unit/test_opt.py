"""lockstep-opt's own flags (IR dumps between passes) and its one-line errors, on builtin-only IR."""
from dataclasses import dataclass
from pathlib import Path

import pytest
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException

import compiler.opt
from compiler.opt import main

GOOD = """\
func.func @f(%a: i32) -> i32 {
  %c0 = arith.constant 0 : i32
  %x = arith.addi %a, %c0 : i32
  %unused = arith.muli %a, %a : i32
  func.return %x : i32
}
"""


def write(tmp_path: Path, text: str, name: str = "in.mlir") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lockstep-opt: error: ")
    return lines[0].removeprefix("lockstep-opt: error: ")


def test_runs_passes(tmp_path, capsys):
    code, out, err = run(capsys, write(tmp_path, GOOD), "-p", "canonicalize,dce")
    assert code == 0 and err == ""
    assert "func.return %a : i32" in out and "arith" not in out


def test_dump_dir_has_input_then_one_file_per_pass(tmp_path, capsys):
    dump = tmp_path / "dumps"
    code, _, _ = run(capsys, write(tmp_path, GOOD), "-p", "canonicalize,dce", "--dump-dir", str(dump))
    assert code == 0
    assert sorted(p.name for p in dump.iterdir()) == ["00-input.mlir", "01-canonicalize.mlir", "02-dce.mlir"]
    assert "arith.muli" in (dump / "00-input.mlir").read_text()
    assert "arith" not in (dump / "02-dce.mlir").read_text()


def test_dump_dir_without_passes_writes_the_input(tmp_path, capsys):
    dump = tmp_path / "dumps"
    assert run(capsys, write(tmp_path, GOOD), "--dump-dir", str(dump))[0] == 0
    assert [p.name for p in dump.iterdir()] == ["00-input.mlir"]


def test_print_ir_after_all_goes_to_stderr(tmp_path, capsys):
    code, out, err = run(capsys, write(tmp_path, GOOD), "-p", "canonicalize,dce", "--print-ir-after-all")
    assert code == 0
    assert err.count("// -----// IR Dump After") == 2
    assert err.index("After canonicalize") < err.index("After dce")
    assert "IR Dump" not in out


@pytest.mark.parametrize("flags", [["--print-ir-after=dce"], ["--print-ir-after", "dce"]])
def test_print_ir_after_one_pass(tmp_path, capsys, flags):
    code, _, err = run(capsys, write(tmp_path, GOOD), "-p", "canonicalize,dce", *flags)
    assert code == 0
    assert "After dce" in err and "After canonicalize" not in err


@pytest.mark.parametrize(
    "flags", [["--print-ir-after=canonicalize,dce"], ["--print-ir-after=canonicalize", "--print-ir-after=dce"]]
)
def test_print_ir_after_several_passes(tmp_path, capsys, flags):
    code, _, err = run(capsys, write(tmp_path, GOOD), "-p", "canonicalize,dce", *flags)
    assert code == 0
    assert "After dce" in err and "After canonicalize" in err


def test_print_ir_after_a_pass_not_in_the_pipeline(tmp_path, capsys):
    code, _, err = run(capsys, write(tmp_path, GOOD), "-p", "canonicalize", "--print-ir-after=dce")
    assert code != 0
    assert "--print-ir-after=dce" in one_error(err)


def test_dumps_honour_generic_and_debuginfo(tmp_path, capsys):
    source = GOOD.replace("func.return %x : i32", 'func.return %x : i32 loc("model.py":7:2)')
    code, _, err = run(
        capsys, write(tmp_path, source), "-p", "dce", "--print-ir-after-all", "--print-op-generic", "--print-debuginfo"
    )
    assert code == 0
    assert '"func.return"' in err and "model.py" in err


def test_time_passes_still_works(tmp_path, capsys):
    code, out, _ = run(capsys, write(tmp_path, GOOD), "-p", "dce", "--time-passes")
    assert code == 0 and "Pass dce took" in out


def test_parse_error_names_file_line_and_column(tmp_path, capsys):
    path = write(tmp_path, "func.func @f() {\n  %x = arith.nosuchop 1 : i32\n  func.return\n}\n")
    code, out, err = run(capsys, path, "-p", "dce")
    assert code != 0 and out == ""
    assert one_error(err).startswith(f"{path}:2:")


def test_verify_error_names_the_op_line_and_column(tmp_path, capsys):
    path = write(tmp_path, "func.func @f(%a: i32) -> i32 {\n  func.return %a, %a : i32, i32\n}\n")
    code, _, err = run(capsys, path)
    assert code != 0
    assert one_error(err).startswith(f"{path}:2:3: 'func.return': ")


def test_verify_error_in_split_input_counts_lines_from_the_file(tmp_path, capsys):
    text = "func.func @f() {\n  func.return\n}\n// -----\nfunc.func @g() {\n  %x = arith.constant 1 : i32\n  func.return %x : i32\n}\n"
    path = write(tmp_path, text)
    code, _, err = run(capsys, path, "--split-input-file")
    assert code != 0
    assert one_error(err).startswith(f"{path}:7:3: 'func.return'")


@dataclass(frozen=True)
class BreakReturn(ModulePass):
    """Makes every func.return return one value too many."""

    name = "break-return"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for ret in op.walk():
            if isinstance(ret, func.ReturnOp):
                ret.operands = (*ret.operands, *ret.operands)


@dataclass(frozen=True)
class GiveUp(ModulePass):
    name = "give-up"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        raise PassFailedException("cannot do this")


@pytest.fixture
def test_passes(monkeypatch):
    known = compiler.opt.lockstep_passes()
    extra = {"break-return": lambda: BreakReturn, "give-up": lambda: GiveUp}
    monkeypatch.setattr(compiler.opt, "lockstep_passes", lambda: known | extra)


def test_verify_error_after_a_pass_names_the_pass(tmp_path, capsys, test_passes):
    path = write(tmp_path, GOOD)
    dump = tmp_path / "dumps"
    code, _, err = run(capsys, path, "-p", "break-return", "--dump-dir", str(dump))
    assert code != 0
    assert one_error(err).startswith(f"{path}:5:3: after pass 'break-return': 'func.return': ")
    # the broken IR is still dumped, to look at
    assert "func.return %x, %x" in (dump / "01-break-return.mlir").read_text()


def test_failing_pass_is_named(tmp_path, capsys, test_passes):
    code, _, err = run(capsys, write(tmp_path, GOOD), "-p", "dce,give-up")
    assert code != 0
    assert one_error(err).endswith("in pass 'give-up': cannot do this")


def test_unknown_pass_suggests_a_name(tmp_path, capsys):
    code, _, err = run(capsys, write(tmp_path, GOOD), "-p", "canonicalise")
    assert code != 0
    assert one_error(err) == "unknown pass 'canonicalise'; did you mean 'canonicalize'?"


def test_malformed_pipeline(tmp_path, capsys):
    code, _, err = run(capsys, write(tmp_path, GOOD), "-p", "canonicalize{a=}")
    assert code != 0
    assert one_error(err).startswith("bad pass pipeline 'canonicalize{a=}': ")


def test_missing_input_file(tmp_path, capsys):
    missing = tmp_path / "nothere.mlir"
    code, _, err = run(capsys, str(missing))
    assert code != 0
    assert one_error(err) == f"{missing}: No such file or directory"


def test_unknown_file_extension(tmp_path, capsys):
    path = write(tmp_path, GOOD, "in.txt")
    code, _, err = run(capsys, path)
    assert code != 0
    assert one_error(err).startswith(f"{path}: ")
