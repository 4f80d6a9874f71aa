"""Encoders for static data (images, feature vectors): values -> spikes on the model's grid, or spike times.

All take ``x`` of shape ``[n]`` (one sample) or ``[B, n]`` (a batch; any trailing shape is flattened in C order)
with values in [0, 1] (scale first, e.g. ``x / 255``):

* `rate` (Poisson / Bernoulli): ``spike[b, t, i] = U[b, t, i] < gain * x[b, i]`` with ``U`` uniform from
  ``numpy.random.default_rng(seed).random((B, T, n))``: seeded, so a rerun gives the same raster (the bundled
  digits raster is ``rate(intensity, 25, seed=1234)``). Returns ``[B, T, n]`` uint8.
* `latency_times` (time to first spike, exact time) is `evsim.ttfs.ttfs_encode`: ``t_i = t_max (1 - x_i)`` (with
  its defaults), the larger the value the earlier the spike, values at 0 silent; float seconds, one `EventStream`
  per sample, for evsim's exact continuous-time mode (``evsim.run(net, x, duration=...)``).
* `latency_steps` (the same on a grid of ``steps``): ``step_i = round(min((T - 1)(1 - x_i), (T - 1)(1 - threshold)))``
  (round half to even), values below ``threshold`` spike at that last step unless ``clip=True``: snnTorch's
  ``spikegen.latency(x, num_steps=T, threshold, normalize=True, linear=True[, clip])``. Returns ``[B, T, n]`` uint8.
* `direct` (direct current / constant input): the value itself at every step, ``[B, T, n]`` float64 (the input
  layer then sees a current, as snnTorch/SpikingJelly models fed the static image do).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..ttfs import ttfs_encode as latency_times

__all__ = ["rate", "latency_times", "latency_steps", "direct"]


def _values(x: Any, name: str, unit: bool = True) -> tuple[np.ndarray, bool]:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0:
        raise InputError(f"{name}: expected values of shape [n] or [B, n], got a scalar")
    batched = a.ndim >= 2
    a = a.reshape(a.shape[0], -1) if batched else a.reshape(1, -1)
    if not np.all(np.isfinite(a)):
        raise InputError(f"{name}: values contain NaN or infinity")
    if unit and a.size and (a.min() < 0 or a.max() > 1):
        raise InputError(f"{name}: values must lie in [0, 1] (got {a.min()}..{a.max()}); scale them first")
    return a, batched


def _steps(steps: Any, name: str) -> int:
    if int(steps) != steps or steps < 1:
        raise InputError(f"{name}: steps must be a positive integer, got {steps!r}")
    return int(steps)


def rate(x: Any, steps: int, *, gain: float = 1.0, seed: int = 0) -> np.ndarray:
    """Bernoulli (Poisson-like) rate code, seeded: ``[B, T, n]`` (``[T, n]`` for one sample) of 0/1."""
    a, batched = _values(x, "rate")
    T = _steps(steps, "rate")
    if not 0 <= gain * (a.max() if a.size else 0) <= 1:
        raise InputError(f"rate: gain * x must be a probability in [0, 1], got gain {gain}")
    u = np.random.default_rng(seed).random((a.shape[0], T, a.shape[1]))
    out = (u < gain * a[:, None, :]).astype(np.uint8)
    return out if batched else out[0]


def latency_steps(x: Any, steps: int, *, threshold: float = 0.01, clip: bool = False) -> np.ndarray:
    """Linear latency code on a grid of ``steps`` (snnTorch ``latency(normalize=True, linear=True)``): one spike
    per value at ``round(min((T-1)(1-x), (T-1)(1-threshold)))``; ``clip=True`` drops values below ``threshold``."""
    a, batched = _values(x, "latency_steps")
    T = _steps(steps, "latency_steps")
    tau = T - 1
    k = np.round(np.minimum(tau * (1.0 - a), tau * (1.0 - threshold))).astype(np.int64)
    k = np.clip(k, 0, T - 1)
    out = np.zeros((a.shape[0], T, a.shape[1]), dtype=np.uint8)
    b, i = np.nonzero(np.ones_like(a, dtype=bool) if not clip else a >= threshold)
    out[b, k[b, i], i] = 1
    return out if batched else out[0]


def direct(x: Any, steps: int) -> np.ndarray:
    """Direct current: ``x`` repeated at each of ``steps`` steps, ``[B, T, n]`` float64 (any real values)."""
    a, batched = _values(x, "direct", unit=False)
    T = _steps(steps, "direct")
    out = np.repeat(a[:, None, :], T, axis=1)
    return out if batched else out[0]
