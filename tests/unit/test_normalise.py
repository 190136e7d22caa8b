"""`normalise`: only the normalised forms of docs/architecture.md remain, numerics are
preserved (tops_eval before vs after; the importer tests hold both against onnxruntime),
new ops keep their locations, and a B that differs per batch stays batched."""
from pathlib import Path

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import Builtin, ModuleOp, NameLoc
from xdsl.dialects.func import Func
from xdsl.ir import Operation
from xdsl.parser import Parser

from compiler.onnx_import import import_model
from compiler.tops_eval import evaluate, main_function
from dialects import tops
from passes.normalise import NormalisePass

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def parse(text: str) -> ModuleOp:
    ctx = Context()
    for dialect in (Builtin, Func, tops.Tops):
        ctx.load_dialect(dialect)
    module = Parser(ctx, text).parse_module()
    module.verify()
    return module


def normalise(module: ModuleOp) -> ModuleOp:
    NormalisePass().apply(Context(), module)
    module.verify()
    return module


def body(module: ModuleOp) -> list[Operation]:
    return list(main_function(module).body.block.ops)[:-1]


def is_constant(value) -> bool:
    return isinstance(value.owner, tops.ConstantOp)


def assert_normalised(module: ModuleOp) -> None:
    """The contract of docs/architecture.md for the output of `normalise`."""
    for op in body(module):
        assert not isinstance(op, tops.GemmOp)
        if not isinstance(op, tops.ConstantOp):
            assert not all(is_constant(v) for v in op.operands), f"{op.name} of constants was not folded"
        if isinstance(op, tops.BinaryOp):
            assert tops.shape_of(op.lhs) == tops.shape_of(op.rhs) == op.out_shape()
        if isinstance(op, tops.MatmulOp):
            a, b = tops.shape_of(op.lhs), tops.shape_of(op.rhs)
            assert len(a) >= 2 and (len(b) == 2 or (len(b) == len(a) and a[:-2] == b[:-2]))
        if isinstance(op, tops.SoftmaxOp):
            assert op.axis.value.data == len(tops.shape_of(op.result)) - 1


def random_inputs(module: ModuleOp) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    main = main_function(module)
    names = [a.data["tops.name"].data for a in main.arg_attrs]
    return {n: rng.standard_normal(tops.shape_of(arg)).astype(np.float32) for n, arg in zip(names, main.args)}


def signature(args: str, results: str) -> str:
    return f"func.func @main({args}) -> ({results})"


