"""NIR neuron nodes -> `evsim.neurons` parameters: the converter table (node type -> function), the settings it reads.

`NEURON_CONVERTERS` maps each spiking or integrating NIR node type (LIF, IF, LI, CubaLIF, CubaLI, Threshold, I) to
a function ``(node name, node, size, bias, Settings) -> NeuronParams``; `Settings` holds the time semantics of one
load (a dialect's defaults, overridden by explicit settings: `evsim.io.nir.load`). Every parameter is read through
`_param` (one value per neuron, finite, time constants positive) and anything else a malformed node makes a
converter raise becomes one `ModelFileError` naming the node (`converting`). The graph walk that calls these is
`evsim.io.nir_graph`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Callable, Iterator

import numpy as np

from ..errors import EvsimError, ModelFileError
from ..neurons import NeuronParams, discretise, make_params

NEURON_TYPES = ("LIF", "IF", "LI", "CubaLIF", "CubaLI")


@dataclasses.dataclass
class Settings:
    """The time semantics for this load (a dialect's defaults, overridden by explicit settings)."""

    dialect: str
    dt: float
    discretisation: str
    reset: str
    reset_delay: bool
    threshold_op: str
    multi_spike: bool
    implicit: bool = True  # convolutions stay implicit (False: expand them into explicit synapses)
    v_min: float | None = None  # explicit membrane clamp for every IF/LIF/CubaLIF node (None: the dialect's rule)
    v_min_rel: dict[str, float] = dataclasses.field(default_factory=dict)  # node type -> clamp / v_threshold
    if_gain: str = "r"  # IF input gain per step: "r" or "r*dt"
    synapse_delay: int = 0  # extra steps on every projection but self-recurrent ones (lava-dl's per-layer latency)
    start_at_reset: bool = False  # spiking neurons start at v_reset (SpikingJelly)
    overshoot_rule: bool = False  # snnTorch's immediate subtraction (evsim.neurons.NeuronParams.overshoot_rule)
    late_zero_refractory: bool = False  # snnTorch's late reset to zero (evsim.dialects.Dialect)


@contextlib.contextmanager
def converting(name: str, node: Any) -> Iterator[None]:
    """Whatever a malformed parameter still makes a converter raise (a string where numbers belong, NaN sizes,
    ...) becomes one `ModelFileError` naming the node."""
    try:
        yield
    except EvsimError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, ZeroDivisionError, AttributeError) as e:
        where = f"node {name!r} ({type(node).__name__})" if name else "a node's shape"
        why = " ".join(str(e).split())[:200]
        raise ModelFileError(f"{where}: malformed parameters ({type(e).__name__}: {why})") from None


def _param(node_name: str, node: Any, field: str, n: int, default: Any = None) -> np.ndarray:
    value = getattr(node, field, None)
    if value is None:
        if default is None:
            raise ModelFileError(f"node {node_name!r} ({type(node).__name__}): parameter {field!r} is missing")
        value = default
    a = np.asarray(value, dtype=np.float64).reshape(-1)
    if a.size == 1:
        a = np.full(n, a[0])
    if a.size != n:
        raise ModelFileError(
            f"node {node_name!r} ({type(node).__name__}): parameter {field!r} has {a.size} values, "
            f"expected {n} (one per neuron)"
        )
    if not np.all(np.isfinite(a)):
        raise ModelFileError(f"node {node_name!r}: parameter {field!r} contains NaN or Inf")
    if field.startswith("tau") and not np.all(a > 0):  # (-0.0 too: a time constant is a positive duration)
        raise ModelFileError(
            f"node {node_name!r} ({type(node).__name__}): {field} must be positive (> 0 s), got {float(a[~(a > 0)][0])}"
        )
    return a


