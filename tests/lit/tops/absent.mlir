// A shape-only weight (#tops.absent: its values are not known) round-trips, folds to an absent
// constant, and lowers to a chip.preload without data that the schedule still times.
// RUN: lockstep-opt %s | lockstep-opt | filecheck %s --check-prefix=ROUND
// RUN: lockstep-opt %s -p normalise | filecheck %s --check-prefix=FOLD
// RUN: lockstep-opt %s -p normalise,partition{chips=2},place,lower-to-chip | filecheck %s --check-prefix=CHIP

func.func @main(%x: tensor<2x640xf32>) -> tensor<2x640xf32> {
  %w = tops.constant #tops.absent<tensor<640x640xf32>>
  %t = tops.transpose %w perm = [1, 0] : (tensor<640x640xf32>) -> tensor<640x640xf32>
  %y = tops.matmul %x, %t : (tensor<2x640xf32>, tensor<640x640xf32>) -> tensor<2x640xf32>
  func.return %y : tensor<2x640xf32>
}
// ROUND:      %w = tops.constant #tops.absent<tensor<640x640xf32>>
// ROUND-NEXT: %t = tops.transpose %w

// The transpose of an absent constant is an absent constant of the transposed shape.
// FOLD:     tops.constant #tops.absent<tensor<640x640xf32>>
// FOLD-NOT: tops.transpose
// FOLD:     tops.matmul

// Column split over two chips: each preloads its half, without data.
// CHIP: chip.preload core 0 at {{[0-9]+}} #tops.absent<tensor<1280x320xf32>>
// CHIP: chip.preload core 1 at {{[0-9]+}} #tops.absent<tensor<1280x320xf32>>
