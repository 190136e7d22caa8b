// normalise of grouped-query attention (passes/normalise_attention.py): a matmul whose B is
// KV heads repeated for the query heads (reshape, broadcast along a new axis, reshape merging
// it into the heads axis) becomes a matmul batched on the KV heads, A viewed as
// [.., KV, G * M, K], the result viewed back; K's transpose moves onto the un-repeated K.
// RUN: lockstep-opt %s --split-input-file -p normalise | filecheck %s

// Decode scores: 4 query heads, 2 KV heads (G = 2), 1 query row, 3 keys.
func.func @scores(%q: tensor<1x4x1x2xf32>, %k: tensor<1x2x3x2xf32>) -> tensor<1x4x1x3xf32> {
  %k5 = tops.reshape %k : (tensor<1x2x3x2xf32>) -> tensor<1x2x1x3x2xf32>
  %kb = tops.broadcast %k5 : (tensor<1x2x1x3x2xf32>) -> tensor<1x2x2x3x2xf32>
  %kr = tops.reshape %kb : (tensor<1x2x2x3x2xf32>) -> tensor<1x4x3x2xf32>
  %kt = tops.transpose %kr perm = [0, 1, 3, 2] : (tensor<1x4x3x2xf32>) -> tensor<1x4x2x3xf32>
  %s = tops.matmul %q, %kt : (tensor<1x4x1x2xf32>, tensor<1x4x2x3xf32>) -> tensor<1x4x1x3xf32>
  func.return %s : tensor<1x4x1x3xf32>
}
// CHECK-LABEL: func.func @scores
// CHECK-NEXT:    [[KT:%\S+]] = tops.transpose %k perm = [0, 1, 3, 2] : (tensor<1x2x3x2xf32>) -> tensor<1x2x2x3xf32>
// CHECK-NEXT:    [[QG:%\S+]] = tops.reshape %q : (tensor<1x4x1x2xf32>) -> tensor<1x2x2x2xf32>
// CHECK-NEXT:    [[P:%\S+]] = tops.matmul [[QG]], [[KT]] : (tensor<1x2x2x2xf32>, tensor<1x2x2x3xf32>) -> tensor<1x2x2x3xf32>
// CHECK-NEXT:    [[S:%\S+]] = tops.reshape [[P]] : (tensor<1x2x2x3xf32>) -> tensor<1x4x1x3xf32>
// CHECK-NEXT:    func.return [[S]]
// CHECK-NOT:     tops.broadcast

// -----
// Prefill context: probabilities [1, 4, 2, 3] times V repeated from 2 KV heads; the
// repeat also feeds the function's result, so it stays for that user.
func.func @context(%p: tensor<1x4x2x3xf32>, %v: tensor<1x2x3x2xf32>) -> (tensor<1x4x2x2xf32>, tensor<1x4x3x2xf32>) {
  %v5 = tops.reshape %v : (tensor<1x2x3x2xf32>) -> tensor<1x2x1x3x2xf32>
  %vb = tops.broadcast %v5 : (tensor<1x2x1x3x2xf32>) -> tensor<1x2x2x3x2xf32>
  %vr = tops.reshape %vb : (tensor<1x2x2x3x2xf32>) -> tensor<1x4x3x2xf32>
  %c = tops.matmul %p, %vr : (tensor<1x4x2x3xf32>, tensor<1x4x3x2xf32>) -> tensor<1x4x2x2xf32>
  func.return %c, %vr : tensor<1x4x2x2xf32>, tensor<1x4x3x2xf32>
}
// CHECK-LABEL: func.func @context
// CHECK:         [[VR:%\S+]] = tops.reshape {{%\S+}} : (tensor<1x2x2x3x2xf32>) -> tensor<1x4x3x2xf32>
// CHECK-NEXT:    [[PG:%\S+]] = tops.reshape %p : (tensor<1x4x2x3xf32>) -> tensor<1x2x4x3xf32>
// CHECK-NEXT:    [[C:%\S+]] = tops.matmul [[PG]], %v : (tensor<1x2x4x3xf32>, tensor<1x2x3x2xf32>) -> tensor<1x2x4x2xf32>
// CHECK-NEXT:    [[Y:%\S+]] = tops.reshape [[C]] : (tensor<1x2x4x2xf32>) -> tensor<1x4x2x2xf32>
// CHECK-NEXT:    func.return [[Y]], [[VR]]

