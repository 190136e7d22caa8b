// RUN: lockstep-opt %s --split-input-file -p 'partition{chips=2 strategy=tensor}' | filecheck %s --check-prefix=TWO
// RUN: lockstep-opt %s --split-input-file -p 'partition{chips=4 strategy=tensor}' | filecheck %s --check-prefix=FOUR
// RUN: lockstep-opt %s --split-input-file -p 'partition{chips=8 strategy=tensor}' | filecheck %s --check-prefix=EIGHT

// Grouped-query attention as normalise leaves it (passes/normalise_attention.py): 4 query
// heads [4, S, d] viewed as [2 KV heads, 2 * S, d] times the 2 un-repeated K heads.
// With 2 chips each computes one KV group whole: the query projection and K split into
// the same blocks, and the grouped matmul and the reshapes around it are local. The host
// reads the result from the chips holding its pieces (passes/host_io.py).
// TWO: func.func @main({{.*}}) -> (tensor<2x2x2xf32> {tops.name = "y", part.slices = {whole = tensor<4x2x2xf32>, axis = 0 : i64, chips = array<i64: 0, 1>, starts = array<i64: 0, 2>}})
// TWO: %q = tops.matmul %x, %{{.*}} {part.split_kind = "column", {{.*}} -> tensor<2x4xf32>
// TWO: %qg = tops.reshape %qt {{.*}} : (tensor<2x2x2xf32>) -> tensor<1x4x2xf32>
// TWO: %k = tops.matmul %x, %{{.*}} {part.split_kind = "column", {{.*}} -> tensor<2x2xf32>
// TWO-NOT: = part.
// TWO: %s = tops.matmul %qg, %kt {part.split_kind = "heads", {{.*}} -> tensor<1x4x2xf32>
// TWO: %y = tops.reshape %s {{.*}} -> tensor<2x2x2xf32>
// TWO-NEXT: func.return %y : tensor<2x2x2xf32>

// Four chips, 2 KV groups: each K head on 2 chips, but each chip computes only its own
// query head (not its whole group): its rows [1, 1 * S, d] of the grouped view times its
// group's K head, still with no collective. The host reads one query head from each chip.
// FOUR: func.func @main({{.*}}) -> (tensor<1x2x2xf32> {tops.name = "y", part.slices = {whole = tensor<4x2x2xf32>, axis = 0 : i64, chips = array<i64: 0, 1, 2, 3>, starts = array<i64: 0, 1, 2, 3>}})
// FOUR: %q = tops.matmul %x, %{{.*}} {part.split_kind = "column", {{.*}} -> tensor<2x2xf32>
// FOUR: %qg = tops.reshape %qt {{.*}} : (tensor<1x2x2xf32>) -> tensor<1x2x2xf32>
// FOUR: %k = tops.matmul %x, %{{.*}} {part.split_kind = "column by heads, 2 chips per head block", {{.*}} -> tensor<2x2xf32>
// FOUR-NOT: = part.
// FOUR: %s = tops.matmul %qg, %kt {part.split_kind = "query heads in group", {{.*}} : (tensor<1x2x2xf32>, tensor<1x2x2xf32>) -> tensor<1x2x2xf32>
// FOUR: %y = tops.reshape %s {{.*}} -> tensor<1x2x2xf32>
// FOUR-NEXT: func.return %y : tensor<1x2x2xf32>

// Eight chips, 4 query heads: each query head on 2 chips, each K head on 4.
// EIGHT: func.func @main({{.*}}) -> (tensor<1x2x2xf32> {tops.name = "y", part.slices = {whole = tensor<4x2x2xf32>, axis = 0 : i64, chips = array<i64: 0, 2, 4, 6>, starts = array<i64: 0, 1, 2, 3>}})
// EIGHT: %q = tops.matmul %x, %{{.*}} {part.split_kind = "column by heads, 2 chips per head block", {{.*}} -> tensor<2x2xf32>
// EIGHT: %k = tops.matmul %x, %{{.*}} {part.split_kind = "column by heads, 4 chips per head block", {{.*}} -> tensor<2x2xf32>
// EIGHT-NOT: = part.
// EIGHT: %s = tops.matmul %qg, %kt {part.split_kind = "query heads in group", {{.*}} -> tensor<1x2x2xf32>
// EIGHT-NEXT: %y = tops.reshape %s {{.*}} -> tensor<1x2x2xf32>

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

