// tops.constant holds f32 data of its result type (and equal rows when marked a row broadcast).
// RUN: lockstep-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @int() {
  %0 = tops.constant dense<1> : tensor<2x3xi32>
  func.return
}
// CHECK: constant must be f32, got i32

// -----
func.func @type() {
  %0 = "tops.constant"() <{value = dense<1.0> : tensor<2x3xf32>}> : () -> tensor<3x3xf32>
  func.return
}
// CHECK: attribute tensor<3x3xf32> expected from variable 'T', but got tensor<2x3xf32>

// -----
func.func @absent_type() {
  %0 = "tops.constant"() <{value = #tops.absent<tensor<2x3xf32>>}> : () -> tensor<3x3xf32>
  func.return
}
// CHECK: attribute tensor<3x3xf32> expected from variable 'T', but got tensor<2x3xf32>

// -----
func.func @absent_int() {
  %0 = tops.constant #tops.absent<tensor<2xi32>>
  func.return
}
// CHECK: constant must be f32, got i32

// -----
// A row broadcast claims every row is equal: checked wherever the values are known.
func.func @row_broadcast_rows_differ() {
  %0 = tops.constant dense<[[1.0, 2.0], [1.0, 3.0]]> : tensor<2x2xf32> {tops.row_broadcast}
  func.return
}
// CHECK: tops.row_broadcast constant 2x2 has rows that differ

// -----
func.func @row_broadcast_rows_equal() {
  %0 = tops.constant dense<[[1.0, 2.0], [1.0, 2.0]]> : tensor<2x2xf32> {tops.row_broadcast}
  %1 = tops.constant #tops.absent<tensor<4x2xf32>> {tops.row_broadcast}
  func.return
}
// CHECK: tops.constant #tops.absent<tensor<4x2xf32>> {tops.row_broadcast}