// -----
// Not a head repeat: the new axis comes before the KV heads, so head h reads KV head
// h % 2 (a tile), and the query heads of one KV head are not adjacent. Left alone.
func.func @tiled(%q: tensor<1x4x1x2xf32>, %k: tensor<1x2x2x3xf32>) -> tensor<1x4x1x3xf32> {
  %k5 = tops.reshape %k : (tensor<1x2x2x3xf32>) -> tensor<1x1x2x2x3xf32>
  %kb = tops.broadcast %k5 : (tensor<1x1x2x2x3xf32>) -> tensor<1x2x2x2x3xf32>
  %kr = tops.reshape %kb : (tensor<1x2x2x2x3xf32>) -> tensor<1x4x2x3xf32>
  %s = tops.matmul %q, %kr : (tensor<1x4x1x2xf32>, tensor<1x4x2x3xf32>) -> tensor<1x4x1x3xf32>
  func.return %s : tensor<1x4x1x3xf32>
}
// CHECK-LABEL: func.func @tiled
// CHECK:         tops.broadcast {{%\S+}} : (tensor<1x1x2x2x3xf32>) -> tensor<1x2x2x2x3xf32>
// CHECK:         tops.matmul %q, {{%\S+}} : (tensor<1x4x1x2xf32>, tensor<1x4x2x3xf32>) -> tensor<1x4x1x3xf32>

// -----
// torch's attention export scales the repeated K^T by one number (sqrt of the softmax scale):
// the product moves onto the un-repeated K^T, so the matmul is still found grouped.
func.func @scaled(%q: tensor<1x4x1x2xf32>, %k: tensor<1x2x3x2xf32>) -> tensor<1x4x1x3xf32> {
  %k5 = tops.reshape %k : (tensor<1x2x3x2xf32>) -> tensor<1x2x1x3x2xf32>
  %kb = tops.broadcast %k5 : (tensor<1x2x1x3x2xf32>) -> tensor<1x2x2x3x2xf32>
  %kr = tops.reshape %kb : (tensor<1x2x2x3x2xf32>) -> tensor<1x4x3x2xf32>
  %kt = tops.transpose %kr perm = [0, 1, 3, 2] : (tensor<1x4x3x2xf32>) -> tensor<1x4x2x3xf32>
  %c = tops.constant dense<5.000000e-01> : tensor<1x4x2x3xf32>
  %ks = tops.mul %kt, %c : (tensor<1x4x2x3xf32>, tensor<1x4x2x3xf32>) -> tensor<1x4x2x3xf32>
  %s = tops.matmul %q, %ks : (tensor<1x4x1x2xf32>, tensor<1x4x2x3xf32>) -> tensor<1x4x1x3xf32>
  func.return %s : tensor<1x4x1x3xf32>
}
// CHECK-LABEL: func.func @scaled
// CHECK-DAG:     [[KT:%\S+]] = tops.transpose %k perm = [0, 1, 3, 2] : (tensor<1x2x3x2xf32>) -> tensor<1x2x2x3xf32>
// CHECK-DAG:     [[C:%\S+]] = tops.constant dense<5.000000e-01> : tensor<1x2x2x3xf32> {tops.row_broadcast}
// CHECK:         [[KS:%\S+]] = tops.mul [[KT]], [[C]] : (tensor<1x2x2x3xf32>, tensor<1x2x2x3xf32>) -> tensor<1x2x2x3xf32>
// CHECK:         [[P:%\S+]] = tops.matmul {{%\S+}}, [[KS]] : (tensor<1x2x2x2xf32>, tensor<1x2x2x3xf32>) -> tensor<1x2x2x3xf32>
// CHECK-NOT:     tops.broadcast

// -----
// A product by a tensor of several values is not moved: that would change the result.
func.func @weighted(%q: tensor<1x4x1x2xf32>, %k: tensor<1x2x3x2xf32>) -> tensor<1x4x1x3xf32> {
  %k5 = tops.reshape %k : (tensor<1x2x3x2xf32>) -> tensor<1x2x1x3x2xf32>
  %kb = tops.broadcast %k5 : (tensor<1x2x1x3x2xf32>) -> tensor<1x2x2x3x2xf32>
  %kr = tops.reshape %kb : (tensor<1x2x2x3x2xf32>) -> tensor<1x4x3x2xf32>
  %kt = tops.transpose %kr perm = [0, 1, 3, 2] : (tensor<1x4x3x2xf32>) -> tensor<1x4x2x3xf32>
  %c = tops.constant dense<[[[[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]]]> : tensor<1x4x2x3xf32>
  %ks = tops.mul %kt, %c : (tensor<1x4x2x3xf32>, tensor<1x4x2x3xf32>) -> tensor<1x4x2x3xf32>
  %s = tops.matmul %q, %ks : (tensor<1x4x1x2xf32>, tensor<1x4x2x3xf32>) -> tensor<1x4x1x3xf32>
  func.return %s : tensor<1x4x1x3xf32>
}
// CHECK-LABEL: func.func @weighted
// CHECK:         tops.broadcast
