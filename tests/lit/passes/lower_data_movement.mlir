// lower-to-chip of the data-movement ops: result vectors that are source vectors
// unchanged are MEM copies in repeat form, the rest SXM lane moves (merged in order,
// several sources allowed). x is [2, 330]: 2 vectors per row, the second 10 lanes live.
// RUN: lockstep-opt %s -p 'normalise,partition{chips=1},place,lower-to-chip' | filecheck %s

func.func @main(%x: tensor<2x330xf32> {tops.name = "x"}, %v: tensor<2x6xf32> {tops.name = "v"}) -> (tensor<4x330xf32> {tops.name = "rows"}, tensor<2x336xf32> {tops.name = "lanes"}, tensor<2x4xf32> {tops.name = "cut"}, tensor<3x330xf32> {tops.name = "picked"}) {
  %rows = tops.concat %x, %x axis = 0 : (tensor<2x330xf32>, tensor<2x330xf32>) -> tensor<4x330xf32>
  %lanes = tops.concat %x, %v axis = 1 : (tensor<2x330xf32>, tensor<2x6xf32>) -> tensor<2x336xf32>
  %cut = tops.slice %v starts = [0, 1] steps = [1, 1] : (tensor<2x6xf32>) -> tensor<2x4xf32>
  %picked = tops.gather %x axis = 0 indices = [1, 1, 0] : (tensor<2x330xf32>) -> tensor<3x330xf32>
  func.return %rows, %lanes, %cut, %picked : tensor<4x330xf32>, tensor<2x336xf32>, tensor<2x4xf32>, tensor<3x330xf32>
}

// CHECK:      %[[X:[0-9]+]] = chip.input "x" core 0 at 0 : tensor<2x330xf32>
// CHECK-NEXT: %[[V:[0-9]+]] = chip.input "v" core 0 at 4 : tensor<2x6xf32>

// concat along rows: each operand is one run of whole-vector copies.
// CHECK-NEXT: %[[R0:[0-9]+]] = chip.mem_copy core 0 unit "mem" repeat 4 stride 1 dst[6, 1] src[0, 1] (%[[X]])
// CHECK-NEXT: %[[R1:[0-9]+]] = chip.mem_copy core 0 unit "mem" repeat 4 stride 1 dst[10, 1] src[0, 1] (%[[X]])
// CHECK-NEXT: chip.join core 0(%[[R0]], %[[R1]])

// concat along lanes [2, 330] ++ [2, 6]: the first vector of each row is copied, the
// second takes x's 10 live lanes, then v's 6 lanes merged at lane 10 (its last writer).
// CHECK-NEXT: %[[L0:[0-9]+]] = chip.mem_copy core 0 unit "mem" repeat 2 stride 1 dst[14, 2] src[0, 2] (%[[X]])
// CHECK-NEXT: %[[L1:[0-9]+]] = chip.sxm_move core 0 unit "sxm" repeat 2 stride 1 lanes 0 to 0 width 10 dst[15, 2] src[1, 2] (%[[X]])
// CHECK-NEXT: %[[L2:[0-9]+]] = chip.sxm_move core 0 unit "sxm" repeat 2 stride 1 lanes 0 to 10 width 6 dst[15, 2] src[4, 1] (%[[V]]) merge[15, 2] (%[[L1]])
// CHECK-NEXT: chip.join core 0(%[[L0]], %[[L2]])

// slice v[:, 1:5]: one lane move per row, repeated.
// CHECK-NEXT: %[[S:[0-9]+]] = chip.sxm_move core 0 unit "sxm" repeat 2 stride 1 lanes 1 to 0 width 4 dst[18, 1] src[4, 1] (%[[V]])

// gather rows [1, 1, 0]: whole-vector copies.
// CHECK-NEXT: chip.mem_copy core 0 unit "mem" repeat 2 stride 1 dst[20, 1] src[2, 1] (%[[X]])
// CHECK-NEXT: chip.mem_copy core 0 unit "mem" repeat 2 stride 1 dst[22, 1] src[2, 1] (%[[X]])
// CHECK-NEXT: chip.mem_copy core 0 unit "mem" repeat 2 stride 1 dst[24, 1] src[0, 1] (%[[X]])

// CHECK:      chip.output "cut" core 0 at 18 : tensor<2x4xf32>(%[[S]])
