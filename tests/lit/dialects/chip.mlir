// Every chip op prints in its custom format and parses back to the same IR,
// inside a chip.program (before `schedule`: no cycles) and a chip.stream
// (emitted: cycles), also through the generic format.
// RUN: lockstep-opt %s | lockstep-opt | filecheck %s
// RUN: lockstep-opt %s --print-op-generic | lockstep-opt | filecheck %s

chip.program "fc:2" {
  %x = chip.input "x" core 0 at 0 : tensor<2x4xf32>
  %w = chip.preload core 0 at 2 dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %l = chip.mxm_load core 0 unit "mxm0" repeat 4 stride 1 src[2, 1] (%w)
  %m0 = chip.mxm_matmul core 0 unit "mxm0" repeat 2 stride 1 weights(%l) dst[6, 1] src[0, 1] (%x)
  %m1 = chip.mxm_matmul core 0 unit "mxm1" repeat 2 stride 1 weights(%l) dst[6, 1] src[0, 1] (%x) acc[6, 1] (%m0)
  %e = chip.vxm "exp" core 0 unit "vxm3" repeat 2 stride 1 lanes 4 dst[8, 1] lhs[6, 1] (%m1)
  %a = chip.vxm "add" core 0 unit "vxm0" repeat 2 stride 2 lanes 320 dst[10, 0] lhs[6, 1] (%m1) rhs[8, 1] (%e)
  %r = chip.sxm_reduce "max" core 0 unit "sxm0" repeat 2 stride 1 first 0 width 4 lanes 320 dst[12, 1] src[8, 1] (%e)
  %t = chip.sxm_transpose core 0 unit "sxm1" repeat 2 stride 1 width 4 dst[14, 1] src[8, 1] (%e)
  %v0 = chip.sxm_move core 0 unit "sxm2" repeat 1 stride 1 lanes 0 to 0 width 2 dst[18, 1] src[14, 1] (%t)
  %v1 = chip.sxm_move core 0 unit "sxm2" repeat 1 stride 1 lanes 0 to 2 width 2 dst[18, 1] src[15, 1] (%t) merge[18, 1] (%v0)
  %j = chip.join core 0(%v0, %v1)
  %c = chip.mem_copy core 0 unit "mem1" repeat 1 stride 1 dst[19, 1] src[18, 1] (%j)
  %n = net.transfer from 0 at 19 to 1 at 0 repeat 1 stride 20 route [0, 1, 0] via [] (%c)
  chip.output "y" core 1 at 0 : tensor<1x4xf32>(%n)
}

chip.stream core 1 "fc:2" {
  %k = chip.recv core 1 unit "c2c0" cycle 500 repeat 1 stride 20 from 0 port 0 dst[0, 1]
  %s = chip.send core 1 unit "c2c1" cycle 520 repeat 1 stride 20 to 0 port 1 src[0, 1] (%k)
  chip.output "z" core 1 at 0 : tensor<1x4xf32>(%k)
}

// CHECK:      chip.program "fc:2" {
// CHECK-NEXT:   %x = chip.input "x" core 0 at 0 : tensor<2x4xf32>
// CHECK-NEXT:   %w = chip.preload core 0 at 2 dense<{{\[\[}}1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// CHECK-NEXT:   %l = chip.mxm_load core 0 unit "mxm0" repeat 4 stride 1 src[2, 1] (%w)
// CHECK-NEXT:   %m0 = chip.mxm_matmul core 0 unit "mxm0" repeat 2 stride 1 weights(%l) dst[6, 1] src[0, 1] (%x)
// CHECK-NEXT:   %m1 = chip.mxm_matmul core 0 unit "mxm1" repeat 2 stride 1 weights(%l) dst[6, 1] src[0, 1] (%x) acc[6, 1] (%m0)
// CHECK-NEXT:   %e = chip.vxm "exp" core 0 unit "vxm3" repeat 2 stride 1 lanes 4 dst[8, 1] lhs[6, 1] (%m1)
// CHECK-NEXT:   %a = chip.vxm "add" core 0 unit "vxm0" repeat 2 stride 2 lanes 320 dst[10, 0] lhs[6, 1] (%m1) rhs[8, 1] (%e)
// CHECK-NEXT:   %r = chip.sxm_reduce "max" core 0 unit "sxm0" repeat 2 stride 1 first 0 width 4 lanes 320 dst[12, 1] src[8, 1] (%e)
// CHECK-NEXT:   %t = chip.sxm_transpose core 0 unit "sxm1" repeat 2 stride 1 width 4 dst[14, 1] src[8, 1] (%e)
// CHECK-NEXT:   %v0 = chip.sxm_move core 0 unit "sxm2" repeat 1 stride 1 lanes 0 to 0 width 2 dst[18, 1] src[14, 1] (%t)
// CHECK-NEXT:   %v1 = chip.sxm_move core 0 unit "sxm2" repeat 1 stride 1 lanes 0 to 2 width 2 dst[18, 1] src[15, 1] (%t) merge[18, 1] (%v0)
// CHECK-NEXT:   %j = chip.join core 0(%v0, %v1)
// CHECK-NEXT:   %c = chip.mem_copy core 0 unit "mem1" repeat 1 stride 1 dst[19, 1] src[18, 1] (%j)
// CHECK-NEXT:   %n = net.transfer from 0 at 19 to 1 at 0 repeat 1 stride 20 route [0, 1, 0] via [](%c)
// CHECK-NEXT:   chip.output "y" core 1 at 0 : tensor<1x4xf32>(%n)
// CHECK-NEXT: }
// CHECK-NEXT: chip.stream core 1 "fc:2" {
// CHECK-NEXT:   %k = chip.recv core 1 unit "c2c0" cycle 500 repeat 1 stride 20 from 0 port 0 dst[0, 1]
// CHECK-NEXT:   %s = chip.send core 1 unit "c2c1" cycle 520 repeat 1 stride 20 to 0 port 1 src[0, 1] (%k)
// CHECK-NEXT:   chip.output "z" core 1 at 0 : tensor<1x4xf32>(%k)
// CHECK-NEXT: }

// An idle chip's stream is empty and still round-trips and verifies.
// RUN: lockstep-opt %S/Inputs/idle_stream.mlir | lockstep-opt | filecheck %s --check-prefix=IDLE
// IDLE: chip.stream core 3 "fc:4" {
// IDLE-NEXT: }
