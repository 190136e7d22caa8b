// lower-to-chip on a tensor-parallel model: every op becomes repeat-form
// instructions, the same on both chips (SPMD, same addresses); collectives stay
// part ops on one token per chip. Without normalise, a tops.gemm is rejected.
// RUN: lockstep-opt %s -p 'normalise,partition{chips=2 strategy=tensor},place,lower-to-chip' | filecheck %s
// RUN: not lockstep-opt %s -p 'partition{chips=2 strategy=tensor},place,lower-to-chip' 2>&1 | filecheck %s --check-prefix=RAW

// Inputs land at their part.arg_addrs on every chip that reads them.
// CHECK:      %[[X0:[0-9]+]] = chip.input "x" core 0 at 0 : tensor<2x400xf32>
// CHECK-NEXT: %[[X1:[0-9]+]] = chip.input "x" core 1 at 0 : tensor<2x400xf32>
// CHECK-NEXT: %[[V0:[0-9]+]] = chip.input "v" core 0 at 4 : tensor<3xf32>
// CHECK:      %[[U0:[0-9]+]] = chip.input "u" core 0 at 5 : tensor<2x1xf32>

// x @ w1 with K = 400 > 320: each chip preloads its [400, 4] column slice (400
// vectors), then two K chunks (320 and 80 weight rows) accumulate into one
// chain: the second matmul reads the first through acc.
// CHECK:      %[[W0:[0-9]+]] = chip.preload core 0 at 7 dense<{{.*}}> : tensor<400x320xf32>
// CHECK-NEXT: %[[W1:[0-9]+]] = chip.preload core 1 at 7 dense<{{.*}}> : tensor<400x320xf32>
// CHECK-NEXT: %[[T0:[0-9]+]] = chip.mxm_load core 0 unit "mxm" repeat 320 stride 1 src[7, 1] (%[[W0]])
// CHECK-NEXT: %[[P0:[0-9]+]] = chip.mxm_matmul core 0 unit "mxm" repeat 2 stride 1 weights(%[[T0]]) dst[413, 1] src[0, 2] (%[[X0]])
// CHECK-NEXT: %[[T1:[0-9]+]] = chip.mxm_load core 0 unit "mxm" repeat 80 stride 1 src[327, 1] (%[[W0]])
// CHECK-NEXT: %[[H0:[0-9]+]] = chip.mxm_matmul core 0 unit "mxm" repeat 2 stride 1 weights(%[[T1]]) dst[413, 1] src[1, 2] (%[[X0]]) acc[413, 1] (%[[P0]])
// CHECK-NEXT: chip.mxm_load core 1 unit "mxm" repeat 320 stride 1 src[7, 1] (%[[W1]])
// CHECK-NEXT: chip.mxm_matmul core 1
// CHECK-NEXT: chip.mxm_load core 1 unit "mxm" repeat 80 stride 1 src[327, 1] (%[[W1]])
// CHECK-NEXT: %[[H1:[0-9]+]] = chip.mxm_matmul core 1 {{.*}} dst[413, 1] src[1, 2] (%[[X1]]) acc[413, 1]

// The second matmul's partial products are summed by an all-reduce on tokens.
// CHECK:      %[[Y0:[0-9]+]] = chip.mxm_matmul core 0 {{.*}} dst[417, 1]
// CHECK:      %[[Y1:[0-9]+]] = chip.mxm_matmul core 1 {{.*}} dst[417, 1]
// CHECK-NEXT: %[[S0:[0-9]+]], %{{.*}} = part.all_reduce over [0, 1] local tensor<2x2xf32>(%[[Y0]], %[[Y1]]) {part.addr = 415 : i64, part.src_addr = 417 : i64} : !chip.token, !chip.token -> !chip.token, !chip.token

// relu on [2, 400]: 2 vectors per row, the second has 80 live lanes; one run
// per column of vectors, joined into one producer.
// CHECK-NEXT: %[[E0a:[0-9]+]] = chip.vxm "relu" core 0 unit "vxm" repeat 2 stride 1 lanes 320 dst[419, 2] lhs[0, 2] (%[[X0]])
// CHECK-NEXT: %[[E0b:[0-9]+]] = chip.vxm "relu" core 0 unit "vxm" repeat 2 stride 1 lanes 80 dst[420, 2] lhs[1, 2] (%[[X0]])
// CHECK-NEXT: %[[E0:[0-9]+]] = chip.join core 0(%[[E0a]], %[[E0b]])

// softmax needs the whole row: all-gather of the first matmul's shards.
// CHECK:      %[[G0:[0-9]+]], %{{.*}} = part.all_gather axis 1 over [0, 1] local tensor<2x4xf32>(%[[H0]], %[[H1]]) {part.addr = 423 : i64, part.src_addr = 413 : i64}
// softmax: row max (SXM), subtract it, exp, row sum (SXM), divide; the row
// reductions fill every lane, the elementwise steps mask to the 8 live lanes.
// CHECK-NEXT: %[[MAX:[0-9]+]] = chip.sxm_reduce "max" core 0 unit "sxm" repeat 2 stride 1 first 0 width 8 lanes 320 dst[439, 1] src[423, 1] (%[[G0]])
// CHECK-NEXT: %[[SUB:[0-9]+]] = chip.vxm "sub" core 0 unit "vxm" repeat 2 stride 1 lanes 8 dst[443, 1] lhs[423, 1] (%[[G0]]) rhs[439, 1] (%[[MAX]])
// CHECK-NEXT: %[[EXP:[0-9]+]] = chip.vxm "exp" core 0 unit "vxm" repeat 2 stride 1 lanes 8 dst[443, 1] lhs[443, 1] (%[[SUB]])
// CHECK-NEXT: %[[SUM:[0-9]+]] = chip.sxm_reduce "sum" core 0 unit "sxm" repeat 2 stride 1 first 0 width 8 lanes 320 dst[441, 1] src[443, 1] (%[[EXP]])
// CHECK-NEXT: %[[SM0:[0-9]+]] = chip.vxm "div" core 0 unit "vxm" repeat 2 stride 1 lanes 8 dst[425, 1] lhs[443, 1] (%[[EXP]]) rhs[441, 1] (%[[SUM]])

