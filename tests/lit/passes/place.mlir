// place: one vector address per value (the same on every chip of its group),
// reused once the value is dead (more in place_reuse.mlir), function arguments
// in part.arg_addrs, the per-chip peak in part.sram_top, and an error naming
// the shortfall when SRAM is too small.
// RUN: lockstep-opt %s -p 'partition{chips=2 strategy=tensor},place' | filecheck %s --check-prefix=TENSOR
// RUN: lockstep-opt %s -p 'partition{chips=2 strategy=pipeline},place' | filecheck %s --check-prefix=PIPE
// RUN: not lockstep-opt %s -p 'partition{chips=1 strategy=replicated system="%S/Inputs/tiny_sram.toml"},place' 2>&1 | filecheck %s --check-prefix=FULL

// Sizes in 320-lane vectors: x [2, 400] is 2 rows x 2 vectors = 4; a [400, 4]
// slice is 400; [2, 4] and [2, 2] are 2; [4] is 1. Constants are placed first
// (the host writes them before cycle 0, so no op may have used their space).
// TENSOR: builtin.module attributes {part.strategy = "tensor", part.system = "fc:2", part.sram_top = array<i64: 412, 412>}
// TENSOR: func.func @main{{.*}} attributes {part.arg_addrs = array<i64: 0>}
// The split constants themselves take no space: each chip holds only its slice.
// TENSOR-NEXT: %w1 = tops.constant {{.*}} {part.chips = array<i64: 0, 1>}
// TENSOR-NEXT: part.split %w1 {{.*}}part.addr = 4 : i64
// TENSOR-NEXT: %h = tops.matmul {{.*}}part.addr = 410 : i64
// Values reuse the space of dead ones: %x's (0) once %h has read it, then %h's, ...
// TENSOR-NEXT: %r = tops.relu {{.*}}part.addr = 0 : i64
// TENSOR-NEXT: %w2 = tops.constant {{.*}} {part.chips = array<i64: 0, 1>}
// TENSOR-NEXT: part.split %w2 {{.*}}part.addr = 404 : i64
// TENSOR-NEXT: %y = tops.matmul {{.*}}part.addr = 2 : i64
// TENSOR-NEXT: part.all_reduce {{.*}}part.addr = 0 : i64
// A constant read directly (not through a split) is placed like any constant.
// TENSOR-NEXT: %b = tops.constant {{.*}}part.addr = 408 : i64
// TENSOR-NEXT: %s = tops.add {{.*}}part.addr = 2 : i64
// A reshape keeping the last axis aliases its input; one changing it does not.
// TENSOR-NEXT: %k = tops.reshape %s {{.*}}part.addr = 2 : i64
// TENSOR-NEXT: %f = tops.reshape %s {{.*}}part.addr = 0 : i64

// Pipeline stages allocate on their own chips: chip 1 starts again at 0 and
// the two high-water marks differ.
// PIPE: builtin.module attributes {part.strategy = "pipeline", part.system = "fc:2", part.sram_top = array<i64: 406, 14>}
// PIPE: %w1 = tops.constant {{.*}}{part.chips = array<i64: 0>, part.addr = 4 : i64}
// PIPE: %h = tops.matmul {{.*}}{part.chips = array<i64: 0>, part.split_kind = "stage 0", part.addr = 404 : i64}
// PIPE: part.transfer from [0] to [1](%h) {part.chips = array<i64: 1>, part.addr = 10 : i64}
// PIPE: %r = tops.relu {{.*}}{part.chips = array<i64: 1>, part.addr = 12 : i64}
// PIPE: %w2 = tops.constant {{.*}}{part.chips = array<i64: 1>, part.addr = 0 : i64}

// 416 vectors of 1280 bytes against 10.
// FULL: lockstep-opt: error: the model does not fit in SRAM: chip 0 needs 0.51 MiB but holds 0.01 MiB (over by 0.50 MiB); use more chips or another partition strategy

func.func @main(%x: tensor<2x400xf32> {tops.name = "x"}) -> (tensor<1x2x2xf32> {tops.name = "y"}, tensor<4xf32> {tops.name = "z"}) {
  %w1 = tops.constant dense<0.5> : tensor<400x8xf32>
  %h = tops.matmul %x, %w1 : (tensor<2x400xf32>, tensor<400x8xf32>) -> tensor<2x8xf32>
  %r = tops.relu %h : tensor<2x8xf32>
  %w2 = tops.constant dense<0.25> : tensor<8x2xf32>
  %y = tops.matmul %r, %w2 : (tensor<2x8xf32>, tensor<8x2xf32>) -> tensor<2x2xf32>
  %b = tops.constant dense<1.0> : tensor<2x2xf32>
  %s = tops.add %y, %b : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  %k = tops.reshape %s : (tensor<2x2xf32>) -> tensor<1x2x2xf32>
  %f = tops.reshape %s : (tensor<2x2xf32>) -> tensor<4xf32>
  func.return %k, %f : tensor<1x2x2xf32>, tensor<4xf32>
}
