// RUN: lockstep-opt %s -p 'partition{chips=2 strategy=tensor}' | filecheck %s --check-prefix=TWO
// RUN: lockstep-opt %s -p 'partition{chips=4 strategy=tensor}' | filecheck %s --check-prefix=FOUR

// A fused QKV projection (D = 4, 2 heads of 2) split into q, k, v by slices. Every
// chip gets its heads' q, k and v columns: the weight (here W[r, c] = c, so the
// printed constant shows the column order) is rearranged, then split; the slices
// become local slices and attention runs per head with no collective. The host reads
// the result y from the chips' heads (passes/host_io.py); the sum of the
// attention weights over heads needs them whole on every chip: an all-gather.
// TWO: func.func @main({{.*}}) -> (tensor<1x2x2xf32> {tops.name = "y", part.slices = {whole = tensor<2x2x2xf32>, axis = 0 : i64, chips = array<i64: 0, 1>, starts = array<i64: 0, 1>}}, tensor<1x2x2xf32> {tops.name = "n"})
// TWO: %[[W:.*]] = tops.constant dense<{{\[\[}}0.000000e+00, 1.000000e+00, 4.000000e+00, 5.000000e+00, 8.000000e+00, 9.000000e+00, 2.000000e+00, 3.000000e+00, 6.000000e+00, 7.000000e+00, 1.000000e+01, 1.100000e+01]
// TWO: %[[S:.*]] = part.split %[[W]] axis 1 over [0, 1] {{.*}} : tensor<4x12xf32> -> tensor<4x6xf32>
// TWO: %qkv = tops.matmul %x, %[[S]] {part.split_kind = "column by heads", {{.*}} -> tensor<2x6xf32>
// TWO: %q = tops.slice %qkv starts = [0, 0] {{.*}} -> tensor<2x2xf32>
// TWO: %k = tops.slice %qkv starts = [0, 2] {{.*}} -> tensor<2x2xf32>
// TWO: %v = tops.slice %qkv starts = [0, 4] {{.*}} -> tensor<2x2xf32>
// TWO-NOT: part.all_gather
// TWO: %s = tops.matmul %qt, %kt {part.split_kind = "heads", {{.*}} -> tensor<1x2x2xf32>
// TWO: %c = tops.matmul %p, %vt {part.split_kind = "heads",
// TWO: %[[P:.*]] = part.all_gather axis 0 over [0, 1](%p)
// TWO: %n = tops.reduce_sum %[[P]] axes = [0]
// TWO: func.return %c, %n

// Four chips, two heads: each head block on two chips (the weight's blocks twice);
// the host reads y's heads from chips 0 and 2; the all-gather for the sum holds
// every head twice and a gather keeps one copy.
// FOUR: tensor<1x2x2xf32> {tops.name = "y", part.slices = {whole = tensor<2x2x2xf32>, axis = 0 : i64, chips = array<i64: 0, 2>, starts = array<i64: 0, 1>}}
// FOUR: part.split %{{.*}} axis 1 over [0, 1, 2, 3] {{.*}} : tensor<4x24xf32> -> tensor<4x6xf32>
// FOUR: tops.matmul %x, %{{.*}} {part.split_kind = "column by heads, 2 chips per head block",
// FOUR: %[[G:.*]] = part.all_gather axis 0 over [0, 1, 2, 3](%p) {{.*}} -> tensor<4x2x2xf32>
// FOUR: tops.gather %[[G]] axis = 0 indices = [0, 2] {{.*}} -> tensor<2x2x2xf32>

builtin.module {
  func.func @main(%x: tensor<2x4xf32> {tops.name = "x"}) -> (tensor<2x2x2xf32> {tops.name = "y"}, tensor<1x2x2xf32> {tops.name = "n"}) {
    %w = tops.constant dense<[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]]> : tensor<4x12xf32>
    %qkv = tops.matmul %x, %w : (tensor<2x4xf32>, tensor<4x12xf32>) -> tensor<2x12xf32>
    %q = tops.slice %qkv starts = [0, 0] steps = [1, 1] : (tensor<2x12xf32>) -> tensor<2x4xf32>
    %k = tops.slice %qkv starts = [0, 4] steps = [1, 1] : (tensor<2x12xf32>) -> tensor<2x4xf32>
    %v = tops.slice %qkv starts = [0, 8] steps = [1, 1] : (tensor<2x12xf32>) -> tensor<2x4xf32>
    %qh = tops.reshape %q : (tensor<2x4xf32>) -> tensor<2x2x2xf32>
    %kh = tops.reshape %k : (tensor<2x4xf32>) -> tensor<2x2x2xf32>
    %vh = tops.reshape %v : (tensor<2x4xf32>) -> tensor<2x2x2xf32>
    %qt = tops.transpose %qh perm = [1, 0, 2] : (tensor<2x2x2xf32>) -> tensor<2x2x2xf32>
    %kt = tops.transpose %kh perm = [1, 2, 0] : (tensor<2x2x2xf32>) -> tensor<2x2x2xf32>
    %vt = tops.transpose %vh perm = [1, 0, 2] : (tensor<2x2x2xf32>) -> tensor<2x2x2xf32>
    %s = tops.matmul %qt, %kt : (tensor<2x2x2xf32>, tensor<2x2x2xf32>) -> tensor<2x2x2xf32>
    %p = tops.softmax %s axis = 2 : tensor<2x2x2xf32>
    %c = tops.matmul %p, %vt : (tensor<2x2x2xf32>, tensor<2x2x2xf32>) -> tensor<2x2x2xf32>
    %n = tops.reduce_sum %p axes = [0] : (tensor<2x2x2xf32>) -> tensor<1x2x2xf32>
    func.return %c, %n : tensor<2x2x2xf32>, tensor<1x2x2xf32>
  }
}
