// tops.conv, the pools and tops.im2col check their window shapes.
// RUN: lockstep-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @group(%x: tensor<1x4x8x8xf32>, %w: tensor<6x2x3x3xf32>) {
  %0 = tops.conv %x, %w strides = [1, 1] pads = [1, 1, 1, 1] dilations = [1, 1] group = 3 : (tensor<1x4x8x8xf32>, tensor<6x2x3x3xf32>) -> tensor<1x6x8x8xf32>
  func.return
}
// CHECK: group 3 does not divide the 4 input and 6 output channels

// -----
func.func @conv_shape(%x: tensor<1x4x8x8xf32>, %w: tensor<6x4x3x3xf32>) {
  %0 = tops.conv %x, %w strides = [2, 2] pads = [1, 1, 1, 1] dilations = [1, 1] group = 1 : (tensor<1x4x8x8xf32>, tensor<6x4x3x3xf32>) -> tensor<1x6x8x8xf32>
  func.return
}
// CHECK: result shape 1x6x8x8 should be 1x6x4x4

// -----
func.func @too_big(%x: tensor<1x4x2x2xf32>) {
  %0 = tops.max_pool %x kernel = [3, 3] strides = [1, 1] pads = [0, 0, 0, 0] dilations = [1, 1] ceil_mode = 0 : (tensor<1x4x2x2xf32>) -> tensor<1x4x1x1xf32>
  func.return
}
// CHECK: the window [3, 3] does not fit the padded input 2x2

// -----
func.func @ceil(%x: tensor<1x4x8x8xf32>) {
  %0 = tops.avg_pool %x kernel = [3, 3] strides = [2, 2] pads = [0, 0, 0, 0] dilations = [1, 1] ceil_mode = 1 count_include_pad = 0 : (tensor<1x4x8x8xf32>) -> tensor<1x4x3x3xf32>
  func.return
}
// CHECK: result shape 1x4x3x3 should be 1x4x4x4

// -----
func.func @im2col(%x: tensor<1x8x8x4xf32>) {
  %0 = tops.im2col %x kernel = [3, 3] strides = [1, 1] pads = [1, 1, 1, 1] dilations = [1, 1] : (tensor<1x8x8x4xf32>) -> tensor<64x35xf32>
  func.return
}
// CHECK: result 64x35 does not hold the 1x8x8x3x3x4 windows

// -----
func.func @bn(%x: tensor<1x4x8x8xf32>, %p: tensor<4xf32>, %q: tensor<3xf32>) {
  %0 = tops.batch_norm %x, %p, %p, %q, %p epsilon = 1.000000e-05 : (tensor<1x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  func.return
}
// CHECK: mean of shape 3 should be 4
