// Concat needs one rank and equal sizes off the axis; a slice's elements must lie
// inside the operand; a gather's indices must fit the result shape and the axis.
// RUN: lockstep-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @concat_sizes(%a: tensor<2x3xf32>, %b: tensor<3x3xf32>) {
  %0 = tops.concat %a, %b axis = 1 : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x6xf32>
  func.return
}
// CHECK: operand shapes 2x3, 3x3 differ outside axis 1

// -----
func.func @concat_result(%a: tensor<2x3xf32>, %b: tensor<2x3xf32>) {
  %0 = tops.concat %a, %b axis = 0 : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x6xf32>
  func.return
}
// CHECK: result shape 2x6 should be 4x3

// -----
func.func @concat_axis(%a: tensor<2x3xf32>) {
  %0 = tops.concat %a axis = 2 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: axis 2 is out of range for rank 2

// -----
func.func @slice_outside(%a: tensor<4x6xf32>) {
  %0 = tops.slice %a starts = [1, 0] steps = [2, 1] : (tensor<4x6xf32>) -> tensor<3x6xf32>
  func.return
}
// CHECK: dimension 0: 3 elements from 1 in steps of 2 do not fit in size 4

// -----
func.func @slice_rank(%a: tensor<4x6xf32>) {
  %0 = tops.slice %a starts = [0] steps = [1] : (tensor<4x6xf32>) -> tensor<4x6xf32>
  func.return
}
// CHECK: starts [0] and steps [1] must list every dimension of 4x6 and the result 4x6 must have its rank

// -----
func.func @gather_index(%a: tensor<4x6xf32>) {
  %0 = tops.gather %a axis = 0 indices = [4] : (tensor<4x6xf32>) -> tensor<1x6xf32>
  func.return
}
// CHECK: indices must be in [0, 4) along axis 0

// -----
func.func @gather_count(%a: tensor<4x6xf32>) {
  %0 = tops.gather %a axis = 1 indices = [0, 1] : (tensor<4x6xf32>) -> tensor<4x3xf32>
  func.return
}
// CHECK: result shape 4x3 is not 4x6 indexed along axis 1 by 2 indices
