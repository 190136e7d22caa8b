"""The numbers: every instruction's result vectors, computed in dataflow order.

SRAM is never simulated cycle by cycle. The timing check already knows which
write event (op, iteration) produced every vector read, so each op's operands
are gathered from its producers' result arrays ([iterations x lanes] per op).
Ops are evaluated whole, in a topological order of the op-level dataflow graph
(ties by first issue cycle). Ops on a dataflow cycle (A reads B's later
iterations and B reads A's: legal with interleaved repeats) and everything
downstream of them are evaluated one iteration at a time in issue-cycle order,
which is a valid order because every latency is at least one cycle. A result
array is freed once its last consumer has been evaluated.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import numpy as np
from xdsl.ir import Operation

from dialects.chip import (
    INT8_PER_ADDRESS,
    InputOp,
    JoinOp,
    MemCopyOp,
    MxmLoadOp,
    MxmMatmulOp,
    OutputOp,
    PreloadOp,
    RecvOp,
    SendOp,
    SxmMoveOp,
    SxmReduceOp,
    SxmTransposeOp,
    VxmOp,
)
from runtime import mxm, sxm, vxm
from runtime.host import box, from_vectors, preload_vectors, to_vectors
from runtime.program import Program, Runs
from runtime.timing import Timeline


class Sources:
    """Where each event of a table's runs takes its vector from: (op, row of that op's results).

    Most runs take consecutive rows of one op; those are served as a slice, not a gather."""

    def __init__(self, runs: Runs, op: np.ndarray, row: np.ndarray):
        self.op, self.row = op, row
        self.offsets = runs.offsets.tolist()
        run = np.repeat(np.arange(runs.count.size), runs.count)
        first = np.minimum(runs.offsets, max(op.size - 1, 0))
        if op.size == 0:
            self.single, self.row0 = [-1] * runs.count.size, [0] * runs.count.size
            return
        regular = (op == op[first][run]) & (row == row[first][run] + (np.arange(op.size) - runs.offsets[run]))
        irregular = np.bincount(run[~regular], minlength=runs.count.size)
        self.single = np.where((irregular == 0) & (runs.count > 0), op[first], -1).tolist()
        self.row0 = row[first].tolist()

    def fetch(self, values: dict[int, np.ndarray], run: int, lo: int, hi: int, lanes: int) -> np.ndarray:
        """The vectors of events [lo, hi) of a run."""
        source = self.single[run]
        if source >= 0:
            return values[source][self.row0[run] + lo : self.row0[run] + hi]
        ops = self.op[self.offsets[run] + lo : self.offsets[run] + hi]
        rows = self.row[self.offsets[run] + lo : self.offsets[run] + hi]
        out = np.empty((ops.size, lanes), dtype=np.float32)
        for producer in np.unique(ops):
            mine = ops == producer
            out[mine] = values[int(producer)][rows[mine]]
        return out


class Evaluator:
    """The result arrays of evaluated ops, and the numbers of one op (or iteration range) at a time.

    Operands may be views of their producers' arrays: no kernel writes into its inputs."""

    def __init__(self, program: Program, timeline: Timeline, inputs: dict[str, np.ndarray]):
        self.program = program
        self.ops = program.names.ops
        self.lanes = program.system.lanes
        self.inputs = inputs
        self.iterations = program.iterations.tolist()
        source = timeline.read_source
        # An int8 read takes byte plane p of a packed address: row INT8_PER_ADDRESS * address + p of the preload.
        plane = program.read_plane[timeline.reads.run]
        row = timeline.writes.iteration[source]
        row = np.where(plane >= 0, INT8_PER_ADDRESS * row + plane, row)
        self.reads = Sources(program.reads, timeline.writes.op[source], row)
        sent = timeline.recv_source
        self.received = Sources(program.recvs, timeline.sends.op[sent], timeline.sends.iteration[sent])
        self.recv_run = {op: run for run, op in enumerate(program.recvs.op.tolist())}
        self.matmul_first = dict(zip(program.matmuls.op.tolist(), program.matmuls.offsets.tolist()))
        self.matmul_load = timeline.matmul_load
        self.values: dict[int, np.ndarray] = {}
        self.outputs: dict[str, np.ndarray] = {}
        self.whole: dict[type[Operation], Callable[[Operation, int], None]] = {
            OutputOp: self.output,
            PreloadOp: self.preload,
            InputOp: self.input,
            MxmLoadOp: self.load,
            SxmTransposeOp: self.transpose,
        }
        self.kernels: dict[type[Operation], Callable[[Operation, int, int, int], np.ndarray]] = {
            VxmOp: self.vxm,
            MxmMatmulOp: self.matmul,
            SxmMoveOp: self.move,
            SxmReduceOp: self.reduce,
            MemCopyOp: self.copy,
            SendOp: self.copy,
            RecvOp: self.recv,
        }

    def is_whole(self, op_id: int) -> bool:
        """Results that exist only once all iterations have run (or that have no iterations)."""
        return type(self.ops[op_id]) in self.whole

    def evaluate(self, op_id: int, lo: int, hi: int) -> None:
        """Computes iterations [lo, hi) of an op; `is_whole` ops are computed whole."""
        op = self.ops[op_id]
        whole = self.whole.get(type(op))
        if whole is not None:
            whole(op, op_id)
            return
        result = self.kernels[type(op)](op, op_id, lo, hi)
        if lo == 0 and hi == self.iterations[op_id]:
            self.values[op_id] = result
            return
        if op_id not in self.values:
            self.values[op_id] = np.zeros((self.iterations[op_id], self.lanes), dtype=np.float32)
        self.values[op_id][lo:hi] = result

    def release(self, op_id: int) -> None:
        self.values.pop(op_id, None)

    def read(self, op_id: int, slot: str, lo: int, hi: int) -> np.ndarray | None:
        """Iterations [lo, hi) of an operand (None for an absent optional one)."""
        run = self.program.slot_runs[op_id].get(slot)
        return None if run is None else self.reads.fetch(self.values, run, lo, hi, self.lanes)

    def read_all(self, op_id: int, slot: str) -> np.ndarray:
        run = self.program.slot_runs[op_id][slot]
        return self.reads.fetch(self.values, run, 0, int(self.program.reads.count[run]), self.lanes)

    # -- whole ops -----------------------------------------------------------

    def output(self, op: OutputOp, op_id: int) -> None:
        """The output's box (the whole tensor unless it is read in shards)."""
        shape = tuple(op.type.get_shape())
        whole = self.outputs.setdefault(op.tensor.data, np.zeros(op.whole_shape, dtype=np.float32))
        whole[box(op.start, shape)] = from_vectors(self.read_all(op_id, "src"), shape, self.lanes)

    def preload(self, op: PreloadOp, op_id: int) -> None:
        self.values[op_id] = preload_vectors(op.data)

    def input(self, op: InputOp, op_id: int) -> None:
        piece = self.inputs[op.tensor.data][box(op.start, tuple(op.type.get_shape()))]
        self.values[op_id] = to_vectors(piece, self.lanes)

    def load(self, op: MxmLoadOp, op_id: int) -> None:
        int8_rows = self.program.int8_src.get(op_id)
        if int8_rows is None:
            rows = self.read_all(op_id, "src")
        else:  # one reads row per iteration residue: interleave them back into iteration order
            rows = np.empty((self.iterations[op_id], self.lanes), dtype=np.float32)
            for residue, run in enumerate(int8_rows):
                count = int(self.program.reads.count[run])
                rows[residue :: len(int8_rows)] = self.reads.fetch(self.values, run, 0, count, self.lanes)
        self.values[op_id] = mxm.tile(rows, self.lanes)

    def transpose(self, op: SxmTransposeOp, op_id: int) -> None:
        self.values[op_id] = sxm.transpose(self.read_all(op_id, "src"), op.int_field("width"))

    # -- one vector per iteration ------------------------------------------------

    def vxm(self, op: VxmOp, op_id: int, lo: int, hi: int) -> np.ndarray:
        lhs, rhs = self.read(op_id, "lhs", lo, hi), self.read(op_id, "rhs", lo, hi)
        return vxm.evaluate(op.op.data, lhs, rhs, op.int_field("lanes"))  # type: ignore[arg-type]

    def matmul(self, op: MxmMatmulOp, op_id: int, lo: int, hi: int) -> np.ndarray:
        first = self.matmul_first[op_id]
        loads = self.matmul_load[first + lo : first + hi]
        src, acc = self.read(op_id, "src", lo, hi), self.read(op_id, "acc", lo, hi)
        return mxm.matmul(src, loads, self.values.__getitem__, acc)  # type: ignore[arg-type]

    def move(self, op: SxmMoveOp, op_id: int, lo: int, hi: int) -> np.ndarray:
        src, merge = self.read(op_id, "src", lo, hi), self.read(op_id, "merge", lo, hi)
        lanes = op.int_field("src_lane"), op.int_field("dst_lane"), op.int_field("width")
        return sxm.move(src, merge, *lanes)  # type: ignore[arg-type]

    def reduce(self, op: SxmReduceOp, op_id: int, lo: int, hi: int) -> np.ndarray:
        src = self.read(op_id, "src", lo, hi)
        return sxm.reduce(op.op.data, src, op.int_field("first"), op.int_field("width"), op.int_field("lanes"))  # type: ignore[arg-type]

    def copy(self, op: MemCopyOp | SendOp, op_id: int, lo: int, hi: int) -> np.ndarray:
        return self.read(op_id, "src", lo, hi)  # type: ignore[return-value]

    def recv(self, op: RecvOp, op_id: int, lo: int, hi: int) -> np.ndarray:
        return self.received.fetch(self.values, self.recv_run[op_id], lo, hi, self.lanes)


