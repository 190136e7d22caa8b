// lower-collectives: all-reduce = reduce-scatter (transfers + VXM adds on the
// piece's owner) then all-gather of the sums; all-gather = every shard sent to
// every chip's inbox, then SXM lane moves into the gathered layout. Routes are
// shortest paths; multi-hop routes store and forward through via buffers
// allocated on the intermediate chip. No part collective is left.
// RUN: lockstep-opt %s -p 'partition{chips=2 strategy=tensor},place,lower-to-chip,lower-collectives' | filecheck %s --check-prefix=FC2
// RUN: lockstep-opt %s -p 'partition{chips=2 strategy=tensor},place,lower-to-chip,lower-collectives' | filecheck %s --check-prefix=CLEAN
// RUN: lockstep-opt %s -p 'partition{chips=4 strategy=tensor system="ring:4"},place,lower-to-chip,lower-collectives' | filecheck %s --check-prefix=RING
// RUN: lockstep-opt %s -p 'partition{chips=4 strategy=tensor system="ring:4"},place,lower-to-chip,lower-collectives' | filecheck %s --check-prefix=CLEAN

// CLEAN-NOT: {{part\.(all_reduce|all_gather|transfer|split)}}
// CLEAN:     chip.output "h"

// fc:2. One vector of 1280 bytes at 16.67 bytes/cycle: stride 77. y [1, 2] is
// one vector, so the reduce-scatter gives it all to chip 1: chip 0 sends its
// partial (at 11) to chip 1's inbox (14), chip 1 adds, sends the sum back to
// chip 0 at the result address (12).
// FC2:      part.sram_top = array<i64: 17, 17>
// FC2:      %[[H0:[0-9]+]] = chip.mxm_matmul core 0 {{.*}} dst[5, 1]
// FC2:      %[[H1:[0-9]+]] = chip.mxm_matmul core 1 {{.*}} dst[5, 1]
// FC2:      %[[Y0:[0-9]+]] = chip.mxm_matmul core 0 {{.*}} dst[11, 1]
// FC2:      %[[Y1:[0-9]+]] = chip.mxm_matmul core 1 {{.*}} dst[11, 1]
// FC2-NEXT: %[[IN:[0-9]+]] = net.transfer from 0 at 11 to 1 at 14 repeat 1 stride 77 route [0, 1, 0] via [](%[[Y0]])
// FC2-NEXT: %[[SUM:[0-9]+]] = chip.vxm "add" core 1 unit "vxm" repeat 1 stride 1 lanes 320 dst[12, 1] lhs[11, 1] (%[[Y1]]) rhs[14, 1] (%[[IN]])
// FC2-NEXT: %[[Y:[0-9]+]] = net.transfer from 1 at 12 to 0 at 12 repeat 1 stride 77 route [1, 0, 0] via [](%[[SUM]])
// All-gather of h [1, 4] per chip on chip 0: its own shard is copied to inbox
// slot 0 (15), chip 1's arrives in slot 1 (16); lane moves build [1, 8] at 13.
// FC2-NEXT: %[[MINE:[0-9]+]] = chip.mem_copy core 0 unit "mem" repeat 1 stride 1 dst[15, 1] src[5, 1] (%[[H0]])
// FC2-NEXT: %[[THEIRS:[0-9]+]] = net.transfer from 1 at 5 to 0 at 16 repeat 1 stride 77 route [1, 0, 0] via [](%[[H1]])
// FC2-NEXT: %[[BOX:[0-9]+]] = chip.join core 0(%[[MINE]], %[[THEIRS]])
// FC2-NEXT: %[[M0:[0-9]+]] = chip.sxm_move core 0 unit "sxm" repeat 1 stride 1 lanes 0 to 0 width 4 dst[13, 1] src[15, 1] (%[[BOX]])
// FC2-NEXT: %[[M1:[0-9]+]] = chip.sxm_move core 0 unit "sxm" repeat 1 stride 1 lanes 0 to 4 width 4 dst[13, 1] src[16, 1] (%[[BOX]]) merge[13, 1] (%[[M0]])
// FC2-NEXT: %[[G0:[0-9]+]] = chip.join core 0(%[[M0]], %[[M1]])
// And the mirror image on chip 1.
// FC2-NEXT: net.transfer from 0 at 5 to 1 at 15 repeat 1 stride 77 route [0, 1, 0] via [](%[[H0]])
// FC2-NEXT: chip.mem_copy core 1 unit "mem" repeat 1 stride 1 dst[16, 1] src[5, 1] (%[[H1]])
// FC2:      chip.output "y" core 0 at 12 : tensor<1x2xf32>(%[[Y]])
// FC2-NEXT: chip.output "h" core 0 at 13 : tensor<1x8xf32>(%[[G0]])

