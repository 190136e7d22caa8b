// normalise: Gemm lowering, explicit broadcasts, 2-D matmul operands, softmax on
// the last axis, constant folding; new ops keep the replaced op's location.
// RUN: lockstep-opt %s --split-input-file -p normalise --print-debuginfo | filecheck %s

// Gemm with transB (PyTorch's Linear): the transposed weight folds, C is broadcast.
func.func @gemm(%x: tensor<1x3xf32>) -> tensor<1x2xf32> {
  %w = tops.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32> loc("fc.weight")
  %b = tops.constant dense<[0.5, -0.5]> : tensor<2xf32> loc("fc.bias")
  %y = tops.gemm %x, %w, %b {trans_b = true} : (tensor<1x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<1x2xf32> loc("/fc/Gemm")
  func.return %y : tensor<1x2xf32>
}
// CHECK-LABEL: func.func @gemm
// CHECK-NEXT:    [[W:%\S+]] = tops.constant dense<{{\[\[}}1.000000e+00, 4.000000e+00], [2.000000e+00, 5.000000e+00], [3.000000e+00, 6.000000e+00]]> : tensor<3x2xf32> loc("/fc/Gemm")
// CHECK-NEXT:    [[P:%\S+]] = tops.matmul %x, [[W]] : (tensor<1x3xf32>, tensor<3x2xf32>) -> tensor<1x2xf32> loc("/fc/Gemm")
// CHECK-NEXT:    [[B:%\S+]] = tops.constant dense<{{\[\[}}5.000000e-01, -5.000000e-01]]> : tensor<1x2xf32> loc("/fc/Gemm")
// CHECK-NEXT:    [[Y:%\S+]] = tops.add [[P]], [[B]] : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2xf32> loc("/fc/Gemm")
// CHECK-NEXT:    func.return [[Y]] : tensor<1x2xf32>

// -----
// alpha, beta and transA on run-time operands.
func.func @gemm_scaled(%a: tensor<3x2xf32>, %b: tensor<3x4xf32>, %c: tensor<4xf32>) -> tensor<2x4xf32> {
  %y = tops.gemm %a, %b, %c {trans_a = true, alpha = 2.0 : f32, beta = 0.5 : f32} : (tensor<3x2xf32>, tensor<3x4xf32>, tensor<4xf32>) -> tensor<2x4xf32> loc("g")
  func.return %y : tensor<2x4xf32>
}
// CHECK-LABEL: func.func @gemm_scaled
// CHECK-NEXT:    [[AT:%\S+]] = tops.transpose %a perm = [1, 0] : (tensor<3x2xf32>) -> tensor<2x3xf32> loc("g")
// CHECK-NEXT:    [[P:%\S+]] = tops.matmul [[AT]], %b : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32> loc("g")
// CHECK-NEXT:    [[ALPHA:%\S+]] = tops.constant dense<2.000000e+00> : tensor<2x4xf32> loc("g")
// CHECK-NEXT:    [[SP:%\S+]] = tops.mul [[P]], [[ALPHA]] : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32> loc("g")
// CHECK-NEXT:    [[BETA:%\S+]] = tops.constant dense<5.000000e-01> : tensor<4xf32> loc("g")
// CHECK-NEXT:    [[SC:%\S+]] = tops.mul %c, [[BETA]] : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32> loc("g")
// CHECK-NEXT:    [[BC:%\S+]] = tops.broadcast [[SC]] : (tensor<4xf32>) -> tensor<2x4xf32> loc("g")
// CHECK-NEXT:    [[Y:%\S+]] = tops.add [[SP]], [[BC]] : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32> loc("g")
// CHECK-NEXT:    func.return [[Y]] : tensor<2x4xf32>

// -----
// Both operands of a binary op may need a broadcast.
func.func @broadcast(%a: tensor<2x1xf32>, %b: tensor<3xf32>) -> tensor<2x3xf32> {
  %y = tops.sub %a, %b : (tensor<2x1xf32>, tensor<3xf32>) -> tensor<2x3xf32> loc("sub")
  func.return %y : tensor<2x3xf32>
}
// CHECK-LABEL: func.func @broadcast
// CHECK-NEXT:    [[A:%\S+]] = tops.broadcast %a : (tensor<2x1xf32>) -> tensor<2x3xf32> loc("sub")
// CHECK-NEXT:    [[B:%\S+]] = tops.broadcast %b : (tensor<3xf32>) -> tensor<2x3xf32> loc("sub")
// CHECK-NEXT:    {{%\S+}} = tops.sub [[A]], [[B]] : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("sub")

// -----
// 1-D matmul operands become matrices; the result is reshaped back.
func.func @vector(%v: tensor<3xf32>, %m: tensor<3x4xf32>) -> tensor<4xf32> {
  %y = tops.matmul %v, %m : (tensor<3xf32>, tensor<3x4xf32>) -> tensor<4xf32> loc("vm")
  func.return %y : tensor<4xf32>
}
// CHECK-LABEL: func.func @vector
// CHECK-NEXT:    [[V:%\S+]] = tops.reshape %v : (tensor<3xf32>) -> tensor<1x3xf32> loc("vm")
// CHECK-NEXT:    [[P:%\S+]] = tops.matmul [[V]], %m : (tensor<1x3xf32>, tensor<3x4xf32>) -> tensor<1x4xf32> loc("vm")
// CHECK-NEXT:    {{%\S+}} = tops.reshape [[P]] : (tensor<1x4xf32>) -> tensor<4xf32> loc("vm")

// -----
// A B that is one matrix repeated over the batch becomes that matrix; A is broadcast.
func.func @batched(%a: tensor<2x3xf32>, %w: tensor<3x4xf32>) -> tensor<5x2x4xf32> {
  %b = tops.broadcast %w : (tensor<3x4xf32>) -> tensor<5x3x4xf32> loc("bc")
  %y = tops.matmul %a, %b : (tensor<2x3xf32>, tensor<5x3x4xf32>) -> tensor<5x2x4xf32> loc("mm")
  func.return %y : tensor<5x2x4xf32>
}
// CHECK-LABEL: func.func @batched
// CHECK-NEXT:    [[A:%\S+]] = tops.broadcast %a : (tensor<2x3xf32>) -> tensor<5x2x3xf32> loc("mm")
// CHECK-NEXT:    [[Y:%\S+]] = tops.matmul [[A]], %w : (tensor<5x2x3xf32>, tensor<3x4xf32>) -> tensor<5x2x4xf32> loc("mm")
// CHECK-NEXT:    func.return [[Y]]

// -----
// A B that differs per batch (attention's K^T) stays batched; A is broadcast to its batch dims.
func.func @batched_b(%a: tensor<3x4xf32>, %b: tensor<2x4x5xf32>, %c: tensor<2x3x4xf32>) -> (tensor<2x3x5xf32>, tensor<2x3x5xf32>) {
  %y = tops.matmul %a, %b : (tensor<3x4xf32>, tensor<2x4x5xf32>) -> tensor<2x3x5xf32> loc("/attn/MatMul")
  %z = tops.matmul %c, %b : (tensor<2x3x4xf32>, tensor<2x4x5xf32>) -> tensor<2x3x5xf32> loc("/attn/MatMul_1")
  func.return %y, %z : tensor<2x3x5xf32>, tensor<2x3x5xf32>
}
// CHECK-LABEL: func.func @batched_b
// CHECK-NEXT:    [[A:%\S+]] = tops.broadcast %a : (tensor<3x4xf32>) -> tensor<2x3x4xf32> loc("/attn/MatMul")
// CHECK-NEXT:    [[Y:%\S+]] = tops.matmul [[A]], %b : (tensor<2x3x4xf32>, tensor<2x4x5xf32>) -> tensor<2x3x5xf32> loc("/attn/MatMul")
// CHECK-NEXT:    [[Z:%\S+]] = tops.matmul %c, %b : (tensor<2x3x4xf32>, tensor<2x4x5xf32>) -> tensor<2x3x5xf32> loc("/attn/MatMul_1")
// CHECK-NEXT:    func.return [[Y]], [[Z]]

// -----
// Softmax: a negative last axis is resolved, another axis is moved last and back.
func.func @softmax(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  %a = tops.softmax %x axis = -1 : tensor<2x3x4xf32> loc("s1")
  %b = tops.softmax %a axis = 1 : tensor<2x3x4xf32> loc("s2")
  func.return %b : tensor<2x3x4xf32>
}
// CHECK-LABEL: func.func @softmax
// CHECK-NEXT:    [[S:%\S+]] = tops.softmax %x axis = 2 : tensor<2x3x4xf32> loc("s1")
// CHECK-NEXT:    [[T:%\S+]] = tops.transpose [[S]] perm = [0, 2, 1] : (tensor<2x3x4xf32>) -> tensor<2x4x3xf32> loc("s2")
// CHECK-NEXT:    [[U:%\S+]] = tops.softmax [[T]] axis = 2 : tensor<2x4x3xf32> loc("s2")
// CHECK-NEXT:    {{%\S+}} = tops.transpose [[U]] perm = [0, 2, 1] : (tensor<2x4x3xf32>) -> tensor<2x3x4xf32> loc("s2")

// -----
// Chains on constants fold to one constant; no-op reshapes disappear.
func.func @fold(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %c = tops.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %r = tops.reshape %c : (tensor<2xf32>) -> tensor<2x1xf32>
  %b = tops.broadcast %r : (tensor<2x1xf32>) -> tensor<2x2xf32>
  %t = tops.transpose %b perm = [1, 0] : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %same = tops.reshape %x : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %y = tops.mul %same, %t : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32> loc("mul")
  func.return %y : tensor<2x2xf32>
}
// CHECK-LABEL: func.func @fold
// CHECK-NEXT:    [[C:%\S+]] = tops.constant dense<{{\[\[}}1.000000e+00, 2.000000e+00], [1.000000e+00, 2.000000e+00]]> : tensor<2x2xf32>
// CHECK-NEXT:    [[Y:%\S+]] = tops.mul %x, [[C]] : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32> loc("mul")
// CHECK-NEXT:    func.return [[Y]]