def evaluate(program: Program, timeline: Timeline, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every output's numbers."""
    evaluator = Evaluator(program, timeline, inputs)
    consumers, sources = _dataflow(program, timeline)
    waiting = [len(found) for found in sources]  # unevaluated distinct sources of each op
    uses = [len(found) for found in consumers]  # unevaluated distinct consumers of each op
    priority = program.first_issue.tolist()
    nodes = [op for op, instance in enumerate(program.names.ops) if not isinstance(instance, JoinOp)]
    ready = [(priority[op], op) for op in nodes if waiting[op] == 0]
    heapq.heapify(ready)
    done = 0
    # Padding lanes may compute 0/0 or overflow before they are zeroed: not an error.
    with np.errstate(all="ignore"):
        while ready:
            _, op = heapq.heappop(ready)
            evaluator.evaluate(op, 0, evaluator.iterations[op])
            done += 1
            for source in sources[op]:
                uses[source] -= 1
                if uses[source] == 0:
                    evaluator.release(source)
            for consumer in consumers[op]:
                waiting[consumer] -= 1
                if waiting[consumer] == 0:
                    heapq.heappush(ready, (priority[consumer], consumer))
        if done < len(nodes):
            _evaluate_by_iteration(program, evaluator, [op for op in nodes if waiting[op] > 0])
    return evaluator.outputs


def _dataflow(program: Program, timeline: Timeline) -> tuple[list[list[int]], list[list[int]]]:
    """Op-level dataflow edges: (consumers of each op, sources of each op), each distinct."""
    n = program.n_ops
    consumer = np.concatenate([timeline.reads.op, program.recvs.expand().op, program.matmuls.expand().op])
    source = np.concatenate(
        [timeline.writes.op[timeline.read_source], timeline.sends.op[timeline.recv_source], timeline.matmul_load]
    )
    edges = np.unique(consumer * n + source)
    return _grouped(edges % n, edges // n, n), _grouped(edges // n, edges % n, n)


def _grouped(keys: np.ndarray, values: np.ndarray, n: int) -> list[list[int]]:
    """values grouped by key, for keys 0..n-1."""
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(n + 1)).tolist()
    flat = values[order].tolist()
    return [flat[bounds[k] : bounds[k + 1]] for k in range(n)]


def _evaluate_by_iteration(program: Program, evaluator: Evaluator, ops: list[int]) -> None:
    """Ops on or below a dataflow cycle, one iteration at a time in issue order.

    An iteration at cycle c only reads values landed by c, so issued before c
    (every latency is at least one cycle); a recv's value lands at its own cycle,
    so at equal cycles recvs go first. Whole ops run at their last issue."""
    events: list[tuple[int, int, int, int]] = []
    for op in ops:
        first, count = int(program.first_issue[op]), evaluator.iterations[op]
        stride = program.names.ops[op].properties.get("stride")
        step = 0 if stride is None else stride.value.data  # type: ignore[attr-defined]
        if evaluator.is_whole(op):
            events.append((first + (count - 1) * step, 1, op, -1))
        else:
            recv = 0 if isinstance(program.names.ops[op], RecvOp) else 1
            events.extend((first + i * step, recv, op, i) for i in range(count))
    for _, _, op, iteration in sorted(events):
        lo, hi = (0, evaluator.iterations[op]) if iteration < 0 else (iteration, iteration + 1)
        evaluator.evaluate(op, lo, hi)