// ring:4. The single vector of y is owned by chip 2. Chip 0 is two hops away:
// its partial goes 0 -> 1 -> 2 through a via buffer on chip 1 (15, above the
// inbox 12..14), and the sum comes back 2 -> 1 -> 0 through another (16).
// Via buffers count in part.sram_top: chips 0 and 1 forward, 2 and 3 do not.
// RING:      part.system = "ring:4", part.sram_top = array<i64: 23, 23, 21, 21>
// RING:      %[[P0:[0-9]+]] = chip.mxm_matmul core 0 {{.*}} dst[9, 1]
// RING:      %[[P1:[0-9]+]] = chip.mxm_matmul core 1 {{.*}} dst[9, 1]
// RING:      %[[P2:[0-9]+]] = chip.mxm_matmul core 2 {{.*}} dst[9, 1]
// RING:      %[[P3:[0-9]+]] = chip.mxm_matmul core 3 {{.*}} dst[9, 1]
// RING-NEXT: %[[I0:[0-9]+]] = net.transfer from 0 at 9 to 2 at 12 repeat 1 stride 77 route [0, 1, 0, 1, 2, 0] via [15](%[[P0]])
// RING-NEXT: %[[A0:[0-9]+]] = chip.vxm "add" core 2 unit "vxm" repeat 1 stride 1 lanes 320 dst[10, 1] lhs[9, 1] (%[[P2]]) rhs[12, 1] (%[[I0]])
// RING-NEXT: %[[I1:[0-9]+]] = net.transfer from 1 at 9 to 2 at 13 repeat 1 stride 77 route [1, 2, 0] via [](%[[P1]])
// RING-NEXT: %[[A1:[0-9]+]] = chip.vxm "add" core 2 unit "vxm" repeat 1 stride 1 lanes 320 dst[10, 1] lhs[10, 1] (%[[A0]]) rhs[13, 1] (%[[I1]])
// RING-NEXT: %[[I3:[0-9]+]] = net.transfer from 3 at 9 to 2 at 14 repeat 1 stride 77 route [3, 2, 0] via [](%[[P3]])
// RING-NEXT: %[[A3:[0-9]+]] = chip.vxm "add" core 2 unit "vxm" repeat 1 stride 1 lanes 320 dst[10, 1] lhs[10, 1] (%[[A1]]) rhs[14, 1] (%[[I3]])
// RING-NEXT: %[[Y:[0-9]+]] = net.transfer from 2 at 10 to 0 at 10 repeat 1 stride 77 route [2, 1, 0, 1, 0, 0] via [16](%[[A3]])
// RING-NEXT: net.transfer from 2 at 10 to 1 at 10 repeat 1 stride 77 route [2, 1, 0] via [](%[[A3]])
// RING-NEXT: net.transfer from 2 at 10 to 3 at 10 repeat 1 stride 77 route [2, 3, 0] via [](%[[A3]])
// The all-gather on chip 0: chip 2's shard is two hops away (via chip 1 at 21).
// RING-NEXT: chip.mem_copy core 0 unit "mem" repeat 1 stride 1 dst[17, 1] src[5, 1]
// RING-NEXT: net.transfer from 1 at 5 to 0 at 18 {{.*}} route [1, 0, 0] via []
// RING-NEXT: net.transfer from 2 at 5 to 0 at 19 {{.*}} route [2, 1, 0, 1, 0, 0] via [21]
// RING-NEXT: net.transfer from 3 at 5 to 0 at 20 {{.*}} route [3, 0, 0] via []
// RING-NEXT: %[[BOX:[0-9]+]] = chip.join core 0
// RING-NEXT: chip.sxm_move core 0 {{.*}} lanes 0 to 0 width 2 dst[11, 1] src[17, 1] (%[[BOX]])
// RING-NEXT: chip.sxm_move core 0 {{.*}} lanes 0 to 2 width 2 dst[11, 1] src[18, 1] (%[[BOX]]) merge[11, 1]
// RING-NEXT: chip.join core 0
// RING-NEXT: chip.sxm_move core 0 {{.*}} lanes 0 to 4 width 2 dst[11, 1] src[19, 1] (%[[BOX]]) merge[11, 1]
// RING-NEXT: chip.join core 0
// RING-NEXT: chip.sxm_move core 0 {{.*}} lanes 0 to 6 width 2 dst[11, 1] src[20, 1] (%[[BOX]]) merge[11, 1]
// Chip 3's shard reaches chip 1 through chip 0 (3 -> 0 -> 1).
// RING:      net.transfer from 3 at 5 to 1 at 20 {{.*}} route [3, 0, 0, 0, 1, 0] via [21]
// RING:      chip.output "y" core 0 at 10 : tensor<1x2xf32>(%[[Y]])

func.func @main(%x: tensor<1x4xf32> {tops.name = "x"}) -> (tensor<1x2xf32> {tops.name = "y"}, tensor<1x8xf32> {tops.name = "h"}) {
  %w1 = tops.constant dense<0.5> : tensor<4x8xf32>
  %h = tops.matmul %x, %w1 : (tensor<1x4xf32>, tensor<4x8xf32>) -> tensor<1x8xf32>
  %r = tops.relu %h : tensor<1x8xf32>
  %w2 = tops.constant dense<0.25> : tensor<8x2xf32>
  %y = tops.matmul %r, %w2 : (tensor<1x8xf32>, tensor<8x2xf32>) -> tensor<1x2xf32>
  func.return %y, %h : tensor<1x2xf32>, tensor<1x8xf32>
}
