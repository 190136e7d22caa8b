"""A numpy interpreter for `tops` IR: the test oracle for the importer and `normalise`,
and the constant folder's arithmetic.

`evaluate` runs `func.func @main` of a module on inputs keyed by their ONNX names
(the `tops.name` argument attributes) and returns outputs keyed the same way.
Any op of the dialect is accepted, before or after normalisation.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import DictionaryAttr, ModuleOp, StringAttr
from xdsl.ir import Operation, SSAValue

from dialects import tops

Kernel = Callable[[Operation, Sequence[np.ndarray]], np.ndarray]


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def _gemm(op: tops.GemmOp, a: np.ndarray, b: np.ndarray, *c: np.ndarray) -> np.ndarray:
    a = a.T if op.trans_a.value.data else a
    b = b.T if op.trans_b.value.data else b
    result = np.float32(op.alpha.value.data) * (a @ b)
    return result + np.float32(op.beta.value.data) * c[0] if c else result


def _out_shape(op: Operation) -> tuple[int, ...]:
    return tops.shape_of(op.results[0])


KERNELS: dict[type[Operation], Kernel] = {
    tops.ConstantOp: lambda op, _: op.array(),
    tops.AddOp: lambda op, xs: xs[0] + xs[1],
    tops.SubOp: lambda op, xs: xs[0] - xs[1],
    tops.MulOp: lambda op, xs: xs[0] * xs[1],
    tops.DivOp: lambda op, xs: xs[0] / xs[1],
    tops.ReluOp: lambda op, xs: np.maximum(xs[0], np.float32(0)),
    tops.SigmoidOp: lambda op, xs: 1 / (1 + np.exp(-xs[0])),
    tops.TanhOp: lambda op, xs: np.tanh(xs[0]),
    tops.ExpOp: lambda op, xs: np.exp(xs[0]),
    tops.SoftmaxOp: lambda op, xs: _softmax(xs[0], op.axis.value.data),
    tops.MatmulOp: lambda op, xs: np.matmul(xs[0], xs[1]),
    tops.GemmOp: lambda op, xs: _gemm(op, *xs),
    tops.ReshapeOp: lambda op, xs: xs[0].reshape(_out_shape(op)),
    tops.TransposeOp: lambda op, xs: np.transpose(xs[0], op.permutation()),
    tops.BroadcastOp: lambda op, xs: np.broadcast_to(xs[0], _out_shape(op)),
}


def evaluate_op(op: Operation, operands: Sequence[np.ndarray]) -> np.ndarray:
    """The value of a tops op's result given its operands' values (float32, the result's shape)."""
    result = np.asarray(KERNELS[type(op)](op, operands), dtype=np.float32)
    return np.ascontiguousarray(result.reshape(_out_shape(op)))


def _names(attrs: Sequence[DictionaryAttr] | None, count: int, kind: str) -> list[str]:
    names = [a.data.get("tops.name") for a in attrs] if attrs is not None else [None] * count
    return [n.data if isinstance(n, StringAttr) else f"{kind}{i}" for i, n in enumerate(names)]


def main_function(module: ModuleOp) -> func.FuncOp:
    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == "main":
            return op
    raise ValueError("module has no func.func @main")


def evaluate(module: ModuleOp, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run @main on `inputs` (by ONNX input name); the outputs by ONNX output name."""
    main = main_function(module)
    arg_names = _names(main.arg_attrs, len(main.args), "arg")
    env: dict[SSAValue, np.ndarray] = {
        arg: np.asarray(inputs[name], dtype=np.float32) for arg, name in zip(main.args, arg_names)
    }
    for op in main.body.block.ops:
        if isinstance(op, func.ReturnOp):
            res_names = _names(main.res_attrs, len(op.arguments), "result")
            return {name: env[value] for name, value in zip(res_names, op.arguments)}
        env[op.results[0]] = evaluate_op(op, [env[v] for v in op.operands])
    raise ValueError("@main has no func.return")
