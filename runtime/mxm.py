"""MXM planes: which loaded tile each matmul multiplies by (timing) and the products (numbers).

A plane holds the tile of the most recent mxm_load that started on it; a
matmul iteration at cycle c needs that load to be the one its `weights` names
and to be ready (last row's issue + mxm_load latency) by c. int8 weights sit
packed in SRAM (runtime/program.py): only int8 loads may read them, and an int8
load reads nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from runtime.errors import BrokenPromise
from runtime.program import Events, Program
from runtime.search import Violation, earliest, member, pair_members


def check_tiles(program: Program, matmuls: Events, load_rows: np.ndarray) -> np.ndarray:
    """Checks every matmul iteration's tile among the loads rows `load_rows` (those of the
    matmuls' chips at least); returns, per matmul event, its mxm_load op."""
    loads = program.loads
    if load_rows.size == 0 and matmuls.run.size:  # no plane holds a tile
        raise _broken_tile(program, matmuls, int(np.argmin(matmuls.cycle)), None, False)
    key, cycle0 = loads.key[load_rows], loads.cycle0[load_rows]
    horizon = int(max(matmuls.cycle.max(initial=0), cycle0.max(initial=0))) + 1
    load_keys = key * horizon + cycle0
    order = np.argsort(load_keys, kind="stable")
    position = np.searchsorted(load_keys[order], matmuls.key * horizon + matmuls.cycle, side="right") - 1
    row = load_rows[order[np.maximum(position, 0)]]
    loaded = (position >= 0) & (loads.key[row] == matmuls.key)
    named = loaded & member(program.weights_allowed, matmuls.run * program.n_ops + loads.op[row])
    ready = named & (program.load_ready[row] <= matmuls.cycle)
    if (bad := earliest(~ready, matmuls.cycle)) is not None:
        raise _broken_tile(program, matmuls, bad, int(row[bad]) if loaded[bad] else None, bool(named[bad]))
    return loads.op[row]


def _broken_tile(program: Program, matmuls: Events, bad: int, row: int | None, named: bool) -> Violation:
    """Matmul event `bad` finds no tile (row None), a tile its weights do not name, or one not yet ready."""
    error = _tile_error(program, matmuls, bad, row, named)
    return Violation("tiles", matmuls.place(bad, int(matmuls.cycle[bad])), error)


def _tile_error(program: Program, matmuls: Events, bad: int, row: int | None, named: bool) -> BrokenPromise:
    op, cycle = int(matmuls.op[bad]), int(matmuls.cycle[bad])
    at = f"matmul iteration {int(matmuls.iteration[bad])}"
    wanted = pair_members(program.weights_allowed, int(matmuls.run[bad]), program.n_ops)
    wanted_names = ", ".join(program.describe(load) for load in wanted)
    if row is None:
        return program.blame(op, cycle, f"{at}: no tile has been loaded into the plane yet (weights names {wanted_names})")
    holder = f"{program.describe(int(program.loads.op[row]))}, started at cycle {int(program.loads.cycle0[row])}"
    if named:
        ready = int(program.load_ready[row])
        return program.blame(op, cycle, f"{at}: tile not ready: {holder}, is ready only at cycle {ready}")
    wanted_starts = program.loads.cycle0[np.isin(program.loads.op, wanted)]
    if wanted_starts.size and wanted_starts.min() > cycle:
        story = f"the tile weights names ({wanted_names}) starts loading only at cycle {int(wanted_starts.min())}"
    else:
        story = f"tile overwritten: the plane now holds {holder}, not the tile weights names ({wanted_names})"
    return program.blame(op, cycle, f"{at}: {story}")


def check_int8_reads(program: Program, reads: Events, writes: Events, read_source: np.ndarray) -> None:
    """Every int8 read takes a value an i8 preload wrote, and no other read does."""
    if not program.int8_src and not program.int8_data.any():
        return  # nothing packed, nothing to mix up
    int8_read = program.read_plane[reads.run] >= 0
    int8_value = program.int8_data[writes.op[read_source]]
    if (bad := earliest(int8_read != int8_value, reads.cycle)) is None:
        return
    op, addr = int(reads.op[bad]), int(reads.addr[bad])
    writer = program.describe(int(writes.op[read_source[bad]]))
    run = int(reads.run[bad])
    if int8_read[bad]:
        what = f"the int8 load reads byte plane {int(program.read_plane[run])} of address {addr}, which holds fp32 data from {writer}"
    else:
        what = f"operand '{program.read_slot[run]}' reads address {addr} as fp32, but it holds int8 vectors from {writer}"
    raise Violation("int8 reads", reads.place(bad, int(reads.cycle[bad])), program.blame(op, int(reads.cycle[bad]), what))


def tile(rows: np.ndarray, lanes: int) -> np.ndarray:
    """A plane's [lanes x lanes] tile: the loaded weight rows, zero below them."""
    plane = np.zeros((lanes, lanes), dtype=np.float32)
    plane[: rows.shape[0]] = rows
    return plane


def matmul(src: np.ndarray, load_ops: np.ndarray, tiles: Callable[[int], np.ndarray], acc: np.ndarray | None) -> np.ndarray:
    """src(1 x lanes) @ tile [+ acc] per iteration; iterations may use different tiles."""
    if load_ops.min() == load_ops.max():
        out = src @ tiles(int(load_ops[0]))
    else:
        out = np.empty_like(src)
        for load in np.unique(load_ops):
            rows = load_ops == load
            out[rows] = src[rows] @ tiles(int(load))
    return out if acc is None else out + acc