// reshape [2, 8] -> [16] changes the last axis: SXM lane moves, row 1 merged
// into lanes 8..15 of the same vector; that merge is the vector's last writer.
// CHECK:      %[[M0:[0-9]+]] = chip.sxm_move core 0 unit "sxm" repeat 1 stride 1 lanes 0 to 0 width 8 dst[423, 1] src[425, 1] (%[[SM0]])
// CHECK-NEXT: %[[M1:[0-9]+]] = chip.sxm_move core 0 unit "sxm" repeat 1 stride 1 lanes 0 to 8 width 8 dst[423, 1] src[426, 1] (%[[SM0]]) merge[423, 1] (%[[M0]])

// transpose [2, 8] -> [8, 2]: one SXM block transpose reading 2 vectors.
// CHECK:      %[[TR0:[0-9]+]] = chip.sxm_transpose core 0 unit "sxm" repeat 2 stride 1 width 8 dst[427, 1] src[425, 1] (%[[SM0]])

// broadcast [3] -> [2, 3] keeps the last axis: one copy re-reading the row
// (src step 0); [2, 1] -> [2, 3] splats lane 0 over 3 lanes with an SXM reduce.
// CHECK:      %[[B0:[0-9]+]] = chip.mem_copy core 0 unit "mem" repeat 2 stride 1 dst[435, 1] src[4, 0] (%[[V0]])
// CHECK:      %[[C0:[0-9]+]] = chip.sxm_reduce "sum" core 0 unit "sxm" repeat 2 stride 1 first 0 width 1 lanes 3 dst[437, 1] src[5, 1] (%[[U0]])

// The gemm, normalised to a matmul, reads the all-reduced value; its result takes
// the block of the matmul the all-reduce has read (place reuses dead values' SRAM).
// CHECK:      %[[GM0:[0-9]+]] = chip.mxm_matmul core 0 unit "mxm" repeat 2 stride 1 weights(%{{.*}}) dst[417, 1] src[415, 1] (%[[S0]])

// Outputs are read back from chip 0, naming their producers.
// CHECK:      chip.output "y" core 0 at 415 : tensor<2x2xf32>(%[[S0]])
// CHECK-NEXT: chip.output "e" core 0 at 419 : tensor<2x400xf32>(%[[E0]])
// CHECK-NEXT: chip.output "f" core 0 at 423 : tensor<16xf32>(%[[M1]])
// CHECK-NEXT: chip.output "t" core 0 at 427 : tensor<8x2xf32>(%[[TR0]])
// CHECK-NEXT: chip.output "b" core 0 at 435 : tensor<2x3xf32>(%[[B0]])
// CHECK-NEXT: chip.output "c" core 0 at 437 : tensor<2x3xf32>(%[[C0]])
// CHECK-NEXT: chip.output "g" core 0 at 417 : tensor<2x3xf32>(%[[GM0]])
// CHECK-NOT:  tops.
// CHECK-NOT:  func.func

// RAW: lockstep-opt: error: 'tops.gemm' at loc("/fc/Gemm") has no chip lowering; run normalise first

func.func @main(%x: tensor<2x400xf32> {tops.name = "x"}, %v: tensor<3xf32> {tops.name = "v"}, %u: tensor<2x1xf32> {tops.name = "u"}) -> (tensor<2x2xf32> {tops.name = "y"}, tensor<2x400xf32> {tops.name = "e"}, tensor<16xf32> {tops.name = "f"}, tensor<8x2xf32> {tops.name = "t"}, tensor<2x3xf32> {tops.name = "b"}, tensor<2x3xf32> {tops.name = "c"}, tensor<2x3xf32> {tops.name = "g"}) {
  %w1 = tops.constant dense<0.5> : tensor<400x8xf32>
  %h = tops.matmul %x, %w1 : (tensor<2x400xf32>, tensor<400x8xf32>) -> tensor<2x8xf32>
  %r = tops.relu %h : tensor<2x8xf32>
  %w2 = tops.constant dense<0.25> : tensor<8x2xf32>
  %y = tops.matmul %r, %w2 : (tensor<2x8xf32>, tensor<8x2xf32>) -> tensor<2x2xf32>
  %e = tops.relu %x : tensor<2x400xf32>
  %s = tops.softmax %h axis = -1 : tensor<2x8xf32>
  %f = tops.reshape %s : (tensor<2x8xf32>) -> tensor<16xf32>
  %t = tops.transpose %s perm = [1, 0] : (tensor<2x8xf32>) -> tensor<8x2xf32>
  %b = tops.broadcast %v : (tensor<3xf32>) -> tensor<2x3xf32>
  %c = tops.broadcast %u : (tensor<2x1xf32>) -> tensor<2x3xf32>
  %w3 = tops.constant dense<2.0> : tensor<2x3xf32>
  %g = tops.gemm %y, %w3 : (tensor<2x2xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("/fc/Gemm")
  func.return %y, %e, %f, %t, %b, %c, %g : tensor<2x2xf32>, tensor<2x400xf32>, tensor<16xf32>, tensor<8x2xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}
