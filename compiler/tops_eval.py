"""A numpy interpreter for `tops` IR: the test oracle for the importer and `normalise`,
and the constant folder's arithmetic.

`evaluate` runs `func.func @main` of a module on inputs keyed by their ONNX names
(the `tops.name` argument attributes) and returns outputs keyed the same way.
Any op of the dialect is accepted, before or after normalisation.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.special import erf
from xdsl.dialects import func
from xdsl.dialects.builtin import DictionaryAttr, ModuleOp, StringAttr
from xdsl.ir import Operation, SSAValue

from compiler.windows import KERNELS as WINDOW_KERNELS
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


def _flag(mask: np.ndarray) -> np.ndarray:
    """Booleans are f32 0.0 / 1.0; any non-zero (or NaN) value reads as true."""
    return np.asarray(mask, dtype=np.float32)


def _gelu(op: tops.GeluOp, x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    if op.approximate.data == "tanh":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def _norm(op: tops.NormOp, x: np.ndarray, scale: np.ndarray, *bias: np.ndarray) -> np.ndarray:
    axes = tuple(range(op.norm_axis(), x.ndim))
    eps = np.float32(op.epsilon.value.data)
    if isinstance(op, tops.RMSNormOp):
        y = x / np.sqrt(np.mean(x * x, axis=axes, keepdims=True) + eps)
    else:
        centred = x - np.mean(x, axis=axes, keepdims=True)
        y = centred / np.sqrt(np.mean(centred * centred, axis=axes, keepdims=True) + eps)
    y = y * scale
    return y + bias[0] if bias else y


def _reduce(fn: Callable[..., np.ndarray]) -> Kernel:
    def kernel(op: Operation, xs: Sequence[np.ndarray]) -> np.ndarray:
        assert isinstance(op, tops.ReduceOp)
        return fn(xs[0], axis=op.reduced_axes(), keepdims=op.keepdims())

    return kernel


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
    tops.NegOp: lambda op, xs: -xs[0],
    tops.AbsOp: lambda op, xs: np.abs(xs[0]),
    tops.TruncOp: lambda op, xs: np.trunc(xs[0]),
    tops.RoundOp: lambda op, xs: np.rint(xs[0]),
    tops.LogOp: lambda op, xs: np.log(xs[0]),
    tops.SqrtOp: lambda op, xs: np.sqrt(xs[0]),
    tops.ReciprocalOp: lambda op, xs: np.float32(1) / xs[0],
    tops.ErfOp: lambda op, xs: erf(xs[0]),
    tops.CosOp: lambda op, xs: np.cos(xs[0]),
    tops.SinOp: lambda op, xs: np.sin(xs[0]),
    tops.IsNaNOp: lambda op, xs: _flag(np.isnan(xs[0])),
    tops.NotOp: lambda op, xs: _flag(xs[0] == 0),
    tops.ToBoolOp: lambda op, xs: _flag(xs[0] != 0),
    tops.PowOp: lambda op, xs: np.power(xs[0], xs[1]),
    tops.MaxOp: lambda op, xs: np.maximum(xs[0], xs[1]),
    tops.MinOp: lambda op, xs: np.minimum(xs[0], xs[1]),
    tops.EqualOp: lambda op, xs: _flag(xs[0] == xs[1]),
    tops.LessOp: lambda op, xs: _flag(xs[0] < xs[1]),
    tops.GreaterOp: lambda op, xs: _flag(xs[0] > xs[1]),
    tops.LessOrEqualOp: lambda op, xs: _flag(xs[0] <= xs[1]),
    tops.GreaterOrEqualOp: lambda op, xs: _flag(xs[0] >= xs[1]),
    tops.AndOp: lambda op, xs: _flag((xs[0] != 0) & (xs[1] != 0)),
    tops.OrOp: lambda op, xs: _flag((xs[0] != 0) | (xs[1] != 0)),
    tops.XorOp: lambda op, xs: _flag((xs[0] != 0) ^ (xs[1] != 0)),
    tops.WhereOp: lambda op, xs: np.where(xs[0] != 0, xs[1], xs[2]),
    tops.GeluOp: lambda op, xs: _gelu(op, xs[0]),
    tops.ReduceSumOp: _reduce(np.sum),
    tops.ReduceMeanOp: _reduce(np.mean),
    tops.ReduceMaxOp: _reduce(np.max),
    tops.ReduceMinOp: _reduce(np.min),
    tops.LayerNormOp: lambda op, xs: _norm(op, *xs),
    tops.RMSNormOp: lambda op, xs: _norm(op, *xs),
}

# data movement: each op knows its numpy meaning (dialects/tops.py, SelectOp.apply)
KERNELS.update({cls: lambda op, xs: op.apply(xs) for cls in (tops.ConcatOp, tops.SliceOp, tops.GatherOp)})
# convolution, pooling, LRN, batch norm and im2col (compiler/windows.py)
KERNELS.update(WINDOW_KERNELS)


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