# name -> (type of %y, body computing %y from %x: tensor<4x2xf32>)
CASES = {
    "gemm": (
        "tensor<4x3xf32>",
        """
  %w = tops.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %c = tops.constant dense<[0.5, -1.0, 2.0]> : tensor<3xf32>
  %y = tops.gemm %x, %w, %c {trans_b = true, alpha = 0.5 : f32, beta = 3.0 : f32} : (tensor<4x2xf32>, tensor<3x2xf32>, tensor<3xf32>) -> tensor<4x3xf32> loc("gemm")
""",
    ),
    "gemm_trans_a_runtime_c": (
        "tensor<4x3xf32>",
        """
  %w = tops.constant dense<1.5> : tensor<2x3xf32>
  %t = tops.transpose %x perm = [1, 0] : (tensor<4x2xf32>) -> tensor<2x4xf32>
  %c = tops.matmul %x, %w : (tensor<4x2xf32>, tensor<2x3xf32>) -> tensor<4x3xf32>
  %y = tops.gemm %t, %w, %c {trans_a = true, beta = 0.5 : f32} : (tensor<2x4xf32>, tensor<2x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32> loc("g2")
""",
    ),
    "broadcasts": (
        "tensor<4x2x2xf32>",
        """
  %b = tops.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %r = tops.reshape %x : (tensor<4x2xf32>) -> tensor<4x1x2xf32>
  %u = tops.reshape %x : (tensor<4x2xf32>) -> tensor<4x2x1xf32>
  %a = tops.add %r, %u : (tensor<4x1x2xf32>, tensor<4x2x1xf32>) -> tensor<4x2x2xf32> loc("add")
  %y = tops.div %a, %b : (tensor<4x2x2xf32>, tensor<2xf32>) -> tensor<4x2x2xf32> loc("div")
""",
    ),
    "vector_matmuls": (
        "tensor<2xf32>",
        """
  %v = tops.constant dense<[1.0, -2.0]> : tensor<2xf32>
  %m = tops.matmul %x, %v : (tensor<4x2xf32>, tensor<2xf32>) -> tensor<4xf32> loc("mv")
  %y = tops.matmul %m, %x : (tensor<4xf32>, tensor<4x2xf32>) -> tensor<2xf32> loc("vm")
""",
    ),
    "batched_matmuls": (
        "tensor<3x4x2xf32>",
        """
  %r = tops.reshape %x : (tensor<4x2xf32>) -> tensor<2x2x2xf32>
  %w = tops.constant dense<[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]]> : tensor<1x2x3xf32>
  %m = tops.matmul %r, %w : (tensor<2x2x2xf32>, tensor<1x2x3xf32>) -> tensor<2x2x3xf32> loc("bmm")
  %q = tops.constant dense<[[2.0, 0.0], [0.0, 2.0]]> : tensor<2x2xf32>
  %b = tops.broadcast %q : (tensor<2x2xf32>) -> tensor<3x2x2xf32>
  %y = tops.matmul %x, %b : (tensor<4x2xf32>, tensor<3x2x2xf32>) -> tensor<3x4x2xf32> loc("bcast")
""",
    ),
    "runtime_broadcast_b": (
        "tensor<3x2x2xf32>",
        """
  %b = tops.broadcast %x : (tensor<4x2xf32>) -> tensor<3x4x2xf32>
  %a = tops.reshape %x : (tensor<4x2xf32>) -> tensor<2x4xf32>
  %y = tops.matmul %a, %b : (tensor<2x4xf32>, tensor<3x4x2xf32>) -> tensor<3x2x2xf32> loc("rb")
""",
    ),
    "softmax_axes": (
        "tensor<2x2x2xf32>",
        """
  %r = tops.reshape %x : (tensor<4x2xf32>) -> tensor<2x2x2xf32>
  %a = tops.softmax %r axis = 0 : tensor<2x2x2xf32> loc("s0")
  %b = tops.softmax %a axis = -2 : tensor<2x2x2xf32> loc("s1")
  %y = tops.softmax %b axis = -1 : tensor<2x2x2xf32> loc("s2")
""",
    ),
    "constant_folding": (
        "tensor<2x2x2xf32>",
        """
  %c = tops.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %t = tops.transpose %c perm = [1, 0] : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %r = tops.reshape %t : (tensor<2x2xf32>) -> tensor<1x2x2xf32>
  %e = tops.exp %r : tensor<1x2x2xf32>
  %m = tops.mul %e, %r : (tensor<1x2x2xf32>, tensor<1x2x2xf32>) -> tensor<1x2x2xf32>
  %b = tops.broadcast %m : (tensor<1x2x2xf32>) -> tensor<2x2x2xf32>
  %xr = tops.reshape %x : (tensor<4x2xf32>) -> tensor<2x2x2xf32>
  %y = tops.add %xr, %b : (tensor<2x2x2xf32>, tensor<2x2x2xf32>) -> tensor<2x2x2xf32> loc("add")
""",
    ),
}


def case(name: str) -> ModuleOp:
    result, text = CASES[name]
    return parse(
        f"""{signature('%x: tensor<4x2xf32> {tops.name = "x"}', result + ' {tops.name = "y"}')} {{
{text}
  func.return %y : {result}
}}"""
    )


