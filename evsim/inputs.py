"""The inputs of `evsim.run` (discrete mode), checked and normalised once, before any kernel sees them.

A network's input is given per input port (`per_port_inputs`): a dense array ``[T, n]`` or ``[B, T, n]`` (or in
the population's shape), an `EventStream` or ``(times, indices[, values])`` tuple, or a list of those (a batch).
`_normalise_cat` turns it into the engine's form: the events of every sample one after the other,
``(ev_t, ev_n, ev_val, ev_off)`` (sample b's from ``ev_off[b]``, sorted by step, global neuron indices laid out by
`population_offsets`), the number of steps and whether it was a batch; `_normalise` gives the same per sample, and
`as_dense_inputs` the dense ``{port: [T, n]}`` per sample that `evsim.reference.simulate` takes. Errors are
`evsim.InputError`s naming the port.

`evsim.simulation` re-exports these names (``from evsim.simulation import EventStream`` stays valid).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from .engine.batch import events_of_dense
from .engine.chunked_input import ChunkedInput
from .errors import InputError
from .network import Network


@dataclasses.dataclass(frozen=True)
class EventStream:
    """Input events of one sample: ``times`` in steps (integers), ``indices`` of input neurons (flat, C order),
    optional ``values`` (default 1: a spike)."""

    times: np.ndarray
    indices: np.ndarray
    values: np.ndarray | None = None


def per_port_inputs(net: Network, x: Any) -> dict[str, Any]:
    """``x`` split by input port: a mapping must name every port and no other; anything else is the one port's."""
    ports = net.inputs
    if isinstance(x, Mapping):
        unknown = set(x) - set(ports)
        if unknown:
            raise InputError(f"unknown input port(s) {sorted(unknown)}; the network's inputs are {list(ports)}")
        missing = set(ports) - set(x)
        if missing:
            raise InputError(f"no input given for port(s) {sorted(missing)}")
        return {p: x[p] for p in ports}
    if len(ports) == 1:
        return {ports[0]: x}
    raise InputError(f"the network has {len(ports)} input ports {list(ports)}: pass a dict {{port: input}}")


def population_offsets(net: Network) -> dict[str, int]:
    """Where each population starts in the global neuron index (populations laid out one after the other)."""
    offsets, off = {}, 0
    for p in net.populations:
        offsets[p.name] = off
        off += p.size
    return offsets


def _concatenated(samples: Any) -> tuple:
    """Inputs as ``(ev_t, ev_n, ev_val, ev_off)`` (sample b's events from ``ev_off[b]``): as they are, or a list of
    per-sample ``(ev_t, ev_n, ev_val)`` joined."""
    if isinstance(samples, tuple):
        return samples
    off = np.zeros(len(samples) + 1, dtype=np.int64)
    np.cumsum([s[0].shape[0] for s in samples], out=off[1:])
    if not samples:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), off
    return (*(np.concatenate([s[k] for s in samples]) for k in range(3)), off)


def _head(ev: tuple, k: int) -> tuple:
    """The first ``k`` samples of concatenated inputs."""
    t, n, v, off = ev
    return t[: off[k]], n[: off[k]], v[: off[k]], off[: k + 1]


def _normalise(net: Network, x: Any, steps: int | None) -> tuple[list, int, bool]:
    """Per sample ``(ev_t, ev_n, ev_val)`` with global neuron indices, the number of steps, batched or not."""
    (t, n, v, off), T, batched = _normalise_cat(net, x, steps)
    return [(t[a:z], n[a:z], v[a:z]) for a, z in zip(off[:-1], off[1:])], T, batched


