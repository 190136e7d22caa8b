// lower-to-chip of the wider ONNX set, kernel-free: a last-axis sum over 2 vectors
// per row (an SXM lane reduction per chunk into lane 0, merged by a VXM add), a
// reduction across rows (a VXM max chain over whole row blocks), a comparison and
// a transcendental (one VXM op per lane-uniform run) and where (two exact
// selections and an add). Scratch is released after each op: where's temporaries
// (30..37) reuse the sum's (30, 31), and `schedule` orders the reuse.
// RUN: lockstep-opt %s -p 'normalise,partition{chips=1},place,lower-to-chip' | filecheck %s

func.func @main(%x: tensor<2x400xf32> {tops.name = "x"}, %r: tensor<3x2x5xf32> {tops.name = "r"}) -> (tensor<2x1xf32> {tops.name = "s"}, tensor<1x2x5xf32> {tops.name = "m"}, tensor<2x400xf32> {tops.name = "w"}) {
  %s = tops.reduce_sum %x axes = [1] : (tensor<2x400xf32>) -> tensor<2x1xf32> loc("/sum")
  %m = tops.reduce_max %r axes = [0] : (tensor<3x2x5xf32>) -> tensor<1x2x5xf32> loc("/max")
  %z = tops.constant dense<0.0> : tensor<2x400xf32>
  %c = tops.less %x, %z : (tensor<2x400xf32>, tensor<2x400xf32>) -> tensor<2x400xf32> loc("/less")
  %e = tops.erf %x : tensor<2x400xf32> loc("/erf")
  %w = tops.where %c, %x, %e : (tensor<2x400xf32>, tensor<2x400xf32>, tensor<2x400xf32>) -> tensor<2x400xf32> loc("/where")
  func.return %s, %m, %w : tensor<2x1xf32>, tensor<1x2x5xf32>, tensor<2x400xf32>
}

// CHECK:      %[[X:[0-9]+]] = chip.input "x" core 0 at 0 : tensor<2x400xf32>
// CHECK-NEXT: %[[R:[0-9]+]] = chip.input "r" core 0 at 4 : tensor<3x2x5xf32>
// CHECK-NEXT: %[[S0:[0-9]+]] = chip.sxm_reduce "sum" core 0 unit "sxm" repeat 2 stride 1 first 0 width 320 lanes 1 dst[30, 2] src[0, 2] (%[[X]])
// CHECK-NEXT: %[[S1:[0-9]+]] = chip.sxm_reduce "sum" core 0 unit "sxm" repeat 2 stride 1 first 0 width 80 lanes 1 dst[31, 2] src[1, 2] (%[[X]])
// CHECK-NEXT: %[[S:[0-9]+]] = chip.vxm "add" core 0 unit "vxm" repeat 2 stride 1 lanes 1 dst[14, 1] lhs[30, 2] (%[[S0]]) rhs[31, 2] (%[[S1]])
// CHECK-NEXT: %[[M0:[0-9]+]] = chip.vxm "max" core 0 unit "vxm" repeat 2 stride 1 lanes 5 dst[16, 1] lhs[4, 1] (%[[R]]) rhs[6, 1] (%[[R]])
// CHECK-NEXT: %[[M:[0-9]+]] = chip.vxm "max" core 0 unit "vxm" repeat 2 stride 1 lanes 5 dst[16, 1] lhs[16, 1] (%[[M0]]) rhs[8, 1] (%[[R]])
// CHECK:      chip.vxm "cmp_lt" core 0 unit "vxm" repeat 2 stride 1 lanes 320 dst[18, 2] lhs[0, 2] (%[[X]])
// CHECK-NEXT: chip.vxm "cmp_lt" core 0 unit "vxm" repeat 2 stride 1 lanes 80 dst[19, 2] lhs[1, 2] (%[[X]])
// CHECK-NEXT: %[[C:[0-9]+]] = chip.join
// CHECK-NEXT: chip.vxm "erf" core 0 unit "vxm" repeat 2 stride 1 lanes 320 dst[22, 2] lhs[0, 2] (%[[X]])
// CHECK-NEXT: chip.vxm "erf" core 0 unit "vxm" repeat 2 stride 1 lanes 80 dst[23, 2] lhs[1, 2] (%[[X]])
// CHECK-NEXT: %[[E:[0-9]+]] = chip.join
// CHECK-NEXT: chip.vxm "keep_if" core 0 unit "vxm" repeat 2 stride 1 lanes 320 dst[30, 2] lhs[18, 2] (%[[C]]) rhs[0, 2] (%[[X]])
// CHECK-NEXT: chip.vxm "keep_if" core 0 unit "vxm" repeat 2 stride 1 lanes 80 dst[31, 2] lhs[19, 2] (%[[C]]) rhs[1, 2] (%[[X]])
// CHECK-NEXT: %[[K:[0-9]+]] = chip.join
// CHECK-NEXT: chip.vxm "keep_unless" core 0 unit "vxm" repeat 2 stride 1 lanes 320 dst[34, 2] lhs[18, 2] (%[[C]]) rhs[22, 2] (%[[E]])
// CHECK-NEXT: chip.vxm "keep_unless" core 0 unit "vxm" repeat 2 stride 1 lanes 80 dst[35, 2] lhs[19, 2] (%[[C]]) rhs[23, 2] (%[[E]])
// CHECK-NEXT: %[[U:[0-9]+]] = chip.join
// CHECK-NEXT: chip.vxm "add" core 0 unit "vxm" repeat 2 stride 1 lanes 320 dst[26, 2] lhs[30, 2] (%[[K]]) rhs[34, 2] (%[[U]])
// CHECK-NEXT: chip.vxm "add" core 0 unit "vxm" repeat 2 stride 1 lanes 80 dst[27, 2] lhs[31, 2] (%[[K]]) rhs[35, 2] (%[[U]])
// CHECK-NEXT: %[[W:[0-9]+]] = chip.join
// CHECK-NEXT: chip.output "s" core 0 at 14 : tensor<2x1xf32>(%[[S]])
// CHECK-NEXT: chip.output "m" core 0 at 16 : tensor<1x2x5xf32>(%[[M]])
// CHECK-NEXT: chip.output "w" core 0 at 26 : tensor<2x400xf32>(%[[W]])
