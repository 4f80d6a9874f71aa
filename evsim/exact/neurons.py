"""Continuous-time neurons for the exact mode: one parameter record, five constructors, NEST parameter dicts.

Every exact-mode neuron is one linear ODE with a threshold. Between input events, with ``I`` the synaptic current::

    dI/dt = (i_inf - I) / tau_syn                                   (CubaLIF, CubaLI; absent with delta synapses)
    dv/dt = (v_rest - v) / tau_m + r (I + bias) / tau_m            (LIF, LI, CubaLIF, CubaLI)
    dv/dt = r (I + bias)                                            (IF: tau_m = inf, no leak)

An input event of weight ``w`` arriving at time ``t``:

* delta synapses (``tau_syn=None``): ``v(t+) = v(t-) + jump_v * w`` (``jump_v = 1``: a weight is a jump in volts);
* current synapses (``tau_syn`` given): ``I(t+) = I(t-) + jump_i * w`` (``jump_i = 1``: a weight is a current step,
  NEST's ``iaf_psc_exp``).

Simultaneous events to one neuron (equal times) are summed before the threshold test (NEST's ``iaf_psc_delta_ps``).
A neuron spikes when ``v >= v_th``: at an input (delta synapses) or at the exact time the trajectory reaches
``v_th`` between inputs (a bias, ``v_rest`` above threshold, a current still charging the membrane). Then ``v``
is set to ``v_reset`` and held there for ``refractory`` seconds, the half-open interval ``[t_spike, t_spike +
refractory)``: with delta synapses input arriving then is discarded; with current synapses the current keeps
integrating its input (NEST's ``iaf_psc_delta_ps`` and ``iaf_psc_exp_ps``). Input arriving exactly at the end of the
period counts. ``once=True``: the neuron fires at most once (time-to-first-spike networks).

The closed forms and the threshold-crossing solver are in `evsim.exact.dynamics`; the engine in
`evsim.engine.exact`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from ..errors import NetworkError
from ..neurons import _arr

_FIELDS = ("tau_m", "tau_syn", "r", "v_rest", "v_th", "v_reset", "bias", "refractory", "jump_v", "jump_i", "i_inf")


@dataclasses.dataclass(frozen=True, eq=False)
class ExactNeuron:
    """Continuous-time parameters of one population (SI: seconds; see the module docstring for the equations).

    Per-neuron fields are float64 arrays of shape ``(n,)``. Build it with `LIF`, `IF`, `LI`, `CubaLIF`, `CubaLI`
    or `from_nest`.
    """

    model: str  # "LIF", "IF", "LI", "CubaLIF", "CubaLI" (or the NEST model name)
    tau_m: np.ndarray  # membrane time constant, s (inf: no leak, IF)
    tau_syn: np.ndarray  # synaptic time constant, s (0: delta synapses, no current state)
    r: np.ndarray  # resistance: current -> membrane (NEST: tau_m / C_m, in ms/pF, so that r I is in mV)
    v_rest: np.ndarray  # resting potential (NIR v_leak, NEST E_L)
    v_th: np.ndarray  # threshold (inf: never spikes)
    v_reset: np.ndarray  # membrane after a spike and during the refractory period
    bias: np.ndarray  # constant current added to I in the membrane equation (NEST I_e)
    refractory: np.ndarray  # absolute refractory period, s (>= 0)
    jump_v: np.ndarray  # delta synapses: membrane jump per unit weight
    jump_i: np.ndarray  # current synapses: current jump per unit weight
    i_inf: np.ndarray  # current synapses: the value the current decays to (a bias filtered by the synapse)
    once: bool = False  # fire at most once (TTFS)
    v_init: np.ndarray | None = None  # membrane at the start of every sample (None: v_rest)

    @property
    def size(self) -> int:
        return int(self.tau_m.shape[0])

    @property
    def spiking(self) -> bool:
        return bool(np.any(np.isfinite(self.v_th)))

    @property
    def delta(self) -> bool:
        """Delta synapses (no current state)."""
        return bool(np.all(self.tau_syn == 0))

    def validate(self, where: str) -> None:
        n = self.size
        for f in _FIELDS:
            a = getattr(self, f)
            if not isinstance(a, np.ndarray) or a.shape != (n,):
                raise NetworkError(f"{where}: parameter {f!r} must be an array of shape ({n},)")
            ok = (~np.isnan(a)) & (a != -np.inf) if f in ("tau_m", "v_th") else np.isfinite(a)
            if not ok.all():
                j = int(np.flatnonzero(~ok)[0])
                raise NetworkError(f"{where}: parameter {f!r} is {a[j]} at neuron {j}; expected a finite number")
        if np.any(self.tau_m <= 0):
            raise NetworkError(f"{where}: tau_m must be positive (seconds), got {self.tau_m.min()}")
        if np.any(self.tau_syn < 0) or (np.any(self.tau_syn == 0) and not np.all(self.tau_syn == 0)):
            raise NetworkError(f"{where}: tau_syn must be positive seconds for every neuron (or None: delta synapses)")
        if np.any(self.refractory < 0):
            raise NetworkError(f"{where}: refractory must be >= 0 seconds, got {self.refractory.min()}")
        if self.spiking and np.any(self.v_reset[np.isfinite(self.v_th)] >= self.v_th[np.isfinite(self.v_th)]):
            raise NetworkError(f"{where}: v_reset must lie below v_th (a reset at threshold would fire again)")
        if self.v_init is not None and (np.shape(self.v_init) != (n,) or not np.all(np.isfinite(self.v_init))):
            raise NetworkError(f"{where}: 'v_init' must be {n} finite initial membrane values")

    def take(self, idx: np.ndarray) -> "ExactNeuron":
        kw = {f: getattr(self, f)[idx] for f in _FIELDS}
        if self.v_init is not None:
            kw["v_init"] = self.v_init[idx]
        return dataclasses.replace(self, **kw)

    def __repr__(self) -> str:
        syn = "delta" if self.delta else f"tau_syn={_short(self.tau_syn)}"
        return f"ExactNeuron({self.model}, n={self.size}, tau_m={_short(self.tau_m)}, {syn}, v_th={_short(self.v_th)})"


def _short(a: np.ndarray) -> str:
    u = np.unique(a)
    return f"{u[0]:g}" if u.size == 1 else f"{u.min():g}..{u.max():g}"


def make_exact(
    model: str,
    n: int,
    *,
    tau_m: Any,
    tau_syn: Any = None,
    r: Any = 1.0,
    v_rest: Any = 0.0,
    v_th: Any = np.inf,
    v_reset: Any = 0.0,
    bias: Any = 0.0,
    refractory: Any = 0.0,
    jump_v: Any = 1.0,
    jump_i: Any = 1.0,
    i_inf: Any = 0.0,
    once: bool = False,
    v_init: Any = None,
) -> ExactNeuron:
    """Build and validate an `ExactNeuron` from scalars or per-neuron arrays."""
    if int(n) != n or n < 1:
        raise NetworkError(f"a population needs a positive integer size, got {n!r}")
    n = int(n)
    p = ExactNeuron(
        model=model,
        tau_m=_arr(tau_m, n, "tau_m"),
        tau_syn=_arr(0.0 if tau_syn is None else tau_syn, n, "tau_syn"),
        r=_arr(r, n, "r"),
        v_rest=_arr(v_rest, n, "v_rest"),
        v_th=_arr(v_th, n, "v_th"),
        v_reset=_arr(v_reset, n, "v_reset"),
        bias=_arr(bias, n, "bias"),
        refractory=_arr(refractory, n, "refractory"),
        jump_v=_arr(jump_v, n, "jump_v"),
        jump_i=_arr(jump_i, n, "jump_i"),
        i_inf=_arr(i_inf, n, "i_inf"),
        once=bool(once),
        v_init=None if v_init is None else _arr(v_init, n, "v_init"),
    )
    if tau_syn is not None and np.any(p.tau_syn <= 0):
        raise NetworkError(f"{model}: tau_syn must be positive seconds, got {p.tau_syn.min()}")
    p.validate(f"{model} population")
    return p


def LIF(
    n: int,
    tau_m: Any,
    v_th: Any = 1.0,
    v_reset: Any = 0.0,
    v_rest: Any = 0.0,
    r: Any = 1.0,
    refractory: Any = 0.0,
    tau_syn: Any = None,
    bias: Any = 0.0,
    *,
    once: bool = False,
    v_init: Any = None,
) -> ExactNeuron:
    """Leaky integrate-and-fire in continuous time: ``tau_m dv/dt = v_rest - v + r (I + bias)``.

    ``tau_syn=None``: delta synapses, a weight ``w`` jumps ``v`` by ``w``. ``tau_syn`` given (CubaLIF): ``tau_syn
    dI/dt = -I`` and a weight jumps ``I`` by ``w``. Spikes when ``v >= v_th``; reset to ``v_reset``, held for
    ``refractory`` seconds; ``once=True`` fires at most once. Times in seconds.
    """
    model = "LIF" if tau_syn is None else "CubaLIF"
    return make_exact(
        model, n, tau_m=tau_m, tau_syn=tau_syn, r=r, v_rest=v_rest, v_th=v_th, v_reset=v_reset, bias=bias,
        refractory=refractory, once=once, v_init=v_init,
    )  # fmt: skip


def CubaLIF(n: int, tau_m: Any, tau_syn: Any, v_th: Any = 1.0, **kw: Any) -> ExactNeuron:
    """Current-based LIF: `LIF` with a synaptic time constant (``tau_syn dI/dt = -I``, a weight jumps ``I``)."""
    return LIF(n, tau_m, v_th, tau_syn=tau_syn, **kw)


def IF(
    n: int,
    v_th: Any = 1.0,
    v_reset: Any = 0.0,
    r: Any = 1.0,
    refractory: Any = 0.0,
    tau_syn: Any = None,
    bias: Any = 0.0,
    *,
    once: bool = False,
    v_init: Any = None,
) -> ExactNeuron:
    """Integrate-and-fire (no leak): ``dv/dt = r (I + bias)``; delta synapses jump ``v`` by ``w``."""
    return make_exact(
        "IF", n, tau_m=np.inf, tau_syn=tau_syn, r=r, v_th=v_th, v_reset=v_reset, bias=bias, refractory=refractory,
        once=once, v_init=v_init,
    )  # fmt: skip


def LI(n: int, tau_m: Any, v_rest: Any = 0.0, r: Any = 1.0, bias: Any = 0.0, *, v_init: Any = None) -> ExactNeuron:
    """Leaky integrator (non-spiking readout): ``tau_m dv/dt = v_rest - v + r bias``; a weight jumps ``v``."""
    return make_exact("LI", n, tau_m=tau_m, r=r, v_rest=v_rest, bias=bias, v_init=v_init)


def CubaLI(
    n: int, tau_m: Any, tau_syn: Any, v_rest: Any = 0.0, r: Any = 1.0, bias: Any = 0.0, *, v_init: Any = None
) -> ExactNeuron:
    """Current-based leaky integrator (non-spiking): ``tau_syn dI/dt = -I``, ``tau_m dv/dt = v_rest - v + r I``."""
    return make_exact("CubaLI", n, tau_m=tau_m, tau_syn=tau_syn, r=r, v_rest=v_rest, bias=bias, v_init=v_init)


# NEST defaults (models/iaf_psc_delta_ps.cpp, iaf_psc_exp_ps.cpp; NEST 3.x), in NEST's units: ms, mV, pF, pA
_NEST_DEFAULTS = {
    "iaf_psc_delta": dict(C_m=250.0, tau_m=10.0, t_ref=2.0, E_L=-70.0, V_th=-55.0, V_reset=-70.0, I_e=0.0),
    "iaf_psc_exp": dict(
        C_m=250.0, tau_m=10.0, t_ref=2.0, E_L=-70.0, V_th=-55.0, V_reset=-70.0, I_e=0.0, tau_syn_ex=2.0, tau_syn_in=2.0
    ),
}
_NEST_KNOWN = {"V_m", "V_min", "refractory_input"}


def from_nest(model: str, n: int, params: Mapping[str, Any] | None = None, *, once: bool = False) -> ExactNeuron:
    """The exact-mode neurons of a NEST ``iaf_psc_delta(_ps)`` or ``iaf_psc_exp(_ps)`` parameter dict.

    ``params`` uses NEST's names and units (ms, mV, pF, pA): ``C_m, tau_m, t_ref, E_L, V_th, V_reset, I_e``,
    ``tau_syn_ex``/``tau_syn_in`` (psc_exp; they must be equal), ``V_m`` (initial membrane, default ``E_L``);
    scalars or per-neuron arrays; missing ones take NEST's defaults. Voltages stay in mV and currents in pA, times
    become seconds; a synaptic weight keeps NEST's meaning (a jump of ``V_m`` in mV for ``iaf_psc_delta``, a
    current step in pA for ``iaf_psc_exp``), so a NEST script's weight arrays pass unchanged. The equations are
    NEST's: ``C_m dV/dt = -(V - E_L) C_m / tau_m + I_syn + I_e`` (here ``r = tau_m / C_m``), and its refractory
    rules (psc_delta: input during ``t_ref`` is discarded; psc_exp: the current integrates it, ``V`` is clamped).
    """
    base = model[:-3] if model.endswith("_ps") else model
    if base not in _NEST_DEFAULTS:
        raise NetworkError(f"from_nest: model {model!r} is not supported; use iaf_psc_delta(_ps) or iaf_psc_exp(_ps)")
    params = dict(params or {})
    unknown = set(params) - set(_NEST_DEFAULTS[base]) - _NEST_KNOWN
    if unknown:
        raise NetworkError(f"from_nest({model!r}): unknown or unsupported parameter(s) {sorted(unknown)}")
    p = {k: np.asarray(params.get(k, v), dtype=np.float64) for k, v in _NEST_DEFAULTS[base].items()}
    if "V_min" in params and np.any(np.isfinite(np.asarray(params["V_min"], dtype=np.float64))):
        raise NetworkError(f"from_nest({model!r}): a finite V_min (membrane clamp) is not supported in exact mode")
    if params.get("refractory_input", False):
        raise NetworkError(f"from_nest({model!r}): refractory_input=True is not supported (input in t_ref is lost)")
    if np.any(p["C_m"] <= 0):
        raise NetworkError(f"from_nest({model!r}): C_m must be positive (pF)")
    tau_syn = None
    if base == "iaf_psc_exp":
        if np.any(p["tau_syn_ex"] != p["tau_syn_in"]):
            raise NetworkError(
                f"from_nest({model!r}): tau_syn_ex != tau_syn_in is not supported (one synaptic current per neuron)"
            )
        tau_syn = p["tau_syn_ex"] * 1e-3
    v_init = params.get("V_m", p["E_L"])
    return make_exact(
        model, n, tau_m=p["tau_m"] * 1e-3, tau_syn=tau_syn, r=p["tau_m"] / p["C_m"], v_rest=p["E_L"],
        v_th=p["V_th"], v_reset=p["V_reset"], bias=p["I_e"], refractory=p["t_ref"] * 1e-3, once=once,
        v_init=v_init,
    )  # fmt: skip