// A KV cache: the past K heads are an input, the present ones (past and new) an output.
// K is split by KV heads like the queries; each chip holds only its KV head of the past
// cache (the host writes that slice: `part.slices` on the argument, no part.split) and
// of the present one (the host reads it from the first chip holding each head: no
// all-gather). With 4 chips each KV head is on 2 chips, each query head on one.
// TWO: func.func @main(%x: tensor<2x8xf32> {tops.name = "x"}, %past: tensor<1x2x3xf32> {tops.name = "past_k", part.slices = {whole = tensor<2x2x3xf32>, axis = 0 : i64, chips = array<i64: 0, 1>, starts = array<i64: 0, 1>}})
// TWO-SAME: tensor<1x2x5xf32> {tops.name = "present_k", part.slices = {whole = tensor<2x2x5xf32>, axis = 0 : i64, chips = array<i64: 0, 1>, starts = array<i64: 0, 1>}}
// TWO: %k = tops.matmul %x, %{{.*}} {part.split_kind = "column", {{.*}} -> tensor<2x2xf32>
// TWO-NOT: = part.
// TWO: %present = tops.concat %past, %kt axis = 2 {{.*}} : (tensor<1x2x3xf32>, tensor<1x2x2xf32>) -> tensor<1x2x5xf32>
// TWO-NEXT: %s = tops.matmul %qg, %present {part.split_kind = "heads",
// TWO-NOT: = part.
// TWO: func.return %y, %present : tensor<2x2x5xf32>, tensor<1x2x5xf32>

// FOUR: %past: tensor<1x2x3xf32> {tops.name = "past_k", part.slices = {whole = tensor<2x2x3xf32>, axis = 0 : i64, chips = array<i64: 0, 1, 2, 3>, starts = array<i64: 0, 0, 1, 1>}}
// FOUR-SAME: tensor<1x2x5xf32> {tops.name = "present_k", part.slices = {whole = tensor<2x2x5xf32>, axis = 0 : i64, chips = array<i64: 0, 2>, starts = array<i64: 0, 1>}}
// FOUR: %k = tops.matmul %x, %{{.*}} {part.split_kind = "column by heads, 2 chips per head block", {{.*}} -> tensor<2x2xf32>
// FOUR-NOT: = part.
// FOUR: %present = tops.concat %past, %kt axis = 2 {{.*}} -> tensor<1x2x5xf32>
// FOUR-NEXT: %s = tops.matmul %qg, %present {part.split_kind = "query heads in group", {{.*}} : (tensor<1x2x2xf32>, tensor<1x2x5xf32>) -> tensor<1x2x5xf32>
// FOUR-NOT: = part.
// FOUR: func.return %y, %present

builtin.module {
  func.func @main(%x: tensor<2x8xf32> {tops.name = "x"}, %past: tensor<2x2x3xf32> {tops.name = "past_k"}) -> (tensor<4x2x5xf32> {tops.name = "y"}, tensor<2x2x5xf32> {tops.name = "present_k"}) {
    %wq = tops.constant dense<0.125> : tensor<8x8xf32>
    %q = tops.matmul %x, %wq : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    %qh = tops.reshape %q : (tensor<2x8xf32>) -> tensor<2x4x2xf32>
    %qt = tops.transpose %qh perm = [1, 0, 2] : (tensor<2x4x2xf32>) -> tensor<4x2x2xf32>
    %qg = tops.reshape %qt : (tensor<4x2x2xf32>) -> tensor<2x4x2xf32>
    %wk = tops.constant dense<0.25> : tensor<8x4xf32>
    %k = tops.matmul %x, %wk : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>
    %kh = tops.reshape %k : (tensor<2x4xf32>) -> tensor<2x2x2xf32>
    %kt = tops.transpose %kh perm = [1, 2, 0] : (tensor<2x2x2xf32>) -> tensor<2x2x2xf32>
    %present = tops.concat %past, %kt axis = 2 : (tensor<2x2x3xf32>, tensor<2x2x2xf32>) -> tensor<2x2x5xf32>
    %s = tops.matmul %qg, %present : (tensor<2x4x2xf32>, tensor<2x2x5xf32>) -> tensor<2x4x5xf32>
    %y = tops.reshape %s : (tensor<2x4x5xf32>) -> tensor<4x2x5xf32>
    func.return %y, %present : tensor<4x2x5xf32>, tensor<2x2x5xf32>
  }
}

