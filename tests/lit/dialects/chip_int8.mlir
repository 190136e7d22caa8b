// int8 weights at the chip level: an i8 preload (int8 vectors, packed four to an address) and an
// int8 mxm_load (its src counts int8 vectors) print and parse back, also through the generic format.
// RUN: lockstep-opt %s | lockstep-opt | filecheck %s
// RUN: lockstep-opt %s --print-op-generic | lockstep-opt | filecheck %s

chip.program "fc:2" {
  %x = chip.input "x" core 0 at 0 : tensor<2x4xf32>
  %w = chip.preload core 0 at 2 dense<[[1, -2], [3, 4], [127, -127], [0, 5], [6, 7]]> : tensor<5x2xi8>
  %l = chip.mxm_load core 0 unit "mxm0" repeat 3 stride 1 int8 src[9, 1] (%w)
  %m = chip.mxm_matmul core 0 unit "mxm0" repeat 2 stride 1 weights(%l) dst[6, 1] src[0, 1] (%x)
  %f = chip.mxm_load core 0 unit "mxm1" repeat 2 stride 1 src[0, 1] (%x)
}
// CHECK:      %w = chip.preload core 0 at 2 dense<{{\[\[}}1, -2], [3, 4], [127, -127], [0, 5], [6, 7]]> : tensor<5x2xi8>
// CHECK-NEXT: %l = chip.mxm_load core 0 unit "mxm0" repeat 3 stride 1 int8 src[9, 1] (%w)
// CHECK:      %f = chip.mxm_load core 0 unit "mxm1" repeat 2 stride 1 src[0, 1] (%x)
