"""Closed forms of the exact-mode neuron between events, and its threshold-crossing solver (pure Numba kernels).

With per-neuron coefficients ``lam = 1/tau_m`` (0: no leak), ``ls = 1/tau_syn`` (0: delta synapses), ``c`` (current
-> membrane) and ``b`` (constant drive) the state between events obeys (`evsim.exact.neurons` maps each model to
them)::

    I(t) = i_inf + J0 exp(-ls t),                         J0 = I(0) - i_inf
    dv/dt = -lam v + b + c I(t)

whose solution is ``v(t) = v_inf + (v0 - v_inf) exp(-lam t) + c J0 phi(t)`` with ``v_inf = (b + c i_inf) / lam``
(``v0 + (b + c i_inf) t`` when ``lam = 0``) and ``phi(t) = (exp(-ls t) - exp(-lam t)) / (lam - ls)`` (``t exp(-lam
t)`` when ``lam == ls``), evaluated with ``expm1`` (`evsim.exact.expm1`, inlined) so that no term cancels
(`evolve`).

``v(t)`` is a constant plus at most two exponentials (or a line plus one): its derivative changes sign at most once,
at a time `first_crossing` computes in closed form. So the first threshold crossing after ``t = 0`` is bracketed
exactly: in ``[0, t*]`` when ``v`` rises to a maximum at ``t*``, in ``[t*, horizon]`` after a minimum, in ``[0,
horizon]`` when monotone, and then located by the Illinois (modified regula falsi) method to a few ulps of ``t``:
the solver NEST's ``iaf_psc_exp_ps`` uses, without its step grid (NEST looks for a crossing only at step ends; here
a crossing that goes up and back down between two events is found too). With delta synapses (``J0 = 0``) the
crossing has a closed form: ``t = tau_m log1p((v_th - v0) / (v_inf - v_th))``.

Most states cannot cross at all, and `may_cross` says so without solving: with ``lam > 0``, ``v(t) <= max(v0,
v_inf) + max(0, c J0) kappa`` where ``kappa = max_t phi(t)`` (`psp_peak`, a per-neuron constant: the peak of the
membrane response to a unit current), so a bound below threshold rules a crossing out.
"""

from __future__ import annotations

import math

import numpy as np

from .._jit import njit
from .expm1 import expm1


@njit
def phi(t: float, lam: float, ls: float) -> float:
    """``integral_0^t exp(-lam (t - s)) exp(-ls s) ds``: the membrane response to a unit decaying current."""
    d = abs(lam - ls)
    m = min(lam, ls)
    if d == 0.0:
        return t * math.exp(-m * t)
    return math.exp(-m * t) * (-expm1(-d * t)) / d


@njit
def evolve(
    v: float, i: float, t: float, lam: float, ls: float, b: float, c: float, i_inf: float
) -> tuple[float, float]:
    """State ``(v, I)`` after ``t >= 0`` seconds with no input (see the module docstring)."""
    if t <= 0.0:
        return v, i
    j0 = i - i_inf
    be = b + c * i_inf
    if lam > 0.0:
        v1 = v + (v - be / lam) * expm1(-lam * t)  # = v_inf + (v - v_inf) exp(-lam t), no cancellation
    else:
        v1 = v + be * t
    if j0 != 0.0:
        v1 += c * j0 * phi(t, lam, ls)
        j0 *= math.exp(-ls * t)
    return v1, i_inf + j0


@njit
def _extremum(v: float, j0: float, lam: float, ls: float, be: float, c: float) -> float:
    """The one time ``t* > 0`` where ``dv/dt`` changes sign, or inf."""
    cj = c * j0
    if lam > 0.0:
        v_inf = be / lam
        if lam == ls:  # v = v_inf + (P + Q t) exp(-lam t)
            if cj == 0.0:
                return math.inf
            t = 1.0 / lam - (v - v_inf) / cj
        else:  # v = v_inf + P exp(-lam t) + Q exp(-ls t)
            q = cj / (lam - ls)
            p = v - v_inf - q
            if p == 0.0:
                return math.inf
            rho = -ls * q / (lam * p)
            if not rho > 0.0:
                return math.inf
            t = math.log(rho) / (ls - lam)
    else:  # v = v0 + be t + (cj / ls) (1 - exp(-ls t))
        if be == 0.0 or ls == 0.0:
            return math.inf
        rho = -cj / be
        if not rho > 0.0:
            return math.inf
        t = math.log(rho) / ls
    return t if t > 0.0 else math.inf