// -----

// Prefill (S = 2) with an output projection: 8 query heads in 2 groups of 4 on 4 chips,
// 2 query heads each. A chip's rows of the grouped view are its 2 heads' 2 * S rows
// [1, 4, d]; back in heads the output projection takes the chip's heads' rows of W_o
// (2 heads * d = 4 rows, split by rows as they are: plain blocks) and one all-reduce sums.
// FOUR: %q = tops.matmul %x, %{{.*}} {part.split_kind = "column", {{.*}} -> tensor<2x4xf32>
// FOUR: %qg = tops.reshape %qt {{.*}} : (tensor<2x2x2xf32>) -> tensor<1x4x2xf32>
// FOUR: %k = tops.matmul %x, %{{.*}} {part.split_kind = "column by heads, 2 chips per head block", {{.*}} -> tensor<2x2xf32>
// FOUR-NOT: = part.
// FOUR: %s = tops.matmul %qg, %kt {part.split_kind = "query heads in group", {{.*}} : (tensor<1x4x2xf32>, tensor<1x2x2xf32>) -> tensor<1x4x2xf32>
// FOUR-NEXT: %sh = tops.reshape %s {{.*}} : (tensor<1x4x2xf32>) -> tensor<2x2x2xf32>
// FOUR-NOT: = part.
// FOUR: %a = tops.reshape %st {{.*}} -> tensor<2x4xf32>
// FOUR: = part.split %wo axis 0 {{.*}} : tensor<16x8xf32> -> tensor<4x8xf32>
// FOUR-NEXT: %y = tops.matmul %a, %{{.*}} {part.split_kind = "row", {{.*}} -> tensor<2x8xf32>
// FOUR-NEXT: %y_1 = part.all_reduce over [0, 1, 2, 3](%y)
// FOUR-NEXT: func.return %y_1

builtin.module {
  func.func @main(%x: tensor<2x8xf32> {tops.name = "x"}) -> (tensor<2x8xf32> {tops.name = "y"}) {
    %wq = tops.constant dense<0.125> : tensor<8x16xf32>
    %q = tops.matmul %x, %wq : (tensor<2x8xf32>, tensor<8x16xf32>) -> tensor<2x16xf32>
    %qh = tops.reshape %q : (tensor<2x16xf32>) -> tensor<2x8x2xf32>
    %qt = tops.transpose %qh perm = [1, 0, 2] : (tensor<2x8x2xf32>) -> tensor<8x2x2xf32>
    %qg = tops.reshape %qt : (tensor<8x2x2xf32>) -> tensor<2x8x2xf32>
    %wk = tops.constant dense<0.25> : tensor<8x4xf32>
    %k = tops.matmul %x, %wk : (tensor<2x8xf32>, tensor<8x4xf32>) -> tensor<2x4xf32>
    %kh = tops.reshape %k : (tensor<2x4xf32>) -> tensor<2x2x2xf32>
    %kt = tops.transpose %kh perm = [1, 2, 0] : (tensor<2x2x2xf32>) -> tensor<2x2x2xf32>
    %s = tops.matmul %qg, %kt : (tensor<2x8x2xf32>, tensor<2x2x2xf32>) -> tensor<2x8x2xf32>
    %sh = tops.reshape %s : (tensor<2x8x2xf32>) -> tensor<8x2x2xf32>
    %st = tops.transpose %sh perm = [1, 0, 2] : (tensor<8x2x2xf32>) -> tensor<2x8x2xf32>
    %a = tops.reshape %st : (tensor<2x8x2xf32>) -> tensor<2x16xf32>
    %wo = tops.constant dense<0.5> : tensor<16x8xf32>
    %y = tops.matmul %a, %wo : (tensor<2x16xf32>, tensor<16x8xf32>) -> tensor<2x8xf32>
    func.return %y : tensor<2x8xf32>
  }
}

