"""`partition`: decide which chips run every op and how tensors are sharded.

Strategies (option `strategy`):
- `replicated`: every chip runs the whole model (the output is read from chip 0).
- `tensor`: Megatron-style tensor parallelism over all chips: a matmul on a
  replicated input splits its weight by columns (output sharded on the last
  axis), the next matmul splits its weight by rows and an all-reduce sums the
  partial products. Elementwise ops (unary, binary, where) follow their
  operands' sharding, and so do concat, slice and gather when they take the
  sharded axis whole; anything
  else needs whole tensors and gets an all-gather first. A matmul whose columns
  do not divide evenly stays replicated. Attention heads stay on their chips
  (Megatron): a reshape that keeps the shards' blocks contiguous ([S, H*hd] ->
  [S, H, hd] with H divisible), a transpose and a softmax over another axis run
  on the shards; a batched matmul whose operands are both sharded on one batch
  axis (or A sharded on a non-contracted axis times a whole [K, N]) is local; a
  replicated broadcast along the sharded axis (an attention mask) is re-issued
  with the local shape. A fused QKV projection followed by Split is not split
  by heads (the Split needs whole rows) and is all-gathered.
  Each matmul records its choice in `part.split_kind`.
- `pipeline`: ops in program order are cut into `chips` stages of about equal
  matmul work; values crossing a cut are sent with `part.transfer`.
Types become the local (per-chip) shapes; the module records the system spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, NameLoc, StringAttr, TensorType
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from compiler.errors import LockstepError
from compiler.system import load_system
from dialects import tops
from dialects.part import CHIPS, SYSTEM, AllGatherOp, AllReduceOp, SplitOp, TransferOp, chips_attr

STRATEGIES = ("replicated", "tensor", "pipeline")
SPLIT_KIND = "part.split_kind"
"""On a matmul under `tensor`: "column" (B split by columns), "row" (by rows, then an
all-reduce), "heads" (both operands sharded on a batch axis), "rows of A" (A sharded on a
non-contracted axis, B whole) or "replicated"; under `pipeline`: "stage K"."""
REPLICATED = None  # layout of a whole tensor on every chip; an int is the sharded axis


def main_function(module: ModuleOp) -> FuncOp:
    for op in module.ops:
        if isinstance(op, FuncOp):
            return op
    raise LockstepError("the module has no func.func to compile")


def local_type(value: SSAValue, axis: int, parts: int) -> TensorType:
    shape = list(value.type.get_shape())  # type: ignore[union-attr]
    shape[axis] //= parts
    return TensorType(value.type.get_element_type(), shape)  # type: ignore[union-attr]


def common_axis(axes: set[int | None]) -> int | None:
    """The one sharding all operands share, or replicated when they disagree."""
    return next(iter(axes)) if len(axes) == 1 else REPLICATED


def retype(value: SSAValue, type: TensorType) -> SSAValue:
    """The value with its local type (its uses follow)."""
    return value if value.type == type else Rewriter.replace_value_with_new_type(value, type)


def matmul_flops(op: Operation) -> int:
    if isinstance(op, tops.MatmulOp):
        return 2 * prod(op.result.type.get_shape()) * op.lhs.type.get_shape()[-1]
    return prod(op.results[0].type.get_shape()) if op.results else 0


@dataclass
class TensorParallel:
    """Walks the function once, tracking each value's sharding (None = replicated)."""

    chips: tuple[int, ...]
    sharding: dict[SSAValue, int | None] = field(default_factory=dict)
    gathered: dict[SSAValue, SSAValue] = field(default_factory=dict)

    @property
    def parts(self) -> int:
        return len(self.chips)

    def layout(self, value: SSAValue) -> int | None:
        return self.sharding.get(value, REPLICATED)

    def insert(self, op: Operation, before: Operation) -> Operation:
        op.attributes[CHIPS] = chips_attr(self.chips)
        op.location = before.location
        Rewriter.insert_op(op, InsertPoint.before(before))
        return op

    def gather(self, value: SSAValue, user: Operation) -> SSAValue:
        axis = self.layout(value)
        if axis is REPLICATED:
            return value
        if value in self.gathered:
            return self.gathered[value]
        shape = list(value.type.get_shape())  # type: ignore[union-attr]
        shape[axis] *= self.parts
        whole = TensorType(value.type.get_element_type(), shape)  # type: ignore[union-attr]
        gather = self.insert(AllGatherOp([value], axis, self.chips, [whole]), user)
        if isinstance(value.owner, Operation):  # named after the producer, not the (maybe unnamed) user
            gather.location = value.owner.location
        gathered = gather.results[0]
        self.gathered[value] = gathered
        return gathered

    def split_constant(self, value: SSAValue, axis: int, user: Operation) -> SSAValue:
        split = self.insert(SplitOp(value, axis, self.chips, local_type(value, axis, self.parts)), user)
        return split.result

    def replicate_operands(self, op: Operation) -> None:
        for i, operand in enumerate(op.operands):
            op.operands[i] = self.gather(operand, op)

    def visit(self, op: Operation) -> None:
        if isinstance(op, tops.ConstantOp):
            return
        if isinstance(op, tops.MatmulOp):
            self.matmul(op)
        elif isinstance(op, (tops.BinaryOp, tops.WhereOp)):
            self.elementwise(op)
        elif isinstance(op, tops.UnaryOp):
            self.sharding[retype(op.result, op.input.type)] = self.layout(op.input)
        elif isinstance(op, tops.SelectOp):
            self.select(op)
        elif isinstance(op, (tops.ReshapeOp, tops.TransposeOp, tops.SoftmaxOp)) and self.follows(op):
            pass
        else:
            self.replicate_operands(op)
        op.attributes[CHIPS] = chips_attr(self.chips)

    def follows(self, op: Operation) -> bool:
        """Attention heads stay on their chips: a reshape that keeps the sharded axis's blocks
        contiguous, a transpose (the axis moves) and a softmax over another axis run on the
        shards. False when the op needs whole tensors."""
        axis = self.layout(op.operands[0])
        if axis is REPLICATED:
            return False
        dims = list(op.operands[0].type.get_shape())  # type: ignore[union-attr]
        dims[axis] *= self.parts  # the global shape (the operand is already retyped)
        out = list(op.results[0].type.get_shape())  # type: ignore[union-attr]
        if isinstance(op, tops.SoftmaxOp):
            out_axis = axis if axis != len(dims) - 1 else None
        elif isinstance(op, tops.TransposeOp):
            out_axis = op.permutation().index(axis)
        else:  # reshape: the same outer extent before the axis, and an axis that divides
            outer = prod(dims[:axis])
            out_axis = next((b for b in range(len(out)) if prod(out[:b]) == outer and out[b] % self.parts == 0
                             and out[b] >= self.parts), None)
        if out_axis is None:
            return False
        self.sharding[retype(op.results[0], local_type(op.results[0], out_axis, self.parts))] = out_axis
        return True

    def local_broadcast(self, value: SSAValue, axis: int, user: Operation) -> SSAValue | None:
        """A replicated broadcast along the sharded axis is the same on every chip: re-issued with
        the local shape, it meets the shards (an attention mask [.., 1, .., S] over the heads)."""
        source = value.owner
        if not isinstance(source, tops.BroadcastOp) or self.layout(source.input) is not REPLICATED:
            return None
        src, out = tops.shape_of(source.input), tops.shape_of(value)
        at = axis - (len(out) - len(src))
        if at >= 0 and src[at] != 1:
            return None
        local = self.insert(tops.BroadcastOp(source.input, list(local_type(value, axis, self.parts).get_shape())), user)
        return local.results[0]

    def matmul(self, op: tops.MatmulOp) -> None:
        a, b = op.lhs, op.rhs
        rank, b_rank = len(a.type.get_shape()), len(b.type.get_shape())
        weight = isinstance(b.owner, tops.ConstantOp)
        n = b.type.get_shape()[-1]
        op.attributes[SPLIT_KIND] = StringAttr("replicated")
        a_axis = self.layout(a)
        batched_b = b_rank == rank and self.layout(b) == a_axis
        if a_axis is not REPLICATED and a_axis < rank - 1 and (b_rank == 2 and self.layout(b) is REPLICATED
                                                                 or batched_b and a_axis < rank - 2):
            op.attributes[SPLIT_KIND] = StringAttr("heads" if a_axis < rank - 2 else "rows of A")
            self.sharding[retype(op.result, local_type(op.result, a_axis, self.parts))] = a_axis
            return
        if weight and self.layout(a) == rank - 1:
            op.attributes[SPLIT_KIND] = StringAttr("row")
            op.operands[1] = self.split_constant(b, b_rank - 2, op)
            partial_type = op.result.type
            op.attributes[CHIPS] = chips_attr(self.chips)
            reduced = AllReduceOp([op.result], self.chips, [partial_type])
            Rewriter.insert_op(reduced, InsertPoint.after(op))
            reduced.attributes[CHIPS] = chips_attr(self.chips)
            reduced.location = op.location
            op.result.replace_uses_with_if(reduced.results[0], lambda use: use.operation is not reduced)
            return
        self.replicate_operands(op)
        if weight and self.layout(a) is REPLICATED and n % self.parts == 0 and n >= self.parts:
            op.attributes[SPLIT_KIND] = StringAttr("column")
            op.operands[1] = self.split_constant(b, b_rank - 1, op)
            self.sharding[retype(op.result, local_type(op.result, rank - 1, self.parts))] = rank - 1

    def select(self, op: tops.SelectOp) -> None:
        """Data movement that keeps its operands' sharded axis whole runs on the shards
        (constant operands split to match); anything else gathers its operands first."""
        axis = common_axis(self.computed_axes(op))
        out_axis = None if axis is REPLICATED else sharded_result_axis(op, axis, self.parts)
        if out_axis is None:
            self.replicate_operands(op)
            return
        self.run_on_shards(op, axis, out_axis)

    def computed_axes(self, op: Operation) -> set[int | None]:
        """The shardings of the operands that are not constants (constants can be split to match)."""
        return {self.layout(v) for v in op.operands if not isinstance(v.owner, tops.ConstantOp)}

    def run_on_shards(self, op: Operation, axis: int, out_axis: int) -> None:
        """`op` runs on every chip's shard: its constant operands are split along `axis` to match,
        and its result is sharded along `out_axis`."""
        for i, operand in enumerate(op.operands):
            if isinstance(operand.owner, tops.ConstantOp):
                op.operands[i] = self.split_constant(operand, axis, op)
        result = op.results[0]
        self.sharding[retype(result, local_type(result, out_axis, self.parts))] = out_axis

    def elementwise(self, op: Operation) -> None:
        """Operands of one shape (after normalise): the result follows their common sharding."""
        axes = self.computed_axes(op)
        if len(axes) == 2 and REPLICATED in axes:  # a replicated broadcast may meet the shards
            sharded = next(a for a in axes if a is not REPLICATED)
            others = {i: self.local_broadcast(v, sharded, op) for i, v in enumerate(op.operands)
                      if self.layout(v) is REPLICATED and not isinstance(v.owner, tops.ConstantOp)}
            if all(v is not None for v in others.values()):
                for i, v in others.items():
                    op.operands[i] = v  # type: ignore[assignment]
                axes = {sharded}
        axis = common_axis(axes)
        if axis is REPLICATED:
            self.replicate_operands(op)
            return
        self.run_on_shards(op, axis, axis)


