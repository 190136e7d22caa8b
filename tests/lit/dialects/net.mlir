// net.transfer prints in its custom format and parses back, one-hop and
// multi-hop (with a via buffer and, as after `schedule`, hop cycles).
// RUN: lockstep-opt %s | lockstep-opt | filecheck %s
// RUN: lockstep-opt %s --print-op-generic | lockstep-opt | filecheck %s

%a = "test.op"() : () -> !chip.token
%t = net.transfer from 0 at 10 to 1 at 20 repeat 4 stride 20 route [0, 1, 0] via [] (%a)
%u = net.transfer from 0 at 10 to 2 at 30 repeat 4 stride 20 route [0, 1, 0, 1, 2, 1] via [40] hops [5, 500] (%a, %t)

// CHECK:      %a = "test.op"() : () -> !chip.token
// CHECK-NEXT: %t = net.transfer from 0 at 10 to 1 at 20 repeat 4 stride 20 route [0, 1, 0] via [](%a)
// CHECK-NEXT: %u = net.transfer from 0 at 10 to 2 at 30 repeat 4 stride 20 route [0, 1, 0, 1, 2, 1] via [40] hops [5, 500](%a, %t)
