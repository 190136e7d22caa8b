func.func @main(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %w = tops.constant dense<1.0> : tensor<4x3xf32>
  %y = tops.gemm %x, %w : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32> loc("fc")
  func.return %y : tensor<2x3xf32>
}
