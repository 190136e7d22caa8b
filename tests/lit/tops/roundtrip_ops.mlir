// The tops ops of the wider ONNX set print in their custom format and parse back
// to the same IR, also through the generic format. Booleans are f32 0.0 / 1.0.
// RUN: lockstep-opt %s | lockstep-opt | filecheck %s
// RUN: lockstep-opt %s --print-op-generic | lockstep-opt | filecheck %s

func.func @main(%x: tensor<2x3xf32>, %v: tensor<3xf32>, %s: tensor<3xf32>) -> tensor<2x3xf32> {
  %neg = tops.neg %x : tensor<2x3xf32>
  %abs = tops.abs %neg : tensor<2x3xf32>
  %log = tops.log %abs : tensor<2x3xf32>
  %sqrt = tops.sqrt %abs : tensor<2x3xf32>
  %rcp = tops.reciprocal %sqrt : tensor<2x3xf32>
  %erf = tops.erf %x : tensor<2x3xf32>
  %cos = tops.cos %x : tensor<2x3xf32>
  %sin = tops.sin %x : tensor<2x3xf32>
  %nan = tops.isnan %log : tensor<2x3xf32>
  %not = tops.not %nan : tensor<2x3xf32>
  %bool = tops.to_bool %x : tensor<2x3xf32>
  %pow = tops.pow %x, %v : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %max = tops.max %x, %v : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %min = tops.min %x, %v : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %eq = tops.equal %x, %v : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %lt = tops.less %x, %v : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %gt = tops.greater %x, %v : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %le = tops.less_equal %x, %v : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %ge = tops.greater_equal %x, %v : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %and = tops.and %lt, %not : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %or = tops.or %and, %gt : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %xor = tops.xor %or, %eq : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %where = tops.where %xor, %x, %v : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %gelu = tops.gelu %where approximate = "tanh" : tensor<2x3xf32>
  %sum = tops.reduce_sum %gelu axes = [1] : (tensor<2x3xf32>) -> tensor<2x1xf32>
  %mean = tops.reduce_mean %gelu axes = [0, 1] : (tensor<2x3xf32>) -> tensor<f32>
  %rmax = tops.reduce_max %gelu axes = [0] : (tensor<2x3xf32>) -> tensor<3xf32>
  %rmin = tops.reduce_min %gelu axes = [0] : (tensor<2x3xf32>) -> tensor<1x3xf32>
  %ln = tops.layer_norm %x, %s, %v axis = -1 epsilon = 1.0e-05 : (tensor<2x3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %rms = tops.rms_norm %ln, %s axis = 1 epsilon = 1.0e-06 : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  func.return %rms : tensor<2x3xf32>
}

// CHECK:      tops.neg %x : tensor<2x3xf32>
// CHECK-NEXT: tops.abs
// CHECK-NEXT: tops.log
// CHECK-NEXT: tops.sqrt
// CHECK-NEXT: tops.reciprocal
// CHECK-NEXT: tops.erf %x
// CHECK-NEXT: tops.cos %x
// CHECK-NEXT: tops.sin %x
// CHECK-NEXT: tops.isnan
// CHECK-NEXT: tops.not
// CHECK-NEXT: tops.to_bool %x : tensor<2x3xf32>
// CHECK-NEXT: tops.pow %x, %v : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: tops.max %x, %v
// CHECK-NEXT: tops.min %x, %v
// CHECK-NEXT: tops.equal %x, %v
// CHECK-NEXT: tops.less %x, %v
// CHECK-NEXT: tops.greater %x, %v
// CHECK-NEXT: tops.less_equal %x, %v
// CHECK-NEXT: tops.greater_equal %x, %v
// CHECK-NEXT: tops.and
// CHECK-NEXT: tops.or
// CHECK-NEXT: tops.xor
// CHECK-NEXT: [[W:%\S+]] = tops.where {{%\S+}}, %x, %v : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: [[G:%\S+]] = tops.gelu [[W]] approximate = "tanh" : tensor<2x3xf32>
// CHECK-NEXT: tops.reduce_sum [[G]] axes = [1] : (tensor<2x3xf32>) -> tensor<2x1xf32>
// CHECK-NEXT: tops.reduce_mean [[G]] axes = [0, 1] : (tensor<2x3xf32>) -> tensor<f32>
// CHECK-NEXT: tops.reduce_max [[G]] axes = [0] : (tensor<2x3xf32>) -> tensor<3xf32>
// CHECK-NEXT: tops.reduce_min [[G]] axes = [0] : (tensor<2x3xf32>) -> tensor<1x3xf32>
// CHECK-NEXT: [[L:%\S+]] = tops.layer_norm %x, %s, %v axis = -1 epsilon = 1.000000e-05 : (tensor<2x3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: tops.rms_norm [[L]], %s axis = 1 epsilon = 1.000000e-06 : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
