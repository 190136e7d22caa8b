// tops.matmul (ONNX MatMul shapes) and tops.gemm (Gemm shapes, C broadcast to [M, N]).
// RUN: lockstep-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @contracted(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) {
  %0 = tops.matmul %a, %b : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  func.return
}
// CHECK: contracted dimensions differ: 2x3 x 4x5

// -----
func.func @batch(%a: tensor<2x1x3xf32>, %b: tensor<4x3x5xf32>) {
  %0 = tops.matmul %a, %b : (tensor<2x1x3xf32>, tensor<4x3x5xf32>) -> tensor<2x1x5xf32>
  func.return
}
// CHECK: batch dimensions do not broadcast: 2x1x3 x 4x3x5

// -----
func.func @vector_result(%a: tensor<3xf32>, %b: tensor<3x5xf32>) {
  %0 = tops.matmul %a, %b : (tensor<3xf32>, tensor<3x5xf32>) -> tensor<1x5xf32>
  func.return
}
// CHECK: result shape 1x5 should be 5

// -----
func.func @gemm_rank(%a: tensor<2x3x4xf32>, %b: tensor<4x5xf32>) {
  %0 = tops.gemm %a, %b : (tensor<2x3x4xf32>, tensor<4x5xf32>) -> tensor<3x5xf32>
  func.return
}
// CHECK: operands A and B must be 2-D, got 2x3x4 and 4x5

// -----
func.func @gemm_trans(%a: tensor<2x3xf32>, %b: tensor<3x5xf32>) {
  %0 = tops.gemm %a, %b {trans_b = true} : (tensor<2x3xf32>, tensor<3x5xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: contracted dimensions differ: op(A) is 2x3, op(B) is 5x3

// -----
func.func @gemm_c(%a: tensor<2x3xf32>, %b: tensor<3x5xf32>, %c: tensor<3xf32>) {
  %0 = tops.gemm %a, %b, %c : (tensor<2x3xf32>, tensor<3x5xf32>, tensor<3xf32>) -> tensor<2x5xf32>
  func.return
}
// CHECK: C of shape 3 does not broadcast to 2x5
