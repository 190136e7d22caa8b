"""Predicted performance of a scheduled program: what one step costs a user, and where its cycles go.

Computed once from the scheduled `chip.program` (compile_model, just before emit-streams), stored in
report.json and printed by `lockstep report` (docs/performance.md says what every figure means):

- the step (`decoder_step`): whether the ONNX model is a decoder's decode step or prefill, which
  turns the program's latency into a per-token latency and tokens/s per user (`per_token`);
- the latency breakdown (`latency_breakdown`): the achieved schedule's critical path, walked back
  from the op that lands last through whatever released each op last (the operand that landed
  latest, or the op that held its unit or link), every cycle attributed to the unit working on
  it (MXM, VXM, SXM, memory), the network, or a wait no single op explains;
- pipeline stages (`stage_busy`): under `pipeline` and `hybrid`, the cycles each stage has
  something in flight, out of the step's.

Everything is one pass over the ops plus numpy (576-chip programs have about a million ops).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from xdsl.dialects.builtin import FusedLoc, ModuleOp, NameLoc, StringAttr
from xdsl.dialects.func import ReturnOp
from xdsl.ir import Attribute, Operation, SSAValue

from compiler.errors import LockstepError
from compiler.system import System
from dialects import tops
from dialects.chip import INSTRUCTIONS, InputOp, JoinOp, OutputOp, PreloadOp, ProgramOp
from dialects.net import TransferOp
from dialects.part import CHIPS, SplitOp
from passes.partition import STRATEGY, main_function
from passes.partition_hybrid import STAGE
from passes.timing import Hop, ready_cycle, repeat_of, route_hops, transfer_ready

STEP_KEY = "lockstep.step"
"""ONNX metadata_props key a decoder generator writes (compiler/models/llama.py): "decode" or "prefill"."""
TOKENS_KEY = "lockstep.tokens"
"""ONNX metadata_props key: how many tokens of one user the step processes."""
STEP_KINDS = ("decode", "prefill")
PAST_PREFIXES = ("past_k",)
"""Without metadata, a graph input named past_k* (past_k_0, past_key, past_key_values.0.key) marks a decode step."""

PIPELINED = ("pipeline", "hybrid")
"""The partition strategies whose programs have pipeline stages (`part.strategy`'s first word)."""

CATEGORIES = ("mxm", "vxm", "sxm", "memory", "network", "wait")
_CATEGORY_OF_UNIT = {"mxm": "mxm", "vxm": "vxm", "sxm": "sxm", "mem": "memory"}
_NETWORK = len(CATEGORIES) - 2
_WAIT = len(CATEGORIES) - 1


# -- the step -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One step of a decoder for one user: `tokens` tokens, decided by `rule`."""

    kind: str  # "decode" or "prefill"
    tokens: int
    rule: str  # how it was decided, for the report

    def as_dict(self) -> dict:
        return {"kind": self.kind, "tokens": self.tokens, "rule": self.rule}


def decoder_step(model: onnx.ModelProto) -> Step | None:
    """The step a decoder model runs, None for a model that is not a decoder's step.

    Metadata (`lockstep.step`, `lockstep.tokens`) decides when present; otherwise a graph input
    named past_k* makes it a one-token decode step. A prefill without metadata is not recognised:
    nothing in its graph tells it from an encoder's forward pass."""
    props = {p.key: p.value for p in model.metadata_props}
    kind = props.get(STEP_KEY)
    if kind in STEP_KINDS:
        tokens = props.get(TOKENS_KEY, "1")
        if tokens.isdigit() and int(tokens) >= 1:
            return Step(kind, int(tokens), f"ONNX metadata {STEP_KEY}={kind}, {TOKENS_KEY}={tokens}")
    initializers = {t.name for t in model.graph.initializer}
    for value in model.graph.input:
        if value.name not in initializers and value.name.lower().startswith(PAST_PREFIXES):
            return Step("decode", 1, f"graph input '{value.name}' (a KV cache)")
    return None


def read_step(path: str) -> Step | None:
    """`decoder_step` of the ONNX file at `path` (external weights are not read)."""
    return decoder_step(onnx.load_model(path, load_external_data=False))


def per_token(step: dict | None, latency_us: float) -> dict:
    """Per-token latency (latency / tokens), tokens/s per user (decode: 1 / per-token latency) and
    time to first token (prefill: the latency); None where the model is no decoder step."""
    figures: dict = {"per_token_latency_us": None, "tokens_per_second_per_user": None, "time_to_first_token_us": None}
    if step is None:
        return figures
    figures["per_token_latency_us"] = latency_us / step["tokens"]
    if step["kind"] == "decode":
        figures["tokens_per_second_per_user"] = 1e6 / figures["per_token_latency_us"] if latency_us > 0 else None
    else:
        figures["time_to_first_token_us"] = latency_us
    return figures


# -- the timed ops of a scheduled program -----------------------------------------------------------


@dataclass
class Timed:
    """The instructions and transfers of a scheduled program, in SSA order, as parallel arrays,
    with what each one waited for last: its latest-landing operand, or the previous op on its unit
    (a transfer: on its first link)."""

    start: np.ndarray  # first issue (a transfer: its first hop's start)
    ready: np.ndarray  # everything it produces has landed
    category: np.ndarray  # index into CATEGORIES
    src: np.ndarray  # chip (a transfer: the sending chip)
    dst: np.ndarray  # chip (a transfer: the receiving chip)
    producer: np.ndarray  # the op whose result landed last among its operands, -1 if none
    holder: np.ndarray  # the op that last held its unit (first link) before it issued, -1 if none
    freed: np.ndarray  # the cycle `holder` let the unit or link go
    nodes: list[str | None] | None = None  # the ONNX node each op came from (`location_name`)

    @property
    def cycles(self) -> int:
        return int(self.ready.max(initial=0))


class _Resources:
    """Who occupies each unit instance and directed link until when: one entry per instruction and
    per transfer hop, queried in one vectorised search."""

    def __init__(self) -> None:
        self.ids: dict[tuple, int] = {}
        self.resource: list[int] = []
        self.free: list[int] = []
        self.op: list[int] = []

    def id(self, key: tuple) -> int:
        return self.ids.setdefault(key, len(self.ids))

    def hold(self, resource: int, free: int, op: int) -> None:
        self.resource.append(resource)
        self.free.append(free)
        self.op.append(op)

    def last_holders(self, resource: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For every op (its resource, its start): the entry freed last at or before the start."""
        held, free, op = (np.asarray(a, dtype=np.int64) for a in (self.resource, self.free, self.op))
        span = int(max(free.max(initial=0), start.max(initial=0))) + 1
        keys = held * span + free
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        at = np.searchsorted(keys, resource * span + start, side="right") - 1
        found = (at >= 0) & (held[order][np.maximum(at, 0)] == resource)
        pick = order[np.maximum(at, 0)]
        return np.where(found, op[pick], -1), np.where(found, free[pick], 0)


_TOKEN_SHIFT = 32
"""A token is packed as ready << 32 | (op index + 1), so the plain max of a few ints finds the
operand that landed last (and the op that landed it) without a key function."""


def timed_ops(program: ProgramOp, system: System) -> Timed:
    """One pass in SSA order; a token's (ready cycle, op) looks through joins to the part that
    landed last, which is what the scheduler waited for."""
    token: dict[SSAValue, int] = {}
    start, ready, category, src, dst, producer, resource = [], [], [], [], [], [], []  # type: list[int]
    nodes: list[str | None] = []
    resources = _Resources()
    category_of = {cls: CATEGORIES.index(_CATEGORY_OF_UNIT[cls.UNIT_KIND])
                   for cls in INSTRUCTIONS if cls.UNIT_KIND in _CATEGORY_OF_UNIT}
    routes: dict[int, tuple[list[Hop], list[int]]] = {}  # routes repeat: look each one up once
    mask = (1 << _TOKEN_SHIFT) - 1
    for op in program.body.block.ops:
        cls = type(op)
        if cls is PreloadOp or cls is InputOp:
            token[op.results[0]] = 0
            continue
        if cls is OutputOp:
            continue
        latest = max(map(token.__getitem__, op.operands), default=0)
        if cls is JoinOp:
            token[op.results[0]] = latest
            continue
        index = len(start)
        count, stride = repeat_of(op)  # type: ignore[arg-type]
        if cls in category_of:
            chip = op.core.value.data  # type: ignore[union-attr]
            cycle = op.cycle.value.data  # type: ignore[union-attr]
            landed = ready_cycle(op, cycle, system)  # type: ignore[arg-type]
            unit = resources.id((chip, op.unit.data))  # type: ignore[union-attr]
            resources.hold(unit, cycle + (count - 1) * stride + 1, index)  # one issue per cycle
            kind, ends = category_of[cls], (chip, chip)
        elif cls is TransferOp:
            route = op.route
            if id(route) not in routes:  # attributes are shared and live as long as the program
                hops = route_hops(op, system)  # type: ignore[arg-type]
                routes[id(route)] = hops, [resources.id(hop.link) for hop in hops]
            hops, links = routes[id(route)]
            hop_cycles = list(op.hops.get_values())  # type: ignore[union-attr]
            for hop, link, entered in zip(hops, links, hop_cycles):
                resources.hold(link, entered + (count - 1) * stride + hop.ser, index)
            cycle, unit, landed = hop_cycles[0], links[0], transfer_ready(hop_cycles, count, stride, hops)
            kind, ends = _NETWORK, (op.src_core.value.data, op.dst_core.value.data)
        else:
            raise LockstepError(f"performance: unexpected {op.name} inside chip.program")
        token[op.results[0]] = landed << _TOKEN_SHIFT | (index + 1)
        nodes.append(location_name(op))
        start.append(cycle)
        ready.append(landed)
        category.append(kind)
        src.append(ends[0])
        dst.append(ends[1])
        producer.append((latest & mask) - 1)
        resource.append(unit)
    columns = [np.asarray(c, dtype=np.int64) for c in (start, ready, category, src, dst, producer, resource)]
    holder, freed = resources.last_holders(columns[-1], columns[0])
    return Timed(*columns[:-1], holder=holder, freed=freed, nodes=nodes)


def location_name(op: Operation) -> str | None:
    """The ONNX node name an op's location carries (`loc("/fc1/Gemm")`), None if unknown."""
    return _name_of(op.location)


def _name_of(loc: Attribute | None) -> str | None:
    if isinstance(loc, NameLoc):
        return loc.desc.data
    if isinstance(loc, FusedLoc):
        for inner in loc.locations:
            if (name := _name_of(inner)) is not None:
                return name
    return None


# -- the critical path ----------------------------------------------------------------------------


def latency_breakdown(timed: Timed) -> dict[str, int]:
    """Cycles of the achieved critical path per category; they sum to `timed.cycles` exactly.

    From the op that lands last, backwards: each op is entered at the cycle its successor needed it
    (its last landing, or the cycle it freed the unit or link the successor waited for), and its
    cycles from its first issue to there go to its unit kind (a transfer's to the network). Then
    the walk moves to whichever released the op later: its latest-landing operand's producer, or
    the op that held its unit (first link) before it; a gap between that release and the op's
    issue is a wait (a unit or link busy in a pattern no single op explains, or an op waiting from
    cycle 0)."""
    parts = np.zeros(len(CATEGORIES), dtype=np.int64)
    for i, worked, waited in critical_path(timed):
        parts[timed.category[i]] += worked
        parts[_WAIT] += waited
    return {name: int(cycles) for name, cycles in zip(CATEGORIES, parts)}


def critical_path(timed: Timed) -> list[tuple[int, int, int]]:
    """The walk `latency_breakdown` describes, last op first: (op, cycles it worked on the path,
    cycles it waited before issuing)."""
    path = []
    i = int(np.argmax(timed.ready)) if timed.ready.size else -1
    entry = timed.cycles
    while i >= 0:
        producer, holder = int(timed.producer[i]), int(timed.holder[i])
        landed = int(timed.ready[producer]) if producer >= 0 else 0
        released, after = (int(timed.freed[i]), holder) if holder >= 0 and timed.freed[i] > landed else (landed, producer)
        path.append((i, entry - int(timed.start[i]), int(timed.start[i]) - released))
        i, entry = after, released
    return path


def critical_nodes(timed: Timed, top: int = 10) -> list[dict]:
    """The ONNX nodes the critical path spends most on (work, not waits), each with its cycles and the
    category most of them went to: where to look first."""
    cycles: dict[str, np.ndarray] = {}
    for i, worked, _ in critical_path(timed):
        node = (timed.nodes[i] if timed.nodes else None) or "(unnamed)"
        cycles.setdefault(node, np.zeros(len(CATEGORIES), dtype=np.int64))[timed.category[i]] += worked
    ranked = sorted(cycles.items(), key=lambda item: (-int(item[1].sum()), item[0]))[:top]
    return [{"node": node, "cycles": int(parts.sum()), "part": CATEGORIES[int(np.argmax(parts))]}
            for node, parts in ranked]


# -- pipeline stages ------------------------------------------------------------------------------


def pipeline_stages(module: ModuleOp) -> list[list[int]]:
    """The chips of every pipeline stage, in stage order, off the partitioned function; [] unless
    the strategy applied (`part.strategy`, e.g. "hybrid group=8") pipelines. An op's stage is its
    `part.stage` (`hybrid`: a group of chips) or else its chips (`pipeline`: one chip)."""
    strategy = module.attributes.get(STRATEGY)
    if not isinstance(strategy, StringAttr) or strategy.data.split()[0] not in PIPELINED:
        return []
    stages: dict[object, set[int]] = {}
    for op in main_function(module).body.block.ops:
        if isinstance(op, ReturnOp | tops.ConstantOp | SplitOp) or CHIPS not in op.attributes:
            continue
        chips = tuple(op.attributes[CHIPS].get_values())  # type: ignore[union-attr]
        stage = op.attributes.get(STAGE)
        stages.setdefault(stage.data if isinstance(stage, StringAttr) else chips, set()).update(chips)
    return [sorted(chips) for chips in stages.values()]


def stage_busy(timed: Timed, stages: Sequence[Sequence[int]], chips: int) -> list[int]:
    """Per stage, the cycles in which some op of the stage is in flight (from its first issue until
    its last result lands): instructions on the stage's chips and transfers between two of them.
    A transfer from one stage to another (the hand-off) belongs to neither."""
    cycles = timed.cycles
    stage_of = np.full(chips, -1, dtype=np.int64)
    for s, members in enumerate(stages):
        stage_of[list(members)] = s
    src_stage = stage_of[timed.src]
    own = (src_stage >= 0) & (src_stage == stage_of[timed.dst])
    stage = src_stage[own]
    # Stage s lives in [s*(cycles+1), s*(cycles+1) + cycles]: one sort merges every stage's intervals apart.
    offset = stage * (cycles + 1)
    begin, end = timed.start[own] + offset, timed.ready[own] + offset
    order = np.argsort(begin, kind="stable")
    begin, end, stage = begin[order], end[order], stage[order]
    reach = np.maximum.accumulate(end) if end.size else end
    covered_before = np.concatenate(([np.iinfo(np.int64).min], reach[:-1])) if end.size else end
    new = np.clip(end - np.maximum(begin, covered_before), 0, None)
    return [int(c) for c in np.bincount(stage, weights=new, minlength=len(stages)).astype(np.int64)]


# -- the report's figures -------------------------------------------------------------------------


def performance(program: ProgramOp, system: System, step: Step | None,
                stages: Sequence[Sequence[int]] | None) -> dict:
    """The report.json keys of docs/performance.md for a scheduled program."""
    timed = timed_ops(program, system)
    cycles = timed.cycles
    latency_us = cycles / system.clock_hz * 1e6
    step_dict = step.as_dict() if step else None
    figures = {"step": step_dict, **per_token(step_dict, latency_us), "latency_breakdown_cycles": latency_breakdown(timed),
               "critical_path_nodes": critical_nodes(timed)}
    figures["pipeline"] = None
    if stages is not None:
        busy = stage_busy(timed, stages, system.chips)
        figures["pipeline"] = {
            "stages": len(stages),
            "stage_chips": [list(members) for members in stages],
            "stage_busy_cycles": busy,
            "stage_busy_fraction": [b / cycles if cycles else 0.0 for b in busy],
        }
    return figures


def recorded(meta: dict) -> dict:
    """The step, latency breakdown and pipeline figures report.json records (None where absent: a
    model that is no decoder step, a program that is not pipelined, a directory compiled before
    these figures existed); a malformed one is a LockstepError."""
    step, breakdown, pipeline = meta.get("step"), meta.get("latency_breakdown_cycles"), meta.get("pipeline")
    if step is not None and not (isinstance(step, dict) and step.get("kind") in STEP_KINDS
                                 and isinstance(step.get("tokens"), int) and step["tokens"] >= 1
                                 and isinstance(step.get("rule"), str)):
        raise LockstepError(f"report.json: 'step' must be {{kind: decode|prefill, tokens: >= 1, rule}}, got {step!r}")
    if breakdown is not None and not (isinstance(breakdown, dict) and set(breakdown) == set(CATEGORIES)
                                      and all(isinstance(v, int) for v in breakdown.values())):
        raise LockstepError(f"report.json: 'latency_breakdown_cycles' must give cycles for {', '.join(CATEGORIES)}")
    if pipeline is not None and not (isinstance(pipeline, dict) and isinstance(pipeline.get("stages"), int)
                                     and all(isinstance(pipeline.get(k), list) and len(pipeline[k]) == pipeline["stages"]
                                             for k in ("stage_chips", "stage_busy_cycles", "stage_busy_fraction"))):
        raise LockstepError("report.json: 'pipeline' must list the chips, busy cycles and busy fraction of every stage")
    nodes = meta.get("critical_path_nodes")
    if nodes is not None and not (isinstance(nodes, list) and all(
            isinstance(n, dict) and isinstance(n.get("node"), str) and isinstance(n.get("cycles"), int)
            and n.get("part") in CATEGORIES for n in nodes)):
        raise LockstepError("report.json: 'critical_path_nodes' must list {node, cycles, part} entries")
    return {"step": step, "latency_breakdown_cycles": breakdown, "pipeline": pipeline, "critical_path_nodes": nodes}
