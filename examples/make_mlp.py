"""Write the example MLPs shipped in examples/ (seeded, so the files are reproducible).

- mlp.onnx: input [1, 784] -> Gemm(512) -> Relu -> Gemm(256) -> Relu -> Gemm(10),
  laid out the way `torch.onnx.export` writes an nn.Linear stack (transB=1,
  weights [out, in], node names like "/fc1/Gemm").
- mlp_matmul.onnx: the same network as MatMul + Add (weights [in, out]) with a
  Softmax at the end, the way exporters write `x @ W + b` models.

Run: python examples/make_mlp.py
"""
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZES = [784, 512, 256, 10]
OPSET = 17
IR_VERSION = 10  # onnxruntime refuses the IR version make_model writes by default
HERE = Path(__file__).resolve().parent


def _layers(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight [out, in], bias [out]) per layer, He-initialised like a trained net's scale."""
    rng = np.random.default_rng(seed)
    return [
        (
            (rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)).astype(np.float32),
            (rng.standard_normal(n_out) * 0.01).astype(np.float32),
        )
        for n_in, n_out in zip(SIZES, SIZES[1:])
    ]


def _model(nodes, initializers, name: str, output: str) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, SIZES[0]])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, [1, SIZES[-1]])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="lockstep")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def gemm_mlp(seed: int = 0) -> onnx.ModelProto:
    nodes, initializers, x = [], [], "input"
    last = len(SIZES) - 2
    for i, (w, b) in enumerate(_layers(seed)):
        fc = f"fc{i + 1}"
        initializers += [numpy_helper.from_array(w, f"{fc}.weight"), numpy_helper.from_array(b, f"{fc}.bias")]
        y = "output" if i == last else f"/{fc}/Gemm_output_0"
        nodes.append(
            helper.make_node(
                "Gemm", [x, f"{fc}.weight", f"{fc}.bias"], [y], name=f"/{fc}/Gemm", alpha=1.0, beta=1.0, transB=1
            )
        )
        if i != last:
            x = f"/relu{i + 1}/Relu_output_0"
            nodes.append(helper.make_node("Relu", [y], [x], name=f"/relu{i + 1}/Relu"))
    return _model(nodes, initializers, "main_graph", "output")


def matmul_mlp(seed: int = 1) -> onnx.ModelProto:
    nodes, initializers, x = [], [], "input"
    for i, (w, b) in enumerate(_layers(seed)):
        fc = f"fc{i + 1}"
        initializers += [numpy_helper.from_array(w.T.copy(), f"{fc}.weight"), numpy_helper.from_array(b, f"{fc}.bias")]
        product, y = f"/{fc}/MatMul_output_0", f"/{fc}/Add_output_0"
        nodes.append(helper.make_node("MatMul", [x, f"{fc}.weight"], [product], name=f"/{fc}/MatMul"))
        nodes.append(helper.make_node("Add", [product, f"{fc}.bias"], [y], name=f"/{fc}/Add"))
        x = y
        if i != len(SIZES) - 2:
            x = f"/relu{i + 1}/Relu_output_0"
            nodes.append(helper.make_node("Relu", [y], [x], name=f"/relu{i + 1}/Relu"))
    nodes.append(helper.make_node("Softmax", [x], ["output"], name="/softmax/Softmax", axis=-1))
    return _model(nodes, initializers, "main_graph", "output")


def main() -> None:
    onnx.save(gemm_mlp(), HERE / "mlp.onnx")
    onnx.save(matmul_mlp(), HERE / "mlp_matmul.onnx")


if __name__ == "__main__":
    main()
