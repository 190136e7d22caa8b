// normalise of the wider ONNX set: reductions to their two normal forms, mean as
// sum * 1/n, Gelu and LayerNormalization decomposed, where's operands broadcast.
// RUN: lockstep-opt %s --split-input-file -p normalise --print-debuginfo | filecheck %s

func.func @mean_rows(%x: tensor<4x5x7xf32>) -> tensor<5x7xf32> {
  %y = tops.reduce_mean %x axes = [0] : (tensor<4x5x7xf32>) -> tensor<5x7xf32> loc("/mean")
  func.return %y : tensor<5x7xf32>
}
// reduce_mean over a leading axis: a [outer, reduced, rows, width] view (reshapes that
// keep the last axis are free), a sum across rows, then * 1/n.
// CHECK-LABEL: func.func @mean_rows
// CHECK-NEXT:    [[V:%\S+]] = tops.reshape %x : (tensor<4x5x7xf32>) -> tensor<1x4x5x7xf32> loc("/mean")
// CHECK-NEXT:    [[S:%\S+]] = tops.reduce_sum [[V]] axes = [1] : (tensor<1x4x5x7xf32>) -> tensor<1x1x5x7xf32> loc("/mean")
// CHECK-NEXT:    [[R:%\S+]] = tops.reshape [[S]] : (tensor<1x1x5x7xf32>) -> tensor<5x7xf32> loc("/mean")
// CHECK-NEXT:    [[N:%\S+]] = tops.constant dense<2.500000e-01> : tensor<5x7xf32> loc("/mean")
// CHECK-NEXT:    [[Y:%\S+]] = tops.mul [[R]], [[N]] : (tensor<5x7xf32>, tensor<5x7xf32>) -> tensor<5x7xf32> loc("/mean")
// CHECK-NEXT:    func.return [[Y]]

// -----
func.func @max_noncontig(%x: tensor<2x3x4x5xf32>) -> tensor<3xf32> {
  %y = tops.reduce_max %x axes = [0, 2, 3] : (tensor<2x3x4x5xf32>) -> tensor<3xf32> loc("/max")
  func.return %y : tensor<3xf32>
}
// With the last axis reduced: reduced axes move last and merge, one last-axis reduction.
// CHECK-LABEL: func.func @max_noncontig
// CHECK-NEXT:    [[T:%\S+]] = tops.transpose %x perm = [1, 0, 2, 3] : (tensor<2x3x4x5xf32>) -> tensor<3x2x4x5xf32>
// CHECK-NEXT:    [[V:%\S+]] = tops.reshape [[T]] : (tensor<3x2x4x5xf32>) -> tensor<3x40xf32>
// CHECK-NEXT:    [[M:%\S+]] = tops.reduce_max [[V]] axes = [1] : (tensor<3x40xf32>) -> tensor<3x1xf32>
// CHECK-NEXT:    [[Y:%\S+]] = tops.reshape [[M]] : (tensor<3x1xf32>) -> tensor<3xf32>
// CHECK-NEXT:    func.return [[Y]]

// -----
func.func @gelu(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %y = tops.gelu %x approximate = "none" : tensor<2x3xf32> loc("/gelu")
  func.return %y : tensor<2x3xf32>
}
// Gelu (none): h = x / 2; y = h + h * erf(x / sqrt(2)).
// CHECK-LABEL: func.func @gelu
// CHECK-NEXT:    [[C:%\S+]] = tops.constant dense<0.707106769> : tensor<2x3xf32> loc("/gelu")
// CHECK-NEXT:    [[A:%\S+]] = tops.mul %x, [[C]]
// CHECK-NEXT:    [[E:%\S+]] = tops.erf [[A]] : tensor<2x3xf32> loc("/gelu")
// CHECK-NEXT:    [[H:%\S+]] = tops.constant dense<5.000000e-01>
// CHECK-NEXT:    [[X:%\S+]] = tops.mul %x, [[H]]
// CHECK-NEXT:    [[P:%\S+]] = tops.mul [[X]], [[E]]
// CHECK-NEXT:    [[Y:%\S+]] = tops.add [[X]], [[P]]
// CHECK-NEXT:    func.return [[Y]]

// -----
func.func @layer_norm(%x: tensor<2x3xf32>, %s: tensor<3xf32>) -> tensor<2x3xf32> {
  %y = tops.layer_norm %x, %s axis = -1 epsilon = 1.0e-05 : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32> loc("/ln")
  func.return %y : tensor<2x3xf32>
}
// LayerNormalization: mean, centre, variance, 1 / sqrt(var + eps), scale; broadcasts explicit.
// CHECK-LABEL: func.func @layer_norm
// CHECK-NEXT:    [[S:%\S+]] = tops.reduce_sum %x axes = [1] : (tensor<2x3xf32>) -> tensor<2x1xf32> loc("/ln")
// CHECK-NEXT:    tops.constant dense<0.333333343> : tensor<2x1xf32>
// CHECK-NEXT:    [[M:%\S+]] = tops.mul [[S]]
// CHECK-NEXT:    [[MB:%\S+]] = tops.broadcast [[M]] : (tensor<2x1xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    [[C:%\S+]] = tops.sub %x, [[MB]]
// CHECK-NEXT:    [[C2:%\S+]] = tops.mul [[C]], [[C]]
// CHECK-NEXT:    tops.reduce_sum [[C2]] axes = [1]
// CHECK-NEXT:    tops.constant dense<0.333333343>
// CHECK-NEXT:    [[V:%\S+]] = tops.mul
// CHECK-NEXT:    [[EPS:%\S+]] = tops.constant dense<1.000000e-05> : tensor<2x1xf32>
// CHECK-NEXT:    [[VE:%\S+]] = tops.add [[V]], [[EPS]]
// CHECK-NEXT:    [[SD:%\S+]] = tops.sqrt [[VE]] : tensor<2x1xf32>
// CHECK-NEXT:    [[INV:%\S+]] = tops.reciprocal [[SD]] : tensor<2x1xf32>
// CHECK-NEXT:    [[IB:%\S+]] = tops.broadcast [[INV]] : (tensor<2x1xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    [[N:%\S+]] = tops.mul [[C]], [[IB]]
// CHECK-NEXT:    [[SB:%\S+]] = tops.broadcast %s : (tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    [[Y:%\S+]] = tops.mul [[N]], [[SB]]
// CHECK-NEXT:    func.return [[Y]]

// -----
func.func @where(%c: tensor<2x3xf32>, %x: tensor<3xf32>) -> tensor<2x3xf32> {
  %ninf = tops.constant dense<-1.000000e+30> : tensor<f32>
  %y = tops.where %c, %x, %ninf : (tensor<2x3xf32>, tensor<3xf32>, tensor<f32>) -> tensor<2x3xf32> loc("/where")
  func.return %y : tensor<2x3xf32>
}
// where: every operand broadcast to the result (the constant one folded).
// CHECK-LABEL: func.func @where
// CHECK-NEXT:    [[X:%\S+]] = tops.broadcast %x : (tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    [[F:%\S+]] = tops.constant dense<-1.000000e+30> : tensor<2x3xf32>
// CHECK-NEXT:    [[Y:%\S+]] = tops.where %c, [[X]], [[F]] : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("/where")
// CHECK-NEXT:    func.return [[Y]]