@njit
def _solve(
    lo: float, hi: float, v: float, i: float, lam: float, ls: float, b: float, c: float, i_inf: float, th: float
) -> float:
    """Smallest representable ``t`` in ``(lo, hi]`` with ``v(t) >= th`` (to a few ulps), given ``v(lo) < th <=
    v(hi)`` and ``v`` monotone on the bracket: Illinois steps, bisection when they stall."""
    f_lo = evolve(v, i, lo, lam, ls, b, c, i_inf)[0] - th
    f_hi = evolve(v, i, hi, lam, ls, b, c, i_inf)[0] - th
    side = 0
    for it in range(200):
        if hi - lo <= 4.0 * 2.220446049250313e-16 * hi:
            break
        if it % 4 == 3 or f_hi == f_lo:
            x = 0.5 * (lo + hi)
        else:
            x = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
            if not (lo < x < hi):
                x = 0.5 * (lo + hi)
        fx = evolve(v, i, x, lam, ls, b, c, i_inf)[0] - th
        if fx >= 0.0:
            hi, f_hi = x, fx
            if side == 1:
                f_lo *= 0.5
            side = 1
        else:
            lo, f_lo = x, fx
            if side == -1:
                f_hi *= 0.5
            side = -1
    return hi


@njit
def first_crossing(
    v: float,
    i: float,
    horizon: float,
    lam: float,
    ls: float,
    b: float,
    c: float,
    i_inf: float,
    th: float,
) -> float:
    """Time ``t`` in ``(0, horizon]`` at which the input-free trajectory from ``(v, I)`` first reaches ``th``
    (``v(t) >= th``), or inf if it does not. ``v < th`` on entry."""
    if not th < math.inf or horizon <= 0.0:
        return math.inf
    j0 = i - i_inf
    be = b + c * i_inf
    if j0 == 0.0 or c == 0.0:  # monotone towards v_inf (or a line): closed form
        if lam > 0.0:
            v_inf = be / lam
            if not v_inf > th:
                return math.inf
            t = math.log1p((th - v) / (v_inf - th)) / lam
        else:
            if not be > 0.0:
                return math.inf
            t = (th - v) / be
        return t if t <= horizon else math.inf
    slope0 = -lam * v + be + c * j0
    ts = _extremum(v, j0, lam, ls, be, c)
    lo = 0.0
    if ts < math.inf and slope0 > 0.0:  # rises to a maximum at ts, then falls
        hi = min(ts, horizon)
    else:
        if ts < math.inf:  # falls to a minimum at ts, then rises
            if ts >= horizon:
                return math.inf
            lo = ts
        elif not slope0 > 0.0:
            return math.inf  # falls (or stays) for ever
        hi = horizon
    if evolve(v, i, hi, lam, ls, b, c, i_inf)[0] < th:
        return math.inf
    if lo > 0.0 and evolve(v, i, lo, lam, ls, b, c, i_inf)[0] >= th:  # (rounding at a flat minimum)
        return lo
    return _solve(lo, hi, v, i, lam, ls, b, c, i_inf, th)


@njit
def may_cross(v: float, i: float, lam: float, b: float, c: float, i_inf: float, th: float, kappa: float) -> bool:
    """False when the input-free trajectory from ``(v, I)`` provably stays below ``th`` (see the module
    docstring; a margin of 1e-9 relative covers the rounding of `evolve`); True when it may cross."""
    if not lam > 0.0:
        return True
    ub = max(v, (b + c * i_inf) / lam)
    cj = c * (i - i_inf)
    if cj > 0.0:
        ub += cj * kappa
    return not ub < th - 1e-9 * (abs(th) + abs(ub))


def psp_peak(lam: np.ndarray, ls: np.ndarray) -> np.ndarray:
    """``kappa = max_t phi(t)`` per neuron: ``1 / lam`` with delta synapses (a held current), ``exp(-1) / lam``
    when ``lam == ls``, else ``phi`` at ``t* = log(lam / ls) / (lam - ls)``; inf without leak."""
    lam, ls = np.broadcast_arrays(np.asarray(lam, np.float64), np.asarray(ls, np.float64))
    out = np.full(lam.shape, np.inf)
    with np.errstate(all="ignore"):
        leak = lam > 0
        out[leak & (ls <= 0)] = 1.0 / lam[leak & (ls <= 0)]
        eq = leak & (ls == lam)
        out[eq] = np.exp(-1.0) / lam[eq]
        gen = leak & (ls > 0) & (ls != lam)
        lg, sg = lam[gen], ls[gen]
        t = np.log(lg / sg) / (lg - sg)
        m = np.minimum(lg, sg)
        d = np.abs(lg - sg)
        out[gen] = np.exp(-m * t) * (-np.expm1(-d * t)) / d
    return out * (1.0 + 1e-12)


def coefficients(nrn) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """Per-neuron engine coefficients of an `evsim.exact.ExactNeuron`: ``lam, ls, b, c`` (see the module
    docstring)."""
    lam = np.where(np.isfinite(nrn.tau_m), 1.0 / nrn.tau_m, 0.0)
    ls = np.where(nrn.tau_syn > 0, 1.0 / np.where(nrn.tau_syn > 0, nrn.tau_syn, 1.0), 0.0)
    c = np.where(lam > 0, nrn.r * lam, nrn.r)
    b = lam * nrn.v_rest + c * nrn.bias
    return dict(lam=lam, ls=ls, b=b, c=c)
