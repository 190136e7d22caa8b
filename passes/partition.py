"""`partition`: decide which chips run every op and how tensors are sharded.

Strategies (option `strategy`):
- `replicated`: every chip runs the whole model (the output is read from chip 0).
- `tensor`: Megatron-style tensor parallelism over all chips (passes/partition_tensor.py):
  column then row splits of matmuls with an all-reduce, attention heads (separate or
  fused q, k, v, grouped-query KV heads) kept on their chips, convolutions split by
  spatial rows with halo exchange, by output channels or not at all; each matmul records
  its choice in `part.split_kind`.
- `pipeline`: ops in program order are cut into `chips` stages of about equal
  matmul work; values crossing a cut are sent with `part.transfer` (graph outputs
  are read where they are produced).
- `hybrid`: `tensor` inside groups of `group` chips, `pipeline` across the groups
  (passes/partition_hybrid.py).
- `auto`: the fastest of the above by the cost model (compiler/cost_model.py) that fits
  in SRAM, possibly on fewer chips; the module records the choice and the estimates.
Types become the local (per-chip) shapes, graph inputs and outputs that chips hold in
slices too (passes/host_io.py); the module records the system spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, NameLoc, StringAttr
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from compiler.cost_model import choose, strategy_name
from compiler.errors import LockstepError
from compiler.system import load_system
from dialects import tops
from dialects.part import CHIPS, SYSTEM, TransferOp, chips_attr
from passes.host_io import slice_host_io
from passes.partition_hybrid import STAGE, hybrid_parallel, local_order
from passes.partition_tensor import SPLIT_KIND, tensor_parallel

STRATEGIES = ("auto", "replicated", "tensor", "pipeline", "hybrid")
STRATEGY = "part.strategy"
"""On the module: the strategy applied (the one `auto` chose)."""
CHOICE = "part.choice"
"""On the module under `auto`: the choice and the estimates that made it."""


def main_function(module: ModuleOp) -> FuncOp:
    for op in module.ops:
        if isinstance(op, FuncOp):
            return op
    raise LockstepError("the module has no func.func to compile")


def matmul_flops(op: Operation) -> int:
    if isinstance(op, tops.MatmulOp):
        return 2 * prod(op.result.type.get_shape()) * op.lhs.type.get_shape()[-1]
    return prod(op.results[0].type.get_shape()) if op.results else 0


def pipeline_stages(func: FuncOp, chips: tuple[int, ...]) -> None:
    ops = [op for op in func.body.block.ops if not isinstance(op, (ReturnOp, tops.ConstantOp))]
    work = [matmul_flops(op) for op in ops]
    total, done = sum(work) or 1, 0
    stage_of: dict[SSAValue, int] = {}
    sent_to: dict[tuple[SSAValue, int], SSAValue] = {}
    for op, w in zip(ops, work):
        stage = min(len(chips) - 1, done * len(chips) // total)
        done += w
        op.attributes[CHIPS] = chips_attr([chips[stage]])
        if isinstance(op, tops.MatmulOp):
            op.attributes[SPLIT_KIND] = StringAttr(f"stage {stage}")
        for i, operand in enumerate(op.operands):
            op.operands[i] = move_to(operand, stage_of, sent_to, stage, chips, op)
        for result in op.results:
            stage_of[result] = stage


def move_to(value: SSAValue, stage_of: dict[SSAValue, int], sent_to: dict[tuple[SSAValue, int], SSAValue],
            stage: int, chips: tuple[int, ...], user: Operation) -> SSAValue:
    """The value as seen on `stage`: constants and inputs are loaded there, others sent."""
    origin = stage_of.get(value)
    if origin is None or origin == stage:
        return value
    if (value, stage) in sent_to:  # already sent there for an earlier user
        return sent_to[(value, stage)]
    sent = TransferOp([value], [chips[origin]], [chips[stage]], [value.type])
    sent.attributes[CHIPS] = chips_attr([chips[stage]])
    sent.location = user.location
    Rewriter.insert_op(sent, InsertPoint.before(user))
    stage_of[sent.results[0]] = stage
    sent_to[(value, stage)] = sent.results[0]
    return sent.results[0]


def partition_choices(module: ModuleOp) -> list[dict[str, str]]:
    """Per matmul (convolutions are matmuls by then), in program order: its ONNX node and
    how it was split (`part.split_kind`, passes/partition_tensor.py: "column", "column by
    heads", "row", "heads", "spatial rows, halo 1+1", "output channels", "replicated", ...;
    "stage K" under `pipeline`)."""
    out = []
    for op in main_function(module).body.block.ops:
        if not isinstance(op, tops.MatmulOp):
            continue
        kind = op.attributes.get(SPLIT_KIND)
        node = op.location.desc.data if isinstance(op.location, NameLoc) else ""
        split = kind.data if isinstance(kind, StringAttr) else "replicated"
        if isinstance(stage := op.attributes.get(STAGE), StringAttr):
            split = f"{split}, {stage.data}"
        out.append({"node": node, "split": split})
    return out


def partition_strategy(module: ModuleOp) -> dict[str, str]:
    """The strategy applied and, under `auto`, why (for the report)."""
    out = {"strategy": module.attributes[STRATEGY].data}  # type: ignore[union-attr]
    if isinstance(reason := module.attributes.get(CHOICE), StringAttr):
        out["partition_reason"] = reason.data
    return out


def assign_constant_chips(func: FuncOp) -> None:
    """A constant lives on every chip that reads it directly (splits slice it per chip)."""
    for op in func.body.block.ops:
        if isinstance(op, tops.ConstantOp):
            users = {c for use in op.result.uses if not isinstance(use.operation, ReturnOp)
                     for c in use.operation.attributes[CHIPS].get_values()}
            op.attributes[CHIPS] = chips_attr(sorted(users) or [0])


@dataclass(frozen=True)
class PartitionPass(ModulePass):
    name = "partition"

    chips: int = 1
    strategy: str = "replicated"
    system: str = ""
    group: int = 8  # chips per tensor-parallel group under `hybrid`
    dropped: str = ""  # `auto`: candidates (as `part.strategy` names them, ";"-separated) that did not fit once lowered

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.strategy not in STRATEGIES:
            raise LockstepError(f"unknown partition strategy '{self.strategy}'; choose one of {', '.join(STRATEGIES)}")
        spec = self.system or ("single" if self.chips == 1 else f"fc:{self.chips}")
        system = load_system(spec)
        alive = system.alive_chips()
        if self.chips > len(alive):
            raise LockstepError(
                f"cannot partition over {self.chips} chips: system '{spec}' has {len(alive)} in service"
            )
        def partition(module: ModuleOp, strategy: str, group: int, count: int) -> None:
            chips = alive[:count] if strategy != "hybrid" else local_order(system, alive[:count], group)
            partition_as(module, strategy, group, tuple(chips), system.lanes)

        if self.strategy == "auto":
            best, estimates = choose(op, system, self.chips, partition, [d for d in self.dropped.split(";") if d])
            partition(op, best.strategy, best.group, best.chips)
            op.attributes[CHOICE] = StringAttr(
                f"{best.label} ({best.chips} of {self.chips} chips), the fastest estimate that fits: "
                + "; ".join(e.describe(system) for e in estimates)
            )
        else:
            partition(op, self.strategy, min(self.group, self.chips), self.chips)
        op.attributes[SYSTEM] = StringAttr(system.spec)


def partition_as(module: ModuleOp, strategy: str, group: int, chips: tuple[int, ...], lanes: int | None = None) -> None:
    func = main_function(module)
    if strategy == "tensor" and len(chips) > 1:
        tensor_parallel(func, chips, lanes)
    elif strategy == "pipeline" and len(chips) > 1:
        pipeline_stages(func, chips)
    elif strategy == "hybrid":
        hybrid_parallel(func, chips, group, lanes)
    else:
        for inner in func.body.block.ops:
            if not isinstance(inner, ReturnOp):
                inner.attributes[CHIPS] = chips_attr(chips)
    assign_constant_chips(func)
    slice_host_io(func)
    module.attributes[STRATEGY] = StringAttr(strategy_name(strategy, group))
