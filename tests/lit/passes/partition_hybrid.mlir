// RUN: lockstep-opt %s -p 'partition{chips=4 strategy=hybrid group=2}' | filecheck %s --check-prefix=HYBRID
// RUN: lockstep-opt %s -p 'partition{chips=4 strategy=auto}' | filecheck %s --check-prefix=AUTO
// RUN: not lockstep-opt %s -p 'partition{chips=4 strategy=hybrid group=3}' 2>&1 | filecheck %s --check-prefix=BADGROUP

// hybrid: tensor parallel inside groups of 2 chips, the groups a pipeline cut by weight
// bytes, each cut just before an op with weights. The first matmul (with its column split)
// and the relu after it run on group 0, the second matmul on group 1; the sharded hidden
// value crosses chip i to chip i, so the row split needs no all-gather.
func.func @main(%x: tensor<1x640xf32>) -> tensor<1x640xf32> {
  %w1 = tops.constant #tops.absent<tensor<640x640xf32>>
  %w2 = tops.constant #tops.absent<tensor<640x640xf32>>
  %h = tops.matmul %x, %w1 : (tensor<1x640xf32>, tensor<640x640xf32>) -> tensor<1x640xf32>
  %r = tops.relu %h : tensor<1x640xf32>
  %y = tops.matmul %r, %w2 : (tensor<1x640xf32>, tensor<640x640xf32>) -> tensor<1x640xf32>
  func.return %y : tensor<1x640xf32>
}
// HYBRID:      builtin.module attributes {part.strategy = "hybrid group=2", part.system = "fc:4"}
// HYBRID:      part.split %w1 axis 1 over [0, 1] {{.*}}part.stage = "stage 0"
// HYBRID-NEXT: %h = tops.matmul {{.*}}part.split_kind = "column", part.chips = array<i64: 0, 1>, part.stage = "stage 0"
// HYBRID-NEXT: %r = tops.relu %h {{.*}}part.chips = array<i64: 0, 1>, part.stage = "stage 0"
// HYBRID-NEXT: part.split %w2 axis 0 over [2, 3] {{.*}}part.stage = "stage 1"
// HYBRID-NEXT: part.transfer from [0, 1] to [2, 3](%r) {{.*}}: tensor<1x320xf32> -> tensor<1x320xf32>
// HYBRID-NEXT: tops.matmul {{.*}}part.split_kind = "row", part.chips = array<i64: 2, 3>
// HYBRID-NEXT: part.all_reduce over [2, 3]

// auto: the cost model's choice and every candidate's estimate are recorded on the module.
// Two small matmuls run fastest on one chip (a hop costs 450 cycles).
// AUTO: part.strategy = "replicated", part.choice = "one chip (1 of 4 chips), the fastest estimate that fits: one chip: ~{{[0-9.]+}} us; {{.*}}tensor on 4: ~{{[0-9.]+}} us{{.*}}hybrid group=2 on 4: ~{{[0-9.]+}} us

// BADGROUP: hybrid partitioning needs the 4 chips to divide into groups of 3
