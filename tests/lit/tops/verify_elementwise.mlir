// Elementwise ops: operands must broadcast, the result must be the broadcast shape,
// unary ops keep their operand's type, and everything is f32.
// RUN: lockstep-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @no_broadcast(%a: tensor<2x3xf32>, %b: tensor<4xf32>) {
  %0 = tops.add %a, %b : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: operand shapes 2x3 and 4 do not broadcast

// -----
func.func @wrong_result(%a: tensor<2x1xf32>, %b: tensor<3xf32>) {
  %0 = tops.mul %a, %b : (tensor<2x1xf32>, tensor<3xf32>) -> tensor<2x1xf32>
  func.return
}
// CHECK: result shape 2x1 is not the broadcast shape 2x3 of 2x1 and 3

// -----
func.func @unary_changes_type(%a: tensor<2x3xf32>) {
  %0 = "tops.relu"(%a) : (tensor<2x3xf32>) -> tensor<3x2xf32>
  func.return
}
// CHECK: attribute tensor<2x3xf32> expected from variable 'T', but got tensor<3x2xf32>

// -----
func.func @not_f32(%a: tensor<2xi32>) {
  %0 = "tops.sub"(%a, %a) : (tensor<2xi32>, tensor<2xi32>) -> tensor<2xi32>
  func.return
}
// CHECK: i32 should be of base attribute f32
