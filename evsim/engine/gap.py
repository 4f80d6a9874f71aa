"""Bringing neurons up to date across steps without input, in closed form (`evsim.neurons.advance`).

A neuron's state is kept as of its last update (``t_last``; for a stepped population in its first neuron's entry
only, copied to the others at the end of a call); these bring it forward: `_gap` one neuron (scalars in and out:
cheap to call from the loop), `_gap_n` neuron ``n`` of the state arrays (inlined; every stage calls this one),
`_catch_up` a stepped population over its idle steps, `_bring_to` the neurons of a listed population before their
membranes are recorded, `_settle` every neuron at the end of a call. `_crossing_n` predicts when neuron ``n`` will
next cross threshold with no input (`evsim.neurons.next_crossing`; the wakes of listed populations).
"""

from __future__ import annotations

import numpy as np

from .._jit import njit, njit_inline
from ..neuron_kernels import advance, next_crossing

# columns of the per-neuron coefficient rows `prm` (the order of `evsim.engine._PARAM_FIELDS`)
ALPHA, BETA, IN_GAIN, G_I, G_X, I_BIAS, V_BIAS, V_TH, V_RESET, V_MIN = range(10)


@njit
def _gap(
    i: float,
    v: float,
    t0: int,
    t: int,
    ref_until: int,
    alpha: float,
    beta: float,
    g_i: float,
    i_bias: float,
    v_bias: float,
    v_reset: float,
    v_min: float,
) -> tuple[float, float]:
    """State at step ``t`` of a neuron last updated at ``t0``, with no input in between (refractory steps up to
    ``ref_until`` hold v at v_reset while the current evolves). Scalars only: a cheap real call; the stages call it
    through the inlined `_gap_n`, which reads a neuron's state and coefficients from the arrays."""
    if t0 >= t:
        return i, v
    if ref_until > t0:
        held = min(ref_until, t) - t0
        i, _ = advance(i, 0.0, held, alpha, 0.0, 0.0, i_bias, 0.0, -np.inf)
        v = v_reset
        t0 += held
    if t > t0:
        i, v = advance(i, v, t - t0, alpha, beta, g_i, i_bias, v_bias, v_min)
    return i, v


@njit_inline
def _gap_n(n: int, t0: int, t: int, ref_until: np.ndarray, prm: np.ndarray, i: np.ndarray, v: np.ndarray) -> None:
    """Neuron ``n`` of the state arrays from step ``t0`` to ``t`` with no input in between: `_gap` with its
    coefficients read from row ``n`` of ``prm``. Every stage calls this one: inlined (Numba, at the IR level), so
    no call passes the arrays (a real call passing them made the loop twice as slow: reference counting; measured)."""
    i[n], v[n] = _gap(
        i[n],
        v[n],
        t0,
        t,
        ref_until[n],
        prm[n, ALPHA],
        prm[n, BETA],
        prm[n, G_I],
        prm[n, I_BIAS],
        prm[n, V_BIAS],
        prm[n, V_RESET],
        prm[n, V_MIN],
    )


@njit_inline
def _crossing_n(n: int, horizon: int, ge: bool, prm: np.ndarray, i: np.ndarray, v: np.ndarray) -> int:
    """`next_crossing` of neuron ``n`` from its state, its coefficients read from row ``n`` of ``prm`` (inlined,
    as `_gap_n`): the first of the next ``horizon`` input-free steps at which it crosses threshold, or -1."""
    return next_crossing(
        i[n],
        v[n],
        horizon,
        prm[n, ALPHA],
        prm[n, BETA],
        prm[n, G_I],
        prm[n, I_BIAS],
        prm[n, V_BIAS],
        prm[n, V_MIN],
        prm[n, V_TH],
        ge,
    )


@njit_inline
def _catch_up(
    p: int,
    t: int,
    pop_off: np.ndarray,
    t_last: np.ndarray,
    ref_until: np.ndarray,
    prm: np.ndarray,
    i: np.ndarray,
    v: np.ndarray,
) -> None:
    """Stepped population ``p``, idle since its last update: every neuron to the end of step ``t - 1``."""
    t0 = t_last[pop_off[p]]
    if t - t0 > 1:  # idle steps in between
        for n in range(pop_off[p], pop_off[p + 1]):
            _gap_n(n, t0, t - 1, ref_until, prm, i, v)


@njit_inline
def _bring_to(
    t: int, lo: int, hi: int, t_last: np.ndarray, ref_until: np.ndarray, prm: np.ndarray, i: np.ndarray, v: np.ndarray
) -> None:
    """Neurons ``lo:hi`` (of a listed population) to step ``t``."""
    for n in range(lo, hi):
        if t > t_last[n]:
            _gap_n(n, t_last[n], t, ref_until, prm, i, v)
            t_last[n] = t


@njit
def _settle(
    t_stop: int,
    finish: bool,
    N: int,
    P: int,
    pop_off: np.ndarray,
    scan: np.ndarray,
    t_last: np.ndarray,
    ref_until: np.ndarray,
    prm: np.ndarray,
    i: np.ndarray,
    v: np.ndarray,
) -> None:
    """The end of a call: the stepped populations' shared last update copied to each neuron; with ``finish``,
    every neuron brought to the last step done (``t_stop - 1``: the final state of a whole run)."""
    for p in range(P):
        if scan[p]:
            t_last[pop_off[p] : pop_off[p + 1]] = t_last[pop_off[p]]
    for n in range(N if finish else 0):
        _gap_n(n, t_last[n], t_stop - 1, ref_until, prm, i, v)