def _normalise_cat(net: Network, x: Any, steps: int | None, lazy: bool = False) -> tuple[Any, int, bool]:
    """The inputs of every sample one after the other, ``(ev_t, ev_n, ev_val, ev_off)`` (sample b's events from
    ``ev_off[b]``, sorted by step; global neuron indices, int64, int64, float64), the number of steps, batched or
    not. ``lazy``: one input port given as a dense array comes as a `ChunkedInput` instead (converted later)."""
    ports = net.inputs
    if not ports:
        if x is not None:
            raise InputError("the network has no input port (its sources are Poisson populations): pass steps=T only")
        if steps is None or int(steps) != steps or steps < 1:
            raise InputError("a network without input ports needs steps=T (a positive number of steps)")
        empty = np.zeros(0, dtype=np.int64)
        return (empty, empty, np.zeros(0), np.zeros(2, dtype=np.int64)), int(steps), False
    if x is None:
        raise InputError(f"no input given; the network's input ports are {list(ports)}")
    per_port = per_port_inputs(net, x)
    offsets = population_offsets(net)
    parsed = {name: _parse_port(net, name, v, steps, lazy and len(per_port) == 1) for name, v in per_port.items()}
    ((name0, (ev0, T0, batched0)),) = parsed.items() if len(parsed) == 1 else (("", (None, 0, False)),)
    if isinstance(ev0, np.ndarray):  # (lazy, one dense port: its array)
        if ev0.shape[0] == 0:
            raise InputError("the input holds no sample (a batch of 0)")
        return ChunkedInput(ev0, offsets[name0], name0), int(T0), batched0
    Ts = {name: T for name, (_, T, _) in parsed.items()}
    T = steps if steps is not None else max(Ts.values())
    batch_sizes = {len(ev[3]) - 1 for ev, _, _ in parsed.values()}
    if len(batch_sizes) != 1:
        raise InputError(f"input ports have different batch sizes: {sorted(batch_sizes)}")
    B = batch_sizes.pop()
    if B == 0:
        raise InputError("the input holds no sample (a batch of 0)")
    batched = any(b for _, _, b in parsed.values())
    evs = [ev for ev, _, _ in parsed.values()]
    if len(evs) == 1:  # (one port: its arrays as they are)
        (t, n, v, off), first = evs[0], offsets[next(iter(parsed))]
        t, v, off = t.astype(np.int64, copy=False), v.astype(np.float64, copy=False), off.astype(np.int64)
        n = n.astype(np.int64) + first if first else n.astype(np.int64, copy=False)
    else:
        t = np.concatenate([e[0] for e in evs]).astype(np.int64, copy=False)
        n = np.concatenate([e[1] + offsets[name] for name, e in zip(parsed, evs)]).astype(np.int64, copy=False)
        v = np.concatenate([e[2] for e in evs]).astype(np.float64, copy=False)
        off = sum(e[3] for e in evs).astype(np.int64)
    dense = len(evs) == 1 and isinstance(next(iter(per_port.values())), np.ndarray)  # (in order: `dense_events`)
    if not dense and (len(evs) > 1 or not np.all(np.isin(np.flatnonzero(t[1:] < t[:-1]) + 1, off))):  # (steps
        # go back only where a sample starts: in order already)
        b = np.concatenate([np.repeat(np.arange(B, dtype=np.int64), np.diff(e[3])) for e in evs])
        o = np.argsort(b * (int(T) + 1) + t, kind="stable")  # by sample, then step (ties: port order, given order)
        t, n, v = t[o], n[o], v[o]
    return (t, n, v, off), int(T), batched


