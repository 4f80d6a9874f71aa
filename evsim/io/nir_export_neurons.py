"""NIR export, neurons: a population's discrete-time coefficients back to NIR's continuous-time parameters.

`_target` settles what the graph is written for (dialect, dt, discretisation: the settings the network was loaded
with, else the ``nir`` dialect's); `_invert` inverts `evsim.neurons.discretise` for it (``tau`` from the decay per
step, ``r``, ``v_leak``, ``tau_syn``, ``w_in``) and `_check` discretises the result again: coefficients that no NIR
parameters reproduce raise `NetworkError` naming the population. `_spike_settings` gives the reset, threshold and
multi-spike settings `evsim.load` must be told (one for all populations: the loader applies one). Used by
`evsim.io.nir_export`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from ..dialects import get_dialect
from ..errors import EvsimError, NetworkError
from ..network import Network, Population
from ..neurons import NeuronParams, discretise

# Time constant from the decay per step, per discretisation (the inverse of `discretise`'s decay).
_TAU_OF_DECAY: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "exact": lambda a, dt: -dt / np.log(a),
    "exp-unit": lambda a, dt: -dt / np.log(a),
    "euler": lambda a, dt: dt / (1.0 - a),
    "euler-new-i": lambda a, dt: dt / (1.0 - a),
}
_RTOL, _ATOL = 1e-9, 1e-12  # tolerance of the re-discretisation check


@dataclasses.dataclass
class _Target:
    """How the written file is meant to be loaded."""

    dialect: str
    dt: float
    method: str
    if_gain: str
    synapse_delay: int


def _target(net: Network, dialect: str | None, dt: float | None, discretisation: str | None) -> _Target:
    meta = dict((net.meta or {}).get("settings") or {})
    name = dialect or meta.get("dialect") or "nir"
    d = get_dialect(name)
    loaded = meta if name == meta.get("dialect") else {}  # the load's own settings apply to the same dialect only
    if dt is not None and net.dt is not None and not np.isclose(dt, net.dt, rtol=1e-12, atol=0.0):
        raise NetworkError(
            f"save_nir: the network runs at dt = {net.dt} s, not dt = {dt} s (its coefficients are per "
            "step of its own dt); leave dt out"
        )
    step = dt if dt is not None else net.dt if net.dt is not None else loaded.get("dt", d.dt)
    if step is None:
        raise NetworkError(
            "save_nir: the network has no time step (Network.dt is None) and dialect "
            f"{name!r} has no default: pass dt=... seconds per step"
        )
    if not (np.isfinite(step) and step > 0):
        raise NetworkError(f"save_nir: dt must be a positive number of seconds, got {step!r}")
    method = discretisation or loaded.get("discretisation") or d.discretisation
    if method not in _TAU_OF_DECAY:
        raise NetworkError(f"save_nir: cannot invert discretisation {method!r}; known: {sorted(_TAU_OF_DECAY)}")
    if_gain = loaded.get("if_gain") or getattr(d, "if_gain", "r")
    k = loaded.get("synapse_delay", getattr(d, "synapse_delay", 0))
    return _Target(name, float(step), method, str(if_gain), int(k or 0))


# ----------------------------------------------------------------------------------------------------- neurons
@dataclasses.dataclass
class _NeuronOut:
    """A population's NIR node type, its parameters (flat arrays) and the constant input it still needs."""

    nir_type: str
    params: dict[str, np.ndarray]
    bias: np.ndarray  # per neuron, to be carried by an Affine / Conv bias into the population


def _family(pop: Population) -> str:
    """The NIR node type of a population, from its coefficients (raises if the population mixes kinds)."""
    p = pop.neuron
    assert p is not None
    where = f"population {pop.name!r}"
    spiking = np.isfinite(p.v_th)
    if spiking.any() and not spiking.all():
        raise NetworkError(
            f"{where}: some neurons have a threshold and others none; a NIR node is either spiking "
            "or not: split the population"
        )
    spk = bool(spiking.all())
    if p.model == "Threshold":
        return "Threshold"
    if p.model in ("CubaLIF", "CubaLI") or np.any(p.g_i != 0):
        return "CubaLIF" if spk else "CubaLI"
    if np.all(p.beta == 1.0):
        return "IF" if spk else "I"
    if np.any(p.beta == 1.0):
        raise NetworkError(
            f"{where}: some neurons leak and some do not (beta = 1); NIR's LIF needs a finite tau and "
            "IF has no leak: split the population"
        )
    return "LIF" if spk else "LI"


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1.0), 0.0)


