"""Poisson sources: one independent count per neuron per step (`_draw_poisson`), by inversion of the tabulated CDF
(`evsim.engine._poisson_cdf`), the search started from a guide table of `GUIDE` entries, with a SplitMix64
generator (`_uniform`).

Compiled only for models with a Poisson source (`run_discrete` gets ``pcdf=None`` otherwise, and Numba prunes the
call: less to compile on a first run).
"""

from __future__ import annotations

import numpy as np

from .._jit import njit_inline

GUIDE = 1024  # entries of each Poisson source's guide table (`evsim.engine._poisson_cdf`)


@njit_inline
def _uniform(state: np.uint64) -> tuple:
    """The next state of the SplitMix64 generator and a uniform number in [0, 1) from it (fast, and the same
    stream on every platform for a given seed). Scalars in and out: the state stays in a register."""
    state = state + np.uint64(0x9E3779B97F4A7C15)
    z = (state ^ (state >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return state, float(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit_inline
def _draw_poisson(
    m: int,
    rng: np.uint64,
    P: int,
    pop_off: np.ndarray,
    poisson: np.ndarray,
    pcdf: np.ndarray,
    pcdf_off: np.ndarray,
    pguide: np.ndarray,
    sb_n: np.ndarray,
    sb_v: np.ndarray,
) -> tuple:
    """Every Poisson source's events of one step appended to ``sb_n``/``sb_v`` from position ``m``; returns the new
    end and generator state."""
    for p in range(P):
        if poisson[p] > 0.0:
            lo_c, hi_c = pcdf_off[p], pcdf_off[p + 1]
            g_lo = p * GUIDE
            for n in range(pop_off[p], pop_off[p + 1]):
                rng, u = _uniform(rng)  # inversion of the tabulated Poisson CDF, the search started from the
                c = pguide[g_lo + int(u * GUIDE)]  # guide table (no mispredicted comparisons: 5x faster)
                while lo_c + c < hi_c and u > pcdf[lo_c + c]:
                    c += 1
                sb_n[m] = n  # (written always, kept if c > 0: no branch to mispredict)
                sb_v[m] = c
                m += c > 0
    return m, rng
