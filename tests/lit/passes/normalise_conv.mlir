// normalise of convolution, batch norm and pooling (docs/conv.md): a batch norm
// after a conv folds into its weights and bias; a conv is NHWC im2col times the
// weight matrix; a pool reduces im2col windows (max padding is the lowest float,
// but for a relu's result, whose zero padding never wins);
// the NCHW <-> NHWC transposes between ops cancel (the relu runs on NHWC).
// RUN: lockstep-opt %s --split-input-file -p normalise --print-debuginfo | filecheck %s

func.func @conv_bn(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %w = tops.constant dense<[[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]]]> : tensor<2x2x1x1xf32> loc("conv.weight")
  %s = tops.constant dense<[2.0, 0.5]> : tensor<2xf32>
  %b = tops.constant dense<[1.0, -1.0]> : tensor<2xf32>
  %m = tops.constant dense<[0.5, 0.0]> : tensor<2xf32>
  %v = tops.constant dense<[1.0, 4.0]> : tensor<2xf32>
  %c = tops.conv %x, %w strides = [1, 1] pads = [0, 0, 0, 0] dilations = [1, 1] group = 1 : (tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x4x4xf32> loc("conv")
  %y = tops.batch_norm %c, %s, %b, %m, %v epsilon = 0.0 : (tensor<1x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32> loc("bn")
  func.return %y : tensor<1x2x4x4xf32>
}
// a = scale / sqrt(var) = [2, 0.25]: weight rows scaled, bias (0 - mean) * a + B = [0, -1],
// broadcast to every pixel and marked a row broadcast (stored as one row).
// CHECK-LABEL: func.func @conv_bn
// CHECK-NEXT:    [[W:%\S+]] = tops.constant dense<{{\[\[}}2.000000e+00, 7.500000e-01], [4.000000e+00, 1.000000e+00]]> : tensor<2x2xf32> loc("conv")
// CHECK-NEXT:    [[T:%\S+]] = tops.transpose %x perm = [0, 2, 3, 1] : (tensor<1x2x4x4xf32>) -> tensor<1x4x4x2xf32> loc("conv")
// CHECK-NEXT:    [[P:%\S+]] = tops.matmul [[T]], [[W]] : (tensor<1x4x4x2xf32>, tensor<2x2xf32>) -> tensor<1x4x4x2xf32> loc("conv")
// CHECK-NEXT:    [[B:%\S+]] = tops.constant dense<{{.*}}[0.000000e+00, -1.000000e+00]]]]> : tensor<1x4x4x2xf32> {tops.row_broadcast} loc("conv")
// CHECK-NEXT:    [[S:%\S+]] = tops.add [[P]], [[B]] : (tensor<1x4x4x2xf32>, tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xf32> loc("conv")
// CHECK-NEXT:    [[Y:%\S+]] = tops.transpose [[S]] perm = [0, 3, 1, 2] : (tensor<1x4x4x2xf32>) -> tensor<1x2x4x4xf32> loc("conv")
// CHECK-NEXT:    func.return [[Y]]
// CHECK-NOT:     tops.batch_norm


// -----
func.func @conv_relu_conv(%x: tensor<1x2x4x4xf32>, %w: tensor<3x2x3x3xf32>) -> tensor<1x3x2x2xf32> {
  %c = tops.conv %x, %w strides = [2, 2] pads = [1, 1, 1, 1] dilations = [1, 1] group = 1 : (tensor<1x2x4x4xf32>, tensor<3x2x3x3xf32>) -> tensor<1x3x2x2xf32> loc("conv")
  %r = tops.relu %c : tensor<1x3x2x2xf32> loc("relu")
  %p = tops.max_pool %r kernel = [2, 2] strides = [1, 1] pads = [0, 0, 1, 1] dilations = [1, 1] ceil_mode = 0 : (tensor<1x3x2x2xf32>) -> tensor<1x3x2x2xf32> loc("pool")
  func.return %p : tensor<1x3x2x2xf32>
}
// A run-time weight becomes the [KH*KW*C, M] matrix by a transpose and a reshape. The pool's
// input is a relu's (>= 0): im2col's zero padding never wins, so no padding mask.
// CHECK-LABEL: func.func @conv_relu_conv
// CHECK-NEXT:    [[WT:%\S+]] = tops.transpose %w perm = [2, 3, 1, 0] : (tensor<3x2x3x3xf32>) -> tensor<3x3x2x3xf32> loc("conv")
// CHECK-NEXT:    [[WM:%\S+]] = tops.reshape [[WT]] : (tensor<3x3x2x3xf32>) -> tensor<18x3xf32> loc("conv")
// CHECK-NEXT:    [[X:%\S+]] = tops.transpose %x perm = [0, 2, 3, 1] : (tensor<1x2x4x4xf32>) -> tensor<1x4x4x2xf32> loc("conv")
// CHECK-NEXT:    [[COLS:%\S+]] = tops.im2col [[X]] kernel = [3, 3] strides = [2, 2] pads = [1, 1, 1, 1] dilations = [1, 1] : (tensor<1x4x4x2xf32>) -> tensor<1x2x2x18xf32> loc("conv")
// CHECK-NEXT:    [[C:%\S+]] = tops.matmul [[COLS]], [[WM]] : (tensor<1x2x2x18xf32>, tensor<18x3xf32>) -> tensor<1x2x2x3xf32> loc("conv")
// CHECK-NEXT:    [[R:%\S+]] = tops.relu [[C]] : tensor<1x2x2x3xf32> loc("relu")
// CHECK-NEXT:    [[WIN:%\S+]] = tops.im2col [[R]] kernel = [2, 2] strides = [1, 1] pads = [0, 0, 1, 1] dilations = [1, 1] : (tensor<1x2x2x3xf32>) -> tensor<4x4x1x3xf32> loc("pool")
// CHECK-NEXT:    [[MAX:%\S+]] = tops.reduce_max [[WIN]] axes = [1] : (tensor<4x4x1x3xf32>) -> tensor<4x1x1x3xf32> loc("pool")
// CHECK-NEXT:    [[NHWC:%\S+]] = tops.reshape [[MAX]] : (tensor<4x1x1x3xf32>) -> tensor<1x2x2x3xf32> loc("pool")
// CHECK-NEXT:    [[Y:%\S+]] = tops.transpose [[NHWC]] perm = [0, 3, 1, 2] : (tensor<1x2x2x3xf32>) -> tensor<1x3x2x2xf32> loc("pool")
// CHECK-NEXT:    func.return [[Y]]


// -----
func.func @max_pool_padding(%x: tensor<1x3x2x2xf32>) -> tensor<1x3x2x2xf32> {
  %p = tops.max_pool %x kernel = [2, 2] strides = [1, 1] pads = [0, 0, 1, 1] dilations = [1, 1] ceil_mode = 0 : (tensor<1x3x2x2xf32>) -> tensor<1x3x2x2xf32> loc("pool")
  func.return %p : tensor<1x3x2x2xf32>
}
// Of an input that may be negative, the padding positions of the windows get the lowest float.
// CHECK-LABEL: func.func @max_pool_padding
// CHECK-NEXT:    [[X:%\S+]] = tops.transpose %x perm = [0, 2, 3, 1] : (tensor<1x3x2x2xf32>) -> tensor<1x2x2x3xf32> loc("pool")
// CHECK-NEXT:    [[WIN:%\S+]] = tops.im2col [[X]] kernel = [2, 2] strides = [1, 1] pads = [0, 0, 1, 1] dilations = [1, 1] : (tensor<1x2x2x3xf32>) -> tensor<4x4x1x3xf32> loc("pool")
// CHECK-NEXT:    [[MASK:%\S+]] = tops.constant dense<{{.*}}-3.40282347e+38{{.*}}> : tensor<4x4x1x3xf32> loc("pool")
// CHECK-NEXT:    [[M:%\S+]] = tops.add [[WIN]], [[MASK]] : (tensor<4x4x1x3xf32>, tensor<4x4x1x3xf32>) -> tensor<4x4x1x3xf32> loc("pool")
// CHECK-NEXT:    [[MAX:%\S+]] = tops.reduce_max [[M]] axes = [1] : (tensor<4x4x1x3xf32>) -> tensor<4x1x1x3xf32> loc("pool")