def _tau(where: str, field: str, decay: np.ndarray, s: _Target) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = _TAU_OF_DECAY[s.method](decay, s.dt)
    if s.method in ("exact", "exp-unit"):  # exp(-dt/tau) is 0.0 for every tau < dt/745: any such tau will do
        tau = np.where(decay == 0.0, s.dt / 800.0, tau)
    bad = ~(np.isfinite(tau) & (tau > 0))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise NetworkError(
            f"{where}: decay {field} = {decay[j]} (neuron {j}) has no positive finite time constant "
            f"under discretisation {s.method!r}"
        )
    return tau


def _invert(pop: Population, s: _Target, route: str) -> _NeuronOut:
    """NIR parameters of ``pop`` under ``s``; ``route`` = "leak" puts a LIF/LI's constant drive into ``v_leak``,
    "bias" into an input bias. Checked by discretising again."""
    p = pop.neuron
    assert p is not None
    n, dt, where = p.size, s.dt, f"population {pop.name!r} ({p.model})"
    # snnTorch's late reset to zero is one refractory step keeping the current: its dialect makes it again
    late_zero = (
        get_dialect(s.dialect).late_zero_refractory
        and p.refractory_keeps_current
        and p.reset == "zero"
        and p.reset_delay
        and np.all(p.refractory == 1)
    )
    if np.any(p.refractory != 0) and not late_zero:
        raise NetworkError(f"{where}: refractory periods cannot be expressed in NIR (no NIR neuron has one)")
    if p.v_init is not None and np.any(p.v_init != 0):
        at_reset = get_dialect(s.dialect).start_at_reset and np.array_equal(p.v_init, p.v_reset)
        if not at_reset:
            raise NetworkError(
                f"{where}: initial membranes (v_init) cannot be expressed in NIR; only dialect "
                "'spikingjelly' starts neurons at v_reset"
            )
    t = _family(pop)
    spiking = t in ("LIF", "IF", "CubaLIF")
    kw: dict[str, Any] = {}
    if t == "Threshold":  # the loader's: v_t = x_t + bias, spike above threshold, reset to zero
        fixed = dict(beta=0.0, g_x=1.0, v_reset=0.0, g_i=0.0)
        for f, v in fixed.items():
            if np.any(getattr(p, f) != v):
                raise NetworkError(
                    f"{where}: NIR Threshold is memoryless with unit gain ({f} = {v}), this "
                    f"population has {f} = {getattr(p, f)[getattr(p, f) != v][0]}"
                )
        if p.reset != "zero" or p.multi_spike or p.reset_delay:
            raise NetworkError(
                f"{where}: evsim.load reads a NIR Threshold with reset 'zero', one spike per step and "
                "no late reset; this population differs"
            )
        return _NeuronOut(t, dict(threshold=p.v_th.copy()), p.v_bias.copy())
    if t in ("IF", "I"):
        g1 = discretise("IF", n, dt, r=1.0, if_gain=s.if_gain, threshold=1.0).g_x
        r = p.g_x / g1
        bias = _div(p.v_bias, p.g_x)
        params = dict(r=r)
        kw.update(if_gain=s.if_gain)
    elif t in ("LIF", "LI"):
        tau = _tau(where, "beta", p.beta, s)
        unit = discretise(t, n, dt, method=s.method, tau=tau, r=1.0, v_leak=1.0)
        r = p.g_x / unit.g_x
        if route == "bias":
            bias = _div(p.v_bias, p.g_x)
            v_leak = np.where(p.g_x != 0, 0.0, p.v_bias / unit.v_bias)
        else:
            bias = np.zeros(n)
            v_leak = p.v_bias / unit.v_bias
        params = dict(tau=tau, r=r, v_leak=v_leak)
    else:
        ts = _tau(where, "alpha", p.alpha, s)
        tau = _tau(where, "beta", p.beta, s)
        unit = discretise(t, n, dt, method=s.method, tau=tau, tau_syn=ts, r=1.0, w_in=1.0, v_leak=1.0)
        w_in = _div(p.in_gain, unit.in_gain)
        r = np.where(unit.g_i != 0, _div(p.g_i, unit.g_i), _div(p.g_x, w_in * unit.g_x))
        bias = _div(p.i_bias, p.in_gain)
        v_leak = (p.v_bias - p.g_x * bias) / unit.v_bias
        params = dict(tau_syn=ts, tau_mem=tau, r=r, v_leak=v_leak, w_in=w_in)
    if spiking:
        # a reset by subtraction never reads v_reset (refractory periods are refused above), and the loader
        # refuses a non-zero one with it: write 0
        v_reset = np.zeros_like(p.v_reset) if p.reset == "subtract" else p.v_reset.copy()
        params.update(v_threshold=p.v_th.copy(), v_reset=v_reset)
    for k_, v in params.items():
        if not np.all(np.isfinite(v)):
            j = int(np.flatnonzero(~np.isfinite(v))[0])
            raise NetworkError(
                f"{where}: its coefficients give NIR {t} parameter {k_!r} = {v[j]} at neuron {j} under "
                f"discretisation {s.method!r}, dt = {dt} s"
            )
    _check(where, t, p, params, bias, s, kw)
    return _NeuronOut(t, params, bias)


