// normalise of a decode step's KV cache (passes/normalise_kv_cache.py): an argument only
// appended to along its second-to-last axis is held transposed, [.., d, L], and so is the
// appended cache returned; `tops.host_perm` on both tells the host. K^T is then the cache
// itself; V's reader gets it transposed back.
// RUN: lockstep-opt %s --split-input-file -p normalise | filecheck %s

// Two heads, 3 cached positions of 2 elements, one new row.
func.func @decode(%q: tensor<1x2x1x2xf32>, %k: tensor<1x2x3x2xf32>, %v: tensor<1x2x3x2xf32>,
                  %kn: tensor<1x2x1x2xf32>, %vn: tensor<1x2x1x2xf32>)
    -> (tensor<1x2x1x2xf32>, tensor<1x2x4x2xf32>, tensor<1x2x4x2xf32>) {
  %kc = tops.concat %k, %kn axis = 2 : (tensor<1x2x3x2xf32>, tensor<1x2x1x2xf32>) -> tensor<1x2x4x2xf32>
  %vc = tops.concat %v, %vn axis = 2 : (tensor<1x2x3x2xf32>, tensor<1x2x1x2xf32>) -> tensor<1x2x4x2xf32>
  %kt = tops.transpose %kc perm = [0, 1, 3, 2] : (tensor<1x2x4x2xf32>) -> tensor<1x2x2x4xf32>
  %s = tops.matmul %q, %kt : (tensor<1x2x1x2xf32>, tensor<1x2x2x4xf32>) -> tensor<1x2x1x4xf32>
  %o = tops.matmul %s, %vc : (tensor<1x2x1x4xf32>, tensor<1x2x4x2xf32>) -> tensor<1x2x1x2xf32>
  func.return %o, %kc, %vc : tensor<1x2x1x2xf32>, tensor<1x2x4x2xf32>, tensor<1x2x4x2xf32>
}
// CHECK-LABEL: func.func @decode(%q: tensor<1x2x1x2xf32>,
// CHECK-SAME:    %k: tensor<1x2x2x3xf32> {tops.host_perm = array<i64: 0, 1, 3, 2>},
// CHECK-SAME:    %v: tensor<1x2x2x3xf32> {tops.host_perm = array<i64: 0, 1, 3, 2>},
// CHECK-SAME:    -> (tensor<1x2x1x2xf32>, tensor<1x2x2x4xf32> {tops.host_perm = array<i64: 0, 1, 3, 2>}, tensor<1x2x2x4xf32> {tops.host_perm = array<i64: 0, 1, 3, 2>})
// CHECK-NEXT:    [[KN:%\S+]] = tops.transpose %kn perm = [0, 1, 3, 2] : (tensor<1x2x1x2xf32>) -> tensor<1x2x2x1xf32>
// CHECK-NEXT:    [[KT:%\S+]] = tops.concat %k, [[KN]] axis = 3 : (tensor<1x2x2x3xf32>, tensor<1x2x2x1xf32>) -> tensor<1x2x2x4xf32>
// CHECK-NEXT:    [[VN:%\S+]] = tops.transpose %vn perm = [0, 1, 3, 2] : (tensor<1x2x1x2xf32>) -> tensor<1x2x2x1xf32>
// CHECK-NEXT:    [[VT:%\S+]] = tops.concat %v, [[VN]] axis = 3 : (tensor<1x2x2x3xf32>, tensor<1x2x2x1xf32>) -> tensor<1x2x2x4xf32>
// CHECK-NEXT:    [[V:%\S+]] = tops.transpose [[VT]] perm = [0, 1, 3, 2] : (tensor<1x2x2x4xf32>) -> tensor<1x2x4x2xf32>
// CHECK-NEXT:    [[S:%\S+]] = tops.matmul %q, [[KT]] : (tensor<1x2x1x2xf32>, tensor<1x2x2x4xf32>) -> tensor<1x2x1x4xf32>
// CHECK-NEXT:    [[O:%\S+]] = tops.matmul [[S]], [[V]] : (tensor<1x2x1x4xf32>, tensor<1x2x4x2xf32>) -> tensor<1x2x1x2xf32>
// CHECK-NEXT:    func.return [[O]], [[KT]], [[VT]]

// -----
// Left alone: a cache read elsewhere too, a concat along another axis, a computed operand,
// rows longer than their count (transposed, 9 rows of 2 would take more vectors than 2 of 9).
func.func @kept(%a: tensor<3x2xf32>, %b: tensor<3x2xf32>, %c: tensor<3x2xf32>, %r: tensor<1x2xf32>,
                %w: tensor<2x9xf32>, %wr: tensor<1x9xf32>)
    -> (tensor<4x2xf32>, tensor<3x2xf32>, tensor<3x4xf32>, tensor<4x2xf32>, tensor<3x9xf32>) {
  %ac = tops.concat %a, %r axis = 0 : (tensor<3x2xf32>, tensor<1x2xf32>) -> tensor<4x2xf32>
  %bc = tops.concat %b, %b axis = 1 : (tensor<3x2xf32>, tensor<3x2xf32>) -> tensor<3x4xf32>
  %cx = tops.add %c, %c : (tensor<3x2xf32>, tensor<3x2xf32>) -> tensor<3x2xf32>
  %cc = tops.concat %cx, %r axis = 0 : (tensor<3x2xf32>, tensor<1x2xf32>) -> tensor<4x2xf32>
  %wc = tops.concat %w, %wr axis = 0 : (tensor<2x9xf32>, tensor<1x9xf32>) -> tensor<3x9xf32>
  func.return %ac, %a, %bc, %cc, %wc : tensor<4x2xf32>, tensor<3x2xf32>, tensor<3x4xf32>, tensor<4x2xf32>, tensor<3x9xf32>
}
// CHECK-LABEL: func.func @kept(%a: tensor<3x2xf32>, %b: tensor<3x2xf32>, %c: tensor<3x2xf32>, %r: tensor<1x2xf32>, %w: tensor<2x9xf32>, %wr: tensor<1x9xf32>)
// CHECK-NOT:   host_perm
// CHECK:       tops.concat %a, %r axis = 0
// CHECK:       tops.concat %b, %b axis = 1
// CHECK:       tops.concat {{%\S+}}, %r axis = 0
// CHECK:       tops.concat %w, %wr axis = 0
// CHECK-NOT:   host_perm
