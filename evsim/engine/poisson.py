"""Poisson sources: the random number generator the loop draws their counts with.

A Poisson source population draws one independent count per neuron per step by inverting its tabulated CDF
(`evsim.engine._poisson_cdf`), the search started from a guide table of `GUIDE` entries.
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
