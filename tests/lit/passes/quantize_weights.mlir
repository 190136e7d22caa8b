// quantize-weights: every matmul whose B is a constant [K, N] matrix multiplies by its int8 codes,
// then by the per-column scales (a constant of the result's shape). A constant another op reads
// too stays f32 for it; absent weights give absent codes and scales; a computed B is left alone.
// RUN: lockstep-opt %s --split-input-file -p quantize-weights | filecheck %s
// The lowering: int8 preloads (a quarter of the addresses) and int8 loads counting packed vectors.
// RUN: lockstep-opt %s --split-input-file -p 'quantize-weights,partition{chips=2 strategy=tensor},place,lower-to-chip' | filecheck %s --check-prefix=CHIP
// RUN: not lockstep-opt %S/Inputs/gemm.mlir -p quantize-weights 2>&1 | filecheck %s --check-prefix=GEMM

func.func @main(%x: tensor<2x4xf32>, %z: tensor<4x3xf32>) -> (tensor<2x3xf32>, tensor<4x3xf32>, tensor<2x3xf32>) {
  %w = tops.constant dense<[[1.0, 0.0, -2.0], [0.5, 0.0, 4.0], [0.25, 0.0, 1.0], [-1.0, 0.0, 3.0]]> : tensor<4x3xf32>
  %y = tops.matmul %x, %w : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %s = tops.add %z, %w : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  %c = tops.matmul %x, %z : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  func.return %y, %s, %c : tensor<2x3xf32>, tensor<4x3xf32>, tensor<2x3xf32>
}
// Column scales: 1/127, 1 (all zero), 4/127; codes round half to even (0.25 * 127 = 31.75 -> 32).
// CHECK-LABEL: func.func @main
// CHECK:      %w = tops.constant dense<{{.*}}> : tensor<4x3xf32>
// CHECK-NEXT: %[[Q:.*]] = tops.constant dense<{{\[\[}}127, 0, -64], [64, 0, 127], [32, 0, 32], [-127, 0, 95]]> : tensor<4x3xi8>
// CHECK-NEXT: %[[Y:.*]] = tops.matmul %x, %[[Q]] : (tensor<2x4xf32>, tensor<4x3xi8>) -> tensor<2x3xf32>
// CHECK-NEXT: %[[S:.*]] = tops.constant dense<{{\[\[}}0.00787401572, 1.000000e+00, 0.0314960629], [0.00787401572, 1.000000e+00, 0.0314960629]]> : tensor<2x3xf32>
// CHECK-NEXT: %[[M:.*]] = tops.mul %[[Y]], %[[S]] : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: tops.add %z, %w
// CHECK-NEXT: tops.matmul %x, %z : (tensor<2x4xf32>, tensor<4x3xf32>)
// CHECK-NEXT: func.return %[[M]],

// Inputs at 0..5, %w at 6..9, its four int8 vectors in address 10 (int8 vector 40 on).
// CHIP-LABEL: chip.program
// CHIP: %[[W:.*]] = chip.preload core 0 at 10 dense<{{.*}}> : tensor<4x320xi8>
// CHIP: chip.mxm_load core 0 unit "mxm" repeat 4 stride 1 int8 src[40, 1] (%[[W]])

// -----
// Absent weights, split by columns over two chips: [640, 640] codes are 1280 int8 vectors,
// 640 per chip in 160 addresses; a tile of 320 rows reads 80 of them.
func.func @absent(%x: tensor<1x640xf32>) -> tensor<1x640xf32> {
  %w = tops.constant #tops.absent<tensor<640x640xf32>>
  %y = tops.matmul %x, %w : (tensor<1x640xf32>, tensor<640x640xf32>) -> tensor<1x640xf32>
  func.return %y : tensor<1x640xf32>
}
// CHECK-LABEL: func.func @absent
// CHECK:      %[[Q:.*]] = tops.constant #tops.absent<tensor<640x640xi8>>
// CHECK-NEXT: %[[Y:.*]] = tops.matmul %x, %[[Q]] : (tensor<1x640xf32>, tensor<640x640xi8>) -> tensor<1x640xf32>
// CHECK-NEXT: %[[S:.*]] = tops.constant #tops.absent<tensor<1x640xf32>>
// CHECK-NEXT: tops.mul %[[Y]], %[[S]]
// CHECK-NOT:  tensor<640x640xf32>

// x at 0..1, each chip's codes at 2..161 (int8 vectors 8..647), the scales at 162 (constants
// are placed before any value), the product at 163
// CHIP:     chip.preload core 0 at 2 #tops.absent<tensor<640x320xi8>>
// CHIP:     chip.preload core 1 at 2 #tops.absent<tensor<640x320xi8>>
// CHIP:     chip.mxm_load core 0 unit "mxm" repeat 320 stride 1 int8 src[8, 1]
// CHIP:     chip.mxm_load core 0 unit "mxm" repeat 320 stride 1 int8 src[328, 1]
// CHIP:     chip.preload core 0 at 162 #tops.absent<tensor<1x320xf32>>
// GEMM: lockstep-opt: error: quantize-weights: 'tops.gemm' at loc("fc"); run normalise first