def _parse_port(net: Network, name: str, x: Any, steps: int | None, lazy: bool = False) -> tuple[Any, int, bool]:
    """One port's input: its events ``(t, local index, value, off)`` (sample b's from ``off[b]``), T, batched;
    ``lazy``: a dense input as the C-contiguous array that `events_of_dense` takes, not converted."""
    pop = net.population(name)
    n = pop.size
    shape = pop.shape or (n,)
    if isinstance(x, (EventStream, tuple)):
        return _concatenated([_events(name, n, x, steps)]), _events_T(x, steps), False
    if isinstance(x, list) and x and isinstance(x[0], (EventStream, tuple)):
        evs = [_events(name, n, e, steps) for e in x]
        return _concatenated(evs), max(_events_T(e, steps) for e in x), True
    try:
        a = np.asarray(x)
    except Exception as e:  # noqa: BLE001 - anything not array-like
        raise InputError(f"input {name!r}: cannot read {type(x).__name__} as an array: {e}") from None
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise InputError(f"input {name!r}: expected numbers, got dtype {a.dtype}")
    nd = len(shape)
    if a.ndim >= nd + 1 and tuple(a.shape[-nd:]) == tuple(shape) and a.ndim in (nd + 1, nd + 2):
        a = a.reshape(a.shape[: a.ndim - nd] + (n,))
    if a.ndim == 2 and a.shape[1] == n:
        batched, a = False, a[None]
    elif a.ndim == 3 and a.shape[2] == n:
        batched = True
    else:
        want = f"[T, {n}] or [B, T, {n}]" + (f" (or [T, {', '.join(map(str, shape))}])" if nd > 1 else "")
        raise InputError(f"input {name!r}: got shape {a.shape}, expected {want} — the input port has {n} neurons")
    if a.dtype.kind not in "biu":  # (integers and booleans are found and converted as they are: faster)
        a = a.astype(np.float64, copy=False)
        if not np.all(np.isfinite(a)):
            raise InputError(f"input {name!r}: contains NaN or Inf")
    T = a.shape[1]
    if steps is not None and steps != T:
        raise InputError(f"input {name!r}: has {T} steps but steps={steps} was asked for")
    if a.dtype.kind == "b":
        a = a.view(np.uint8)
    elif a.dtype not in (np.uint8, np.int64, np.float64):  # (the compiled variants of `dense_events`)
        a = a.astype(np.float64)
    a = np.ascontiguousarray(a)
    return (a if lazy else events_of_dense(a)), T, batched


def _events_T(e: Any, steps: int | None) -> int:
    if steps is not None:
        return int(steps)
    times = np.asarray(e.times if isinstance(e, EventStream) else e[0])
    return int(times.max()) + 1 if times.size else 0


def _events(name: str, n: int, e: Any, steps: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if isinstance(e, EventStream):
        times, idx, vals = e.times, e.indices, e.values
    else:
        if len(e) not in (2, 3):
            raise InputError(f"input {name!r}: an event tuple is (times, indices) or (times, indices, values)")
        times, idx = e[0], e[1]
        vals = e[2] if len(e) == 3 else None
    times = np.asarray(times)
    idx = np.asarray(idx)
    if times.shape != idx.shape or times.ndim != 1:
        raise InputError(
            f"input {name!r}: times and indices must be 1-D arrays of one length, got {times.shape} and {idx.shape}"
        )
    if times.size and not np.issubdtype(times.dtype, np.integer):
        if not np.all(np.isfinite(times)) or np.any(times != np.round(times)):
            raise InputError(f"input {name!r}: event times are steps and must be whole numbers")
    if times.size and times.min() < 0:
        raise InputError(f"input {name!r}: negative event time {times.min()}")
    if steps is not None and times.size and times.max() >= steps:
        raise InputError(f"input {name!r}: event at step {times.max()} is beyond steps={steps}")
    if idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= n):
        raise InputError(f"input {name!r}: event indices must be integers in [0, {n})")
    v = np.ones(times.shape) if vals is None else np.broadcast_to(np.asarray(vals, dtype=np.float64), times.shape)
    if not np.all(np.isfinite(v)):
        raise InputError(f"input {name!r}: event values contain NaN or Inf")
    return times.astype(np.int64), idx.astype(np.int64), v


def as_dense_inputs(net: Network, x: Any, steps: int | None = None) -> tuple[list[dict[str, np.ndarray]], int]:
    """Inputs as dense ``{port: [T, n]}`` per sample (what `evsim.reference.simulate` takes)."""
    samples, T, _ = _normalise(net, x, steps)
    offsets = population_offsets(net)
    out = []
    for ev_t, ev_n, ev_val in samples:
        d = {}
        for name in net.inputs:
            o, n = offsets[name], net.population(name).size
            a = np.zeros((T, n))
            sel = (ev_n >= o) & (ev_n < o + n)
            np.add.at(a, (ev_t[sel], ev_n[sel] - o), ev_val[sel])
            d[name] = a
        out.append(d)
    return out, T
