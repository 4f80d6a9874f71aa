"""Dialects: the time semantics a `.nir` file leaves open, bundled per framework.

A NIR graph gives continuous-time equations and parameters, not how the framework that trained it stepped them:
the time step, the discretisation, the reset (to ``v_reset`` or by subtraction, at once or one step late), the
threshold comparison, multi-spike. `evsim.load(path, dialect=..., **overrides)` takes a dialect's defaults and
lets any explicit setting override them. Each record names the framework code it was read from.
"""

from __future__ import annotations

import dataclasses

from .errors import ModelFileError


@dataclasses.dataclass(frozen=True)
class Dialect:
    name: str
    dt: float | None  # default time step in seconds (None: the user must give dt)
    discretisation: str  # "exact", "euler" or "euler-new-i" (see evsim.neurons.discretise)
    reset: str  # "zero" (to v_reset) or "subtract"
    reset_delay: bool  # reset applied one step late
    threshold_op: str  # ">" or ">="
    multi_spike: bool  # floor(v / theta) spikes per step
    source: str  # where these conventions were read


DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect("nir", None, "exact", "zero", False, ">", False,
                "NIR spec (neuromorphs/NIR docs, primitives): continuous-time ODEs; input held over each step "
                "(boxcar) as in the NIR paper's exact LIF reference paper/01_lif/lif_exact.csv"),
        Dialect("snntorch", 1e-4, "euler-new-i", "subtract", True, ">", False,
                "snntorch/_neurons/leaky.py, synaptic.py (mem = beta*mem + input - reset*threshold, reset from "
                "the previous step); snntorch/export_nir.py (dt = 1e-4, tau = dt/(1-beta), r = tau/dt, "
                "w_in = tau_syn/dt, v_reset written as 0)"),
        Dialect("norse", 1e-3, "euler", "zero", False, ">", False,
                "norse/torch/functional/lif.py (forward Euler, v uses the previous current, reset to v_reset); "
                "norse/torch/utils/import_nir.py (dt = 1 ms default)"),
    )
}


def get_dialect(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise ModelFileError(f"unknown dialect {name!r}; known dialects: {', '.join(sorted(DIALECTS))}") from None
