// Syntax errors in the custom formats.
// RUN: lockstep-opt %s --split-input-file --parsing-diagnostics | filecheck %s

func.func @missing_perm(%a: tensor<2x3xf32>) {
  %0 = tops.transpose %a : (tensor<2x3xf32>) -> tensor<3x2xf32>
  func.return
}
// CHECK: Expected 'perm'

// -----
func.func @missing_axis(%a: tensor<2x3xf32>) {
  %0 = tops.softmax %a : tensor<2x3xf32>
  func.return
}
// CHECK: Expected 'axis'

// -----
func.func @unary_type_mismatch(%a: tensor<2x3xf32>) {
  %0 = tops.exp %a : tensor<3x2xf32>
  func.return
}
// CHECK: operand is used with type tensor<3x2xf32>, but has been previously used or defined with type tensor<2x3xf32>
