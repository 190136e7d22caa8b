// verify-schedule on its own: a valid schedule passes unchanged, and every
// broken promise is reported once, naming chip, unit, cycle and op.
// Timing from compiler/systems/single.toml: vxm 4, mxm_load 1, mxm 20;
// links ser 77, hop latency 450; SRAM holds 180224 vectors.
// RUN: lockstep-opt %s --split-input-file --verify-diagnostics -p verify-schedule | filecheck %s

builtin.module {
  chip.program "single" attributes {schedule.cycles = 10 : i64} {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    %a = chip.vxm "relu" core 0 unit "vxm0" cycle 0 repeat 2 stride 1 lanes 320 dst [2, 1] lhs [0, 1] (%w)
    %b = chip.vxm "neg" core 0 unit "vxm0" cycle 5 repeat 2 stride 1 lanes 320 dst [4, 1] lhs [2, 1] (%a)
    chip.output "y" core 0 at 4 : tensor<2x320xf32> (%b)
  }
}
// CHECK:      chip.program "single" attributes {schedule.cycles = 10 : i64} {
// CHECK:        %b = chip.vxm "neg" core 0 unit "vxm0" cycle 5

// -----
// A read iteration may start as soon as the vector it reads has landed.
builtin.module {
  chip.program "single" attributes {schedule.cycles = 9 : i64} {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    %a = chip.vxm "relu" core 0 unit "vxm0" cycle 0 repeat 2 stride 1 lanes 320 dst [2, 1] lhs [0, 1] (%w)
    %b = chip.vxm "neg" core 0 unit "vxm1" cycle 4 repeat 2 stride 1 lanes 320 dst [4, 1] lhs [2, 1] (%a)
    chip.output "y" core 0 at 4 : tensor<2x320xf32> (%b)
  }
}
// CHECK:      chip.program "single" attributes {schedule.cycles = 9 : i64} {

// -----
builtin.module {
  chip.program "single" attributes {schedule.cycles = 5 : i64} {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    %a = chip.vxm "relu" core 0 unit "vxm0" repeat 2 stride 1 lanes 320 dst [2, 1] lhs [0, 1] (%w)
  }
}
// CHECK: chip 0, unit vxm0, cycle none: chip.vxm %a (op 1 of the program) has no issue cycle

// -----
builtin.module {
  chip.program "single" attributes {schedule.cycles = 5 : i64} {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    %a = chip.vxm "relu" core 0 unit "vxm16" cycle 0 repeat 2 stride 1 lanes 320 dst [2, 1] lhs [0, 1] (%w)
  }
}
// CHECK: chip 0, unit vxm16, cycle 0: chip.vxm %a (op 1 of the program) names a unit 'vxm16' that chip 0 does not have

// -----
builtin.module {
  chip.program "single" attributes {schedule.cycles = 6 : i64} {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    %a = chip.vxm "relu" core 0 unit "vxm0" cycle 0 repeat 2 stride 1 lanes 320 dst [2, 1] lhs [0, 1] (%w)
    %b = chip.vxm "neg" core 0 unit "vxm0" cycle 1 repeat 2 stride 1 lanes 320 dst [4, 1] lhs [0, 1] (%w)
  }
}
// CHECK: chip 0, unit vxm0, cycle 1: chip.vxm %b (op 2 of the program) issues on a unit that chip.vxm %a (op 1 of the program) already uses in this cycle

// -----
builtin.module {
  chip.program "single" attributes {schedule.cycles = 8 : i64} {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    %a = chip.vxm "relu" core 0 unit "vxm0" cycle 0 repeat 2 stride 1 lanes 320 dst [2, 1] lhs [0, 1] (%w)
    %b = chip.vxm "neg" core 0 unit "vxm1" cycle 3 repeat 2 stride 1 lanes 320 dst [4, 1] lhs [2, 1] (%a)
  }
}
// CHECK: chip 0, unit vxm1, cycle 3: chip.vxm %b (op 2 of the program) reads address 2 (operand 'lhs') before chip.vxm %a (op 1 of the program) lands it at cycle 4

