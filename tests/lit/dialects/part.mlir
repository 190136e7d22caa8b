// part ops print in their custom format and parse back to the same IR, in the
// tensor form (before lower-to-chip) and the token form (after it), also
// through the generic format. A split into fewer blocks than chips (%shared: 2 blocks on
// 4 chips) gives consecutive chips the same block. An all-reduce in subgroups (%pairs)
// sums chips 0-1 and chips 2-3 separately.
// RUN: lockstep-opt %s | lockstep-opt | filecheck %s
// RUN: lockstep-opt %s --print-op-generic | lockstep-opt | filecheck %s

builtin.module {
  %w = "test.op"() : () -> tensor<4x8xf32>
  %s = part.split %w axis 1 over [0, 1] : tensor<4x8xf32> -> tensor<4x4xf32>
  %shared = part.split %w axis 1 over [0, 1, 2, 3] : tensor<4x8xf32> -> tensor<4x4xf32>
  %r = part.all_reduce over [0, 1](%s) : tensor<4x4xf32> -> tensor<4x4xf32>
  %pairs = part.all_reduce over [0, 1, 2, 3] in subgroups of 2(%s) : tensor<4x4xf32> -> tensor<4x4xf32>
  %g = part.all_gather axis 0 over [0, 1](%s) : tensor<4x4xf32> -> tensor<8x4xf32>
  %t = part.transfer from [0] to [1](%s) {part.addr = 7 : i64} : tensor<4x4xf32> -> tensor<4x4xf32>
  %a, %b = "test.op"() : () -> (!chip.token, !chip.token)
  %r2:2 = part.all_reduce over [0, 1] local tensor<4x4xf32>(%a, %b) : !chip.token, !chip.token -> !chip.token, !chip.token
  %g2:2 = part.all_gather axis 1 over [0, 1] local tensor<4x4xf32>(%a, %b) : !chip.token, !chip.token -> !chip.token, !chip.token
  %t2:2 = part.transfer from [0, 1] to [2, 3] local tensor<4x4xf32>(%a, %b) : !chip.token, !chip.token -> !chip.token, !chip.token
}

// CHECK:      %w = "test.op"() : () -> tensor<4x8xf32>
// CHECK-NEXT: %s = part.split %w axis 1 over [0, 1] : tensor<4x8xf32> -> tensor<4x4xf32>
// CHECK-NEXT: %shared = part.split %w axis 1 over [0, 1, 2, 3] : tensor<4x8xf32> -> tensor<4x4xf32>
// CHECK-NEXT: %r = part.all_reduce over [0, 1](%s) : tensor<4x4xf32> -> tensor<4x4xf32>
// CHECK-NEXT: %pairs = part.all_reduce over [0, 1, 2, 3] in subgroups of 2(%s) : tensor<4x4xf32> -> tensor<4x4xf32>
// CHECK-NEXT: %g = part.all_gather axis 0 over [0, 1](%s) : tensor<4x4xf32> -> tensor<8x4xf32>
// CHECK-NEXT: %t = part.transfer from [0] to [1](%s) {part.addr = 7 : i64} : tensor<4x4xf32> -> tensor<4x4xf32>
// CHECK-NEXT: %a, %b = "test.op"() : () -> (!chip.token, !chip.token)
// CHECK-NEXT: %r2, %r2_1 = part.all_reduce over [0, 1] local tensor<4x4xf32>(%a, %b) : !chip.token, !chip.token -> !chip.token, !chip.token
// CHECK-NEXT: %g2, %g2_1 = part.all_gather axis 1 over [0, 1] local tensor<4x4xf32>(%a, %b) : !chip.token, !chip.token -> !chip.token, !chip.token
// CHECK-NEXT: %t2, %t2_1 = part.transfer from [0, 1] to [2, 3] local tensor<4x4xf32>(%a, %b) : !chip.token, !chip.token -> !chip.token, !chip.token
