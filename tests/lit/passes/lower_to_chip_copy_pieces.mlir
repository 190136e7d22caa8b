// A long run of whole-vector copies (a decode step's KV cache concat) goes in pieces of 64
// vectors or more over the VXM units, which copy a vector a cycle each like a MEM copy stream
// but are 16 to its 2; the new row and any run shorter than 128 vectors stay MEM copies.
// RUN: lockstep-opt %s -p 'partition{chips=1},place,lower-to-chip' | filecheck %s

func.func @main(%past: tensor<256x128xf32> {tops.name = "past"}, %new: tensor<1x128xf32> {tops.name = "new"}, %short: tensor<100x128xf32> {tops.name = "short"}) -> (tensor<257x128xf32> {tops.name = "present"}, tensor<101x128xf32> {tops.name = "present_short"}) {
  %present = tops.concat %past, %new axis = 0 : (tensor<256x128xf32>, tensor<1x128xf32>) -> tensor<257x128xf32> loc("/cache/Concat")
  %present_short = tops.concat %short, %new axis = 0 : (tensor<100x128xf32>, tensor<1x128xf32>) -> tensor<101x128xf32> loc("/cache/Concat_short")
  func.return %present, %present_short : tensor<257x128xf32>, tensor<101x128xf32>
}

// CHECK:      %[[PAST:[0-9]+]] = chip.input "past" core 0 at 0 : tensor<256x128xf32>
// CHECK-NEXT: %[[NEW:[0-9]+]] = chip.input "new" core 0 at 256 : tensor<1x128xf32>
// CHECK-NEXT: %[[SHORT:[0-9]+]] = chip.input "short" core 0 at 257 : tensor<100x128xf32>
// CHECK-NEXT: %[[C0:[0-9]+]] = chip.vxm "copy" core 0 unit "vxm" repeat 64 stride 1 lanes 320 dst[{{[0-9]+}}, 1] lhs[0, 1] (%[[PAST]])
// CHECK-NEXT: %[[C1:[0-9]+]] = chip.vxm "copy" core 0 unit "vxm" repeat 64 stride 1 lanes 320 dst[{{[0-9]+}}, 1] lhs[64, 1] (%[[PAST]])
// CHECK-NEXT: %[[C2:[0-9]+]] = chip.vxm "copy" core 0 unit "vxm" repeat 64 stride 1 lanes 320 dst[{{[0-9]+}}, 1] lhs[128, 1] (%[[PAST]])
// CHECK-NEXT: %[[C3:[0-9]+]] = chip.vxm "copy" core 0 unit "vxm" repeat 64 stride 1 lanes 320 dst[{{[0-9]+}}, 1] lhs[192, 1] (%[[PAST]])
// CHECK-NEXT: %[[OLD:[0-9]+]] = chip.join core 0(%[[C0]], %[[C1]], %[[C2]], %[[C3]])
// CHECK-NEXT: %[[ROW:[0-9]+]] = chip.mem_copy core 0 unit "mem" repeat 1 stride 1 dst[{{[0-9]+}}, 1] src[256, 1] (%[[NEW]])
// CHECK-NEXT: chip.join core 0(%[[OLD]], %[[ROW]])
// CHECK:      chip.mem_copy core 0 unit "mem" repeat 100 stride 1 dst[{{[0-9]+}}, 1] src[257, 1] (%[[SHORT]])
// CHECK-NOT:  chip.vxm "copy"