// -----
// %c overwrites address 2 before %b has read what %a wrote there.
builtin.module {
  chip.program "single" attributes {schedule.cycles = 10 : i64} {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    %a = chip.vxm "relu" core 0 unit "vxm0" cycle 0 repeat 2 stride 1 lanes 320 dst [2, 1] lhs [0, 1] (%w)
    %c = chip.vxm "neg" core 0 unit "vxm1" cycle 1 repeat 1 stride 1 lanes 320 dst [2, 1] lhs [0, 1] (%w)
    %b = chip.vxm "neg" core 0 unit "vxm0" cycle 5 repeat 2 stride 1 lanes 320 dst [4, 1] lhs [2, 1] (%a)
  }
}
// CHECK: chip 0, unit vxm0, cycle 5: chip.vxm %b (op 3 of the program) reads address 2 (operand 'lhs') after the value chip.vxm %a (op 1 of the program) landed at cycle 4 was overwritten: chip.vxm %c (op 2 of the program) landed at cycle 5 (a write before the last read)

// -----
builtin.module {
  chip.program "single" attributes {schedule.cycles = 5 : i64} {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    %a = chip.vxm "relu" core 0 unit "vxm0" cycle 0 repeat 1 stride 1 lanes 320 dst [2, 1] lhs [0, 1] (%w)
    %c = chip.vxm "neg" core 0 unit "vxm1" cycle 0 repeat 1 stride 1 lanes 320 dst [2, 1] lhs [1, 1] (%w)
  }
}
// CHECK: chip 0, unit vxm1, cycle 4: chip.vxm %c (op 2 of the program) lands at address 2 in the same cycle as chip.vxm %a (op 1 of the program)

// -----
builtin.module {
  chip.program "single" attributes {schedule.cycles = 5 : i64} {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    %a = chip.vxm "relu" core 0 unit "vxm0" cycle 0 repeat 2 stride 1 lanes 320 dst [180223, 1] lhs [0, 1] (%w)
  }
}
// CHECK: chip 0, unit vxm0, cycle 5: chip.vxm %a (op 1 of the program) writes address 180224, outside SRAM (0..180223)

// -----
builtin.module {
  chip.program "single" attributes {schedule.cycles = 0 : i64} {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    chip.output "y" core 0 at 1 : tensor<2x320xf32> (%w)
  }
}
// CHECK: chip 0, unit host, cycle end: chip.output (op 1 of the program) reads address 2 (operand 'output') where nothing has landed yet

// -----
builtin.module {
  chip.program "single" attributes {schedule.cycles = 22 : i64} {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    %x = chip.input "x" core 0 at 2 : tensor<1x320xf32>
    %l = chip.mxm_load core 0 unit "mxm0" cycle 0 repeat 2 stride 1 src [0, 1] (%w)
    %m = chip.mxm_matmul core 0 unit "mxm1" cycle 2 repeat 1 stride 1 weights (%l) dst [3, 1] src [2, 1] (%x)
  }
}
// CHECK: chip 0, unit mxm1, cycle 2: chip.mxm_matmul %m (op 3 of the program) finds no tile loaded on its plane (it names chip.mxm_load %l (op 2 of the program))

// -----
builtin.module {
  chip.program "single" attributes {schedule.cycles = 21 : i64} {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    %x = chip.input "x" core 0 at 2 : tensor<1x320xf32>
    %l = chip.mxm_load core 0 unit "mxm0" cycle 0 repeat 2 stride 2 src [0, 1] (%w)
    %m = chip.mxm_matmul core 0 unit "mxm0" cycle 1 repeat 1 stride 1 weights (%l) dst [3, 1] src [2, 1] (%x)
  }
}
// CHECK: chip 0, unit mxm0, cycle 1: chip.mxm_matmul %m (op 3 of the program) multiplies by the tile of chip.mxm_load %l (op 2 of the program) before it is ready (cycle 3)

