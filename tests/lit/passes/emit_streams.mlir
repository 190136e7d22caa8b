// emit-streams on its own: one chip.stream per chip, sorted by issue cycle
// (host writes first, a join after its last part, outputs last), and a
// two-hop transfer as send/recv pairs through chip 1's via buffer.
// Link timing on ring:4: ser 77, hop latency 450.
// RUN: lockstep-opt %s -p emit-streams | filecheck %s
// RUN: lockstep-opt %s -p verify-schedule,emit-streams | filecheck %s

builtin.module {
  chip.program "ring:4" attributes {schedule.cycles = 1299 : i64} {
    %x = chip.input "x" core 0 at 0 : tensor<2x320xf32>
    %a = chip.vxm "relu" core 0 unit "vxm0" cycle 0 repeat 2 stride 1 lanes 320 dst [4, 1] lhs [0, 1] (%x)
    %b = chip.vxm "neg" core 0 unit "vxm1" cycle 0 repeat 2 stride 1 lanes 320 dst [6, 1] lhs [0, 1] (%x)
    %j = chip.join core 0 (%a, %b)
    %t = net.transfer from 0 at 4 to 2 at 8 repeat 4 stride 77 route [0, 1, 0, 1, 2, 0] via [16] hops [5, 532] (%j)
    %s = chip.sxm_reduce "sum" core 2 unit "sxm0" cycle 1290 repeat 4 stride 1 first 0 width 320 lanes 1 dst [20, 1] src [8, 1] (%t)
    chip.output "y" core 2 at 20 : tensor<4x1xf32> (%s)
    %w = chip.preload core 1 at 0 dense<1.0> : tensor<1x320xf32>
    %c = chip.mem_copy core 1 unit "mem0" cycle 100 repeat 1 stride 1 dst [1, 1] src [0, 1] (%w)
  }
}

// CHECK:      builtin.module {
// CHECK-NEXT:   chip.stream core 0 "ring:4" attributes {schedule.cycles = 1299 : i64} {
// CHECK-NEXT:     %x = chip.input "x" core 0 at 0
// CHECK-NEXT:     %a = chip.vxm "relu" core 0 unit "vxm0" cycle 0
// CHECK-NEXT:     %b = chip.vxm "neg" core 0 unit "vxm1" cycle 0
// CHECK-NEXT:     %j = chip.join core 0(%a, %b)
// CHECK-NEXT:     %{{.*}} = chip.send core 0 unit "c2c_to1_p0" cycle 5 repeat 4 stride 77 to 1 port 0 src[4, 1] (%j)
// CHECK-NEXT:   }
// CHECK-NEXT:   chip.stream core 1 "ring:4" attributes {schedule.cycles = 1299 : i64} {
// CHECK-NEXT:     %w = chip.preload core 1 at 0
// CHECK-NEXT:     %c = chip.mem_copy core 1 unit "mem0" cycle 100
// CHECK-NEXT:     %[[HOP:.*]] = chip.recv core 1 unit "c2c_from0_p0" cycle 532 repeat 4 stride 77 from 0 port 0 dst[16, 1]
// CHECK-NEXT:     %{{.*}} = chip.send core 1 unit "c2c_to2_p0" cycle 532 repeat 4 stride 77 to 2 port 0 src[16, 1] (%[[HOP]])
// CHECK-NEXT:   }
// CHECK-NEXT:   chip.stream core 2 "ring:4" attributes {schedule.cycles = 1299 : i64} {
// CHECK-NEXT:     %[[LAST:.*]] = chip.recv core 2 unit "c2c_from1_p0" cycle 1059 repeat 4 stride 77 from 1 port 0 dst[8, 1]
// CHECK-NEXT:     %s = chip.sxm_reduce "sum" core 2 unit "sxm0" cycle 1290 {{.*}} src[8, 1] (%[[LAST]])
// CHECK-NEXT:     chip.output "y" core 2 at 20 : tensor<4x1xf32>(%s)
// CHECK-NEXT:   }
// CHECK-NEXT: }
