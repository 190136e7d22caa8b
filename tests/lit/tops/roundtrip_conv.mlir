// The convolution, pooling and normalisation ops and tops.im2col print in their
// custom format and parse back to the same IR, also through the generic format.
// RUN: lockstep-opt %s | lockstep-opt | filecheck %s
// RUN: lockstep-opt %s --print-op-generic | lockstep-opt | filecheck %s

func.func @main(%x: tensor<1x4x8x8xf32> {tops.name = "X"}, %w: tensor<6x2x3x3xf32>, %b: tensor<6xf32>, %p: tensor<4xf32>, %t: tensor<1x8x8x4xf32>) -> (tensor<1x6x4x4xf32> {tops.name = "Y"}) {
  %c = tops.conv %x, %w, %b strides = [2, 2] pads = [1, 1, 1, 1] dilations = [1, 1] group = 2 : (tensor<1x4x8x8xf32>, tensor<6x2x3x3xf32>, tensor<6xf32>) -> tensor<1x6x4x4xf32> loc("conv")
  %n = tops.conv %x, %w strides = [1, 1] pads = [0, 0, 0, 0] dilations = [2, 2] group = 2 : (tensor<1x4x8x8xf32>, tensor<6x2x3x3xf32>) -> tensor<1x6x4x4xf32>
  %m = tops.max_pool %x kernel = [3, 3] strides = [2, 2] pads = [1, 1, 1, 1] dilations = [1, 1] ceil_mode = 0 : (tensor<1x4x8x8xf32>) -> tensor<1x4x4x4xf32>
  %a = tops.avg_pool %x kernel = [3, 3] strides = [2, 2] pads = [0, 0, 0, 0] dilations = [1, 1] ceil_mode = 1 count_include_pad = 1 : (tensor<1x4x8x8xf32>) -> tensor<1x4x4x4xf32>
  %i = tops.im2col %t kernel = [3, 3] strides = [1, 1] pads = [1, 1, 1, 1] dilations = [1, 1] : (tensor<1x8x8x4xf32>) -> tensor<1x8x8x36xf32>
  %r = tops.im2col %t kernel = [2, 2] strides = [2, 2] pads = [0, 0, 0, 0] dilations = [1, 1] : (tensor<1x8x8x4xf32>) -> tensor<16x4x1x4xf32>
  %bn = tops.batch_norm %x, %p, %p, %p, %p epsilon = 1.000000e-05 : (tensor<1x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  %l = tops.lrn %x size = 3 alpha = 1.000000e-04 beta = 7.500000e-01 bias = 1.000000e+00 : tensor<1x4x8x8xf32>
  func.return %c : tensor<1x6x4x4xf32>
}

// CHECK:      %c = tops.conv %x, %w, %b strides = [2, 2] pads = [1, 1, 1, 1] dilations = [1, 1] group = 2 : (tensor<1x4x8x8xf32>, tensor<6x2x3x3xf32>, tensor<6xf32>) -> tensor<1x6x4x4xf32>
// CHECK-NEXT: %n = tops.conv %x, %w strides = [1, 1] pads = [0, 0, 0, 0] dilations = [2, 2] group = 2 : (tensor<1x4x8x8xf32>, tensor<6x2x3x3xf32>) -> tensor<1x6x4x4xf32>
// CHECK-NEXT: %m = tops.max_pool %x kernel = [3, 3] strides = [2, 2] pads = [1, 1, 1, 1] dilations = [1, 1] ceil_mode = 0 : (tensor<1x4x8x8xf32>) -> tensor<1x4x4x4xf32>
// CHECK-NEXT: %a = tops.avg_pool %x kernel = [3, 3] strides = [2, 2] pads = [0, 0, 0, 0] dilations = [1, 1] ceil_mode = 1 count_include_pad = 1 : (tensor<1x4x8x8xf32>) -> tensor<1x4x4x4xf32>
// CHECK-NEXT: %i = tops.im2col %t kernel = [3, 3] strides = [1, 1] pads = [1, 1, 1, 1] dilations = [1, 1] : (tensor<1x8x8x4xf32>) -> tensor<1x8x8x36xf32>
// CHECK-NEXT: %r = tops.im2col %t kernel = [2, 2] strides = [2, 2] pads = [0, 0, 0, 0] dilations = [1, 1] : (tensor<1x8x8x4xf32>) -> tensor<16x4x1x4xf32>
// CHECK-NEXT: %bn = tops.batch_norm %x, %p, %p, %p, %p epsilon = 1.000000e-05 : (tensor<1x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
// CHECK-NEXT: %l = tops.lrn %x size = 3 alpha = 1.000000e-04 beta = 7.500000e-01 bias = 1.000000e+00 : tensor<1x4x8x8xf32>
