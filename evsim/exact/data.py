"""A dataset's samples as exact-time input (`evsim run --mode exact`): every event keeps its own time, in seconds.

`exact_inputs(net, ds, pipe, ...)` yields ``(EventStream(times_s, indices, values), duration_s, label)`` per
sample of an `evsim.data` dataset:

* raw events (SHD/SSC, AEDAT4, EVT, tonic arrays, folders): the input pipeline's window, crop, downsample, channel
  binning and polarity apply (`evsim.data.binning.select`), the time binning does not: an event at ``t`` seconds
  on the file's clock arrives at ``t - t0`` (``t0``: the window's start, or the first event with ``origin="first"``,
  else 0);
* NIR data files: their event times as written (seconds); their ``t_max`` is the default duration;
* dense rasters ``[T, n]`` (on a grid by nature): a count ``c`` in frame ``k`` is one event of value ``c`` at
  ``k * time_step`` seconds (``time_step`` from the pipeline, else the model's ``dt``), duration ``T * time_step``.

``duration`` (seconds) runs every sample over ``[0, duration)`` and leaves out its later events; without it, a
sample runs for its natural length (NIR ``t_max``, a raster's frames, the window) and raw events need one.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ..errors import InputError
from ..network import Network
from ..simulation import EventStream


def exact_inputs(
    net: Network, ds: Any, pipe: Any, duration: float | None = None, limit: int | None = None
) -> Iterator[tuple[EventStream, float, Any]]:
    """``(events in seconds, duration, label)`` per sample of ``ds`` (at most ``limit``); see the module docstring."""
    from ..data.dataset import NIRDataset, _Timed

    if len(net.inputs) != 1:
        raise InputError(f"the model has {len(net.inputs)} input ports {list(net.inputs)}; datasets feed one")
    if duration is not None and not (np.isfinite(duration) and duration > 0):
        raise InputError(f"--duration must be a positive number of seconds, got {duration!r}")
    port = net.population(net.inputs[0])
    n_in, shape = port.size, tuple(port.shape or (port.size,))
    src = getattr(ds, "path", type(ds).__name__)
    natural = None
    if isinstance(ds, NIRDataset):
        ds.bind(None, snap="seconds")
        t_max = getattr(ds._items(), "t_max", np.inf)
        natural = float(t_max) if np.isfinite(t_max) else None
    elif pipe.t_start is not None and pipe.t_stop is not None:
        natural = pipe.t_stop - pipe.t_start
    for k, (sample, label) in enumerate(ds):
        if limit is not None and k >= limit:
            return
        where = f"{src}: sample {k}"
        if isinstance(sample, _Timed):  # (a NIR data file bound to a grid elsewhere)
            raise InputError(f"{where}: its events were put on a time grid; exact mode needs them in seconds")
        if isinstance(sample, EventStream):
            t, idx, val = np.asarray(sample.times, dtype=float), np.asarray(sample.indices), sample.values
            dur = duration or natural
        elif isinstance(sample, np.ndarray) and sample.dtype.names is None:
            step = _step(pipe, net, where)
            raster = sample.reshape(sample.shape[0], -1)
            frame, idx = np.nonzero(raster)
            t, val = np.asarray(frame * step, dtype=float), raster[frame, idx].astype(np.float64)
            dur = duration or sample.shape[0] * step
        else:
            t, idx, val, dur = _events(sample, pipe, n_in, shape, where, duration or natural)
        if dur is None:
            raise InputError(
                f"{where}: raw events have no length of their own: give --duration SECONDS (or a --window START STOP)"
            )
        keep = t < dur
        if idx.size and idx.max() >= n_in:
            raise InputError(f"{where}: input index {int(idx.max())} is beyond the model's {n_in} inputs")
        yield EventStream(t[keep], idx[keep].astype(np.int64), None if val is None else val[keep]), float(dur), label


def _step(pipe: Any, net: Network, where: str) -> float:
    step = pipe.time_step if pipe.time_step is not None else net.dt
    if step is None:
        raise InputError(f"{where}: a raster of frames: give its seconds per frame (--time-step SECONDS) in exact mode")
    return float(step)


def _events(ev: Any, pipe: Any, n_in: int, shape: tuple, where: str, dur: float | None) -> tuple:
    from ..data.binning import select

    W, H, P = pipe.out_size(ev.sensor_size)
    if not (H == 1 and P == 1) and (P * H * W != n_in or (len(shape) == 3 and shape != (P, H, W))):
        raise InputError(
            f"{where}: events of (C, H, W) = ({P}, {H}, {W}) from the sensor {ev.sensor_size} (W, H, P) do not fit "
            f"the model's input {shape}; crop, downsample or merge polarities (--crop, --downsample, --polarity merge)"
        )
    keep, flat, vals = select(ev, pipe)
    sec = ev.seconds()
    t0 = pipe.t_start if pipe.t_start is not None else (sec[0] if pipe.origin == "first" and len(ev) else 0.0)
    return sec[keep] - t0, flat, vals, dur
