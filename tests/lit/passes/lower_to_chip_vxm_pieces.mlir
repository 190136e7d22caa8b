// lower-to-chip cuts a long elementwise run into pieces of 64 vectors or more, one per VXM
// unit at most, so the units share it; the result names every piece. A run too short to
// cut (here 100 vectors: one piece would be under 64) stays one instruction.
// RUN: lockstep-opt %s -p 'partition{chips=1},place,lower-to-chip' | filecheck %s

func.func @main(%x: tensor<256x320xf32> {tops.name = "x"}, %y: tensor<100x320xf32> {tops.name = "y"}) -> (tensor<256x320xf32> {tops.name = "e"}, tensor<100x320xf32> {tops.name = "f"}) {
  %e = tops.exp %x : tensor<256x320xf32> loc("/exp")
  %f = tops.exp %y : tensor<100x320xf32> loc("/exp_short")
  func.return %e, %f : tensor<256x320xf32>, tensor<100x320xf32>
}

// CHECK:      %[[X:[0-9]+]] = chip.input "x" core 0 at 0 : tensor<256x320xf32>
// CHECK-NEXT: %[[Y:[0-9]+]] = chip.input "y" core 0 at 256 : tensor<100x320xf32>
// CHECK-NEXT: %[[E0:[0-9]+]] = chip.vxm "exp" core 0 unit "vxm" repeat 64 stride 1 lanes 320 dst[{{[0-9]+}}, 1] lhs[0, 1] (%[[X]])
// CHECK-NEXT: %[[E1:[0-9]+]] = chip.vxm "exp" core 0 unit "vxm" repeat 64 stride 1 lanes 320 dst[{{[0-9]+}}, 1] lhs[64, 1] (%[[X]])
// CHECK-NEXT: %[[E2:[0-9]+]] = chip.vxm "exp" core 0 unit "vxm" repeat 64 stride 1 lanes 320 dst[{{[0-9]+}}, 1] lhs[128, 1] (%[[X]])
// CHECK-NEXT: %[[E3:[0-9]+]] = chip.vxm "exp" core 0 unit "vxm" repeat 64 stride 1 lanes 320 dst[{{[0-9]+}}, 1] lhs[192, 1] (%[[X]])
// CHECK-NEXT: %[[E:[0-9]+]] = chip.join core 0(%[[E0]], %[[E1]], %[[E2]], %[[E3]])
// CHECK-NEXT: %[[F:[0-9]+]] = chip.vxm "exp" core 0 unit "vxm" repeat 100 stride 1 lanes 320 dst[{{[0-9]+}}, 1] lhs[256, 1] (%[[Y]])
// CHECK-NEXT: chip.output "e" core 0 at {{[0-9]+}} : tensor<256x320xf32>(%[[E]])
// CHECK-NEXT: chip.output "f" core 0 at {{[0-9]+}} : tensor<100x320xf32>(%[[F]])
