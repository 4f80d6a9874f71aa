"""The pure Numba kernels of the discrete neuron (scalars in, scalars out), shared by the engine's event loop.

The equations are in `evsim.neurons` (module docstring), which holds the parameter record they read and
re-exports these names. Because the update is linear between inputs, ``k`` input-free steps have a closed form:

* `advance`: the state after ``k`` input-free steps (stepped up to `SHORT_GAP` steps, closed form beyond);
* `step_from`: the state at the ``k``-th step when input arrives there; `spike_count`: the threshold rule;
* `next_crossing`: when a neuron with a constant drive crosses threshold without input (the engine's wakes);
* `geom`, `cross_sum`: the geometric sums of the closed form.

The dense reference (`evsim.reference`) implements the per-step equations on its own, as an independent oracle.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import njit

SHORT_GAP = 16  # gaps up to this many steps are stepped, longer ones use the closed form


@njit
def geom(a: float, k: int) -> float:
    """sum_{j<k} a**j."""
    if a == 1.0:
        return float(k)
    return (1.0 - a**k) / (1.0 - a)


@njit
def cross_sum(a: float, b: float, k: int) -> float:
    """sum_{m<k} b**(k-1-m) a**m."""
    if a == b:
        return k * a ** (k - 1)
    return (b**k - a**k) / (b - a)


@njit
def advance(
    i: float, v: float, k: int, alpha: float, beta: float, g_i: float, i_bias: float, v_bias: float, v_min: float
) -> tuple[float, float]:
    """State after ``k >= 1`` input-free steps: the per-step equations for short gaps (cheaper than powers, and
    the same arithmetic as a clock-driven update), the closed form for long ones."""
    if k <= SHORT_GAP:
        for _ in range(k):
            v = beta * v + g_i * i + v_bias
            if v < v_min:
                v = v_min
            i = alpha * i + i_bias
        return i, v
    h = cross_sum(alpha, beta, k)
    gb = geom(beta, k)
    i_term = i * h
    if i_bias != 0.0:
        i_term += i_bias * (gb - h) / (1.0 - alpha)
    v_new = beta**k * v + g_i * i_term + v_bias * gb
    i_new = alpha**k * i + i_bias * geom(alpha, k)
    if v_new < v_min:
        v_new = v_min
    return i_new, v_new


@njit
def step_from(
    i: float,
    v: float,
    k: int,
    x: float,
    alpha: float,
    beta: float,
    in_gain: float,
    g_i: float,
    g_x: float,
    i_bias: float,
    v_bias: float,
    v_min: float,
) -> tuple[float, float]:
    """State at the ``k``-th step (``k >= 1``) after ``(i, v)`` when input ``x`` arrives at that step: ``k - 1``
    input-free steps in closed form, then the step itself with the per-step equations (clamped last, so the clamp
    sees the input exactly as a clock-driven update does)."""
    if k > 1:
        i, v = advance(i, v, k - 1, alpha, beta, g_i, i_bias, v_bias, v_min)
    v_new = beta * v + g_i * i + g_x * x + v_bias
    if v_new < v_min:
        v_new = v_min
    return alpha * i + in_gain * x + i_bias, v_new


@njit
def spike_count(v: float, theta: float, ge: bool, multi: bool) -> int:
    if (v >= theta) if ge else (v > theta):
        if multi:
            q = np.floor(v / theta)  # a float: Numba's math.floor converts to int64, which wraps past 2**63
            if not q < 2.0**40:
                raise OverflowError(
                    "multi-spike: over 2**40 spikes from one neuron in one step; the activity "
                    "diverges (check the weights and thresholds)"
                )
            c = int(q)
            return c if c > 1 else 1
        return 1
    return 0


@njit
def next_crossing(
    i: float,
    v: float,
    horizon: int,
    alpha: float,
    beta: float,
    g_i: float,
    i_bias: float,
    v_bias: float,
    v_min: float,
    theta: float,
    ge: bool,
) -> int:
    """Smallest ``k`` in ``1..horizon`` at which the input-free trajectory crosses threshold, or -1.

    Uses the same `step_from` as the engine, so a predicted crossing is the crossing the engine computes. Stops
    early once an upper bound proves the membrane stays below threshold: with a drive ``u_m = g_i i_{m-1} +
    v_bias`` bounded by ``U``, ``v`` never exceeds ``max(v, U / (1 - beta))``.
    """
    if not math.isfinite(theta):
        return -1
    i_star_ok = alpha < 1.0
    i_star = i_bias / (1.0 - alpha) if i_star_ok else i
    for k in range(1, horizon + 1):
        # bound from the state after k-1 steps
        if k == 1:
            ik, vk = i, v
        else:
            ik, vk = advance(i, v, k - 1, alpha, beta, g_i, i_bias, v_bias, v_min)
        u = max(g_i * ik, g_i * i_star) + v_bias
        if beta < 1.0:
            bound = max(vk, u / (1.0 - beta))
        elif u <= 0.0:
            bound = vk
        else:
            bound = math.inf
        bound = max(bound, v_min)
        if (bound < theta) if ge else (bound <= theta):
            return -1
        _, vn = step_from(i, v, k, 0.0, alpha, beta, 0.0, g_i, 0.0, i_bias, v_bias, v_min)
        if (vn >= theta) if ge else (vn > theta):
            return k
    return -1
