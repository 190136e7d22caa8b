// lower-collectives realises the collective synthesizer's schedules: every hop
// becomes a one-link net.transfer between SRAM buffers, every partial sum a chip
// forms before forwarding a VXM add, full sums land straight at the result
// address, and an all-gather's shards are stacked in an inbox and laid out with
// SXM lane moves. No part collective is left.
// RUN: lockstep-opt %s -p 'partition{chips=2 strategy=tensor},place,lower-to-chip,lower-collectives' | filecheck %s --check-prefix=FC2
// RUN: lockstep-opt %s -p 'partition{chips=2 strategy=tensor},place,lower-to-chip,lower-collectives' | filecheck %s --check-prefix=CLEAN
// RUN: lockstep-opt %s -p 'partition{chips=4 strategy=tensor system="ring:4"},place,lower-to-chip,lower-collectives' | filecheck %s --check-prefix=RING
// RUN: lockstep-opt %s -p 'partition{chips=4 strategy=tensor system="ring:4"},place,lower-to-chip,lower-collectives' | filecheck %s --check-prefix=CLEAN

// CLEAN-NOT: {{part\.(all_reduce|all_gather|transfer|split)}}
// CLEAN:     chip.output "h"

// fc:2, y = [1, 2] is one vector (1280 bytes at 16.67 bytes/cycle: stride 77).
// The chips swap their partials (one hop each way at once) and each adds the
// other's to its own straight into the result address (0: x's, dead after the
// first matmul read it).
// FC2:      %[[Y0:[0-9]+]] = chip.mxm_matmul core 0 {{.*}} dst[10, 1]
// FC2:      %[[Y1:[0-9]+]] = chip.mxm_matmul core 1 {{.*}} dst[10, 1]
// FC2-NEXT: %[[OUT:[0-9]+]] = net.transfer from 0 at 10 to 1 at [[BOX1:[0-9]+]] repeat 1 stride 77 route [0, 1, 0] via [](%[[Y0]])
// FC2-NEXT: %[[IN:[0-9]+]] = net.transfer from 1 at 10 to 0 at [[BOX:[0-9]+]] repeat 1 stride 77 route [1, 0, 0] via [](%[[Y1]])
// FC2-NEXT: %[[SUM:[0-9]+]] = chip.vxm "add" core 0 unit "vxm" repeat 1 stride 1 lanes 320 dst[0, 1] lhs[10, 1] (%[[Y0]]) rhs[[[BOX]], 1] (%[[IN]])
// FC2-NEXT: chip.vxm "add" core 1 unit "vxm" repeat 1 stride 1 lanes 320 dst[0, 1] lhs[10, 1] (%[[Y1]]) rhs[[[BOX1]], 1] (%[[OUT]])
// All-gather of h ([1, 4] per chip) for the softmax over its sharded axis: own shard
// copied into its inbox slot, the other's arrives in the other slot, two lane moves
// build [1, 8] at 11.
// FC2:      chip.mem_copy core 0 unit "mem" repeat 1 stride 1 dst[[[SLOT0:[0-9]+]], 1] src[9, 1]
// FC2:      net.transfer from 1 at 9 to 0 at [[SLOT1:[0-9]+]] repeat 1 stride 77 route [1, 0, 0]
// FC2:      %[[M0:[0-9]+]] = chip.sxm_move core 0 unit "sxm" repeat 1 stride 1 lanes 0 to 0 width 4 dst[11, 1] src[[[SLOT0]], 1]
// FC2-NEXT: chip.sxm_move core 0 unit "sxm" repeat 1 stride 1 lanes 0 to 4 width 4 dst[11, 1] src[[[SLOT1]], 1] ({{.*}}) merge[11, 1] (%[[M0]])
// FC2:      chip.output "y" core 0 at 0 : tensor<1x2xf32>(%[[SUM]])

// ring:4: every transfer is one hop between ring neighbours (no via buffers):
// each chip's vector goes both ways round, the far chip's forwarded from a
// neighbour's inbox, and each chip adds the other three into its sum at 0.
// RING-NOT:  route [{{[0-9]+}}, {{[0-9]+}}, 0, {{[0-9]+}}
// RING:      net.transfer from {{[0-3]}} at 8 to {{[0-3]}} at {{[0-9]+}} repeat 1 stride 77 route [{{[0-3]}}, {{[0-3]}}, 0] via []
// RING:      chip.vxm "add" core 0 {{.*}} lanes 320 dst[0, 1] lhs[8, 1]
// RING-NEXT: chip.vxm "add" core 0 {{.*}} lanes 320 dst[0, 1] lhs[0, 1]
// RING-NEXT: chip.vxm "add" core 0 {{.*}} lanes 320 dst[0, 1] lhs[0, 1]
// RING:      chip.output "y" core 0 at 0 : tensor<1x2xf32>

func.func @main(%x: tensor<1x4xf32> {tops.name = "x"}) -> (tensor<1x2xf32> {tops.name = "y"}, tensor<1x8xf32> {tops.name = "h"}) {
  %w1 = tops.constant dense<0.5> : tensor<4x8xf32>
  %h = tops.matmul %x, %w1 : (tensor<1x4xf32>, tensor<4x8xf32>) -> tensor<1x8xf32>
  %r = tops.relu %h : tensor<1x8xf32>
  %w2 = tops.constant dense<0.25> : tensor<8x2xf32>
  %y = tops.matmul %r, %w2 : (tensor<1x8xf32>, tensor<8x2xf32>) -> tensor<1x2xf32>
  %s = tops.softmax %h axis = 1 : tensor<1x8xf32>
  func.return %y, %s : tensor<1x2xf32>, tensor<1x8xf32>
}
