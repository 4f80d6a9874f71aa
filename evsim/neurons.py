"""Neuron models: one parameter record, five named constructors, `discretise`; the kernels' equations.

Every model evsim runs is an instance of one discrete-time linear neuron with a threshold. Per step ``t`` with
summed weighted input ``x_t`` (the sum of all events that arrive at ``t``)::

    i_t = alpha * i_{t-1} + in_gain * x_t + i_bias              (synaptic current)
    v_t = beta  * v_{t-1} + g_i * i_{t-1} + g_x * x_t + v_bias  (membrane)
    v_t = max(v_t, v_min)
    if a reset is pending from step t-1 (reset_delay):  v_t -= theta * c_{t-1};  clamp again
    spike count c_t = 1 if v_t > theta (or >= theta), floor(v_t / theta) with multi_spike, else 0
        (overshoot_rule, snnTorch's immediate subtraction: the test is against 2 theta when the stored v_{t-1}
        was still above theta after its own reset)
    if c_t:  v_t -= theta * c_t (subtract; with reset_delay this waits for step t+1, undecayed)  or  v_t = v_reset
    after a spike the neuron is refractory for `refractory` steps: v is held at v_reset and input is discarded
        (refractory_keeps_current: the current still integrates it)

IF, LIF, LI, CubaLIF and CubaLI are named constructors that fill the coefficients (LI and CubaLI never spike);
`discretise` derives them from NIR's continuous-time parameters. Because the update is linear between inputs, the
state after ``k`` input-free steps has a closed form (`advance`): the event-driven engine updates a neuron only
when an event reaches it, and predicts (`next_crossing`) when a neuron with a constant drive (bias, ``v_leak``
above threshold, a current still charging the membrane) will cross threshold without any input.

The kernels (`advance`, `step_from`, `spike_count`, `next_crossing`) are in `evsim.neuron_kernels` (importable
from here): they take ``(state..., params..., k)`` and return the new state; they are shared by the engine and by
nothing else (the dense reference in `evsim.reference` implements the per-step equations above on its own, as an
independent oracle).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .errors import NetworkError

# The kernels live in evsim.neuron_kernels; re-exported: callers import them from here.
from .neuron_kernels import (  # noqa: F401
    SHORT_GAP,
    advance,
    cross_sum,
    geom,
    next_crossing,
    spike_count,
    step_from,
)

RESET_ZERO = 0
RESET_SUBTRACT = 1
RESET_MODES = {"zero": RESET_ZERO, "subtract": RESET_SUBTRACT}
THRESHOLD_OPS = (">", ">=")

_FLOAT_FIELDS = ("alpha", "beta", "in_gain", "g_i", "g_x", "i_bias", "v_bias", "v_th", "v_reset", "v_min")


@dataclasses.dataclass(frozen=True, eq=False)
class NeuronParams:
    """Discrete-time parameters of one population (see the module docstring for the equations).

    Per-neuron fields are float64 arrays of shape ``(n,)`` (``refractory``: int32); the rest apply to the whole
    population. Build it with `IF`, `LIF`, `LI`, `CubaLIF`, `CubaLI` or `discretise` rather than by hand.
    """

    model: str  # the name users know: "IF", "LIF", "LI", "CubaLIF", "CubaLI"
    alpha: np.ndarray  # current decay per step, 0 <= alpha < 1 (alpha = 1 only without i_bias)
    beta: np.ndarray  # membrane decay per step, 0 <= beta <= 1 (1: perfect integrator)
    in_gain: np.ndarray  # input -> current
    g_i: np.ndarray  # previous step's current -> membrane
    g_x: np.ndarray  # this step's input -> membrane
    i_bias: np.ndarray  # constant added to the current every step
    v_bias: np.ndarray  # constant added to the membrane every step (bias current, v_leak)
    v_th: np.ndarray  # threshold theta (+inf for non-spiking models)
    v_reset: np.ndarray  # membrane after a reset to zero / during the refractory period
    v_min: np.ndarray  # lower clamp of the membrane (-inf: none)
    refractory: np.ndarray  # refractory period in steps (int32, >= 0)
    reset: str = "subtract"  # "subtract" (v -= theta * count) or "zero" (v = v_reset)
    threshold_op: str = ">"  # spike when v > theta, or v >= theta
    multi_spike: bool = False  # floor(v / theta) spikes per step (Sinabs) instead of one
    reset_delay: bool = False  # subtract one step late, after integration (snnTorch's default); no effect on
    # spikes of a reset to zero (snnTorch zeroes the previous membrane before integrating: the same spikes)
    v_init: np.ndarray | None = None  # membrane at the start of every sample (None: 0; SpikingJelly: v_reset)
    refractory_keeps_current: bool = False  # during the refractory period the synaptic current still integrates
    # its input (only the membrane is held): snnTorch's late reset to zero in Synaptic/RSynaptic
    overshoot_rule: bool = False  # snnTorch reset_delay=False with subtraction: after a step whose stored v stayed
    # above theta, the spike test subtracts theta once more (snnTorch subtracts the previous step's reset again)

    @property
    def size(self) -> int:
        return int(self.beta.shape[0])

    @property
    def spiking(self) -> bool:
        return bool(np.any(np.isfinite(self.v_th)))

    def validate(self, where: str) -> None:
        """Raise `NetworkError` naming ``where`` (the population) and the offending field."""
        n = self.size
        for f in _FLOAT_FIELDS:
            a = getattr(self, f)
            if not isinstance(a, np.ndarray) or a.shape != (n,):
                raise NetworkError(
                    f"{where}: neuron parameter {f!r} must be an array of shape ({n},), got "
                    f"{getattr(a, 'shape', type(a).__name__)}"
                )
            if f == "v_min":
                bad = np.isnan(a) | (a == np.inf)
            elif f == "v_th":
                bad = np.isnan(a) | (a == -np.inf)
            else:
                bad = ~np.isfinite(a)
            if bad.any():
                j = int(np.flatnonzero(bad)[0])
                raise NetworkError(f"{where}: neuron parameter {f!r} is {a[j]} at neuron {j}; expected a finite number")
        if self.v_init is not None and (np.shape(self.v_init) != (n,) or not np.all(np.isfinite(self.v_init))):
            raise NetworkError(f"{where}: 'v_init' must be {n} finite initial membrane values")
        if self.refractory.shape != (n,) or np.any(self.refractory < 0):
            raise NetworkError(f"{where}: 'refractory' must be {n} non-negative step counts")
        if np.any((self.beta < 0) | (self.beta > 1)):
            raise NetworkError(f"{where}: membrane decay 'beta' must lie in [0, 1] (got {_bad(self.beta, 0, 1)})")
        if np.any((self.alpha < 0) | (self.alpha > 1)):
            raise NetworkError(f"{where}: current decay 'alpha' must lie in [0, 1] (got {_bad(self.alpha, 0, 1)})")
        if np.any((self.alpha == 1) & (self.i_bias != 0)):
            raise NetworkError(f"{where}: a current that never decays (alpha = 1) cannot have a bias")
        if np.any(np.isfinite(self.v_min) & (self.g_i != 0)):
            raise NetworkError(
                f"{where}: a membrane clamp 'v_min' is supported only without a synaptic current "
                "(IF, LIF, LI): with one, the clamped trajectory has no closed form"
            )
        if self.reset not in RESET_MODES:
            raise NetworkError(f"{where}: reset must be one of {sorted(RESET_MODES)}, got {self.reset!r}")
        if self.threshold_op not in THRESHOLD_OPS:
            raise NetworkError(f"{where}: threshold_op must be '>' or '>=', got {self.threshold_op!r}")
        if self.overshoot_rule and (self.reset != "subtract" or self.reset_delay or self.multi_spike):
            raise NetworkError(
                f"{where}: overshoot_rule is snnTorch's immediate subtraction: it needs "
                "reset='subtract', no reset_delay and no multi_spike"
            )
        if self.multi_spike and np.any(self.v_th[np.isfinite(self.v_th)] <= 0):
            raise NetworkError(f"{where}: multi_spike needs a positive threshold")

    def take(self, idx: np.ndarray) -> "NeuronParams":
        """The parameters of a subset of neurons (used to split populations)."""
        kw = {f: getattr(self, f)[idx] for f in _FLOAT_FIELDS + ("refractory",)}
        if self.v_init is not None:
            kw["v_init"] = self.v_init[idx]
        return dataclasses.replace(self, **kw)


def _bad(a: np.ndarray, lo: float, hi: float) -> float:
    return float(a[(a < lo) | (a > hi)][0])


def _arr(value: Any, n: int, name: str, dtype: type = np.float64) -> np.ndarray:
    try:
        a: np.ndarray = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise NetworkError(f"neuron parameter {name!r} is not numeric: {e}") from None
    if a.ndim == 0:
        a = np.full(n, a, dtype=dtype)
    a = a.reshape(-1) if a.size == n else a
    if a.shape != (n,):
        raise NetworkError(f"neuron parameter {name!r} has {a.size} values for {n} neurons")
    return np.ascontiguousarray(a)


def make_params(
    model: str,
    n: int,
    *,
    alpha: Any = 0.0,
    beta: Any = 1.0,
    in_gain: Any = 1.0,
    g_i: Any = 0.0,
    g_x: Any = 1.0,
    i_bias: Any = 0.0,
    v_bias: Any = 0.0,
    threshold: Any = 1.0,
    v_reset: Any = 0.0,
    v_min: Any = -np.inf,
    refractory: Any = 0,
    reset: str = "subtract",
    threshold_op: str = ">",
    multi_spike: bool = False,
    reset_delay: bool = False,
    v_init: Any = None,
    overshoot_rule: bool = False,
    refractory_keeps_current: bool = False,
) -> NeuronParams:
    """Build and validate a `NeuronParams` from scalars or per-neuron arrays (the raw coefficients)."""
    if int(n) != n or n < 1:
        raise NetworkError(f"a population needs a positive integer size, got {n!r}")
    n = int(n)
    p = NeuronParams(
        model=model,
        alpha=_arr(alpha, n, "alpha"),
        beta=_arr(beta, n, "beta"),
        in_gain=_arr(in_gain, n, "in_gain"),
        g_i=_arr(g_i, n, "g_i"),
        g_x=_arr(g_x, n, "g_x"),
        i_bias=_arr(i_bias, n, "i_bias"),
        v_bias=_arr(v_bias, n, "v_bias"),
        v_th=_arr(threshold, n, "threshold"),
        v_reset=_arr(v_reset, n, "v_reset"),
        v_min=_arr(v_min, n, "v_min"),
        refractory=_arr(refractory, n, "refractory", np.int32),
        reset=reset,
        threshold_op=threshold_op,
        multi_spike=bool(multi_spike),
        reset_delay=bool(reset_delay),
        v_init=None if v_init is None else _arr(v_init, n, "v_init"),
        overshoot_rule=bool(overshoot_rule),
        refractory_keeps_current=bool(refractory_keeps_current),
    )
    p.validate(f"{model} population")
    return p


def LIF(n: int, beta: Any, threshold: Any = 1.0, *, gain: Any = 1.0, bias: Any = 0.0, **kw: Any) -> NeuronParams:
    """Leaky integrate-and-fire: ``v_t = beta v_{t-1} + gain (x_t + bias)``; spikes above ``threshold``."""
    gain_a = np.asarray(gain, dtype=np.float64)
    return make_params(
        "LIF", n, beta=beta, g_x=gain, v_bias=gain_a * np.asarray(bias, np.float64), threshold=threshold, **kw
    )


def IF(n: int, threshold: Any = 1.0, *, gain: Any = 1.0, bias: Any = 0.0, **kw: Any) -> NeuronParams:
    """Integrate-and-fire (no leak): ``v_t = v_{t-1} + gain (x_t + bias)``."""
    return dataclasses.replace(LIF(n, 1.0, threshold, gain=gain, bias=bias, **kw), model="IF")


def LI(n: int, beta: Any, *, gain: Any = 1.0, bias: Any = 0.0, **kw: Any) -> NeuronParams:
    """Leaky integrator (non-spiking readout): ``v_t = beta v_{t-1} + gain (x_t + bias)``."""
    return dataclasses.replace(LIF(n, beta, np.inf, gain=gain, bias=bias, **kw), model="LI")


def CubaLIF(
    n: int,
    alpha: Any,
    beta: Any,
    threshold: Any = 1.0,
    *,
    in_gain: Any = 1.0,
    gain: Any = 1.0,
    bias: Any = 0.0,
    **kw: Any,
) -> NeuronParams:
    """Current-based LIF (snnTorch ``Synaptic``): ``i_t = alpha i_{t-1} + in_gain (x_t + bias)``,
    ``v_t = beta v_{t-1} + gain i_t``."""
    a = np.asarray(alpha, np.float64)
    gn = np.asarray(gain, np.float64)
    ig = np.asarray(in_gain, np.float64)
    b = np.asarray(bias, np.float64)
    return make_params(
        "CubaLIF",
        n,
        alpha=alpha,
        beta=beta,
        in_gain=ig,
        g_i=gn * a,
        g_x=gn * ig,
        i_bias=ig * b,
        v_bias=gn * ig * b,
        threshold=threshold,
        **kw,
    )


def CubaLI(
    n: int, alpha: Any, beta: Any, *, in_gain: Any = 1.0, gain: Any = 1.0, bias: Any = 0.0, **kw: Any
) -> NeuronParams:
    """Current-based leaky integrator (non-spiking): `CubaLIF` without a threshold."""
    p = CubaLIF(n, alpha, beta, np.inf, in_gain=in_gain, gain=gain, bias=bias, **kw)
    return dataclasses.replace(p, model="CubaLI")


DISCRETISATIONS = ("exact", "euler", "euler-new-i", "exp-unit")
IF_GAINS = ("r", "r*dt")


def discretise(
    model: str,
    n: int,
    dt: float,
    *,
    method: str = "exact",
    tau: Any = None,
    tau_syn: Any = None,
    r: Any = 1.0,
    w_in: Any = 1.0,
    v_leak: Any = 0.0,
    bias: Any = 0.0,
    threshold: Any = np.inf,
    if_gain: str = "r",
    **kw: Any,
) -> NeuronParams:
    """Coefficients for NIR's continuous-time models at step ``dt``.

    NIR equations: LIF/LI ``tau v' = (v_leak - v) + r I``; CubaLIF/CubaLI ``tau_syn i' = -i + w_in I``,
    ``tau v' = (v_leak - v) + r i``; IF ``v' = r I`` with I in units per step (IF: ``v_t = v_{t-1} + r x_t``).
    ``bias`` is a constant input added to ``I`` every step (an Affine bias).

    Methods:
      * ``exact``: the input of a step is a current held for that step (a boxcar of width dt, as in the NIR
        paper's exact reference) and the linear ODE is integrated exactly over the step.
      * ``euler``: forward Euler, the membrane sees the previous step's current (Norse).
      * ``euler-new-i``: forward Euler, the membrane sees this step's current (snnTorch ``Synaptic``).
      * ``exp-unit``: ``beta = exp(-dt/tau)`` and the input enters unscaled, ``v_t = beta v_{t-1} + r x_t``
        (Sinabs ``LIF(norm_input=False)``); with a synapse ``i_t = alpha (i_{t-1} + w_in x_t)``,
        ``v_t = beta v_{t-1} + r i_t`` (Sinabs ``tau_syn``), ``alpha = exp(-dt/tau_syn)``.

    ``if_gain`` is the IF input gain per step: ``"r"`` (``v_t = v_{t-1} + r x_t``, Norse and Sinabs) or ``"r*dt"``
    (NIR's ``v' = R I`` stepped by Euler, ``v_t = v_{t-1} + r dt x_t``: SpikingJelly exports ``r = 1/dt``).
    """
    if method not in DISCRETISATIONS:
        raise NetworkError(f"discretisation must be one of {DISCRETISATIONS}, got {method!r}")
    f = np.float64
    r = np.asarray(r, f)
    b = np.asarray(bias, f)
    v_leak = np.asarray(v_leak, f)
    if model == "IF":
        if if_gain not in IF_GAINS:
            raise NetworkError(f"IF input gain must be one of {IF_GAINS}, got {if_gain!r}")
        g = r * dt if if_gain == "r*dt" else r
        return make_params("IF", n, beta=1.0, g_x=g, v_bias=g * b, threshold=threshold, **kw)
    if tau is None:
        raise NetworkError(f"{model}: needs a membrane time constant 'tau'")
    tau = np.asarray(tau, f)
    if np.any(tau <= 0):
        raise NetworkError(f"{model}: time constants must be positive, got tau = {tau.min()}")
    if model in ("LIF", "LI"):
        beta = np.exp(-dt / tau) if method in ("exact", "exp-unit") else 1.0 - dt / tau
        if method == "exact":
            gx = r * (1.0 - beta)
        elif method == "exp-unit":
            gx = r * np.ones_like(beta)
        else:
            gx = r * dt / tau
        vb = (1.0 - beta) * v_leak if method in ("exact", "exp-unit") else dt / tau * v_leak
        return make_params(model, n, beta=beta, g_x=gx, v_bias=vb + gx * b, threshold=threshold, **kw)
    if model not in ("CubaLIF", "CubaLI"):
        raise NetworkError(f"discretise: unknown neuron model {model!r}")
    if tau_syn is None:
        raise NetworkError(f"{model}: needs a synaptic time constant 'tau_syn'")
    ts = np.asarray(tau_syn, f)
    if np.any(ts <= 0):
        raise NetworkError(f"{model}: time constants must be positive, got tau_syn = {ts.min()}")
    w_in = np.asarray(w_in, f)
    if method == "exact":
        a = np.exp(-dt / ts)
        bt = np.exp(-dt / tau)
        same = np.isclose(ts, tau, rtol=1e-12, atol=0.0)
        diff = np.where(same, 1.0, ts - tau)
        k = np.where(same, dt / tau * bt, ts * (a - bt) / diff)  # integral of the decaying current into v
        in_gain = (1.0 - a) * w_in
        g_i = r * k
        g_x = w_in * r * ((1.0 - bt) - k)
        vb = (1.0 - bt) * v_leak
    elif method == "exp-unit":
        a = np.exp(-dt / ts)
        bt = np.exp(-dt / tau)
        in_gain = a * w_in
        g_i, g_x = r * a, r * a * w_in
        vb = (1.0 - bt) * v_leak
    else:
        a = 1.0 - dt / ts
        bt = 1.0 - dt / tau
        in_gain = dt / ts * w_in
        if method == "euler":
            g_i, g_x = dt / tau * r, np.zeros_like(in_gain)
        else:
            g_i, g_x = dt / tau * r * a, dt / tau * r * in_gain
        vb = dt / tau * v_leak
    return make_params(
        model,
        n,
        alpha=a,
        beta=bt,
        in_gain=in_gain,
        g_i=g_i,
        g_x=g_x,
        i_bias=in_gain * b,
        v_bias=vb + g_x * b,
        threshold=threshold,
        **kw,
    )
