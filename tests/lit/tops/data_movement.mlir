// The data-movement ops print in their custom format and parse back to the same IR,
// also through the generic format.
// RUN: lockstep-opt %s | lockstep-opt | filecheck %s
// RUN: lockstep-opt %s --print-op-generic | lockstep-opt | filecheck %s

func.func @main(%x: tensor<4x6xf32> {tops.name = "X"}, %v: tensor<4x2xf32> {tops.name = "V"}) -> (tensor<4x8xf32>, tensor<2x3xf32>, tensor<2x2x6xf32>, tensor<4xf32>) {
  %c = tops.concat %x, %v axis = 1 : (tensor<4x6xf32>, tensor<4x2xf32>) -> tensor<4x8xf32>
  %s = tops.slice %x starts = [3, 0] steps = [-2, 2] : (tensor<4x6xf32>) -> tensor<2x3xf32>
  %g = tops.gather %x axis = 0 indices = [3, 0, 3, 1] : (tensor<4x6xf32>) -> tensor<2x2x6xf32>
  %p = tops.gather %x axis = 1 indices = [5] : (tensor<4x6xf32>) -> tensor<4xf32>
  func.return %c, %s, %g, %p : tensor<4x8xf32>, tensor<2x3xf32>, tensor<2x2x6xf32>, tensor<4xf32>
}

// CHECK:      %{{.*}} = tops.concat %x, %v axis = 1 : (tensor<4x6xf32>, tensor<4x2xf32>) -> tensor<4x8xf32>
// CHECK-NEXT: %{{.*}} = tops.slice %x starts = [3, 0] steps = [-2, 2] : (tensor<4x6xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: %{{.*}} = tops.gather %x axis = 0 indices = [3, 0, 3, 1] : (tensor<4x6xf32>) -> tensor<2x2x6xf32>
// CHECK-NEXT: %{{.*}} = tops.gather %x axis = 1 indices = [5] : (tensor<4x6xf32>) -> tensor<4xf32>
