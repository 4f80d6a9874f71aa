"""Time-to-first-spike (TTFS) coding for exact (continuous-time) runs: static data in, a class decision out.

Encoding (`ttfs_encode`): each feature sends at most one spike, earlier for a larger value (linear latency code)::

    t_i = t_min + (t_max - t_min) * (x_max - x_i) / (x_max - x_min),   x_i clipped to [x_min, x_max]

so x_max fires at t_min and x_min at t_max; a feature at or below x_min sends no spike when ``silent_at_min``
(a blank pixel carries no information). Times are float64 seconds, the unit of `evsim.run` in exact mode.

Decoding (`first_spike_class`): the class is the output neuron that fires first; ties go to the lowest index
(as ``np.argmin``), and a sample whose output neurons are all silent gets class -1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError
from .simulation import EventStream


def ttfs_encode(
    x: Any,
    t_max: float,
    *,
    t_min: float = 0.0,
    x_min: float = 0.0,
    x_max: float = 1.0,
    silent_at_min: bool = True,
) -> EventStream | list[EventStream]:
    """One spike per feature at the latency above; ``x`` is ``[n_features]`` (one sample: one `EventStream`) or
    ``[B, ...]`` (a batch: a list of streams; each sample is flattened in C order). Times in seconds."""
    a = np.asarray(x, dtype=np.float64)
    if not (np.isfinite(t_max) and np.isfinite(t_min) and 0.0 <= t_min < t_max):
        raise InputError(f"ttfs_encode: need 0 <= t_min < t_max (seconds, finite), got t_min={t_min}, t_max={t_max}")
    if not (np.isfinite(x_min) and np.isfinite(x_max) and x_min < x_max):
        raise InputError(f"ttfs_encode: need x_min < x_max (finite), got x_min={x_min}, x_max={x_max}")
    if a.ndim == 0 or a.size == 0:
        raise InputError(f"ttfs_encode: x must be a non-empty array [n_features] or [B, ...], got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise InputError("ttfs_encode: x has NaN or infinite values")
    single = a.ndim == 1
    rows = a.reshape(1 if single else a.shape[0], -1)
    c = np.clip(rows, x_min, x_max)
    times = t_min + (t_max - t_min) * (x_max - c) / (x_max - x_min)
    out = []
    for t, v in zip(times, c):
        keep = v > x_min if silent_at_min else np.ones(v.shape, dtype=bool)
        idx = np.flatnonzero(keep)
        order = np.argsort(t[idx], kind="stable")  # time order; equal times keep feature order
        out.append(EventStream(t[idx][order], idx[order].astype(np.int64)))
    return out[0] if single else out


def first_spike_class(first_times: Any) -> np.ndarray | int:
    """Class by earliest output spike from first-spike times ``[n_out]`` or ``[B, n_out]`` (``inf`` or NaN for a
    silent neuron): the index of the smallest time, ties to the lowest index, -1 where all are silent."""
    t = np.asarray(first_times, dtype=np.float64)
    if t.ndim not in (1, 2) or t.shape[-1] == 0:
        raise InputError(f"first_spike_class: need times [n_out] or [B, n_out], got shape {t.shape}")
    t = np.where(np.isnan(t), np.inf, t)
    cls = np.argmin(t, axis=-1)
    cls = np.where(np.all(np.isinf(t), axis=-1), -1, cls)
    return int(cls) if t.ndim == 1 else cls
