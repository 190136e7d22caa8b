"""`lower-collectives` scratch (relay buffers, partial sums) is reused only by collectives that
depend on the one that used it, so two independent transfers relayed through one chip never wait
for each other."""

from __future__ import annotations

from xdsl.context import Context
from xdsl.parser import Parser
from xdsl.passes import PassPipeline

from compiler.pipeline import context
from dialects.chip import ProgramOp
from dialects.net import TransferOp
from dialects.part import CollectiveOp
from passes.lower_collectives import LowerCollectivesPass, collective_ancestors
from passes.lower_to_chip import LowerToChipPass
from passes.partition import PartitionPass
from passes.place import PlacePass
from passes.schedule import SchedulePass
from passes.verify_schedule import VerifySchedulePass

# Three pipeline stages of two chips on ring:6 (stage s on chips 2s, 2s+1; chip 1 relays 0 -> 2).
# Stage 1 receives a (for b), then h (for s): two independent transfers, h's ready long before a's
# but second in program order. Stage 2 receives s, which depends on both.
THREE_STAGES = """
func.func @main(%x: tensor<1x320xf32> {tops.name = "x"}) -> (tensor<1x320xf32> {tops.name = "y"}) {
  %h = tops.relu %x : tensor<1x320xf32>
  %w1 = tops.constant dense<0.5> : tensor<320x320xf32>
  %a = tops.matmul %h, %w1 : (tensor<1x320xf32>, tensor<320x320xf32>) -> tensor<1x320xf32>
  %w2 = tops.constant dense<0.25> : tensor<320x320xf32>
  %b = tops.matmul %a, %w2 : (tensor<1x320xf32>, tensor<320x320xf32>) -> tensor<1x320xf32>
  %s = tops.add %b, %h : (tensor<1x320xf32>, tensor<1x320xf32>) -> tensor<1x320xf32>
  %w3 = tops.constant dense<0.125> : tensor<320x320xf32>
  %y = tops.matmul %s, %w3 : (tensor<1x320xf32>, tensor<320x320xf32>) -> tensor<1x320xf32>
  func.return %y : tensor<1x320xf32>
}
"""


def lowered_to_chip(text: str, chips: int, system: str):
    module = Parser(context(), text).parse_module()
    passes = (PartitionPass(chips=chips, strategy="hybrid", group=2, system=system), PlacePass(), LowerToChipPass())
    PassPipeline(passes).apply(Context(), module)
    return module


def program_of(module) -> ProgramOp:
    return next(op for op in module.ops if isinstance(op, ProgramOp))


def test_a_collective_depends_on_the_collectives_upstream_of_its_operands():
    program = program_of(lowered_to_chip(THREE_STAGES, 6, "ring:6"))
    ancestors = collective_ancestors(program.body.block.ops)
    assert list(ancestors) == [op for op in program.body.block.ops if isinstance(op, CollectiveOp)]
    # a into stage 1; b = a @ w2 split by rows there, so summed over chips 2 and 3; h into stage 1;
    # s into stage 2.
    assert [(op.name, list(op.group())) for op in ancestors] == [
        ("part.transfer", [0, 1]), ("part.all_reduce", [2, 3]), ("part.transfer", [0, 1]), ("part.transfer", [2, 3])]
    assert list(ancestors.values()) == [0, 0b1, 0, 0b111]


def test_independent_transfers_through_one_relay_chip_neither_share_a_buffer_nor_wait():
    module = lowered_to_chip(THREE_STAGES, 6, "ring:6")
    PassPipeline((LowerCollectivesPass(), SchedulePass(), VerifySchedulePass())).apply(Context(), module)
    a_then_h = [op for op in program_of(module).body.block.ops
                if isinstance(op, TransferOp) and op.src_core.value.data == 0 and op.dst_core.value.data == 2]
    assert len(a_then_h) == 2
    a, h = a_then_h
    assert a.via.get_values() != h.via.get_values()
    # Sharing chip 1's buffer would hold h's write there until a's relay had read it.
    assert h.hops.get_values()[0] < a.hops.get_values()[0]
