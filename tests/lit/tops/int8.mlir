// int8 weights: tops.constant of element type i8 (with values or absent) round-trips and is
// accepted as a matmul's B (result f32). verify_int8.mlir has what is refused.
// RUN: lockstep-opt %s | lockstep-opt | filecheck %s --check-prefix=ROUND

func.func @main(%x: tensor<2x3xf32>) -> (tensor<2x2xf32>, tensor<2x640xf32>) {
  %q = tops.constant dense<[[127, -127], [0, 1], [-3, 64]]> : tensor<3x2xi8>
  %y = tops.matmul %x, %q : (tensor<2x3xf32>, tensor<3x2xi8>) -> tensor<2x2xf32>
  %a = tops.constant #tops.absent<tensor<3x640xi8>>
  %z = tops.matmul %x, %a : (tensor<2x3xf32>, tensor<3x640xi8>) -> tensor<2x640xf32>
  func.return %y, %z : tensor<2x2xf32>, tensor<2x640xf32>
}
// ROUND:      %q = tops.constant dense<{{\[\[}}127, -127], [0, 1], [-3, 64]]> : tensor<3x2xi8>
// ROUND-NEXT: %y = tops.matmul %x, %q : (tensor<2x3xf32>, tensor<3x2xi8>) -> tensor<2x2xf32>
// ROUND-NEXT: %a = tops.constant #tops.absent<tensor<3x640xi8>>
// ROUND-NEXT: %z = tops.matmul %x, %a : (tensor<2x3xf32>, tensor<3x640xi8>) -> tensor<2x640xf32>