def _check(
    where: str, t: str, p: NeuronParams, params: dict[str, np.ndarray], bias: np.ndarray, s: _Target, kw: dict[str, Any]
) -> None:
    """Discretise the NIR parameters again, as the loader will, and compare with the population's coefficients."""
    args: dict[str, Any] = dict(params)
    if "tau_mem" in args:
        args["tau"] = args.pop("tau_mem")
    thr = args.pop("v_threshold", np.inf)
    v_reset = args.pop("v_reset", 0.0)
    try:
        q = discretise(
            "IF" if t == "I" else t,
            p.size,
            s.dt,
            method=s.method,
            bias=bias,
            threshold=thr,
            v_reset=v_reset,
            **args,
            **kw,
        )
    except EvsimError as e:
        raise NetworkError(
            f"{where}: cannot be written as NIR {t} under discretisation {s.method!r} at dt = {s.dt} s: {e}"
        ) from None
    fields = ["beta", "g_x", "v_bias"] + (["alpha", "in_gain", "g_i", "i_bias"] if t.startswith("Cuba") else [])
    for f in fields:
        got, want = getattr(q, f), getattr(p, f)
        ok = np.isclose(got, want, rtol=_RTOL, atol=_ATOL)
        if not ok.all():
            j = int(np.flatnonzero(~ok)[0])
            raise NetworkError(
                f"{where}: its coefficients are not those of a NIR {t} under discretisation {s.method!r} at dt = "
                f"{s.dt} s ({f} would be {got[j]!r}, not {want[j]!r}, at neuron {j}); save it with the dialect or "
                "discretisation it was built for (save_nir(..., dialect=..., discretisation=...))"
            )


def _spike_settings(net: Network, s: _Target, families: dict[str, str]) -> dict[str, Any]:
    """The reset / threshold / multi-spike / clamp settings `evsim.load` must be given (one for all populations)."""
    out: dict[str, Any] = {}
    first: Population | None = None
    d = get_dialect(s.dialect)
    clamps: dict[str, np.ndarray] = {}
    threshold_ops: dict[str, str] = {}  # of Threshold populations, which take only this setting
    for pop in net.populations:
        if pop.neuron is None:
            continue
        p = pop.neuron
        if families[pop.name] not in ("LIF", "IF", "CubaLIF"):
            if np.any(np.isfinite(p.v_min)):
                raise NetworkError(
                    f"population {pop.name!r} ({p.model}): a membrane clamp v_min on a "
                    f"{families[pop.name]} population cannot be expressed in NIR (evsim.load clamps "
                    "LIF, IF and CubaLIF nodes only)"
                )
            if families[pop.name] == "Threshold":
                threshold_ops[pop.name] = p.threshold_op
            continue
        mine = dict(
            reset=p.reset, reset_delay=bool(p.reset_delay), threshold_op=p.threshold_op, multi_spike=bool(p.multi_spike)
        )
        if first is None:
            first, out = pop, mine
        elif mine != out:
            diff = {k: (out[k], mine[k]) for k in mine if mine[k] != out[k]}
            raise NetworkError(
                f"population {pop.name!r}: spiking populations disagree on {diff} (vs "
                f"{first.name!r}); NIR does not store these and evsim.load applies one setting to "
                "every population"
            )
        clamps[pop.name] = p.v_min
    for name, op in threshold_ops.items():
        if out.setdefault("threshold_op", op) != op:
            raise NetworkError(
                f"population {name!r}: threshold comparison {op!r} differs from the other "
                f"populations' {out['threshold_op']!r}; evsim.load applies one to all"
            )
    if not clamps:
        return out
    # membrane clamps: the dialect's rule (v_min_rel x threshold) or one value for every spiking population
    rel = dict(getattr(d, "v_min", {}) or {})

    def rule(name: str) -> np.ndarray:
        pop = net.population(name)
        f = families[name]
        assert pop.neuron is not None
        return rel[f] * pop.neuron.v_th if f in rel else np.full(pop.size, -np.inf)

    if all(np.allclose(v, rule(k), rtol=1e-12, atol=0.0) for k, v in clamps.items()):
        return out
    values = np.concatenate(list(clamps.values()))
    if np.all(values == values[0]):
        out["v_min"] = float(values[0])
        return out
    bad = next(k for k, v in clamps.items() if not np.all(v == v[0]) or v[0] != values[0])
    raise NetworkError(
        f"population {bad!r}: its membrane clamp v_min is neither one value for all spiking "
        f"populations nor dialect {s.dialect!r}'s rule; NIR cannot store a clamp and evsim.load "
        "cannot be told this one"
    )
