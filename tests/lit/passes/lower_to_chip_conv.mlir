// lower-to-chip of a 3x3 conv (pad 1, C = 2, M = 2) on one chip: the NCHW input
// becomes NHWC (row copies, SXM transposes); tops.im2col becomes SXM lane moves of
// one tap's 2 channels each, repeated over runs of window rows: order 0 starts a
// vector (no merge), later orders merge into it, naming the moves that wrote those
// vectors before; padding is never written. The
// [9, 18] windows then stream through one [18, 2] weight tile. SRAM is reused: the
// matmul writes over the NHWC input the windows have read, the last transposes'
// scratch is the first ones', and the output takes the input's block.
// RUN: lockstep-opt %s -p 'normalise,partition{chips=1},place,lower-to-chip' | filecheck %s

func.func @main(%x: tensor<1x2x3x3xf32> {tops.name = "x"}) -> (tensor<1x2x3x3xf32> {tops.name = "y"}) {
  %w = tops.constant dense<1.0> : tensor<2x2x3x3xf32>
  %y = tops.conv %x, %w strides = [1, 1] pads = [1, 1, 1, 1] dilations = [1, 1] group = 1 : (tensor<1x2x3x3xf32>, tensor<2x2x3x3xf32>) -> tensor<1x2x3x3xf32> loc("conv")
  func.return %y : tensor<1x2x3x3xf32>
}

// CHECK:      %[[X:[0-9]+]] = chip.input "x" core 0 at 0 : tensor<1x2x3x3xf32>
// CHECK:      %[[W:[0-9]+]] = chip.preload core 0 at 6 dense<{{.*}}> : tensor<18x320xf32>
// CHECK:      chip.mem_copy core 0 unit "mem" repeat 2 stride 1 dst[42, 1] src[0, 3] (%[[X]])
// CHECK:      chip.sxm_transpose core 0 unit "sxm" repeat 2 stride 1 width 3 dst[30, 1] src[46, 1]
// CHECK-NEXT: %[[T:[0-9]+]] = chip.join core 0(%{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}})
// CHECK-NEXT: %[[O0:[0-9]+]] = chip.sxm_move core 0 unit "sxm" repeat 2 stride 1 lanes 0 to 0 width 2 dst[37, 1] src[24, 1] (%[[T]]){{$}}
// CHECK:      chip.sxm_move core 0 unit "sxm" repeat 2 stride 1 lanes 0 to 2 width 2 dst[37, 1] src[25, 1] (%[[T]]) merge[37, 1] (%[[O0]])
// CHECK:      %[[TILE:[0-9]+]] = chip.mxm_load core 0 unit "mxm" repeat 18 stride 1 src[6, 1] (%[[W]])
// CHECK-NEXT: %[[Y:[0-9]+]] = chip.mxm_matmul core 0 unit "mxm" repeat 9 stride 1 weights(%[[TILE]]) dst[24, 1] src[33, 1] (%{{[0-9]+}})
// CHECK-NEXT: chip.sxm_transpose core 0 unit "sxm" repeat 3 stride 1 width 2 dst[42, 1] src[24, 1] (%[[Y]])
// CHECK:      chip.output "y" core 0 at 0 : tensor<1x2x3x3xf32>
