"""NIR data files: inputs from, and results to, NIR's data format (``nir.read_data`` / ``nir.write_data``).

A NIR data file (HDF5) is a `nir.NIRGraphData`: per node name a `nir.NIRNodeData` of named *observables*, each
either a `nir.TimeGriddedData` (``data [samples, steps, neurons]`` and ``dt``) or a `nir.EventData` (``idx`` and
``time`` ``[samples, events]``, padded with ``-1`` / ``inf``, times in seconds, ``n_neurons``, ``t_max``;
`nir.ValuedEventData` adds a ``value`` per event). Neuron indices are flat (C order) for multi-dimensional nodes.

* `read_nir_data` turns one node's observable into what `evsim.run` takes: a dense array ``[B, T, n]`` (gridded
  data, or events with ``dense=True``) or a list of `EventStream` (events, times converted to steps with the
  network's ``dt``; a time that is not on the grid is an error unless ``snap="floor"``).
* `write_nir_data` writes every population's spikes of a `Result` under the population's name (the NIR node
  name for a loaded graph), observable ``"spikes"``: `nir.EventData` (a count of ``c`` spikes in one step is ``c``
  events at that time; input values that are not whole counts become `nir.ValuedEventData`) or, with
  ``gridded=True``, `nir.TimeGriddedData`. The membrane of a non-spiking output population (an LI readout) is
  written as observable ``"v"`` (gridded). Event times are ``step * dt (+ time_shift)``.

Node names are written flat (nested graphs' names joined with '.', as `evsim.load` names populations): nir 1.0.8's
``write_data`` cannot write nested `NIRGraphData`. Note that NIR's own ``EventData.to_time_gridded`` bins with
``floor(time / dt)``, which puts a fair share of times ``k * dt`` into step ``k - 1`` by rounding error; write
with ``time_shift=dt / 2`` for readers that bin so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .. import limits
from ..errors import InputError
from ..simulation import EventStream, Result
from .files import atomic_path

__all__ = ["read_nir_data", "write_nir_data", "EventList"]

_GRID_TOL = 1e-6  # a time within this fraction of a step of k * dt is step k


class EventList(list):
    """A batch of `EventStream` (one per sample), as `evsim.run` takes it, with the recording's length: pass
    ``steps=x.steps`` to `evsim.run` to run for the whole recording (``t_max / dt``)."""

    steps: int
    dt: float
    t_max: float  # (exact mode, ``snap="seconds"``: the recording's length in seconds)


def read_nir_data(
    path: str | Path,
    node: str | None = None,
    *,
    dt: float | None = None,
    observable: str | None = None,
    dense: bool = False,
    snap: str | None = None,
) -> Any:
    """One node's observable of a NIR data file, as input for `evsim.run`.

    ``node`` and ``observable`` may be left out when the file has only one. Gridded data gives ``[B, T, n]``
    (checked against ``dt`` when given); event data needs ``dt`` (seconds per step, e.g. ``net.dt``) and gives an
    `EventList` of `EventStream` with times in steps (``dense=True``: ``[B, T, n]`` with ``T = t_max / dt``).
    ``snap="floor"`` bins event times into steps as NIR's ``to_time_gridded`` does, instead of requiring them on the
    grid; ``snap="seconds"`` keeps them as they are, float seconds (exact mode; no ``dt``). Raises `InputError`
    naming the file, node and observable.
    """
    import nir

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such NIR data file")
    if snap not in (None, "floor", "seconds"):
        raise InputError(f"snap must be None, 'floor' or 'seconds', got {snap!r}")
    from .h5safe import check_hdf5, read_checked

    check_hdf5(p, InputError)  # structure and declared sizes, before nir.read_data loads every dataset
    data = read_checked(p, lambda: nir.read_data(str(p)), "not a NIR data file", InputError)
    nodes = _flat_nodes(data)
    node = _choose(nodes, node, "node", f"{p}: holds data of", f"{p}: no data for node")
    obs = nodes[node].observables
    observable = _choose(
        obs, observable, "observable", f"{p}: node {node!r} has", f"{p}: node {node!r} has no observable"
    )
    o = obs[observable]
    where = f"{p}: node {node!r}, observable {observable!r}"
    return read_checked(p, lambda: _observable(o, where, dt, dense, snap), "malformed NIR data", InputError)


def _observable(o: Any, where: str, dt: float | None, dense: bool, snap: str | None) -> Any:
    import nir

    if isinstance(o, nir.TimeGriddedData):
        if dt is not None and not np.isclose(o.dt, dt, rtol=1e-9, atol=0.0):
            raise InputError(f"{where}: recorded at dt = {o.dt} s, but the network runs at dt = {dt} s")
        a = np.asarray(o.data)
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise InputError(f"{where}: data of dtype {a.dtype} is not numeric")
        return a
    if isinstance(o, nir.EventData):
        return _events(where, o, dt, dense, snap)
    raise InputError(f"{where}: unknown observable type {type(o).__name__}")


def _choose(options: Mapping[str, Any], name: str | None, what: str, many: str, missing: str) -> str:
    """``name`` if ``options`` has it, or the only key of ``options`` when ``name`` is None; else `InputError`:
    ``"{many} 3 {what}s [...]: say which ({what}=...)"`` or ``"{missing} 'name'; it has [...]"``."""
    if name is None:
        if len(options) != 1:
            raise InputError(f"{many} {len(options)} {what}s {sorted(options)}: say which ({what}=...)")
        return next(iter(options))
    if name not in options:
        raise InputError(f"{missing} {name!r}; it has {sorted(options)}")
    return name


def _flat_nodes(data: Any, prefix: str = "") -> dict[str, Any]:
    import nir

    out: dict[str, Any] = {}
    for name, v in data.nodes.items():
        if isinstance(v, nir.NIRGraphData):
            out.update(_flat_nodes(v, prefix + name + "."))
        else:
            out[prefix + name] = v
    return out


def _events(where: str, o: Any, dt_given: float | None, dense: bool, snap: str | None) -> Any:
    import nir

    seconds = snap == "seconds"  # exact mode: times stay float seconds
    if dt_given is None and not seconds:
        raise InputError(f"{where}: event times are in seconds: pass dt=... (seconds per step, e.g. net.dt)")
    dt = 1.0 if dt_given is None else dt_given
    if not (np.isfinite(dt) and dt > 0):
        raise InputError(f"dt must be a positive number of seconds, got {dt!r}")
    idx = np.asarray(o.idx)
    time = np.asarray(o.time, dtype=np.float64)
    if idx.ndim != 2 or idx.shape != time.shape:
        raise InputError(
            f"{where}: idx and time must be [samples, events] arrays of one shape, got {idx.shape} and {time.shape}"
        )
    valued = isinstance(o, nir.ValuedEventData)
    value = np.asarray(o.value, dtype=np.float64) if valued else None
    n = int(o.n_neurons)
    t_max = float(o.t_max)
    if n < 1 or not t_max > 0:
        raise InputError(f"{where}: n_neurons must be >= 1 and t_max > 0, got {n} and {t_max}")
    T = int(np.ceil(t_max / dt - _GRID_TOL)) if np.isfinite(t_max) and not seconds else None
    out = EventList()
    for b in range(idx.shape[0]):
        ok = idx[b] != -1
        i, t = idx[b][ok], time[b][ok]
        if i.size and (not np.issubdtype(i.dtype, np.integer) or i.min() < 0 or i.max() >= n):
            raise InputError(f"{where}: sample {b} has neuron indices outside [0, {n})")
        if not np.all(np.isfinite(t)) or (t.size and t.min() < 0):
            raise InputError(f"{where}: sample {b} has event times that are negative, NaN or infinite")
        if seconds:
            out.append(EventStream(t, i.astype(np.int64), None if value is None else value[b][ok]))
            continue
        s = t / dt
        if snap == "floor":
            k = np.floor(s + _GRID_TOL)
        else:
            k = np.round(s)
            off = np.abs(s - k) > _GRID_TOL
            if off.any():
                j = int(np.flatnonzero(off)[0])
                raise InputError(
                    f"{where}: event time {t[j]!r} s (sample {b}) is not on the dt = {dt} s grid "
                    f"({s[j]:.4f} steps); pass snap='floor' to bin times into steps as NIR's "
                    "to_time_gridded does"
                )
        k = k.astype(np.int64)
        if T is not None and k.size and k.max() >= T:
            raise InputError(
                f"{where}: sample {b} has an event at step {k.max()}, beyond t_max = {t_max} s ({T} steps of {dt} s)"
            )
        order = np.argsort(k, kind="stable")
        v = None if value is None else value[b][ok][order]
        if v is not None and not np.all(np.isfinite(v)):
            raise InputError(f"{where}: sample {b} has event values that are NaN or infinite")
        out.append(EventStream(k[order], i[order].astype(np.int64), v))
    steps = T if T is not None else max((int(e.times.max()) + 1 for e in out if e.times.size), default=0)
    if dense:
        limits.check_memory(f"{where}: dense input [{len(out)}, {steps}, {n}]", 8.0 * len(out) * steps * n)
        x = np.zeros((len(out), steps, n), dtype=np.float64 if valued else np.int64)
        for b, e in enumerate(out):
            np.add.at(x[b], (e.times, e.indices), 1 if e.values is None else e.values)
        return x
    if seconds:
        out.t_max = t_max
        return out
    out.steps, out.dt = int(steps), float(dt)
    return out


def write_nir_data(
    path: str | Path,
    result: Result,
    dt: float | None = None,
    *,
    gridded: bool = False,
    time_shift: float = 0.0,
    populations: Any = None,
) -> None:
    """Write every population's spikes of ``result`` (or those named in ``populations``) to a NIR data file,
    atomically; see the module docstring for the layout. ``dt`` defaults to the network's. The result of an exact
    run (`evsim.exact`) is written as events at their times in seconds, ``t_max`` its duration (no ``dt``)."""
    import nir

    net = result.net
    if result.duration is not None:
        if gridded:
            raise InputError("write_nir_data: an exact run's spikes have no time grid: write them as events")
        dt = 1.0  # (spike times are seconds already)
    dt = net.dt if dt is None else dt
    if dt is None or not (np.isfinite(dt) and dt > 0):
        raise InputError(f"write_nir_data: needs dt (seconds per step); the network has none, got dt={dt!r}")
    if not 0.0 <= time_shift < dt:
        raise InputError(f"write_nir_data: time_shift must lie in [0, dt), got {time_shift!r}")
    names = [p.name for p in net.populations] if populations is None else list(populations)
    B, T = result.batch or 1, result.steps
    nodes: dict[str, Any] = {}
    membranes = _membranes(result)
    for name in names:
        if name not in result.spikes:
            raise InputError(
                f"write_nir_data: no population {name!r}; the network has {[p.name for p in net.populations]}"
            )
        if "/" in name:
            raise InputError(f"write_nir_data: population {name!r}: NIR data node names cannot contain '/'")
        pop = net.population(name)
        sp = result.spikes[name]
        if result.duration is not None:
            nodes[name] = nir.NIRNodeData({"spikes": _event_data(sp, B, pop.size, result.duration, 1.0, 0.0)})
            continue
        if gridded:
            d = sp.dense(T, pop.size, B)
            if np.all((d == 0) | (d == 1)):
                d = d.astype(bool)
            obs: dict[str, Any] = {"spikes": nir.TimeGriddedData(d, float(dt))}
        else:
            obs = {"spikes": _event_data(sp, B, pop.size, T * float(dt), float(dt), time_shift)}
        if name in membranes:
            obs["v"] = nir.TimeGriddedData(membranes[name], float(dt))
        nodes[name] = nir.NIRNodeData(obs)
    with atomic_path(path) as tmp:
        nir.write_data(tmp, nir.NIRGraphData(nodes))


def _membranes(result: Result) -> dict[str, np.ndarray]:
    """The membrane trace ``[B, T, n]`` of each non-spiking output population (what `Result.output` holds)."""
    out, start = {}, 0
    o = np.asarray(result.output)
    if result.batch is None:
        o = o[None]
    for name in result.net.outputs:
        pop = result.net.population(name)
        if pop.neuron is not None and not pop.neuron.spiking:
            out[name] = np.ascontiguousarray(o[..., start : start + pop.size], dtype=np.float64)
        start += pop.size
    return out


def _event_data(sp: Any, B: int, n: int, t_max: float, dt: float, shift: float) -> Any:
    import nir

    counts = np.asarray(sp.counts)
    whole = bool(np.all((counts == np.round(counts)) & (counts >= 1)))
    per = []
    for b in range(B):
        sel = sp.samples == b
        t, i, c = sp.times[sel], sp.indices[sel], counts[sel]
        if whole:  # a count of c spikes is c events at that time
            reps = c.astype(np.int64)
            t, i, c = np.repeat(t, reps), np.repeat(i, reps), None
        order = np.lexsort((i, t))
        per.append((t[order], i[order], None if c is None else c[order]))
    E = max(1, max(len(t) for t, _, _ in per))
    idx = np.full((B, E), -1, dtype=np.int64)
    time = np.full((B, E), np.inf)
    value = np.zeros((B, E))
    for b, (t, i, c) in enumerate(per):
        idx[b, : len(t)] = i
        time[b, : len(t)] = t * dt + shift
        if c is not None:
            value[b, : len(t)] = c
    if whole:
        return nir.EventData(idx, time, int(n), t_max)
    return nir.ValuedEventData(idx, time, int(n), t_max, value)