@pytest.mark.parametrize("name", CASES)
def test_normalised_forms_and_numerics(name):
    module = case(name)
    inputs = random_inputs(module)
    before = evaluate(module, inputs)["y"]
    assert_normalised(normalise(module))
    np.testing.assert_allclose(evaluate(module, inputs)["y"], before, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", CASES)
def test_new_ops_keep_locations(name):
    module = case(name)
    named = {op.location.desc.data for op in body(module) if isinstance(op.location, NameLoc)}
    normalise(module)
    for op in body(module):
        if isinstance(op.location, NameLoc):
            assert op.location.desc.data in named


def test_gemm_lowering_shape():
    module = normalise(case("gemm"))
    kinds = [op.name for op in body(module)]
    # the transposed weight, alpha and beta * C are folded into constants
    assert kinds == ["tops.constant", "tops.matmul", "tops.constant", "tops.mul", "tops.constant", "tops.add"]
    assert all(op.location.desc.data == "gemm" for op in body(module))
    weight = body(module)[0]
    assert weight.array().tolist() == [[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]]
    assert body(module)[4].array().tolist() == [[1.5, -3.0, 6.0]] * 4


def test_constant_broadcast_never_survives():
    module = normalise(case("constant_folding"))
    assert [op.name for op in body(module)] == ["tops.constant", "tops.reshape", "tops.add"]


def test_softmax_axes_resolved_with_transposes():
    module = normalise(case("softmax_axes"))
    softmaxes = [op for op in body(module) if isinstance(op, tops.SoftmaxOp)]
    assert [op.axis.value.data for op in softmaxes] == [2, 2, 2]
    perms = [op.permutation() for op in body(module) if isinstance(op, tops.TransposeOp)]
    assert perms == [(1, 2, 0), (2, 0, 1), (0, 2, 1), (0, 2, 1)]


def test_vector_matmuls_become_matrix_products():
    module = normalise(case("vector_matmuls"))
    matmuls = [op for op in body(module) if isinstance(op, tops.MatmulOp)]
    assert [(tops.shape_of(m.lhs), tops.shape_of(m.rhs)) for m in matmuls] == [((4, 2), (2, 1)), ((1, 4), (4, 2))]


def test_batched_b_that_differs_per_batch_stays_batched():
    module = parse(
        signature("%a: tensor<3x4xf32>, %b: tensor<2x4x5xf32>", "tensor<2x3x5xf32>")
        + """ {
  %y = tops.matmul %a, %b : (tensor<3x4xf32>, tensor<2x4x5xf32>) -> tensor<2x3x5xf32> loc("/attn/MatMul")
  func.return %y : tensor<2x3x5xf32>
}"""
    )
    module = normalise(module)
    assert_normalised(module)
    (matmul,) = [op for op in body(module) if isinstance(op, tops.MatmulOp)]
    assert (tops.shape_of(matmul.lhs), tops.shape_of(matmul.rhs)) == ((2, 3, 4), (2, 4, 5))
    assert isinstance(matmul.lhs.owner, tops.BroadcastOp)
    assert matmul.location.desc.data == "/attn/MatMul"


def test_constant_batched_b_with_different_slices_stays_batched():
    module = parse(
        signature("%a: tensor<3x2xf32>", "tensor<2x3x1xf32>")
        + """ {
  %b = tops.constant dense<[[[1.0], [2.0]], [[3.0], [4.0]]]> : tensor<2x2x1xf32>
  %y = tops.matmul %a, %b : (tensor<3x2xf32>, tensor<2x2x1xf32>) -> tensor<2x3x1xf32> loc("mm")
  func.return %y : tensor<2x3x1xf32>
}"""
    )
    module = normalise(module)
    (matmul,) = [op for op in body(module) if isinstance(op, tops.MatmulOp)]
    assert (tops.shape_of(matmul.lhs), tops.shape_of(matmul.rhs)) == ((2, 3, 2), (2, 2, 1))
    assert isinstance(matmul.rhs.owner, tops.ConstantOp)


def test_mlp_example_normalises_to_matmul_add_relu():
    module = normalise(import_model(EXAMPLES / "mlp.onnx"))
    assert_normalised(module)
    compute = [op for op in body(module) if not isinstance(op, tops.ConstantOp)]
    assert [op.name for op in compute] == ["tops.matmul", "tops.add", "tops.relu"] * 2 + ["tops.matmul", "tops.add"]
    matmuls = [op for op in compute if isinstance(op, tops.MatmulOp)]
    assert [tops.shape_of(m.rhs) for m in matmuls] == [(784, 512), (512, 256), (256, 10)]
    assert [m.location.desc.data for m in matmuls] == ["/fc1/Gemm", "/fc2/Gemm", "/fc3/Gemm"]


def test_normalise_is_idempotent():
    module = normalise(case("batched_matmuls"))
    text = str(module)
    assert str(normalise(module)) == text
