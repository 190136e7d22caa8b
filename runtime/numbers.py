"""The numbers: every instruction's result vectors, computed in dataflow order.

SRAM is never simulated cycle by cycle. The timing check already knows which
write event (op, iteration) produced every vector read, so each op's reads are
a gather from its producers' result arrays ([iterations x lanes] per op). Ops
are evaluated whole, in a topological order of the op-level dataflow graph
(ties by first issue cycle). Ops on a dataflow cycle (A reads B's late
iterations and B reads A's: legal with interleaved repeats) and everything
downstream of them are evaluated one iteration at a time in issue-cycle order,
which is a valid order because every latency is at least one cycle. A result
array is freed once its last consumer has been evaluated.
"""

from __future__ import annotations

import heapq

import numpy as np
from xdsl.ir import Operation

from dialects.chip import (
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
from runtime.host import from_vectors, preload_vectors, to_vectors
from runtime.program import Program
from runtime.timing import Timeline

# Ops whose results exist only once all their iterations have run.
_WHOLE = (MxmLoadOp, SxmTransposeOp, OutputOp, PreloadOp, InputOp)


class Evaluator:
    """Holds the result arrays of evaluated ops and computes one op (or iteration range) at a time."""

    def __init__(self, program: Program, timeline: Timeline, inputs: dict[str, np.ndarray]):
        self.program = program
        self.lanes = program.system.lanes
        self.inputs = inputs
        self.read_offsets = program.reads.offsets
        self.read_op = timeline.writes.op[timeline.read_source]
        self.read_row = timeline.writes.iteration[timeline.read_source]
        self.recv_offset = dict(zip(program.recvs.op.tolist(), program.recvs.offsets.tolist()))
        self.recv_op = timeline.sends.op[timeline.recv_source]
        self.recv_row = timeline.sends.iteration[timeline.recv_source]
        self.matmul_offset = dict(zip(program.matmuls.op.tolist(), program.matmuls.offsets.tolist()))
        self.matmul_load = timeline.matmul_load
        self.values: dict[int, np.ndarray] = {}
        self.outputs: dict[str, np.ndarray] = {}

    def evaluate(self, op_id: int, lo: int, hi: int) -> None:
        """Computes iterations [lo, hi) of an op; the ops in _WHOLE are computed whole."""
        op = self.program.names.ops[op_id]
        if isinstance(op, OutputOp):
            vectors = self.read_all(op_id, "src")
            self.outputs[op.tensor.data] = from_vectors(vectors, tuple(op.type.get_shape()), self.lanes)
        elif isinstance(op, (PreloadOp, InputOp)):
            self.values[op_id] = self.host_vectors(op)
        elif isinstance(op, MxmLoadOp):
            self.values[op_id] = mxm.tile(self.read_all(op_id, "src"), self.lanes)
        elif isinstance(op, SxmTransposeOp):
            self.values[op_id] = sxm.transpose(self.read_all(op_id, "src"), op.int_field("width"))
        else:
            self.store(op_id, op.count.value.data, lo, hi, self.compute(op, op_id, lo, hi))

    def compute(self, op: Operation, op_id: int, lo: int, hi: int) -> np.ndarray:
        """Result vectors of iterations [lo, hi) of an instruction that writes one vector per iteration."""
        if isinstance(op, (MemCopyOp, SendOp)):
            return self.read(op_id, "src", lo, hi)
        if isinstance(op, RecvOp):
            events = slice(self.recv_offset[op_id] + lo, self.recv_offset[op_id] + hi)
            return self.gather(self.recv_op[events], self.recv_row[events])
        if isinstance(op, VxmOp):
            rhs = self.read(op_id, "rhs", lo, hi) if "rhs" in self.program.slot_runs[op_id] else None
            return vxm.evaluate(op.op.data, self.read(op_id, "lhs", lo, hi), rhs, op.int_field("lanes"))
        if isinstance(op, MxmMatmulOp):
            acc = self.read(op_id, "acc", lo, hi) if "acc" in self.program.slot_runs[op_id] else None
            loads = self.matmul_load[self.matmul_offset[op_id] + lo : self.matmul_offset[op_id] + hi]
            return mxm.matmul(self.read(op_id, "src", lo, hi), loads, self.values.__getitem__, acc)
        if isinstance(op, SxmMoveOp):
            merge = self.read(op_id, "merge", lo, hi) if "merge" in self.program.slot_runs[op_id] else None
            width = op.int_field("width")
            return sxm.move(self.read(op_id, "src", lo, hi), merge, op.int_field("src_lane"), op.int_field("dst_lane"), width)
        if isinstance(op, SxmReduceOp):
            src = self.read(op_id, "src", lo, hi)
            return sxm.reduce(op.op.data, src, op.int_field("first"), op.int_field("width"), op.int_field("lanes"))
        raise AssertionError(f"no numbers for {op.name}")

    def host_vectors(self, op: PreloadOp | InputOp) -> np.ndarray:
        if isinstance(op, PreloadOp):
            return preload_vectors(op.data)
        return to_vectors(self.inputs[op.tensor.data], self.lanes)

    def read(self, op_id: int, slot: str, lo: int, hi: int) -> np.ndarray:
        """The vectors iterations [lo, hi) of an operand read, from their producers' results."""
        first = self.read_offsets[self.program.slot_runs[op_id][slot]]
        return self.gather(self.read_op[first + lo : first + hi], self.read_row[first + lo : first + hi])

    def read_all(self, op_id: int, slot: str) -> np.ndarray:
        return self.read(op_id, slot, 0, int(self.program.reads.count[self.program.slot_runs[op_id][slot]]))

    def gather(self, ops: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if ops.size and (ops == ops[0]).all():
            return self.values[int(ops[0])][rows]
        out = np.empty((ops.size, self.lanes), dtype=np.float32)
        for source in np.unique(ops):
            mine = ops == source
            out[mine] = self.values[int(source)][rows[mine]]
        return out

    def store(self, op_id: int, iterations: int, lo: int, hi: int, result: np.ndarray) -> None:
        if lo == 0 and hi == iterations:
            self.values[op_id] = result.astype(np.float32, copy=False)
            return
        if op_id not in self.values:
            self.values[op_id] = np.zeros((iterations, self.lanes), dtype=np.float32)
        self.values[op_id][lo:hi] = result

    def release(self, op_id: int) -> None:
        del self.values[op_id]


def evaluate(program: Program, timeline: Timeline, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every output's numbers."""
    evaluator = Evaluator(program, timeline, inputs)
    consumers, sources = _dataflow(program, timeline, evaluator)
    waiting = np.diff(sources[0])  # unevaluated sources of each op, counted per distinct source
    remaining_uses = np.diff(consumers[0])
    ops = program.names.ops
    nodes = [op for op in range(len(ops)) if not isinstance(ops[op], JoinOp)]
    ready = [(int(program.first_issue[op]), op) for op in nodes if waiting[op] == 0]
    heapq.heapify(ready)
    done = 0
    while ready:
        _, op = heapq.heappop(ready)
        evaluator.evaluate(op, 0, _iterations(program, op))
        done += 1
        for source in _neighbours(sources, op):
            remaining_uses[source] -= 1
            if remaining_uses[source] == 0:
                evaluator.release(source)
        for consumer in _neighbours(consumers, op):
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                heapq.heappush(ready, (int(program.first_issue[consumer]), consumer))
    if done < len(nodes):
        _evaluate_by_iteration(program, evaluator, [op for op in nodes if waiting[op] > 0])
    return evaluator.outputs


def _iterations(program: Program, op: int) -> int:
    """Repeat count of an instruction; host ops count as one event."""
    count = program.names.ops[op].properties.get("count")
    return 1 if count is None else count.value.data  # type: ignore[union-attr]


def _dataflow(program: Program, timeline: Timeline, evaluator: Evaluator) -> tuple[tuple, tuple]:
    """Op-level dataflow edges as two CSR tables: (ptr, consumers) by source and (ptr, sources) by consumer."""
    n = program.n_ops
    consumer = np.concatenate([timeline.reads.op, program.recvs.expand().op, program.matmuls.expand().op])
    source = np.concatenate([evaluator.read_op, evaluator.recv_op, timeline.matmul_load])
    edges = np.unique(consumer * n + source)
    by_consumer, by_source = edges // n, edges % n
    order = np.argsort(by_source, kind="stable")
    return _csr(by_source[order], by_consumer[order], n), _csr(by_consumer, by_source, n)


def _csr(keys: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """keys sorted; the values of key k are values[ptr[k]:ptr[k+1]]."""
    return np.searchsorted(keys, np.arange(n + 1)), values


def _neighbours(table: tuple[np.ndarray, np.ndarray], op: int) -> list[int]:
    ptr, values = table
    return values[ptr[op] : ptr[op + 1]].tolist()


def _evaluate_by_iteration(program: Program, evaluator: Evaluator, ops: list[int]) -> None:
    """Ops on or below a dataflow cycle, one iteration at a time in issue order.

    An iteration at cycle c only reads values landed by c, issued before c (every
    latency is at least one cycle); a recv's value lands at its own cycle, so at
    equal cycles recvs go first."""
    events: list[tuple[int, int, int, int]] = []
    for op in ops:
        instruction = program.names.ops[op]
        if isinstance(instruction, _WHOLE):
            last = int(program.first_issue[op]) + _last_offset(instruction)
            events.append((last, 1, op, -1))
        else:
            first, stride = int(program.first_issue[op]), instruction.stride.value.data  # type: ignore[attr-defined]
            recv = 0 if isinstance(instruction, RecvOp) else 1
            events.extend((first + i * stride, recv, op, i) for i in range(_iterations(program, op)))
    for _, _, op, iteration in sorted(events):
        if iteration < 0:
            evaluator.evaluate(op, 0, _iterations(program, op))
        else:
            evaluator.evaluate(op, iteration, iteration + 1)


def _last_offset(op: Operation) -> int:
    """Cycles from an op's first to its last issue (0 for host ops)."""
    count, stride = op.properties.get("count"), op.properties.get("stride")
    return 0 if count is None else (count.value.data - 1) * stride.value.data  # type: ignore[union-attr]
