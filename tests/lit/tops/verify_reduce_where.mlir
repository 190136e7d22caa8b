// Reductions: axes increasing, distinct, in range, and the result the reduced shape
// (keepdims read off its rank); where: three operands that broadcast; gelu's approximation.
// RUN: lockstep-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @axes_out_of_range(%a: tensor<2x3xf32>) {
  %0 = tops.reduce_sum %a axes = [2] : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: axes [2] must be increasing, distinct and within rank 2

// -----
func.func @axes_unsorted(%a: tensor<2x3xf32>) {
  %0 = tops.reduce_max %a axes = [1, 0] : (tensor<2x3xf32>) -> tensor<1x1xf32>
  func.return
}
// CHECK: axes [1, 0] must be increasing, distinct and within rank 2

// -----
func.func @wrong_result(%a: tensor<2x3xf32>) {
  %0 = tops.reduce_mean %a axes = [1] : (tensor<2x3xf32>) -> tensor<3xf32>
  func.return
}
// CHECK: result shape 3 is not 2x3 reduced over axes [1]

// -----
func.func @where_no_broadcast(%c: tensor<2x3xf32>, %a: tensor<4xf32>) {
  %0 = tops.where %c, %a, %a : (tensor<2x3xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: operand shapes 2x3, 4, 4 do not broadcast

// -----
func.func @gelu_approximation(%a: tensor<2x3xf32>) {
  %0 = tops.gelu %a approximate = "fast" : tensor<2x3xf32>
  func.return
}
// CHECK: approximate must be "none" or "tanh", got "fast"

// -----
func.func @norm_scale(%a: tensor<2x3xf32>, %s: tensor<4xf32>) {
  %0 = tops.layer_norm %a, %s axis = -1 epsilon = 1.0e-05 : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: scale of shape 4 does not broadcast to 2x3