// -----

// K and V projections whose KV heads are shared by chips split by rows instead, when that
// leaves each chip fewer weight tiles: 2 KV heads of 128 on 4 chips, rows of 1280 (4 tiles
// of 320). By heads each chip would hold its head's [1280, 128] (4 tiles); instead chip i
// of a head's 2 chips takes rows block i mod 2 of x (a split dealt to chips 0, 2, 1, 3)
// and of its head's columns (one constant stacking the 4 chips' [640, 128] blocks), and an
// all-reduce inside each pair sums the head. K is then sharded by heads as before: the
// grouped matmul reads it with no gather. The query projection is unchanged.
// FOUR: %q = tops.matmul %x, %{{.*}} {part.split_kind = "column", {{.*}} -> tensor<1x128xf32>
// FOUR: %[[W:.*]] = tops.constant dense<2.500000e-01> : tensor<2560x128xf32>
// FOUR-NEXT: %[[X:.*]] = part.split %x axis 1 over [0, 2, 1, 3] {{.*}} : tensor<1x1280xf32> -> tensor<1x640xf32>
// FOUR-NEXT: %[[WS:.*]] = part.split %[[W]] axis 0 over [0, 1, 2, 3] {{.*}} : tensor<2560x128xf32> -> tensor<640x128xf32>
// FOUR-NEXT: %k = tops.matmul %[[X]], %[[WS]] {part.split_kind = "row in each KV head's 2 chips", {{.*}} -> tensor<1x128xf32>
// FOUR-NEXT: %k_1 = part.all_reduce over [0, 1, 2, 3] in subgroups of 2(%k) {{.*}} : tensor<1x128xf32> -> tensor<1x128xf32>
// FOUR-NEXT: %kh = tops.reshape %k_1 {{.*}} -> tensor<1x1x128xf32>
// FOUR-NEXT: %kt = tops.transpose %kh
// FOUR-NEXT: %s = tops.matmul %qg, %kt {part.split_kind = "query heads in group", {{.*}} -> tensor<1x1x1xf32>

// With 2 chips (one KV head each, no copies) K stays split by heads.
// TWO: %k = tops.matmul %x, %{{.*}} {part.split_kind = "column", {{.*}} -> tensor<1x128xf32>

builtin.module {
  func.func @main(%x: tensor<1x1280xf32> {tops.name = "x"}) -> (tensor<4x1x1xf32> {tops.name = "y"}) {
    %wq = tops.constant dense<0.125> : tensor<1280x512xf32>
    %q = tops.matmul %x, %wq : (tensor<1x1280xf32>, tensor<1280x512xf32>) -> tensor<1x512xf32>
    %qh = tops.reshape %q : (tensor<1x512xf32>) -> tensor<1x4x128xf32>
    %qt = tops.transpose %qh perm = [1, 0, 2] : (tensor<1x4x128xf32>) -> tensor<4x1x128xf32>
    %qg = tops.reshape %qt : (tensor<4x1x128xf32>) -> tensor<2x2x128xf32>
    %wk = tops.constant dense<0.25> : tensor<1280x256xf32>
    %k = tops.matmul %x, %wk : (tensor<1x1280xf32>, tensor<1280x256xf32>) -> tensor<1x256xf32>
    %kh = tops.reshape %k : (tensor<1x256xf32>) -> tensor<1x2x128xf32>
    %kt = tops.transpose %kh perm = [1, 2, 0] : (tensor<1x2x128xf32>) -> tensor<2x128x1xf32>
    %s = tops.matmul %qg, %kt : (tensor<2x2x128xf32>, tensor<2x128x1xf32>) -> tensor<2x2x1xf32>
    %y = tops.reshape %s : (tensor<2x2x1xf32>) -> tensor<4x1x1xf32>
    func.return %y : tensor<4x1x1xf32>
  }
}
