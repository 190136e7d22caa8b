// A graph input or output held in slices (passes/host_io.py): chip.input and
// chip.output name the box of the whole tensor a chip holds, `slice OFFSETS of
// WHOLE`, and with `perm` the host moves the tensor transposed (a KV cache held as
// [.., d, L]); they round-trip through the custom and the generic format; the whole
// form stays as it was.
// RUN: lockstep-opt %s | lockstep-opt | filecheck %s
// RUN: lockstep-opt %s --print-op-generic | lockstep-opt | filecheck %s

chip.stream core 1 "fc:2" {
  %k = chip.input "past_k" core 1 at 0 : tensor<1x1x8x16xf32> slice [0, 1, 0, 0] of tensor<1x2x8x16xf32>
  %v = chip.input "past_v" core 1 at 20 : tensor<1x1x16x8xf32> slice [0, 1, 0, 0] of tensor<1x2x16x8xf32> perm [0, 1, 3, 2]
  %t = chip.input "t" core 1 at 40 : tensor<16x8xf32> perm [1, 0]
  %x = chip.input "x" core 1 at 8 : tensor<1x16xf32>
  %c = chip.mem_copy core 1 unit "mem0" cycle 0 repeat 8 stride 1 dst[9, 1] src[0, 1] (%k)
  chip.output "present_k" core 1 at 9 : tensor<1x1x8x16xf32> slice [0, 1, 0, 0] of tensor<1x2x8x16xf32>(%c)
  chip.output "y" core 1 at 8 : tensor<1x16xf32>(%x)
  chip.output "present_v" core 1 at 20 : tensor<1x1x16x8xf32> slice [0, 1, 0, 0] of tensor<1x2x16x8xf32> perm [0, 1, 3, 2](%v)
}

// CHECK:      chip.stream core 1 "fc:2" {
// CHECK-NEXT:   %k = chip.input "past_k" core 1 at 0 : tensor<1x1x8x16xf32> slice [0, 1, 0, 0] of tensor<1x2x8x16xf32>
// CHECK-NEXT:   %v = chip.input "past_v" core 1 at 20 : tensor<1x1x16x8xf32> slice [0, 1, 0, 0] of tensor<1x2x16x8xf32> perm [0, 1, 3, 2]
// CHECK-NEXT:   %t = chip.input "t" core 1 at 40 : tensor<16x8xf32> perm [1, 0]
// CHECK-NEXT:   %x = chip.input "x" core 1 at 8 : tensor<1x16xf32>
// CHECK-NEXT:   %c = chip.mem_copy
// CHECK-NEXT:   chip.output "present_k" core 1 at 9 : tensor<1x1x8x16xf32> slice [0, 1, 0, 0] of tensor<1x2x8x16xf32>(%c)
// CHECK-NEXT:   chip.output "y" core 1 at 8 : tensor<1x16xf32>(%x)
// CHECK-NEXT:   chip.output "present_v" core 1 at 20 : tensor<1x1x16x8xf32> slice [0, 1, 0, 0] of tensor<1x2x16x8xf32> perm [0, 1, 3, 2](%v)
// CHECK-NEXT: }