def sharded_result_axis(op: tops.SelectOp, axis: int, parts: int) -> int | None:
    """Where operand axis `axis` (split in `parts`, the operand already retyped to its shard)
    ends up in the result if the op takes it whole and in order, else None."""
    if isinstance(op, tops.ConcatOp):
        return axis if op.axis.value.data != axis else None
    if isinstance(op, tops.SliceOp):
        whole = op.out_shape()[axis] == tops.shape_of(op.input)[axis] * parts
        return axis if whole and op.starts.get_values()[axis] == 0 and op.steps.get_values()[axis] == 1 else None
    if isinstance(op, tops.GatherOp):
        along = op.axis.value.data
        if axis == along:
            return None
        return axis if axis < along else axis + len(op.out_shape()) - len(tops.shape_of(op.input))
    return None


def tensor_parallel(func: FuncOp, chips: tuple[int, ...]) -> None:
    walker = TensorParallel(chips)
    for op in list(func.body.block.ops):
        if isinstance(op, ReturnOp):
            walker.replicate_operands(op)
        elif not isinstance(op, (AllReduceOp, AllGatherOp, SplitOp)):
            walker.visit(op)


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
    ret = func.body.block.last_op
    assert isinstance(ret, ReturnOp)
    for i, operand in enumerate(ret.operands):
        ret.operands[i] = move_to(operand, stage_of, sent_to, len(chips) - 1, chips, ret)


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
    how it was split ("column", "row", "replicated", or "stage K" under `pipeline`)."""
    out = []
    for op in main_function(module).body.block.ops:
        if not isinstance(op, tops.MatmulOp):
            continue
        kind = op.attributes.get(SPLIT_KIND)
        node = op.location.desc.data if isinstance(op.location, NameLoc) else ""
        out.append({"node": node, "split": kind.data if isinstance(kind, StringAttr) else "replicated"})
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
        chips = tuple(alive[: self.chips])
        func = main_function(op)
        if self.strategy == "tensor" and self.chips > 1:
            tensor_parallel(func, chips)
        elif self.strategy == "pipeline" and self.chips > 1:
            pipeline_stages(func, chips)
        else:
            for inner in func.body.block.ops:
                if not isinstance(inner, ReturnOp):
                    inner.attributes[CHIPS] = chips_attr(chips)
        assign_constant_chips(func)
        op.attributes[SYSTEM] = StringAttr(system.spec)
