// lower-to-chip of a KV cache held in slices (passes/host_io.py): on 4 chips each of
// the 2 KV heads lives on 2 chips. The host writes every chip its head of the past
// cache (`slice` of the whole input, at one address on all chips: SPMD) and reads
// each head of the present cache from the first chip holding it, and each chip's
// query head of y (one per chip: passes/partition_heads.py); no collective moves them.
// RUN: lockstep-opt %s -p 'partition{chips=4 strategy=tensor},place,lower-to-chip' | filecheck %s

// CHECK-NOT: part.all_gather
// CHECK: chip.input "past_k" core 0 at [[PAST:[0-9]+]] : tensor<1x2x3xf32> slice [0, 0, 0] of tensor<2x2x3xf32>
// CHECK-NEXT: chip.input "past_k" core 1 at [[PAST]] : tensor<1x2x3xf32> slice [0, 0, 0] of tensor<2x2x3xf32>
// CHECK-NEXT: chip.input "past_k" core 2 at [[PAST]] : tensor<1x2x3xf32> slice [1, 0, 0] of tensor<2x2x3xf32>
// CHECK-NEXT: chip.input "past_k" core 3 at [[PAST]] : tensor<1x2x3xf32> slice [1, 0, 0] of tensor<2x2x3xf32>
// CHECK-NOT: part.all_gather
// CHECK: chip.output "y" core 0 at [[Y:[0-9]+]] : tensor<1x2x5xf32> slice [0, 0, 0] of tensor<4x2x5xf32>
// CHECK-NEXT: chip.output "y" core 1 at [[Y]] : tensor<1x2x5xf32> slice [1, 0, 0] of tensor<4x2x5xf32>
// CHECK-NEXT: chip.output "y" core 2 at [[Y]] : tensor<1x2x5xf32> slice [2, 0, 0] of tensor<4x2x5xf32>
// CHECK-NEXT: chip.output "y" core 3 at [[Y]] : tensor<1x2x5xf32> slice [3, 0, 0] of tensor<4x2x5xf32>
// CHECK-NEXT: chip.output "present_k" core 0 at [[K:[0-9]+]] : tensor<1x2x5xf32> slice [0, 0, 0] of tensor<2x2x5xf32>
// CHECK-NEXT: chip.output "present_k" core 2 at [[K]] : tensor<1x2x5xf32> slice [1, 0, 0] of tensor<2x2x5xf32>

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
