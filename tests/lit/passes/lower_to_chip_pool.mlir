// lower-to-chip of a 2x2 stride-2 max pool of NCHW data (W along the lanes) on one chip:
// the windows slide along the lanes with stride 2, so tops.im2col first deinterleaves
// each input row into scratch (even positions, then odd: a width-1 move per lane, merged
// in order, the rows cut into one piece per SXM unit), after which each window vector is
// one contiguous move of its 3 lanes; the max runs across the 4 tap rows on the VXM.
// RUN: lockstep-opt %s -p 'normalise,partition{chips=1},place,lower-to-chip' | filecheck %s

func.func @main(%x: tensor<1x1x2x6xf32> {tops.name = "x"}) -> (tensor<1x1x1x3xf32> {tops.name = "y"}) {
  %y = tops.max_pool %x kernel = [2, 2] strides = [2, 2] pads = [0, 0, 0, 0] dilations = [1, 1] ceil_mode = 0 : (tensor<1x1x2x6xf32>) -> tensor<1x1x1x3xf32> loc("pool")
  func.return %y : tensor<1x1x1x3xf32>
}

// CHECK:      %[[X:[0-9]+]] = chip.input "x" core 0 at 0 : tensor<1x1x2x6xf32>
// CHECK-NEXT: %[[A0:[0-9]+]] = chip.sxm_move core 0 unit "sxm" repeat 1 stride 1 lanes 0 to 0 width 1 dst[[[S:[0-9]+]], 1] src[0, 1] (%[[X]]){{$}}
// CHECK-NEXT: %[[B0:[0-9]+]] = chip.sxm_move core 0 unit "sxm" repeat 1 stride 1 lanes 0 to 0 width 1 dst[{{[0-9]+}}, 1] src[1, 1] (%[[X]]){{$}}
// CHECK-NEXT: %[[A1:[0-9]+]] = chip.sxm_move core 0 unit "sxm" repeat 1 stride 1 lanes 2 to 1 width 1 dst[[[S]], 1] src[0, 1] (%[[X]]) merge[[[S]], 1] (%[[A0]])
// CHECK:      chip.sxm_move core 0 unit "sxm" repeat 1 stride 1 lanes 4 to 2 width 1 dst[[[S]], 1] src[0, 1] (%[[X]]) merge[[[S]], 1] (%[[A1]])
// CHECK:      chip.sxm_move core 0 unit "sxm" repeat 1 stride 1 lanes 1 to 3 width 1 dst[[[S]], 1]
// CHECK:      chip.sxm_move core 0 unit "sxm" repeat 1 stride 1 lanes 3 to 4 width 1 dst[[[S]], 1]
// CHECK:      chip.sxm_move core 0 unit "sxm" repeat 1 stride 1 lanes 5 to 5 width 1 dst[[[S]], 1]
// CHECK:      %[[D:[0-9]+]] = chip.join core 0
// CHECK-NEXT: chip.sxm_move core 0 unit "sxm" repeat 1 stride 1 lanes 0 to 0 width 3 dst[{{[0-9]+}}, 1] src[[[S]], 1] (%[[D]]){{$}}
// CHECK-NEXT: chip.sxm_move core 0 unit "sxm" repeat 1 stride 1 lanes 3 to 0 width 3 dst[{{[0-9]+}}, 1] src[[[S]], 1] (%[[D]]){{$}}
// CHECK-NEXT: chip.sxm_move core 0 unit "sxm" repeat 1 stride 1 lanes 0 to 0 width 3
// CHECK-NEXT: chip.sxm_move core 0 unit "sxm" repeat 1 stride 1 lanes 3 to 0 width 3
// CHECK-NEXT: %[[W:[0-9]+]] = chip.join core 0
// CHECK-NEXT: chip.vxm "max" core 0 unit "vxm" repeat 1 stride 1 lanes 3 dst[{{[0-9]+}}, 1] lhs[{{[0-9]+}}, 4] (%[[W]]) rhs[{{[0-9]+}}, 4] (%[[W]])
// CHECK-NOT:  chip.sxm_move
// CHECK:      chip.output "y"
