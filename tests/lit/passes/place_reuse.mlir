// place reuses SRAM by liveness: a value's block is released after the last op
// reading it (or an alias of it), and a later value takes it only if it depends
// on every op that used the block (so the reuse never holds the schedule back).
// Inputs and constants are placed first, in space nothing else ever occupies.
// RUN: lockstep-opt %s -p 'partition{chips=1 strategy=replicated},place' | filecheck %s

// Every value here is 2 vectors. Peak: 12 vectors, not the 22 of one block each.
// CHECK: part.sram_top = array<i64: 12>
// CHECK: part.arg_addrs = array<i64: 0, 2>
// CHECK-NEXT: %w = tops.constant {{.*}}part.addr = 4 : i64
// CHECK-NEXT: %a = tops.relu {{.*}}part.addr = 6 : i64
// CHECK-NEXT: %b = tops.neg {{.*}}part.addr = 8 : i64
// %a died at %b, which %c depends on: %c shares %a's address.
// CHECK-NEXT: %c = tops.exp {{.*}}part.addr = 6 : i64
// %b's block is free, but %e does not depend on %c (its last reader): fresh space.
// CHECK-NEXT: %e = tops.sigmoid {{.*}}part.addr = 10 : i64
// CHECK-NEXT: %k = tops.reshape %c {{.*}}part.addr = 6 : i64
// %x is live until %d reads it, so nothing took its block; %d takes %m's.
// CHECK-NEXT: %d = tops.add %e, %x {{.*}}part.addr = 2 : i64
// %x's block is free now, but %a read it and %f does not depend on %a; %e's block it can take.
// CHECK-NEXT: %f = tops.mul {{.*}}part.addr = 10 : i64
// The alias %k keeps %c's block (6) alive; %g takes %b's, whose reader %c it depends on.
// CHECK-NEXT: %g = tops.tanh %k {{.*}}part.addr = 8 : i64

func.func @main(%x: tensor<2x320xf32> {tops.name = "x"}, %m: tensor<2x320xf32> {tops.name = "m"}) -> (tensor<2x320xf32> {tops.name = "y"}, tensor<1x2x320xf32> {tops.name = "z"}) {
  %w = tops.constant dense<0.5> : tensor<2x320xf32>
  %a = tops.relu %x : tensor<2x320xf32>
  %b = tops.neg %a : tensor<2x320xf32>
  %c = tops.exp %b : tensor<2x320xf32>
  %e = tops.sigmoid %m : tensor<2x320xf32>
  %k = tops.reshape %c : (tensor<2x320xf32>) -> tensor<1x2x320xf32>
  %d = tops.add %e, %x : (tensor<2x320xf32>, tensor<2x320xf32>) -> tensor<2x320xf32>
  %f = tops.mul %d, %w : (tensor<2x320xf32>, tensor<2x320xf32>) -> tensor<2x320xf32>
  %g = tops.tanh %k : tensor<1x2x320xf32>
  func.return %f, %g : tensor<2x320xf32>, tensor<1x2x320xf32>
}
