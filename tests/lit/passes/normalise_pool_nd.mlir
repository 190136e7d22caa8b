// normalise of pools with any number of spatial axes (docs/conv.md): a pool of a tensor
// with few channels runs on the NCHW data viewed as [N*C, D, H, W] (W along the lanes, no
// transposes; the im2col kernel axes come before the last window axis); one with more
// channels than output columns runs on the NHWC transpose. Max pooling's padding (here the
// end padding of W) becomes the lowest float; an average multiplies by 1 / taps.
// RUN: lockstep-opt %s --split-input-file -p normalise | filecheck %s

func.func @max3d(%x: tensor<1x2x4x5x6xf32>) -> tensor<1x2x2x3x3xf32> {
  %y = tops.max_pool %x kernel = [2, 2, 2] strides = [2, 2, 2] pads = [0, 0, 0, 0, 1, 0] dilations = [1, 1, 1] ceil_mode = 0 : (tensor<1x2x4x5x6xf32>) -> tensor<1x2x2x3x3xf32>
  func.return %y : tensor<1x2x2x3x3xf32>
}
// CHECK-LABEL: func.func @max3d
// CHECK-NEXT:    [[X:%\S+]] = tops.reshape %x : (tensor<1x2x4x5x6xf32>) -> tensor<2x4x5x6xf32>
// CHECK-NEXT:    [[WIN:%\S+]] = tops.im2col [[X]] kernel = [2, 2, 2] strides = [2, 2, 2] pads = [0, 0, 0, 0, 1, 0] dilations = [1, 1, 1] : (tensor<2x4x5x6xf32>) -> tensor<12x8x1x3xf32>
// CHECK-NEXT:    [[MASK:%\S+]] = tops.constant dense<{{.*}}> : tensor<12x8x1x3xf32>
// CHECK-NEXT:    [[M:%\S+]] = tops.add [[WIN]], [[MASK]]
// CHECK-NEXT:    [[MAX:%\S+]] = tops.reduce_max [[M]] axes = [1] : (tensor<12x8x1x3xf32>) -> tensor<12x1x1x3xf32>
// CHECK-NEXT:    [[Y:%\S+]] = tops.reshape [[MAX]] : (tensor<12x1x1x3xf32>) -> tensor<1x2x2x3x3xf32>
// CHECK-NEXT:    func.return [[Y]]

// -----
func.func @avg3d(%x: tensor<1x40x4x5x6xf32>) -> tensor<1x40x3x4x5xf32> {
  %y = tops.avg_pool %x kernel = [2, 2, 2] strides = [1, 1, 1] pads = [0, 0, 0, 0, 0, 0] dilations = [1, 1, 1] ceil_mode = 0 count_include_pad = 0 : (tensor<1x40x4x5x6xf32>) -> tensor<1x40x3x4x5xf32>
  func.return %y : tensor<1x40x3x4x5xf32>
}
// CHECK-LABEL: func.func @avg3d
// CHECK-NEXT:    [[X:%\S+]] = tops.transpose %x perm = [0, 2, 3, 4, 1] : (tensor<1x40x4x5x6xf32>) -> tensor<1x4x5x6x40xf32>
// CHECK-NEXT:    [[WIN:%\S+]] = tops.im2col [[X]] kernel = [2, 2, 2] strides = [1, 1, 1] pads = [0, 0, 0, 0, 0, 0] dilations = [1, 1, 1] : (tensor<1x4x5x6x40xf32>) -> tensor<60x8x1x40xf32>
// CHECK-NEXT:    [[SUM:%\S+]] = tops.reduce_sum [[WIN]] axes = [1] : (tensor<60x8x1x40xf32>) -> tensor<60x1x1x40xf32>
// CHECK-NEXT:    [[S:%\S+]] = tops.constant dense<1.250000e-01> : tensor<60x1x1x40xf32>
// CHECK-NEXT:    [[AVG:%\S+]] = tops.mul [[SUM]], [[S]]
// CHECK-NEXT:    [[R:%\S+]] = tops.reshape [[AVG]] : (tensor<60x1x1x40xf32>) -> tensor<1x3x4x5x40xf32>
// CHECK-NEXT:    [[Y:%\S+]] = tops.transpose [[R]] perm = [0, 4, 1, 2, 3] : (tensor<1x3x4x5x40xf32>) -> tensor<1x40x3x4x5xf32>
// CHECK-NEXT:    func.return [[Y]]

// -----
func.func @avg1d(%x: tensor<2x3x10xf32>) -> tensor<2x3x5xf32> {
  %y = tops.avg_pool %x kernel = [3] strides = [2] pads = [1, 1] dilations = [1] ceil_mode = 0 count_include_pad = 0 : (tensor<2x3x10xf32>) -> tensor<2x3x5xf32>
  func.return %y : tensor<2x3x5xf32>
}
// Taps counted per output column: the first window has one in the padding.
// CHECK-LABEL: func.func @avg1d
// CHECK-NEXT:    [[X:%\S+]] = tops.reshape %x : (tensor<2x3x10xf32>) -> tensor<6x10xf32>
// CHECK-NEXT:    [[WIN:%\S+]] = tops.im2col [[X]] kernel = [3] strides = [2] pads = [1, 1] dilations = [1] : (tensor<6x10xf32>) -> tensor<6x3x1x5xf32>
// CHECK-NEXT:    [[SUM:%\S+]] = tops.reduce_sum [[WIN]] axes = [1]
// CHECK-NEXT:    tops.constant dense<{{\[}}{{\[}}{{\[}}[5.000000e-01, 0.333333343, 0.333333343, 0.333333343, 0.333333343]]]
