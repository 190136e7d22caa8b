// The part verifiers: split shapes, collective result shapes, the token form.
// RUN: lockstep-opt %s --split-input-file --verify-diagnostics | filecheck %s
// Every diagnostic is the first line of its chunk's output (after the chunk separator).

// Four blocks of one column do not cover 6 columns.
%w = "test.op"() : () -> tensor<4x6xf32>
%s = part.split %w axis 1 over [0, 1, 2, 3] : tensor<4x6xf32> -> tensor<4x1xf32>
// CHECK: part.split: [4, 1] is not an equal block of [4, 6] along axis 1 with as many blocks as the 4 chips or a divisor of them

// -----
// Three blocks cannot be shared equally by 4 chips.
%w = "test.op"() : () -> tensor<4x6xf32>
%s = part.split %w axis 1 over [0, 1, 2, 3] : tensor<4x6xf32> -> tensor<4x2xf32>
// CHECK: {{//}} -----
// CHECK-NEXT: part.split: [4, 2] is not an equal block of [4, 6] along axis 1 with as many blocks as the 4 chips or a divisor of them

// -----
%w = "test.op"() : () -> tensor<4x6xf32>
%s = part.split %w axis 2 over [0, 1] : tensor<4x6xf32> -> tensor<4x3xf32>
// CHECK: {{//}} -----
// CHECK-NEXT: part.split: no axis 2 in [4, 6] -> [4, 3]

// -----
// The other axes must stay whole.
%w = "test.op"() : () -> tensor<4x6xf32>
%s = part.split %w axis 0 over [0, 1] : tensor<4x6xf32> -> tensor<4x3xf32>
// CHECK: {{//}} -----
// CHECK-NEXT: part.split: [4, 3] is not an equal block of [4, 6] along axis 0 with as many blocks as the 2 chips or a divisor of them

// -----
%x = "test.op"() : () -> tensor<2x3xf32>
%g = part.all_gather axis 1 over [0, 1, 2](%x) : tensor<2x3xf32> -> tensor<6x3xf32>
// CHECK: {{//}} -----
// CHECK-NEXT: part.all_gather: result shape [6, 3] should be [2, 9]

// -----
%x = "test.op"() : () -> tensor<2x3xf32>
%r = part.all_reduce over [0, 1](%x) : tensor<2x3xf32> -> tensor<2x6xf32>
// CHECK: {{//}} -----
// CHECK-NEXT: part.all_reduce: result shape [2, 6] should be [2, 3]

// -----
%x, %y = "test.op"() : () -> (tensor<2x3xf32>, tensor<2x3xf32>)
%r = part.all_reduce over [0, 1](%x, %y) : tensor<2x3xf32>, tensor<2x3xf32> -> tensor<2x3xf32>
// CHECK: {{//}} -----
// CHECK-NEXT: part.all_reduce on tensors takes and gives exactly one local value

// -----
%a, %b = "test.op"() : () -> (!chip.token, !chip.token)
%r:2 = part.all_reduce over [0, 1](%a, %b) : !chip.token, !chip.token -> !chip.token, !chip.token
// CHECK: {{//}} -----
// CHECK-NEXT: part.all_reduce on tokens must keep its local tensor type

// -----
%a = "test.op"() : () -> !chip.token
%g:2 = part.all_gather axis 0 over [0, 1] local tensor<2x3xf32>(%a) : !chip.token -> !chip.token, !chip.token
// CHECK: {{//}} -----
// CHECK-NEXT: part.all_gather needs one token per chip in (2) and out (2), got 1 in and 2 out

// -----
%x = "test.op"() : () -> tensor<2x3xf32>
%t = part.transfer from [0, 1] to [2](%x) : tensor<2x3xf32> -> tensor<2x3xf32>
// CHECK: {{//}} -----
// CHECK-NEXT: part.transfer pairs every source chip with one destination chip

// -----
%a, %b = "test.op"() : () -> (!chip.token, !chip.token)
%t = part.transfer from [0, 1] to [2] local tensor<2x3xf32>(%a, %b) : !chip.token, !chip.token -> !chip.token
// CHECK: {{//}} -----
// CHECK-NEXT: part.transfer pairs every source chip with one destination chip

// -----

%a = "test.op"() : () -> !chip.token
%b = "test.op"() : () -> !chip.token
%r = part.all_reduce over [0, 1] local tensor<2x3xf32>(%a, %b) : !chip.token, !chip.token -> !chip.token

// CHECK: {{//}} -----
// CHECK-NEXT: part.all_reduce needs one token per chip in (2) and out (2), got 2 in and 1 out

// -----

%x = "test.op"() : () -> tensor<2x3xf32>
%g = part.all_gather axis 5 over [0, 1](%x) : tensor<2x3xf32> -> tensor<2x6xf32>

// CHECK: {{//}} -----
// CHECK-NEXT: part.all_gather: axis 5 is not in [0, 2)

// -----
%x = "test.op"() : () -> tensor<2x3xf32>
%r = part.all_reduce over [0, 1, 2] in subgroups of 2(%x) : tensor<2x3xf32> -> tensor<2x3xf32>
// CHECK: {{//}} -----
// CHECK-NEXT: part.all_reduce: 3 chips do not fall into subgroups of 2
