// The verifier of sliced chip.input / chip.output: the box must lie inside the
// whole tensor, have its rank and element type, and come with both its offsets
// and the whole tensor's type; a `perm` must permute the tensor's axes.
// RUN: lockstep-opt %s --split-input-file --verify-diagnostics | filecheck %s

%0 = chip.input "x" core 0 at 0 : tensor<2x4xf32> slice [3, 0] of tensor<4x4xf32>
// CHECK: chip.input 'x': a [2, 4] slice at [3, 0] does not fit in [4, 4]

// -----
%a = "test.op"() : () -> !chip.token
chip.output "y" core 0 at 0 : tensor<2x4xf32> slice [0] of tensor<8xf32>(%a)
// CHECK: {{//}} -----
// CHECK-NEXT: chip.output 'y': a [2, 4] slice at [0] does not fit in [8]

// -----
%0 = chip.input "x" core 0 at 0 : tensor<2x4xf32> slice [0, 0] of tensor<4x4xi8>
// CHECK: {{//}} -----
// CHECK-NEXT: chip.input 'x': the slice and the whole tensor differ in element type

// -----
%0 = "chip.input"() <{name = "x", core = 0 : i64, addr = 0 : i64, type = tensor<2x4xf32>, offsets = array<i64: 2, 0>}> : () -> !chip.token
// CHECK: {{//}} -----
// CHECK-NEXT: chip.input needs both `slice` offsets and the whole tensor's type, or neither

// -----
%0 = chip.input "k" core 0 at 0 : tensor<2x4xf32> perm [0, 0]
// CHECK: {{//}} -----
// CHECK-NEXT: chip.input 'k': perm [0, 0] is no permutation of the 2 axes

// -----
%a = "test.op"() : () -> !chip.token
chip.output "k" core 0 at 0 : tensor<1x2x4xf32> slice [0, 0, 0] of tensor<2x2x4xf32> perm [1, 0](%a)
// CHECK: {{//}} -----
// CHECK-NEXT: chip.output 'k': perm [1, 0] is no permutation of the 3 axes
