// normalise rejects a matmul whose B differs per batch, naming the op's location.
// RUN: not lockstep-opt %s -p normalise 2>&1 | filecheck %s

func.func @main(%a: tensor<2x3x4xf32>, %b: tensor<2x4x5xf32>) -> tensor<2x3x5xf32> {
  %y = tops.matmul %a, %b : (tensor<2x3x4xf32>, tensor<2x4x5xf32>) -> tensor<2x3x5xf32> loc("/attn/MatMul")
  func.return %y : tensor<2x3x5xf32>
}
// CHECK: lockstep-opt: error: {{.*}}tops.matmul at '/attn/MatMul' multiplies by a batched B of shape 2x4x5; only a [K, N] matrix (or a constant or broadcast one) is supported
