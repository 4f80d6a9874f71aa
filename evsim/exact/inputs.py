"""Inputs of an exact-time run: event streams with times in seconds, checked and flattened per sample."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._jit import njit
from ..errors import InputError
from ..network import Network
from ..inputs import per_port_inputs, population_offsets


def normalise_exact(net: Network, x: Any, steps: Any, duration: Any) -> tuple[list, int, bool]:
    """Per sample ``(times_s, global neuron, value)`` sorted by time (stable), 1 (the result's one time bin) and
    whether the input was a batch."""
    if steps is not None:
        raise InputError("an exact-time network runs for duration= seconds, not steps=")
    try:
        dur = float(duration)
    except (TypeError, ValueError):
        raise InputError(f"an exact-time network needs duration= (seconds), got {duration!r}") from None
    if not (np.isfinite(dur) and dur > 0):
        raise InputError(f"duration must be a positive number of seconds, got {duration!r}")
    ports = net.inputs
    if x is None:
        if ports:
            raise InputError(f"no input given; the network's input ports are {list(ports)}")
        return [(np.zeros(0), np.zeros(0, np.int64), np.zeros(0))], 1, False
    per_port = per_port_inputs(net, x)
    offsets = population_offsets(net)
    parsed = {}
    batched = False
    for name, v in per_port.items():
        if isinstance(v, list):
            batched = True
            parsed[name] = [_events(net, name, e, dur) for e in v]
        else:
            parsed[name] = [_events(net, name, v, dur)]
    sizes = {len(s) for s in parsed.values()}
    if len(sizes) != 1 or 0 in sizes:
        raise InputError(f"input ports have different or empty batch sizes: {sorted(sizes)}")
    samples = []
    for b in range(sizes.pop()):
        if len(parsed) == 1:  # one port: its arrays as they are when already sorted (no copy)
            (name,) = parsed
            t, n, val, ordered = parsed[name][b]
            n = n + offsets[name] if offsets[name] else n
            if ordered:
                samples.append((t, n, val))
                continue
        else:
            t = np.concatenate([parsed[k][b][0] for k in parsed])
            n = np.concatenate([parsed[k][b][1] + offsets[k] for k in parsed])
            val = np.concatenate([parsed[k][b][2] for k in parsed])
        o = np.argsort(t, kind="stable")
        samples.append((t[o], n[o], val[o]))
    return samples, 1, batched


def _events(net: Network, name: str, e: Any, dur: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """One port's events checked: ``(times, int64 indices, values, whether the times are sorted)``."""
    from ..simulation import EventStream

    if isinstance(e, EventStream):
        times, idx, vals = e.times, e.indices, e.values
    elif isinstance(e, tuple) and len(e) in (2, 3):
        times, idx, vals = e[0], e[1], (e[2] if len(e) == 3 else None)
    else:
        raise InputError(
            f"input {name!r}: an exact-time network takes event streams: evsim.EventStream(times_s, indices) or "
            f"(times_s, indices[, values]), or a list of them; got {type(e).__name__}"
        )
    n = net.population(name).size
    try:
        times = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"input {name!r}: event times must be numbers (seconds)") from None
    idx = np.asarray(idx)
    if times.ndim != 1 or times.shape != idx.shape:
        raise InputError(f"input {name!r}: times and indices must be 1-D arrays of one length")
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise InputError(f"input {name!r}: event indices must be integers in [0, {n})")
    times = np.ascontiguousarray(times)
    idx = np.ascontiguousarray(idx)
    if idx.dtype.kind == "u" and idx.dtype.itemsize == 8:
        idx = idx.view(np.int64)  # (a value over 2**63 reads as negative: out of range)
    idx64 = np.empty(0 if idx.dtype == np.int64 else idx.shape[0], np.int64)
    bad = _check(times, idx, idx64, float(dur), n)  # (and the indices as int64, when they are not)
    idx = idx if idx.dtype == np.int64 else idx64
    if bad == 1:
        raise InputError(f"input {name!r}: event times must be finite seconds >= 0")
    if bad == 2:
        raise InputError(f"input {name!r}: event at {times.max():g} s is not before duration={dur:g} s")
    if bad == 3:
        raise InputError(f"input {name!r}: event indices must be integers in [0, {n})")
    if vals is None:  # every event a spike: one value, shown for every event (the engine reads it once)
        v = np.broadcast_to(np.float64(1.0), times.shape)
    else:
        v = np.ascontiguousarray(np.broadcast_to(np.asarray(vals, dtype=np.float64), times.shape))
        if not np.all(np.isfinite(v)):
            raise InputError(f"input {name!r}: event values contain NaN or Inf")
    return times, idx, v, bad == 0


@njit
def _check(t: np.ndarray, idx: np.ndarray, out: np.ndarray, dur: float, n: int) -> int:
    """One pass over a port's events, writing the indices to ``out`` as int64 (unless ``out`` is empty): 1 a time
    not finite or negative, 2 one not before ``dur`` (the first fault in that order), 3 an index outside ``[0, n)``;
    else 0 when the times are sorted, -1 when they are not. Branch-free, so that it runs in SIMD lanes."""
    t_bad = late = idx_bad = False
    m = t.shape[0]
    cast = out.shape[0] == m
    for j in range(m):
        x = t[j]
        t_bad |= not (x >= 0.0 and x < np.inf)  # (NaN fails both)
        late |= x >= dur
        k = np.int64(idx[j])
        idx_bad |= bool(k < 0) | bool(k >= n)
        if cast:  # (a loop invariant: LLVM makes two loops, with and without)
            out[j] = k
    return 1 if t_bad else 2 if late else 3 if idx_bad else 0 if nondecreasing(t) else -1


@njit
def nondecreasing(t: np.ndarray) -> bool:
    """Whether times ``t`` are sorted (then so are their `evsim.engine.exact_neuron.grid_point` pairs); one
    branch-free pass (SIMD)."""
    unordered = False
    for j in range(1, t.shape[0]):
        unordered |= t[j] < t[j - 1]
    return not unordered
