// A bias broadcast over many rows (normalise folds the broadcast of a constant
// and marks it tops.row_broadcast) is preloaded as one row and read by the add
// with address step 0, one run per vector column; split by columns on two
// chips, each chip preloads one row of its columns.
// RUN: lockstep-opt %s -p 'normalise,partition{chips=1 strategy=replicated},place,lower-to-chip' | filecheck %s
// RUN: lockstep-opt %s -p 'normalise' | filecheck %s --check-prefix=NORM
// RUN: lockstep-opt %s -p 'normalise,partition{chips=2 strategy=tensor},place,lower-to-chip' | filecheck %s --check-prefix=TENSOR

// The weight is not a row broadcast: no mark.
// NORM: %w = tops.constant dense<5.000000e-01> : tensor<400x400xf32>{{$}}
// NORM: %{{.*}} = tops.constant dense<1.500000e+00> : tensor<8x400xf32> {tops.row_broadcast}

// x [8, 400] is 8 rows x 2 vectors (320 lanes) at 0..15, w [400, 400] 800
// vectors at 16; the bias takes one row (2 vectors) at 816, not 16 vectors.
// CHECK:      %[[X:[0-9]+]] = chip.input "x" core 0 at 0 : tensor<8x400xf32>
// CHECK-NEXT: chip.preload core 0 at 16 dense<{{.*}}> : tensor<800x320xf32>
// CHECK:      %[[M:[0-9]+]] = chip.join core 0
// CHECK-NEXT: %[[B:[0-9]+]] = chip.preload core 0 at 816 dense<{{.*}}> : tensor<2x320xf32>
// Column 0 (320 lanes) and column 1 (80 lanes): 8 rows each, the bias's vector fixed.
// CHECK-NEXT: chip.vxm "add" core 0 unit "vxm" repeat 8 stride 1 lanes 320 dst[0, 2] lhs[{{[0-9]+}}, 2] (%[[M]]) rhs[816, 0] (%[[B]])
// CHECK-NEXT: chip.vxm "add" core 0 unit "vxm" repeat 8 stride 1 lanes 80 dst[1, 2] lhs[{{[0-9]+}}, 2] (%[[M]]) rhs[817, 0] (%[[B]])

// Tensor: w and the bias split by columns, [8, 200] a chip (one vector a row);
// each chip preloads one row of its columns.
// TENSOR:      %[[B0:[0-9]+]] = chip.preload core 0 at 416 dense<{{.*}}> : tensor<1x320xf32>
// TENSOR-NEXT: %[[B1:[0-9]+]] = chip.preload core 1 at 416 dense<{{.*}}> : tensor<1x320xf32>
// TENSOR-NEXT: chip.vxm "add" core 0 unit "vxm" repeat 8 stride 1 lanes 200 dst[0, 1] lhs[417, 1] (%{{[0-9]+}}) rhs[416, 0] (%[[B0]])
// TENSOR-NEXT: chip.vxm "add" core 1 unit "vxm" repeat 8 stride 1 lanes 200 dst[0, 1] lhs[417, 1] (%{{[0-9]+}}) rhs[416, 0] (%[[B1]])

builtin.module {
  func.func @main(%x: tensor<8x400xf32> {tops.name = "x"}) -> (tensor<8x400xf32> {tops.name = "y"}) {
    %w = tops.constant dense<0.5> : tensor<400x400xf32>
    %b = tops.constant dense<1.5> : tensor<400xf32>
    %m = tops.matmul %x, %w : (tensor<8x400xf32>, tensor<400x400xf32>) -> tensor<8x400xf32>
    %y = tops.add %m, %b : (tensor<8x400xf32>, tensor<400xf32>) -> tensor<8x400xf32>
    func.return %y : tensor<8x400xf32>
  }
}
