"""Dialects: the time semantics a `.nir` file leaves open, bundled per framework.

A NIR graph gives continuous-time equations and parameters, not how the framework that trained it stepped them:
the time step, the discretisation, the reset (to ``v_reset`` or by subtraction, at once or one step late), the
threshold comparison, multi-spike, membrane clamps, the IF input gain and per-layer latency.
`evsim.load(path, dialect=..., **overrides)` takes a dialect's defaults and lets any explicit setting override
them. Each record names the framework code it was read from (versions: snntorch 1.0.0, norse 1.1.0, sinabs
3.1.3, spikingjelly 2.0.0, lava-dl at lava-nc/lava-dl main, nir 1.0.8).

Discretisations (`evsim.neurons.discretise`), per step of ``dt`` with input ``x`` (one value per step):

* ``exact``: input held over the step (a boxcar), linear ODE integrated exactly: ``beta = exp(-dt/tau)``,
  gain ``r (1 - beta)``.
* ``euler``: forward Euler, ``beta = 1 - dt/tau``, gain ``r dt/tau``; the membrane sees the previous step's
  synaptic current.
* ``euler-new-i``: forward Euler, the membrane sees this step's current: ``i <- (1 - dt/tau_syn) i + dt/tau_syn
  w_in x``, ``v <- (1 - dt/tau) v + dt/tau (r i + v_leak)`` (snnTorch ``Synaptic``, Norse ``LIFCell`` and its NIR
  import, SpikingJelly ``CUBALIFNode``, lava-dl CUBA).
* ``exp-unit``: ``beta = exp(-dt/tau)``, input added to the membrane unscaled (times ``r``), no ``(1 - beta)``
  factor (Sinabs ``LIF(norm_input=False)``, which is what ``sinabs.nir.from_nir`` builds; Sinabs time constants are
  in steps, so its dialect's ``dt`` is 1).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

from .errors import ModelFileError


@dataclasses.dataclass(frozen=True)
class Dialect:
    name: str
    dt: float | None  # default time step in seconds (None: the user must give dt)
    discretisation: str  # "exact", "euler", "euler-new-i" or "exp-unit" (see evsim.neurons.discretise)
    reset: str  # "zero" (to v_reset) or "subtract"
    reset_delay: bool  # subtraction applied one step late (snnTorch reset_delay=True)
    threshold_op: str  # ">" or ">="
    multi_spike: bool  # floor(v / theta) spikes per step
    source: str  # where these conventions were read
    # membrane clamp per NIR node type, as a multiple of that node's v_threshold (Sinabs IAF: -1 x threshold)
    v_min: Mapping[str, float] = dataclasses.field(default_factory=dict)
    if_gain: str = "r"  # IF input gain per step: "r" (v += r x) or "r*dt" (v += r dt x, NIR's v' = R I by Euler)
    synapse_delay: int = 0  # extra steps on every projection (lava-dl/Loihi: one step of latency per layer)
    start_at_reset: bool = False  # spiking neurons start each sample at v_reset, not 0 (SpikingJelly)
    overshoot_rule: bool = False  # immediate subtraction tests 2 theta after an overshoot (snnTorch, see neurons)
    # a late reset to zero holds the next step's membrane at 0 in recurrent LIF and in CubaLIF nodes, the current
    # still integrating (snnTorch RLeaky, Synaptic, RSynaptic: one refractory step that keeps the current)
    late_zero_refractory: bool = False
    dt_unit: str = "s"  # "step": the default dt is one step and time constants count steps (Sinabs), no seconds


DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect(
            "nir",
            None,
            "exact",
            "zero",
            False,
            ">",
            False,
            "NIR spec (neuromorphs/NIR docs, primitives): continuous-time ODEs; input held over each step "
            "(boxcar) as in the NIR paper's exact LIF reference paper/01_lif/lif_exact.csv",
        ),
        Dialect(
            "snntorch",
            1e-4,
            "euler-new-i",
            "subtract",
            True,
            ">",
            False,
            "snntorch/_neurons/leaky.py, synaptic.py (mem = beta*mem + input - reset*threshold, reset from "
            "the previous step); snntorch/export_nir.py (dt = 1e-4, tau = dt/(1-beta), r = tau/dt, "
            "w_in = tau_syn/dt, v_reset written as 0); with reset_delay=False, leaky.py's forward tests the spike "
            "on beta*mem + input - reset_prev*threshold and subtracts spk - reset_prev: the overshoot rule",
            overshoot_rule=True,
            late_zero_refractory=True,
        ),
        Dialect(
            "norse",
            1e-3,
            "euler-new-i",
            "zero",
            False,
            ">",
            False,
            "norse/torch/functional/lif.py (LIFCell, norse 1.1: i += x first, then v += dt/tau_mem (v_leak - "
            "v + i) with this step's current, then i decays; reset to v_reset); functional/lif_box.py (LIFBoxCell: "
            "v += dt/tau (v_leak - v + x)); functional/threshold.py (heaviside: v > v_th); "
            "utils/export_nir.py, import_nir.py (dt = 1 ms default; IF -> IAFCell, v += x). NB the exporter "
            "(corrected on load: evsim.io.norse_fix) writes LIFCell as CubaLIF without w_in (read as 1): "
            "LIFCell adds x to i unscaled, i.e. "
            "w_in = tau_syn/dt; its importer runs CubaLIF as LIBoxCell -> LIFBoxCell, the same discretisation",
        ),
        Dialect(
            "sinabs",
            1.0,
            "exp-unit",
            "subtract",
            False,
            ">=",
            True,
            "sinabs/nir.py (from_nir: IF -> IAFSqueeze(min_v_mem=-v_threshold), LIF -> LIFSqueeze(tau_mem=tau "
            "in steps, norm_input=False); to_nir writes tau in steps and r = 1); sinabs/layers/functional/lif.py "
            "(v = alpha v + x, alpha = exp(-1/tau); spike, reset, then clamp at min_v_mem); "
            "sinabs/activation/spike_generation.py (MultiSpike: trunc(v/theta) spikes when v > 0, i.e. fire on "
            "v >= theta); activation/reset_mechanism.py (MembraneSubtract: v -= theta * spikes)",
            v_min={"IF": -1.0},
            dt_unit="step",
        ),
        Dialect(
            "lava-dl",
            1e-4,
            "euler-new-i",
            "zero",
            False,
            ">",
            False,
            "lava-dl src/lava/lib/dl/slayer/neuron/cuba.py (u = (1 - iDecay/4096) u + x; v = (1 - vDecay/4096) "
            "v + u; spike if v >= threshold + 0.01/s_scale, i.e. v > threshold on Loihi's integer grid; v = 0 "
            "after a spike; threshold = vThMant/64); slayer/block (delay_shift=True: one step per layer, as "
            "Loihi/Lava); NIR docs examples/lava/lava_to_nir.py (dt = 1e-4, tau = dt/(decay/4096), "
            "r = tau_mem/dt, w_in = tau_syn/dt, weights / 64)",
            synapse_delay=1,
        ),
        Dialect(
            "spikingjelly",
            1e-4,
            "euler-new-i",
            "zero",
            False,
            ">=",
            False,
            "spikingjelly/activation_based/neuron/lif.py (decay_input: v += (v_reset - v + x)/tau, else "
            "v += (v_reset - v)/tau + x); neuron/base_node.py (fire heaviside(v - v_th): v >= v_th; hard reset "
            "v = v_reset, soft reset (v_reset=None) v -= v_th); nir_exchange/to_nir.py (dt = 1e-4: LIF tau = "
            "tau*dt, r = 1 or tau, v_leak = v_reset; IF r = 1/dt; CubaLIF r = tau_mem/dt, w_in = tau_syn/dt; "
            "soft reset is refused by the exporter; base_node.py: v starts at v_reset)",
            if_gain="r*dt",
            start_at_reset=True,
        ),
    )
}


def get_dialect(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise ModelFileError(f"unknown dialect {name!r}; known dialects: {', '.join(sorted(DIALECTS))}") from None
