// Reshape keeps the element count, transpose needs a permutation that gives the
// result shape, broadcast follows numpy rules, softmax's axis is in range.
// RUN: lockstep-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @reshape(%a: tensor<2x3xf32>) {
  %0 = tops.reshape %a : (tensor<2x3xf32>) -> tensor<5xf32>
  func.return
}
// CHECK: cannot reshape 2x3 to 5: element counts differ

// -----
func.func @perm(%a: tensor<2x3xf32>) {
  %0 = tops.transpose %a perm = [0, 0] : (tensor<2x3xf32>) -> tensor<2x2xf32>
  func.return
}
// CHECK: perm [0, 0] is not a permutation of the 2 dimensions

// -----
func.func @transposed_shape(%a: tensor<2x3xf32>) {
  %0 = tops.transpose %a perm = [1, 0] : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: result shape 2x3 should be 3x2

// -----
func.func @broadcast(%a: tensor<2x3xf32>) {
  %0 = tops.broadcast %a : (tensor<2x3xf32>) -> tensor<4x3xf32>
  func.return
}
// CHECK: cannot broadcast 2x3 to 4x3

// -----
func.func @broadcast_rank(%a: tensor<1x3xf32>) {
  %0 = tops.broadcast %a : (tensor<1x3xf32>) -> tensor<3xf32>
  func.return
}
// CHECK: cannot broadcast 1x3 to 3

// -----
func.func @softmax(%a: tensor<2x3xf32>) {
  %0 = tops.softmax %a axis = 2 : tensor<2x3xf32>
  func.return
}
// CHECK: axis 2 is out of range for rank 2
