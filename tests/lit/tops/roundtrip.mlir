// Every tops op prints in its custom format and parses back to the same IR,
// also through the generic format, with locations kept.
// RUN: lockstep-opt %s | lockstep-opt | filecheck %s
// RUN: lockstep-opt %s --print-op-generic | lockstep-opt | filecheck %s
// RUN: lockstep-opt %s --print-debuginfo | lockstep-opt --print-debuginfo | filecheck %s --check-prefix=LOC

func.func @main(%x: tensor<2x3xf32> {tops.name = "X"}, %v: tensor<3xf32> {tops.name = "V"}) -> (tensor<2x3xf32> {tops.name = "Y"}) {
  %c = tops.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32> loc("bias")
  %s = tops.constant dense<0.5> : tensor<2x3xf32>
  %add = tops.add %x, %c : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32> loc("/add/Add")
  %sub = tops.sub %add, %s : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %mul = tops.mul %sub, %v : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %div = tops.div %mul, %s : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %relu = tops.relu %div : tensor<2x3xf32>
  %sig = tops.sigmoid %relu : tensor<2x3xf32>
  %tanh = tops.tanh %sig : tensor<2x3xf32>
  %exp = tops.exp %tanh : tensor<2x3xf32>
  %soft = tops.softmax %exp axis = -1 : tensor<2x3xf32>
  %t = tops.transpose %soft perm = [1, 0] : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %mm = tops.matmul %x, %t : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
  %mv = tops.matmul %x, %v : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2xf32>
  %g = tops.gemm %x, %t, %mv {alpha = 2.0 : f32, beta = 0.5 : f32, trans_a = false, trans_b = false} : (tensor<2x3xf32>, tensor<3x2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
  %g2 = tops.gemm %t, %x {trans_a = true, trans_b = true} : (tensor<3x2xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
  %r = tops.reshape %g : (tensor<2x2xf32>) -> tensor<4xf32>
  %b = tops.broadcast %v : (tensor<3xf32>) -> tensor<4x2x3xf32>
  func.return %soft : tensor<2x3xf32>
}

// CHECK:      func.func @main(%x: tensor<2x3xf32> {tops.name = "X"}, %v: tensor<3xf32> {tops.name = "V"}) -> (tensor<2x3xf32> {tops.name = "Y"}) {
// CHECK-NEXT:   %c = tops.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00]> : tensor<3xf32>
// CHECK-NEXT:   %s = tops.constant dense<5.000000e-01> : tensor<2x3xf32>
// CHECK-NEXT:   %add = tops.add %x, %c : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:   %sub = tops.sub %add, %s : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:   %mul = tops.mul %sub, %v : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:   %div = tops.div %mul, %s : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:   %relu = tops.relu %div : tensor<2x3xf32>
// CHECK-NEXT:   %sig = tops.sigmoid %relu : tensor<2x3xf32>
// CHECK-NEXT:   %tanh = tops.tanh %sig : tensor<2x3xf32>
// CHECK-NEXT:   %exp = tops.exp %tanh : tensor<2x3xf32>
// CHECK-NEXT:   %soft = tops.softmax %exp axis = -1 : tensor<2x3xf32>
// CHECK-NEXT:   %t = tops.transpose %soft perm = [1, 0] : (tensor<2x3xf32>) -> tensor<3x2xf32>
// CHECK-NEXT:   %mm = tops.matmul %x, %t : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
// CHECK-NEXT:   %mv = tops.matmul %x, %v : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2xf32>
// CHECK-NEXT:   %g = tops.gemm %x, %t, %mv {alpha = 2.000000e+00 : f32, beta = 5.000000e-01 : f32} : (tensor<2x3xf32>, tensor<3x2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
// CHECK-NEXT:   %g2 = tops.gemm %t, %x {trans_a = true, trans_b = true} : (tensor<3x2xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
// CHECK-NEXT:   %r = tops.reshape %g : (tensor<2x2xf32>) -> tensor<4xf32>
// CHECK-NEXT:   %b = tops.broadcast %v : (tensor<3xf32>) -> tensor<4x2x3xf32>
// CHECK-NEXT:   func.return %soft : tensor<2x3xf32>

// LOC: tops.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00]> : tensor<3xf32> loc("bias")
// LOC: tops.add %x, %c : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32> loc("/add/Add")
