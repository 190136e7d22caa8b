// tops.constant holds f32 data of its result type.
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
