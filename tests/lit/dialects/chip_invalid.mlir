// The chip verifiers: operations, units, repeat forms, addresses, producers.
// RUN: lockstep-opt %s --split-input-file --verify-diagnostics | filecheck %s
// Every diagnostic is the first line of its chunk's output (after the chunk separator).

%a = "test.op"() : () -> !chip.token
%0 = chip.vxm "fma" core 0 unit "vxm0" repeat 1 stride 1 lanes 320 dst[0, 1] lhs[1, 1] (%a)
// CHECK: chip.vxm: unknown operation 'fma'; known: add, sub, mul, div, max, copy, neg, relu, sigmoid, tanh, exp, recip

// -----
%a = "test.op"() : () -> !chip.token
%0 = chip.vxm "mul" core 0 unit "vxm0" repeat 1 stride 1 lanes 320 dst[0, 1] lhs[1, 1] (%a)
// CHECK: {{//}} -----
// CHECK-NEXT: chip.vxm mul needs a second operand 'rhs'

// -----
%a = "test.op"() : () -> !chip.token
%0 = chip.vxm "relu" core 0 unit "vxm0" repeat 1 stride 1 lanes 320 dst[0, 1] lhs[1, 1] (%a) rhs[2, 1] (%a)
// CHECK: {{//}} -----
// CHECK-NEXT: chip.vxm relu takes no {{(a )?}}second operand 'rhs'

// -----
%a = "test.op"() : () -> !chip.token
%0 = chip.vxm "add" core 0 unit "mxm0" repeat 1 stride 1 lanes 320 dst[0, 1] lhs[1, 1] (%a) rhs[2, 1] (%a)
// CHECK: {{//}} -----
// CHECK-NEXT: chip.vxm issues on a 'vxm' unit, not 'mxm0'

// -----
%a = "test.op"() : () -> !chip.token
%0 = chip.mem_copy core 0 unit "mem0" repeat 0 stride 1 dst[0, 1] src[1, 1] (%a)
// CHECK: {{//}} -----
// CHECK-NEXT: chip.mem_copy: repeat count must be at least 1, got 0

// -----
%a = "test.op"() : () -> !chip.token
%0 = chip.mem_copy core 0 unit "mem0" repeat 2 stride 0 dst[0, 1] src[1, 1] (%a)
// CHECK: {{//}} -----
// CHECK-NEXT: chip.mem_copy: stride must be at least 1 cycle, got 0

// -----
%a = "test.op"() : () -> !chip.token
%0 = chip.sxm_transpose core 0 unit "sxm0" repeat 1 stride 1 width 4 dst[0, 1] src[-3, 1] (%a)
// CHECK: {{//}} -----
// CHECK-NEXT: chip.sxm_transpose: src address -3 is negative

// -----
%a = "test.op"() : () -> !chip.token
%0 = chip.mem_copy core 0 unit "mem0" repeat 1 stride 1 dst[-1, 1] src[1, 1] (%a)
// CHECK: {{//}} -----
// CHECK-NEXT: chip.mem_copy: dst address -1 is negative

// -----
%0 = chip.send core 0 unit "c2c0" repeat 1 stride 20 to 1 port 0 src[4, 1] ()
// CHECK: {{//}} -----
// CHECK-NEXT: chip.send: operand 'src' names no producer

// -----
%a = "test.op"() : () -> !chip.token
%0 = chip.vxm "sub" core 0 unit "vxm0" repeat 1 stride 1 lanes 320 dst[0, 1] lhs[1, 1] (%a) rhs[2, 1] ()
// CHECK: {{//}} -----
// CHECK-NEXT: chip.vxm: operand 'rhs' names no producer

// -----
%a = "test.op"() : () -> !chip.token
%0 = chip.vxm "copy" core 0 unit "vxm0" repeat 1 stride 1 lanes 0 dst[0, 1] lhs[1, 1] (%a)
// CHECK: {{//}} -----
// CHECK-NEXT: chip.vxm: lanes must be positive

// -----
%a, %b = "test.op"() : () -> (!chip.token, !chip.token)
%0 = chip.mxm_matmul core 0 unit "mxm0" repeat 1 stride 1 weights(%a, %b) dst[0, 1] src[1, 1] (%a)
// CHECK: {{//}} -----
// CHECK-NEXT: chip.mxm_matmul multiplies by exactly one loaded tile (weights)

// -----
%0 = chip.join core 0()
// CHECK: {{//}} -----
// CHECK-NEXT: chip.join must name at least one producer

// -----
%a = "test.op"() : () -> !chip.token
%0 = chip.sxm_reduce "prod" core 0 unit "sxm0" repeat 1 stride 1 first 0 width 4 lanes 320 dst[0, 1] src[1, 1] (%a)
// CHECK: {{//}} -----
// CHECK-NEXT: chip.sxm_reduce: unknown reduction 'prod'

// -----
chip.stream core 1 "fc:2" {
  %0 = chip.input "x" core 1 at 0 : tensor<1x4xf32>
  %1 = chip.mem_copy core 0 unit "mem0" repeat 1 stride 1 dst[1, 1] src[0, 1] (%0)
}
// CHECK: {{//}} -----
// CHECK-NEXT: chip.mem_copy names core 0 inside the stream of core 1

// -----
%0 = chip.preload core 0 at 0 dense<[1.0, 2.0]> : tensor<2xf32>
// CHECK: {{//}} -----
// CHECK-NEXT: chip.preload data must be [vectors x lanes]
