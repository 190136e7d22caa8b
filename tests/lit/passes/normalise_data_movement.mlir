// normalise drops data movement that gives its operand back unchanged (a concat of
// one operand, slices and gathers taking every element in order); a reversing slice stays.
// RUN: lockstep-opt %s -p normalise | filecheck %s

func.func @main(%x: tensor<4x6xf32> {tops.name = "X"}) -> (tensor<4x6xf32>, tensor<4x6xf32>, tensor<4x6xf32>, tensor<4x6xf32>) {
  %c = tops.concat %x axis = 1 : (tensor<4x6xf32>) -> tensor<4x6xf32>
  %s = tops.slice %c starts = [0, 0] steps = [1, 1] : (tensor<4x6xf32>) -> tensor<4x6xf32>
  %g = tops.gather %s axis = 0 indices = [0, 1, 2, 3] : (tensor<4x6xf32>) -> tensor<4x6xf32>
  %r = tops.slice %g starts = [3, 0] steps = [-1, 1] : (tensor<4x6xf32>) -> tensor<4x6xf32>
  func.return %c, %s, %g, %r : tensor<4x6xf32>, tensor<4x6xf32>, tensor<4x6xf32>, tensor<4x6xf32>
}

// CHECK:      func.func @main
// CHECK-NEXT:   %r = tops.slice %x starts = [3, 0] steps = [-1, 1] : (tensor<4x6xf32>) -> tensor<4x6xf32>
// CHECK-NEXT:   func.return %x, %x, %x, %r
