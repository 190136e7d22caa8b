// RUN: lockstep-opt %s --split-input-file -p 'partition{chips=2 strategy=tensor}' | filecheck %s

// Two 3x3 convs (pad 1) with 2 output channels: a channel split would not cut a
// chip's vectors (a pixel is one vector either way), so both split by output rows.
// The first conv's windows are whole on every chip and each takes its rows (a local
// part.split); the second conv's input is split by rows, so every chip sends its
// boundary row to each neighbour (cyclic transfers; the wrapped-around row is zeroed,
// it is padding), stacks [above, own rows, below] and runs im2col without top and
// bottom padding. The result is returned as the chips' row tiles, which the host
// reads (passes/host_io.py): no all-gather.
// CHECK: func.func @main({{.*}}) -> (tensor<1x2x3x2xf32> {tops.name = "y", part.slices = {whole = tensor<1x4x3x2xf32>, axis = 1 : i64, chips = array<i64: 0, 1>, starts = array<i64: 0, 2>}})
// CHECK: %[[A:.*]] = part.split %c1 axis 1 over [0, 1] {{.*}} : tensor<1x4x3x18xf32> -> tensor<1x2x3x18xf32>
// CHECK: %h = tops.matmul %[[A]], %w1 {part.split_kind = "spatial rows", {{.*}} -> tensor<1x2x3x2xf32>
// CHECK: %[[LAST:.*]] = tops.slice %r starts = [0, 1, 0, 0] {{.*}} -> tensor<1x1x3x2xf32>
// CHECK: %[[UP:.*]] = part.transfer from [0, 1] to [1, 0](%[[LAST]])
// CHECK: %[[M1:.*]] = tops.constant dense<{{\[\[\[\[}}0.000000e+00, 0.000000e+00]{{.*}}1.000000e+00
// CHECK: %[[Z1:.*]] = tops.constant dense<0.000000e+00> : tensor<1x1x3x2xf32>
// CHECK: %[[K1:.*]] = part.split %[[M1]] axis 1
// CHECK: %[[ABOVE:.*]] = tops.where %[[K1]], %[[UP]], %[[Z1]]
// CHECK: %[[FIRST:.*]] = tops.slice %r starts = [0, 0, 0, 0] {{.*}} -> tensor<1x1x3x2xf32>
// CHECK: %[[DOWN:.*]] = part.transfer from [0, 1] to [1, 0](%[[FIRST]])
// CHECK: %[[BELOW:.*]] = tops.where %{{.*}}, %[[DOWN]], %{{.*}}
// CHECK: %[[TILE:.*]] = tops.concat %[[ABOVE]], %r, %[[BELOW]] axis = 1 {{.*}} -> tensor<1x4x3x2xf32>
// CHECK: %c2 = tops.im2col %[[TILE]] kernel = [3, 3] strides = [1, 1] pads = [0, 1, 0, 1] {{.*}} -> tensor<1x2x3x18xf32>
// CHECK: tops.matmul %c2, %w2 {part.split_kind = "spatial rows, halo 1+1", {{.*}} -> tensor<1x2x3x2xf32>
// CHECK-NOT: part.all_gather
// CHECK: func.return %y : tensor<1x2x3x2xf32>

builtin.module {
  func.func @main(%x: tensor<1x4x3x2xf32> {tops.name = "x"}) -> (tensor<1x4x3x2xf32> {tops.name = "y"}) {
    %c1 = tops.im2col %x kernel = [3, 3] strides = [1, 1] pads = [1, 1, 1, 1] dilations = [1, 1] : (tensor<1x4x3x2xf32>) -> tensor<1x4x3x18xf32>
    %w1 = tops.constant dense<0.5> : tensor<18x2xf32>
    %h = tops.matmul %c1, %w1 : (tensor<1x4x3x18xf32>, tensor<18x2xf32>) -> tensor<1x4x3x2xf32>
    %r = tops.relu %h : tensor<1x4x3x2xf32>
    %c2 = tops.im2col %r kernel = [3, 3] strides = [1, 1] pads = [1, 1, 1, 1] dilations = [1, 1] : (tensor<1x4x3x2xf32>) -> tensor<1x4x3x18xf32>
    %w2 = tops.constant dense<0.25> : tensor<18x2xf32>
    %y = tops.matmul %c2, %w2 : (tensor<1x4x3x18xf32>, tensor<18x2xf32>) -> tensor<1x4x3x2xf32>
    func.return %y : tensor<1x4x3x2xf32>
  }
}

// -----

// 640 output channels span two vectors: splitting them over 2 chips halves every
// chip's vectors, as many as row tiles would, so the conv splits by channel.
// CHECK: part.split %w axis 1 over [0, 1] {{.*}} : tensor<18x640xf32> -> tensor<18x320xf32>
// CHECK: tops.matmul %c, %{{.*}} {part.split_kind = "output channels", {{.*}} -> tensor<1x4x3x320xf32>

builtin.module {
  func.func @main(%x: tensor<1x4x3x2xf32> {tops.name = "x"}) -> (tensor<1x4x3x640xf32> {tops.name = "y"}) {
    %c = tops.im2col %x kernel = [3, 3] strides = [1, 1] pads = [1, 1, 1, 1] dilations = [1, 1] : (tensor<1x4x3x2xf32>) -> tensor<1x4x3x18xf32>
    %w = tops.constant dense<0.5> : tensor<18x640xf32>
    %y = tops.matmul %c, %w : (tensor<1x4x3x18xf32>, tensor<18x640xf32>) -> tensor<1x4x3x640xf32>
    func.return %y : tensor<1x4x3x640xf32>
  }
}

// -----

// 3 output rows do not split over 2 chips, and splitting 2 channels would not cut
// any chip's vectors: the conv stays whole on every chip.
// CHECK: tops.matmul %c, %w {part.split_kind = "replicated", {{.*}} -> tensor<1x3x3x2xf32>

builtin.module {
  func.func @main(%x: tensor<1x3x3x2xf32> {tops.name = "x"}) -> (tensor<1x3x3x2xf32> {tops.name = "y"}) {
    %c = tops.im2col %x kernel = [3, 3] strides = [1, 1] pads = [1, 1, 1, 1] dilations = [1, 1] : (tensor<1x3x3x2xf32>) -> tensor<1x3x3x18xf32>
    %w = tops.constant dense<0.5> : tensor<18x2xf32>
    %y = tops.matmul %c, %w : (tensor<1x3x3x18xf32>, tensor<18x2xf32>) -> tensor<1x3x3x2xf32>
    func.return %y : tensor<1x3x3x2xf32>
  }
}
