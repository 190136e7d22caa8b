// A matmul whose B is batched and computed (attention's Q @ K^T) stays batched through
// normalise (A is broadcast to B's batch dims) and is lowered as one matmul per batch slice:
// slice i of A, B and the result are contiguous rows at known addresses.
// RUN: lockstep-opt %s -p 'normalise,partition{chips=1},place,lower-to-chip' | filecheck %s

func.func @main(%a: tensor<3x4xf32> {tops.name = "a"}, %b: tensor<2x4x5xf32> {tops.name = "b"}) -> (tensor<2x3x5xf32> {tops.name = "y"}) {
  %y = tops.matmul %a, %b : (tensor<3x4xf32>, tensor<2x4x5xf32>) -> tensor<2x3x5xf32> loc("/attn/MatMul")
  func.return %y : tensor<2x3x5xf32>
}
// CHECK:      %[[A:[0-9]+]] = chip.input "a" core 0 at 0 : tensor<3x4xf32>
// CHECK-NEXT: %[[B:[0-9]+]] = chip.input "b" core 0 at 3 : tensor<2x4x5xf32>
// The broadcast of A to [2, 3, 4]: its 3 rows copied twice, to 11 and 14.
// CHECK-NEXT: %[[C0:[0-9]+]] = chip.mem_copy core 0 unit "mem" repeat 3 stride 1 dst[11, 1] src[0, 1] (%[[A]])
// CHECK-NEXT: %[[C1:[0-9]+]] = chip.mem_copy core 0 unit "mem" repeat 3 stride 1 dst[14, 1] src[0, 1] (%[[A]])
// CHECK-NEXT: %[[AB:[0-9]+]] = chip.join core 0(%[[C0]], %[[C1]])
// Batch 0: B rows 3..6 as the weights, A rows 11..13 streamed, result rows 17..19.
// CHECK-NEXT: %[[T0:[0-9]+]] = chip.mxm_load core 0 unit "mxm" repeat 4 stride 1 src[3, 1] (%[[B]])
// CHECK-NEXT: %[[P0:[0-9]+]] = chip.mxm_matmul core 0 unit "mxm" repeat 3 stride 1 weights(%[[T0]]) dst[17, 1] src[11, 1] (%[[AB]])
// Batch 1: B rows 7..10, A rows 14..16, result rows 20..22.
// CHECK-NEXT: %[[T1:[0-9]+]] = chip.mxm_load core 0 unit "mxm" repeat 4 stride 1 src[7, 1] (%[[B]])
// CHECK-NEXT: %[[P1:[0-9]+]] = chip.mxm_matmul core 0 unit "mxm" repeat 3 stride 1 weights(%[[T1]]) dst[20, 1] src[14, 1] (%[[AB]])
// CHECK-NEXT: %[[Y:[0-9]+]] = chip.join core 0(%[[P0]], %[[P1]])
// CHECK-NEXT: chip.output "y" core 0 at 17 : tensor<2x3x5xf32>(%[[Y]])
