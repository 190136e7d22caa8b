// i8 is for weights only: a matmul's A stays f32, and constants of other integer types are refused.
// RUN: lockstep-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @int8_activations(%x: tensor<2x3xi8>, %w: tensor<3x2xf32>) {
  %y = "tops.matmul"(%x, %w) : (tensor<2x3xi8>, tensor<3x2xf32>) -> tensor<2x2xf32>
  func.return
}
// CHECK: operand 'lhs' at position 0 does not verify

// -----
func.func @int16() {
  %q = tops.constant dense<1> : tensor<3x2xi16>
  func.return
}
// CHECK: constant must be f32, got i16 (or i8, for int8 weights)
