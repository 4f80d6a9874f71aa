"""One exact-time neuron between events, shared by both exact loops (`evsim.engine.exact`, `evsim.engine.exact_steps`):
the state layout, bringing a neuron to a time in closed form (`_bring`: refractory periods respected) and predicting
its next input-free threshold crossing (`predict`). The closed forms themselves are `evsim.exact.dynamics`.

Per neuron, ``sf[n] = (v, I, off of the last update, off of the refractory end, off of the wake)`` and ``si[n] =
(step of the last update, step of the refractory end, step of the wake, seq of the wake, fired)``; coefficients
``prm[n] = (lam, ls, b, c, i_inf, v_th, v_reset, jump_v, jump_i, refractory offset, kappa)`` and ``ref_k[n]`` the
refractory period's whole steps. Times are ``(step, off)`` pairs (`evsim.engine.queue`).
"""

from __future__ import annotations

import math

import numpy as np

from .._jit import njit, njit_inline
from ..exact.dynamics import evolve, first_crossing, may_cross

LAM, LS, B, C, I_INF, V_TH, V_RESET, JUMP_V, JUMP_I, REF_OFF, KAPPA = range(11)
V, CUR, T_OFF, R_OFF, W_OFF = range(5)
T_STEP, R_STEP, W_STEP, W_SEQ, FIRED = range(5)
NEVER = 2**62  # a step no run reaches
_TOL = 16 * float(np.finfo(np.float64).eps)


@njit_inline
def grid_point(t: float, h: float) -> tuple[int, float]:
    """A time ``t >= 0`` (seconds) as ``(step, offset)``, ``0 <= offset < h``; a time on the grid up to rounding
    (``|t / h - round(t / h)| <= 16 eps max(1, |t / h|)``) gets offset 0. Nondecreasing in ``t`` (in the order of
    the pairs): within ``16 eps`` of a grid point the times snap onto it, and farther off the offset has that
    margin from 0 and from ``h``."""
    q = t / h
    r = np.rint(q)
    if abs(q - r) <= _TOL * max(1.0, abs(q)):
        k, off = r, 0.0
    else:
        k = math.floor(q)
        off = t - k * h
    if off < 0:
        k, off = k - 1, off + h
    if off >= h:
        k, off = k + 1, off - h
    return int(k), off


@njit
def add_time(s: int, o: float, dt: float, h: float) -> tuple[int, float]:
    """``(s, o) + dt`` seconds, normalised to ``0 <= off < h``."""
    x = o + dt
    k = math.floor(x / h)
    s2 = s + int(k)
    o2 = x - k * h
    if o2 >= h:
        o2 -= h
        s2 += 1
    elif o2 < 0.0:
        o2 += h
        s2 -= 1
    return s2, o2


@njit
def _lt(s1: int, o1: float, s2: int, o2: float) -> bool:
    return s1 < s2 or (s1 == s2 and o1 < o2)


@njit_inline
def _bring(n: int, s: int, o: float, h: float, sf: np.ndarray, si: np.ndarray, prm: np.ndarray) -> None:
    """Advance neuron ``n`` to ``(s, o)`` (not before its last update) in closed form: while refractory only the
    current evolves and v stays at v_reset; from the end of the period on, the full dynamics."""
    ts, to = si[n, T_STEP], sf[n, T_OFF]
    if not _lt(ts, to, s, o):
        return
    rs, ro = si[n, R_STEP], sf[n, R_OFF]
    v, i = sf[n, V], sf[n, CUR]
    if _lt(ts, to, rs, ro):  # refractory at the last update
        if _lt(s, o, rs, ro):
            end_s, end_o = s, o
        else:
            end_s, end_o = rs, ro
        dt = (end_s - ts) * h + (end_o - to)
        i = prm[n, I_INF] + (i - prm[n, I_INF]) * math.exp(-prm[n, LS] * dt)
        v = prm[n, V_RESET]
        ts, to = end_s, end_o
    dt = (s - ts) * h + (o - to)
    if dt > 0.0:
        v, i = evolve(v, i, dt, prm[n, LAM], prm[n, LS], prm[n, B], prm[n, C], prm[n, I_INF])
    sf[n, V], sf[n, CUR] = v, i
    si[n, T_STEP], sf[n, T_OFF] = s, o


@njit
def predict(n: int, end_s: int, end_o: float, h: float, sf: np.ndarray, si: np.ndarray, prm: np.ndarray) -> None:
    """Neuron ``n``'s next input-free threshold crossing before ``end``, in ``(si[n, W_STEP], sf[n, W_OFF])``
    (``W_STEP = NEVER``: none). `may_cross` first rules most states out without solving."""
    si[n, W_STEP] = NEVER
    si[n, W_SEQ] = -1
    th = prm[n, V_TH]
    if si[n, FIRED] > 0 and si[n, R_STEP] == NEVER or not th < math.inf:
        return
    bs, bo = si[n, T_STEP], sf[n, T_OFF]
    v, i = sf[n, V], sf[n, CUR]
    if _lt(bs, bo, si[n, R_STEP], sf[n, R_OFF]):  # from the end of the refractory period
        dt = (si[n, R_STEP] - bs) * h + (sf[n, R_OFF] - bo)
        i = prm[n, I_INF] + (i - prm[n, I_INF]) * math.exp(-prm[n, LS] * dt)
        v = prm[n, V_RESET]
        bs, bo = si[n, R_STEP], sf[n, R_OFF]
    if not _lt(bs, bo, end_s, end_o):
        return
    if v >= th:
        t = 0.0
    else:
        if not may_cross(v, i, prm[n, LAM], prm[n, B], prm[n, C], prm[n, I_INF], th, prm[n, KAPPA]):
            return
        horizon = (end_s - bs) * h + (end_o - bo)
        t = first_crossing(v, i, horizon, prm[n, LAM], prm[n, LS], prm[n, B], prm[n, C], prm[n, I_INF], th)
        if not t < math.inf:
            return
    ws, wo = add_time(bs, bo, t, h)
    if not _lt(ws, wo, end_s, end_o):
        return
    si[n, W_STEP], sf[n, W_OFF] = ws, wo
