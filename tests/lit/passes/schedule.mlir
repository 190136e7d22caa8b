// The schedule pass on its own: unit instances, issue cycles, hop cycles and the
// bounds report. Numbers from compiler/systems/single.toml (vxm 4, transcendental
// 12, sxm_transpose 24, mxm_load 1, mxm 20; links: ser 77, hop latency 450).
// RUN: lockstep-opt %s --split-input-file -p schedule | filecheck %s

// Independent ops share the cycle on different units; a consumer waits for the
// whole of every producer (the exp: last issue 1 + 12), a transpose's last
// output lands width - 1 cycles after its first.
builtin.module {
  chip.program "single" {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    %x = chip.input "x" core 0 at 2 : tensor<2x320xf32>
    %a = chip.vxm "add" core 0 unit "vxm" repeat 2 stride 1 lanes 320 dst [10, 1] lhs [2, 1] (%x) rhs [0, 1] (%w)
    %b = chip.vxm "exp" core 0 unit "vxm" repeat 2 stride 1 lanes 320 dst [12, 1] lhs [2, 1] (%x)
    %j = chip.join core 0 (%a, %b)
    %c = chip.vxm "mul" core 0 unit "vxm" repeat 2 stride 1 lanes 320 dst [14, 1] lhs [10, 1] (%j) rhs [12, 1] (%j)
    %t = chip.sxm_transpose core 0 unit "sxm" repeat 2 stride 1 width 2 dst [16, 1] src [14, 1] (%c)
    chip.output "y" core 0 at 16 : tensor<2x320xf32> (%t)
  }
}
// CHECK:      chip.program "single" attributes {schedule.cycles = 44 : i64, schedule.bounds = {critical_path = 44 : i64, mxm_path = 44 : i64, busiest_unit = 1 : i64, busiest_link = 0 : i64}, schedule.efficiency = 1.000000e+00 : f64}
// CHECK:      %a = chip.vxm "add" core 0 unit "vxm0" cycle 0 repeat 2
// CHECK-NEXT: %b = chip.vxm "exp" core 0 unit "vxm1" cycle 0 repeat 2
// CHECK:      %c = chip.vxm "mul" core 0 unit "vxm0" cycle 13 repeat 2
// CHECK-NEXT: %t = chip.sxm_transpose core 0 unit "sxm0" cycle 18 repeat 2

// -----

// MXM planes: a matmul runs on its tile's plane once the tile is ready, and a
// new tile avoids a plane whose tile is still in use (mxm0 until cycle 12).
builtin.module {
  chip.program "single" {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    %x = chip.input "x" core 0 at 2 : tensor<1x320xf32>
    %e = chip.vxm "exp" core 0 unit "vxm" repeat 1 stride 1 lanes 320 dst [3, 1] lhs [2, 1] (%x)
    %l0 = chip.mxm_load core 0 unit "mxm" repeat 2 stride 1 src [0, 1] (%w)
    %m0 = chip.mxm_matmul core 0 unit "mxm" repeat 1 stride 1 weights (%l0) dst [10, 1] src [3, 1] (%e)
    %l1 = chip.mxm_load core 0 unit "mxm" repeat 2 stride 1 src [0, 1] (%w)
    %m1 = chip.mxm_matmul core 0 unit "mxm" repeat 1 stride 1 weights (%l1) dst [11, 1] src [2, 1] (%x)
    %l2 = chip.mxm_load core 0 unit "mxm" repeat 2 stride 1 src [0, 1] (%w)
    %m2 = chip.mxm_matmul core 0 unit "mxm" repeat 1 stride 1 weights (%l2) dst [12, 1] src [2, 1] (%x)
    %l3 = chip.mxm_load core 0 unit "mxm" repeat 2 stride 1 src [0, 1] (%w)
    %m3 = chip.mxm_matmul core 0 unit "mxm" repeat 1 stride 1 weights (%l3) dst [13, 1] src [2, 1] (%x)
    %l4 = chip.mxm_load core 0 unit "mxm" repeat 2 stride 1 src [0, 1] (%w)
    %m4 = chip.mxm_matmul core 0 unit "mxm" repeat 1 stride 1 weights (%l4) dst [14, 1] src [2, 1] (%x)
    %j = chip.join core 0 (%m0, %m1, %m2, %m3, %m4)
    chip.output "y" core 0 at 10 : tensor<5x320xf32> (%j)
  }
}
// CHECK:      schedule.cycles = 32 : i64
// CHECK:      %l0 = chip.mxm_load core 0 unit "mxm0" cycle 0 repeat 2
// CHECK-NEXT: %m0 = chip.mxm_matmul core 0 unit "mxm0" cycle 12 repeat 1
// CHECK-NEXT: %l1 = chip.mxm_load core 0 unit "mxm1" cycle 0 repeat 2
// CHECK-NEXT: %m1 = chip.mxm_matmul core 0 unit "mxm1" cycle 2 repeat 1
// CHECK:      %m3 = chip.mxm_matmul core 0 unit "mxm3" cycle 2 repeat 1
// CHECK-NEXT: %l4 = chip.mxm_load core 0 unit "mxm1" cycle 3 repeat 2
// CHECK-NEXT: %m4 = chip.mxm_matmul core 0 unit "mxm1" cycle 5 repeat 1

// -----

// Transfers on a ring: %u holds link 1->2 for [0, 616), so %t's second hop,
// ready to leave chip 1 at 0 + 77 + 450 = 527, waits until 616. %t sends a
// vector every 154 cycles, and %v's two vectors fill the gaps on link 0->1.
builtin.module {
  chip.program "ring:4" {
    %a = chip.preload core 0 at 0 dense<1.0> : tensor<4x320xf32>
    %b = chip.preload core 1 at 0 dense<2.0> : tensor<8x320xf32>
    %u = net.transfer from 1 at 0 to 2 at 12 repeat 8 stride 77 route [1, 2, 0] via [] (%b)
    %t = net.transfer from 0 at 0 to 2 at 10 repeat 2 stride 154 route [0, 1, 0, 1, 2, 0] via [20] (%a)
    %v = net.transfer from 0 at 2 to 1 at 30 repeat 2 stride 154 route [0, 1, 0] via [] (%a)
    %j = chip.join core 2 (%t, %u)
    chip.output "y" core 2 at 10 : tensor<10x320xf32> (%j)
    chip.output "z" core 1 at 30 : tensor<2x320xf32> (%v)
  }
}
// CHECK:      schedule.cycles = 1297 : i64, schedule.bounds = {critical_path = 1208 : i64, mxm_path = 1208 : i64, busiest_unit = 0 : i64, busiest_link = 770 : i64, hop_latency = 1054 : i64}, schedule.efficiency = 0.93{{[0-9]+}} : f64
// CHECK:      %u = net.transfer from 1 at 0 to 2 at 12 repeat 8 stride 77 route [1, 2, 0] via [] hops [0]
// CHECK-NEXT: %t = net.transfer from 0 at 0 to 2 at 10 repeat 2 stride 154 route [0, 1, 0, 1, 2, 0] via [20] hops [0, 616]
// CHECK-NEXT: %v = net.transfer from 0 at 2 to 1 at 30 repeat 2 stride 154 route [0, 1, 0] via [] hops [77]