def _neuron(model: str) -> Callable[[str, Any, int, np.ndarray, Settings], NeuronParams]:
    def convert(name: str, node: Any, n: int, bias: np.ndarray, s: Settings) -> NeuronParams:
        kw: dict[str, Any] = dict(method=s.discretisation, bias=bias, r=_param(name, node, "r", n, 1.0))
        if model in ("LIF", "IF", "CubaLIF"):
            thr = _param(name, node, "v_threshold", n)
            v_reset = _param(name, node, "v_reset", n, 0.0)
            if s.reset == "subtract" and np.any(v_reset != 0):
                raise ModelFileError(
                    f"node {name!r} ({model}): v_reset = {v_reset[v_reset != 0][0]:g}, but a reset by "
                    "subtraction ignores v_reset; pass reset='zero' to reset to it, or check the "
                    "exporter"
                )
            if s.start_at_reset and np.any(v_reset != 0):
                kw.update(v_init=v_reset)
            kw.update(
                overshoot_rule=s.overshoot_rule and s.reset == "subtract" and not s.reset_delay and not s.multi_spike
            )
            kw.update(
                threshold=thr,
                v_reset=v_reset,
                reset=s.reset,
                reset_delay=s.reset_delay,
                threshold_op=s.threshold_op,
                multi_spike=s.multi_spike,
            )
            if s.v_min is not None:
                kw.update(v_min=s.v_min)
            elif model in s.v_min_rel:
                kw.update(v_min=s.v_min_rel[model] * thr)
        if model == "IF":
            kw.update(if_gain=s.if_gain)
        if model in ("LIF", "LI"):
            kw.update(tau=_param(name, node, "tau", n), v_leak=_param(name, node, "v_leak", n, 0.0))
        if model in ("CubaLIF", "CubaLI"):
            kw.update(
                tau=_param(name, node, "tau_mem", n),
                tau_syn=_param(name, node, "tau_syn", n),
                v_leak=_param(name, node, "v_leak", n, 0.0),
                w_in=_param(name, node, "w_in", n, 1.0),
            )
        _check_time_constants(name, model, kw, s)
        try:
            return discretise(model, n, s.dt, **kw)
        except EvsimError as e:
            raise ModelFileError(f"node {name!r} ({model}): {e}") from None

    return convert


def _check_time_constants(name: str, model: str, kw: dict[str, Any], s: Settings) -> None:
    """Euler steps need tau >= dt; a smaller tau is almost always a time-unit mix-up in the exporter: say which."""
    if not s.discretisation.startswith("euler"):
        return
    for field in ("tau", "tau_syn"):
        tau = kw.get(field)
        if tau is None or not np.any(tau < s.dt):
            continue
        hint = ""
        if s.dialect == "norse":
            hint = (
                " Norse's to_nir (1.1) writes tau = dt/tau_mem_inv, i.e. dt times the true time constant "
                "(norse/norse#411): divide the file's tau, tau_mem, tau_syn by dt"
            )
        t_min = float(np.min(tau))
        raise ModelFileError(
            f"node {name!r} ({model}): {field} = {t_min:g} s is shorter than the time step dt = "
            f"{s.dt:g} s, so a forward-Euler step overshoots (decay {1 - s.dt / t_min:g} per step); "
            f"check dt and the exporter's time units.{hint}"
        )


def _threshold(name: str, node: Any, n: int, bias: np.ndarray, s: Settings) -> NeuronParams:
    """NIR Threshold ``z = H(x - theta)``: no memory (beta = 0); spikes in a step where its input is above."""
    return make_params(
        "Threshold",
        n,
        beta=0.0,
        g_x=1.0,
        v_bias=bias,
        threshold=_param(name, node, "threshold", n),
        reset="zero",
        threshold_op=s.threshold_op,
    )


def _integrator(name: str, node: Any, n: int, bias: np.ndarray, s: Settings) -> NeuronParams:
    """NIR I ``v' = r I``: a non-spiking integrator, stepped as IF is (gain ``r`` or ``r dt`` per step)."""
    r = _param(name, node, "r", n, 1.0)
    g = r * s.dt if s.if_gain == "r*dt" else r
    return make_params("I", n, beta=1.0, g_x=g, v_bias=g * bias, threshold=np.inf)


NEURON_CONVERTERS: dict[str, Callable[[str, Any, int, np.ndarray, Settings], NeuronParams]] = {
    **{t: _neuron(t) for t in NEURON_TYPES},
    "Threshold": _threshold,
    "I": _integrator,
}
