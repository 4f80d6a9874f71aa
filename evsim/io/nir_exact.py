"""NIR neuron nodes read by NIR's own continuous-time equations, for `evsim.load(path, mode="exact")`.

No dialect and no discretisation: each node becomes an `evsim.exact` population whose ODE is the node's, with a
spike arriving as a Dirac pulse of area ``w`` (its weight) in the input ``I``:

* ``LIF``/``LI``: ``tau dv/dt = v_leak - v + r I``: a spike jumps ``v`` by ``r w / tau``;
* ``IF``: ``dv/dt = r I``: a jump of ``r w``;
* ``CubaLIF``/``CubaLI``: ``tau_syn dI/dt = -I + w_in S``, ``tau_mem dv/dt = v_leak - v + r I``: a spike jumps
  ``I`` by ``w_in w / tau_syn``; a constant input ``b`` (an Affine bias) makes ``I`` relax towards ``w_in b``;
* ``I``: ``dv/dt = r I`` without threshold.

Spiking nodes fire when ``v >= v_threshold`` and reset to ``v_reset`` (NIR has no refractory period).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import ModelFileError
from ..exact.neurons import ExactNeuron, make_exact


def _conv(model: str) -> Callable[..., ExactNeuron]:
    def convert(name: str, node: Any, n: int, bias: np.ndarray, param: Callable[..., np.ndarray]) -> ExactNeuron:
        r = param(name, node, "r", n, 1.0)
        spiking = model in ("LIF", "IF", "CubaLIF")
        kw: dict[str, Any] = {}
        if spiking:
            kw.update(v_th=param(name, node, "v_threshold", n), v_reset=param(name, node, "v_reset", n, 0.0))
        if model in ("IF", "I"):
            return make_exact(model, n, tau_m=np.inf, r=r, jump_v=r, bias=bias, **kw)
        if model in ("LIF", "LI"):
            tau = param(name, node, "tau", n)
            leak = param(name, node, "v_leak", n, 0.0)
            return make_exact(model, n, tau_m=tau, r=r, v_rest=leak, jump_v=r / tau, bias=bias, v_init=leak, **kw)
        tau = param(name, node, "tau_mem", n)
        tau_syn = param(name, node, "tau_syn", n)
        w_in = param(name, node, "w_in", n, 1.0)
        leak = param(name, node, "v_leak", n, 0.0)
        return make_exact(
            model, n, tau_m=tau, tau_syn=tau_syn, r=r, v_rest=leak, jump_i=w_in / tau_syn, i_inf=w_in * bias,
            v_init=leak, **kw,
        )  # fmt: skip

    return convert


def _unsupported(name: str, node: Any, *args: Any) -> ExactNeuron:
    raise ModelFileError(
        f"node {name!r} ({type(node).__name__}): has no continuous-time meaning in exact mode (a memoryless "
        "threshold fires only on a time grid); load it in discrete mode"
    )


EXACT_CONVERTERS: dict[str, Callable[..., ExactNeuron]] = {
    **{t: _conv(t) for t in ("LIF", "IF", "LI", "CubaLIF", "CubaLI", "I")},
    "Threshold": _unsupported,
}
