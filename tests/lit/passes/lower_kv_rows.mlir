// Lowering a K projection split by rows inside each KV head's chips (passes/partition_tensor.py
// `kv_rows`): 2 KV heads on 4 chips, chips 0-1 share head 0 and chips 2-3 head 1.
// RUN: lockstep-opt %s -p 'partition{chips=4 strategy=tensor},place,lower-to-chip' | filecheck %s
// RUN: lockstep-opt %s -p 'partition{chips=4 strategy=tensor},place,lower-to-chip,lower-collectives' | filecheck %s --check-prefix=NET

// The split of x dealt to chips 0, 2, 1, 3: chips 0 and 2 copy x's first block of 2 vectors,
// chips 1 and 3 its second (x's 1280 elements are 4 vectors at the same address on every chip).
// CHECK: chip.mem_copy core 0 unit "mem" repeat 2 stride 1 dst[[[XS:[0-9]+]], 1] src[[[X:[0-9]+]], 1]
// CHECK-NEXT: chip.mem_copy core 2 unit "mem" repeat 2 stride 1 dst[[[XS]], 1] src[[[X]], 1]
// CHECK-NEXT: chip.mem_copy core 1 unit "mem" repeat 2 stride 1 dst[[[XS]], 1] src[2, 1]
// CHECK-NEXT: chip.mem_copy core 3 unit "mem" repeat 2 stride 1 dst[[[XS]], 1] src[2, 1]
// Each chip's [640, 128] weight block is 2 tiles; the partial K row is summed in pairs.
// CHECK: chip.mxm_matmul core 0 unit "mxm" repeat 1 stride 1 weights({{.*}}) dst[[[P:[0-9]+]], 1] src[[[XS]], 2]
// CHECK: part.all_reduce over [0, 1, 2, 3] in subgroups of 2 local tensor<1x128xf32>

// The pairs exchange their partial sums and nothing crosses between them.
// NET: net.transfer from 0 at {{[0-9]+}} to 1
// NET-NEXT: net.transfer from 1 at {{[0-9]+}} to 0
// NET-NOT: net.transfer from {{[01]}} at {{[0-9]+}} to {{[23]}}
// NET: net.transfer from 2 at {{[0-9]+}} to 3
// NET-NEXT: net.transfer from 3 at {{[0-9]+}} to 2
// NET-NOT: net.transfer

builtin.module {
  func.func @main(%x: tensor<1x1280xf32> {tops.name = "x"}) -> (tensor<4x1x1xf32> {tops.name = "y"}) {
    %wq = tops.constant dense<0.125> : tensor<1280x512xf32>
    %q = tops.matmul %x, %wq : (tensor<1x1280xf32>, tensor<1280x512xf32>) -> tensor<1x512xf32>
    %qh = tops.reshape %q : (tensor<1x512xf32>) -> tensor<1x4x128xf32>
    %qt = tops.transpose %qh perm = [1, 0, 2] : (tensor<1x4x128xf32>) -> tensor<4x1x128xf32>
    %qg = tops.reshape %qt : (tensor<4x1x128xf32>) -> tensor<2x2x128xf32>
    %wk = tops.constant dense<0.25> : tensor<1280x256xf32>
    %k = tops.matmul %x, %wk : (tensor<1x1280xf32>, tensor<1280x256xf32>) -> tensor<1x256xf32>
    %kh = tops.reshape %k : (tensor<1x256xf32>) -> tensor<1x2x128xf32>
    %kt = tops.transpose %kh perm = [1, 2, 0] : (tensor<1x2x128xf32>) -> tensor<2x128x1xf32>
    %s = tops.matmul %qg, %kt : (tensor<2x2x128xf32>, tensor<2x128x1xf32>) -> tensor<2x2x1xf32>
    %y = tops.reshape %s : (tensor<2x2x1xf32>) -> tensor<4x1x1xf32>
    func.return %y : tensor<4x1x1xf32>
  }
}
