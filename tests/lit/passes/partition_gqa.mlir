// RUN: lockstep-opt %s --split-input-file -p 'partition{chips=2 strategy=tensor}' | filecheck %s --check-prefix=TWO
// RUN: lockstep-opt %s --split-input-file -p 'partition{chips=4 strategy=tensor}' | filecheck %s --check-prefix=FOUR

// Grouped-query attention as normalise leaves it (passes/normalise_attention.py): 4 query
// heads [4, S, d] viewed as [2 KV heads, 2 * S, d] times the 2 un-repeated K heads.
// A chip's query heads must be whole KV groups, so the query projection splits into as
// many parts as divide the KV heads, the same blocks as K's, and the grouped matmul and
// the reshapes around it are local.
// TWO: %q = tops.matmul %x, %{{.*}} {part.split_kind = "column", {{.*}} -> tensor<2x4xf32>
// TWO: %qg = tops.reshape %qt {{.*}} : (tensor<2x2x2xf32>) -> tensor<1x4x2xf32>
// TWO: %k = tops.matmul %x, %{{.*}} {part.split_kind = "column", {{.*}} -> tensor<2x2xf32>
// TWO-NOT: = part.
// TWO: %s = tops.matmul %qg, %kt {part.split_kind = "heads", {{.*}} -> tensor<1x4x2xf32>
// TWO: %y = tops.reshape %s {{.*}} -> tensor<2x2x2xf32>
// TWO: part.all_gather axis 0 over [0, 1](%y)

// Four chips, 2 KV groups: each group (its 2 query heads and its K head) on 2 chips.
// FOUR: %q = tops.matmul %x, %{{.*}} {part.split_kind = "column by heads, 2 chips per head block", {{.*}} -> tensor<2x4xf32>
// FOUR: %k = tops.matmul %x, %{{.*}} {part.split_kind = "column by heads, 2 chips per head block", {{.*}} -> tensor<2x2xf32>
// FOUR-NOT: = part.
// FOUR: %s = tops.matmul %qg, %kt {part.split_kind = "heads", {{.*}} -> tensor<1x4x2xf32>
// FOUR: %[[G:.*]] = part.all_gather axis 0 over [0, 1, 2, 3](%y) {{.*}} -> tensor<8x2x2xf32>
// FOUR: tops.gather %[[G]] axis = 0 indices = [0, 1, 4, 5]

builtin.module {
  func.func @main(%x: tensor<2x8xf32> {tops.name = "x"}) -> (tensor<4x2x2xf32> {tops.name = "y"}) {
    %wq = tops.constant dense<0.125> : tensor<8x8xf32>
    %q = tops.matmul %x, %wq : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    %qh = tops.reshape %q : (tensor<2x8xf32>) -> tensor<2x4x2xf32>
    %qt = tops.transpose %qh perm = [1, 0, 2] : (tensor<2x4x2xf32>) -> tensor<4x2x2xf32>
    %qg = tops.reshape %qt : (tensor<4x2x2xf32>) -> tensor<2x4x2xf32>
    %wk = tops.constant dense<0.25> : tensor<8x4xf32>
    %k = tops.matmul %x, %wk : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>
    %kh = tops.reshape %k : (tensor<2x4xf32>) -> tensor<2x2x2xf32>
    %kt = tops.transpose %kh perm = [1, 2, 0] : (tensor<2x2x2xf32>) -> tensor<2x2x2xf32>
    %s = tops.matmul %qg, %kt : (tensor<2x4x2xf32>, tensor<2x2x2xf32>) -> tensor<2x4x2xf32>
    %y = tops.reshape %s : (tensor<2x4x2xf32>) -> tensor<4x2x2xf32>
    func.return %y : tensor<4x2x2xf32>
  }
}

// -----

// K is also a function result (a KV cache output): K and V stay whole on every chip, so
// the cache needs no all-gather; each chip copies its KV group out of K (part.split).
// TWO: %k = tops.matmul %x, %wk {part.split_kind = "replicated", {{.*}} -> tensor<2x4xf32>
// TWO: %[[K:.*]] = part.split %kt axis 0 over [0, 1] {{.*}} : tensor<2x2x2xf32> -> tensor<1x2x2xf32>
// TWO: %s = tops.matmul %qg, %[[K]] {part.split_kind = "heads",
// TWO: func.return %{{.*}}, %kt

// FOUR: %k = tops.matmul %x, %wk {part.split_kind = "replicated",
// FOUR: %[[KD:.*]] = tops.gather %kt axis = 0 indices = [0, 0, 1, 1] {{.*}} -> tensor<4x2x2xf32>
// FOUR: %[[K:.*]] = part.split %[[KD]] axis 0 over [0, 1, 2, 3] {{.*}} -> tensor<1x2x2xf32>
// FOUR: %s = tops.matmul %qg, %[[K]] {part.split_kind = "heads",

builtin.module {
  func.func @main(%x: tensor<2x8xf32> {tops.name = "x"}) -> (tensor<4x2x2xf32> {tops.name = "y"}, tensor<2x2x2xf32> {tops.name = "present_k"}) {
    %wq = tops.constant dense<0.125> : tensor<8x8xf32>
    %q = tops.matmul %x, %wq : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    %qh = tops.reshape %q : (tensor<2x8xf32>) -> tensor<2x4x2xf32>
    %qt = tops.transpose %qh perm = [1, 0, 2] : (tensor<2x4x2xf32>) -> tensor<4x2x2xf32>
    %qg = tops.reshape %qt : (tensor<4x2x2xf32>) -> tensor<2x4x2xf32>
    %wk = tops.constant dense<0.25> : tensor<8x4xf32>
    %k = tops.matmul %x, %wk : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>
    %kh = tops.reshape %k : (tensor<2x4xf32>) -> tensor<2x2x2xf32>
    %kt = tops.transpose %kh perm = [1, 2, 0] : (tensor<2x2x2xf32>) -> tensor<2x2x2xf32>
    %s = tops.matmul %qg, %kt : (tensor<2x4x2xf32>, tensor<2x2x2xf32>) -> tensor<2x4x2xf32>
    %y = tops.reshape %s : (tensor<2x4x2xf32>) -> tensor<4x2x2xf32>
    func.return %y, %kt : tensor<4x2x2xf32>, tensor<2x2x2xf32>
  }
}
