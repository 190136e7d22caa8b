// RUN: lockstep-opt %s -p 'partition{chips=2 strategy=tensor}' | filecheck %s --check-prefix=TENSOR
// RUN: lockstep-opt %s -p 'partition{chips=2 strategy=pipeline}' | filecheck %s --check-prefix=PIPE
// RUN: lockstep-opt %s -p 'partition{chips=3 strategy=replicated system="fc:3"}' | filecheck %s --check-prefix=REPL
// RUN: not lockstep-opt %s -p 'partition{chips=2 strategy=magic}' 2>&1 | filecheck %s --check-prefix=BAD
// RUN: not lockstep-opt %s -p 'partition{chips=9 strategy=tensor system=node8}' 2>&1 | filecheck %s --check-prefix=TOOMANY

// Megatron: the first weight is split by columns, the second by rows, and the
// partial products are summed by an all-reduce; types become per-chip shapes.
// part.split_kind records the choice per matmul (report.json's `partition`).
// TENSOR: builtin.module attributes {{.*}}part.system = "fc:2"
// TENSOR: %[[W1:.*]] = part.split %w1 axis 1 over [0, 1]{{.*}} : tensor<4x8xf32> -> tensor<4x4xf32>
// TENSOR: tops.matmul %x, %[[W1]] {part.split_kind = "column", part.chips = array<i64: 0, 1>} : (tensor<1x4xf32>, tensor<4x4xf32>) -> tensor<1x4xf32>
// TENSOR: tops.relu %h {part.chips = array<i64: 0, 1>} : tensor<1x4xf32>
// TENSOR: %[[W2:.*]] = part.split %w2 axis 0 over [0, 1]{{.*}} : tensor<8x2xf32> -> tensor<4x2xf32>
// TENSOR: %[[P:.*]] = tops.matmul %r, %[[W2]] {part.split_kind = "row",
// TENSOR: %[[S:.*]] = part.all_reduce over [0, 1](%[[P]])
// TENSOR: func.return %[[S]]

// Pipeline: two stages, the activation crosses with a point-to-point transfer.
// PIPE: tops.matmul %x, %w1 {part.chips = array<i64: 0>, part.split_kind = "stage 0"}
// PIPE: part.transfer from [0] to [1](%h)
// PIPE: tops.matmul %r, %w2 {part.chips = array<i64: 1>, part.split_kind = "stage 1"}

// REPL: part.system = "fc:3"
// REPL: tops.matmul %x, %w1 {part.chips = array<i64: 0, 1, 2>}
// REPL-NOT: part.all_reduce

// BAD: unknown partition strategy 'magic'
// TOOMANY: cannot partition over 9 chips: system 'node8' has 8 in service

builtin.module {
  func.func @main(%x: tensor<1x4xf32> {tops.name = "x"}) -> (tensor<1x2xf32> {tops.name = "y"}) {
    %w1 = tops.constant dense<0.5> : tensor<4x8xf32>
    %h = tops.matmul %x, %w1 : (tensor<1x4xf32>, tensor<4x8xf32>) -> tensor<1x8xf32>
    %r = tops.relu %h : tensor<1x8xf32>
    %w2 = tops.constant dense<0.25> : tensor<8x2xf32>
    %y = tops.matmul %r, %w2 : (tensor<1x8xf32>, tensor<8x2xf32>) -> tensor<1x2xf32>
    func.return %y : tensor<1x2xf32>
  }
}
