// The net.transfer verifier: route shape and ends, via buffers, hop cycles, producers.
// RUN: lockstep-opt %s --split-input-file --verify-diagnostics | filecheck %s
// Every diagnostic is the first line of its chunk's output (after the chunk separator).

%a = "test.op"() : () -> !chip.token
%t = net.transfer from 0 at 0 to 2 at 0 repeat 1 stride 20 route [0, 1, 0, 3, 2, 0] via [8] (%a)
// CHECK: net.transfer route is broken between chip 1 and chip 3

// -----
%a = "test.op"() : () -> !chip.token
%t = net.transfer from 0 at 0 to 2 at 0 repeat 1 stride 20 route [0, 1, 0] via [] (%a)
// CHECK: {{//}} -----
// CHECK-NEXT: net.transfer route runs 0 -> 1, not 0 -> 2

// -----
%a = "test.op"() : () -> !chip.token
%t = net.transfer from 3 at 0 to 1 at 0 repeat 1 stride 20 route [0, 1, 0] via [] (%a)
// CHECK: {{//}} -----
// CHECK-NEXT: net.transfer route runs 0 -> 1, not 3 -> 1

// -----
%a = "test.op"() : () -> !chip.token
%t = net.transfer from 0 at 0 to 1 at 0 repeat 1 stride 20 route [0, 1] via [] (%a)
// CHECK: {{//}} -----
// CHECK-NEXT: net.transfer route must be a non-empty list of (src, dst, port) triples

// -----
%a = "test.op"() : () -> !chip.token
%t = net.transfer from 0 at 0 to 1 at 0 repeat 1 stride 20 route [] via [] (%a)
// CHECK: {{//}} -----
// CHECK-NEXT: net.transfer route must be a non-empty list of (src, dst, port) triples

// -----
%a = "test.op"() : () -> !chip.token
%t = net.transfer from 0 at 0 to 2 at 0 repeat 1 stride 20 route [0, 1, 0, 1, 2, 0] via [] (%a)
// CHECK: {{//}} -----
// CHECK-NEXT: net.transfer needs one via buffer per intermediate chip: 1, got 0

// -----
%a = "test.op"() : () -> !chip.token
%t = net.transfer from 0 at 0 to 1 at 0 repeat 1 stride 20 route [0, 1, 0] via [8] (%a)
// CHECK: {{//}} -----
// CHECK-NEXT: net.transfer needs one via buffer per intermediate chip: 0, got 1

// -----
%a = "test.op"() : () -> !chip.token
%t = net.transfer from 0 at 0 to 2 at 0 repeat 1 stride 20 route [0, 1, 0, 1, 2, 0] via [8] hops [3] (%a)
// CHECK: {{//}} -----
// CHECK-NEXT: net.transfer has 2 hops but 1 hop cycles

// -----
%t = net.transfer from 0 at 0 to 1 at 0 repeat 1 stride 20 route [0, 1, 0] via [] ()
// CHECK: {{//}} -----
// CHECK-NEXT: net.transfer must name the producers of what it sends