// -----
builtin.module {
  chip.program "single" attributes {schedule.cycles = 24 : i64} {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    %x = chip.input "x" core 0 at 2 : tensor<1x320xf32>
    %l = chip.mxm_load core 0 unit "mxm0" cycle 0 repeat 2 stride 1 src [0, 1] (%w)
    %k = chip.mxm_load core 0 unit "mxm0" cycle 2 repeat 1 stride 1 src [0, 1] (%w)
    %m = chip.mxm_matmul core 0 unit "mxm0" cycle 4 repeat 1 stride 1 weights (%l) dst [3, 1] src [2, 1] (%x)
  }
}
// CHECK: chip 0, unit mxm0, cycle 4: chip.mxm_matmul %m (op 4 of the program) multiplies by the tile of chip.mxm_load %k (op 3 of the program), not by chip.mxm_load %l (op 2 of the program) as it names

// -----
builtin.module {
  chip.program "fc:2" attributes {schedule.cycles = 577 : i64} {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    %t = net.transfer from 0 at 0 to 1 at 0 repeat 1 stride 77 route [0, 1, 0] via [] hops [0] (%w)
    %u = net.transfer from 0 at 1 to 1 at 1 repeat 1 stride 77 route [0, 1, 0] via [] hops [50] (%w)
  }
}
// CHECK: chip 0, unit link 0->1 port 0, cycle 50: net.transfer %u (op 2 of the program) sends a vector while the link still carries one of net.transfer %t (op 1 of the program) (sent at cycle 0, busy until 77)

// -----
builtin.module {
  chip.program "ring:4" attributes {schedule.cycles = 527 : i64} {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    %t = net.transfer from 0 at 0 to 2 at 0 repeat 1 stride 77 route [0, 2, 0] via [] hops [0] (%w)
  }
}
// CHECK: chip 0, unit link 0->2 port 0, cycle 0: net.transfer %t (op 1 of the program) uses a link the system lacks: system 'single@ring:4' has no link from chip 0 to chip 2 on port 0

// -----
builtin.module {
  chip.program "fc:2" attributes {schedule.cycles = 527 : i64} {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    %t = net.transfer from 0 at 0 to 1 at 0 repeat 1 stride 77 route [0, 1, 0] via [] (%w)
  }
}
// CHECK: chip 0, unit link 0->1 port 0, cycle none: net.transfer %t (op 1 of the program) has no hop cycles

// -----
// Store and forward: the second hop leaves chip 1 before the vector has landed there.
builtin.module {
  chip.program "ring:4" attributes {schedule.cycles = 1027 : i64} {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    %t = net.transfer from 0 at 0 to 2 at 0 repeat 1 stride 77 route [0, 1, 0, 1, 2, 0] via [16] hops [0, 500] (%w)
  }
}
// CHECK: chip 1, unit link 1->2 port 0, cycle 500: net.transfer %t (op 1 of the program) reads address 16 (operand 'via') before net.transfer %t (op 1 of the program) lands it at cycle 527

// -----
builtin.module {
  chip.program "single" attributes {schedule.cycles = 4 : i64} {
    %w = chip.preload core 0 at 0 dense<1.0> : tensor<2x320xf32>
    %a = chip.vxm "relu" core 0 unit "vxm0" cycle 0 repeat 2 stride 1 lanes 320 dst [2, 1] lhs [0, 1] (%w)
  }
}
// CHECK: chip 0, unit vxm0, cycle 5: chip.vxm %a (op 1 of the program) lands last, so the program takes 5 cycles, but schedule.cycles says 4

// -----
builtin.module {
  chip.program "single" attributes {schedule.cycles = 0 : i64} {
    %w = chip.preload core 3 at 0 dense<1.0> : tensor<2x320xf32>
  }
}
// CHECK: chip 3, unit host, cycle none: chip.preload %w (op 0 of the program) names chip 3, but the system has chips 0..0
