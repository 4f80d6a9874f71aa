"""Inputs of an exact-time run: event streams with times in seconds, checked and flattened per sample."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..network import Network
from ..simulation import per_port_inputs, population_offsets


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
        t = np.concatenate([parsed[k][b][0] for k in parsed])
        n = np.concatenate([parsed[k][b][1] + offsets[k] for k in parsed])
        val = np.concatenate([parsed[k][b][2] for k in parsed])
        o = np.argsort(t, kind="stable")
        samples.append((t[o], n[o], val[o]))
    return samples, 1, batched


def _events(net: Network, name: str, e: Any, dur: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    if times.size and not (np.all(np.isfinite(times)) and times.min() >= 0):
        raise InputError(f"input {name!r}: event times must be finite seconds >= 0")
    if times.size and times.max() >= dur:
        raise InputError(f"input {name!r}: event at {times.max():g} s is not before duration={dur:g} s")
    if idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= n):
        raise InputError(f"input {name!r}: event indices must be integers in [0, {n})")
    v = np.ones(times.shape) if vals is None else np.broadcast_to(np.asarray(vals, dtype=np.float64), times.shape)
    if not np.all(np.isfinite(v)):
        raise InputError(f"input {name!r}: event values contain NaN or Inf")
    return times, idx.astype(np.int64), np.ascontiguousarray(v, dtype=np.float64)
