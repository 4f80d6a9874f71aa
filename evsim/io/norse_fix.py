"""Norse 1.1's NIR exporter output, recognised and corrected (``evsim.load(path, dialect="norse")``).

``norse.torch.to_nir`` (Norse 1.1.0, utils/export_nir.py) writes three things Norse itself does not mean:

1. ``tau = dt / tau_mem_inv`` (and ``tau_syn = dt / tau_syn_inv``): dt times the true time constant
   (norse/norse#411), so every time constant in the file is far below dt (0.005 ms for 5 ms at dt = 1 ms);
2. ``LIFCell`` as ``CubaLIF`` without ``w_in`` (read as 1), while LIFCell adds its input to the current unscaled
   (``i += x``): in NIR's ``tau_syn di/dt = -i + w_in x``, stepped with dt, that is ``w_in = tau_syn / dt``;
3. the Input and Output nodes keep the batch dimension of the example input (``[1, n]``), so NIR's type check
   fails.

A graph is taken for Norse's exporter output when every time constant of every neuron node is below dt (a real
model with such constants would overshoot in Norse's own Euler step). Then `fix` divides the time constants by dt,
sets ``w_in = tau_syn / dt`` where the file has ``w_in = 1`` (CubaLIF, CubaLI), drops a leading batch dimension of
1 from Input/Output types, and returns a note of what it changed (`evsim.io.nir.load` warns with it). Pass
``exporter_fixes=False`` (CLI ``--no-exporter-fixes``) to load the file as written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

TAU_FIELDS = {"LIF": ("tau",), "LI": ("tau",), "CubaLIF": ("tau_mem", "tau_syn"), "CubaLI": ("tau_mem", "tau_syn")}


def _neurons(graph: Any) -> list[tuple[str, Any]]:
    import nir

    out = []
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            out += [(f"{name}.{n}", v) for n, v in _neurons(node)]
        elif type(node).__name__ in TAU_FIELDS:
            out.append((name, node))
    return out


def is_norse_export(graph: Any, dt: float) -> bool:
    """Every time constant of every neuron node below ``dt``: the signature of norse/norse#411."""
    nodes = _neurons(graph)
    taus = [np.asarray(getattr(n, f), np.float64) for _, n in nodes for f in TAU_FIELDS[type(n).__name__]]
    return bool(taus) and all(t.size and np.all(t < dt) and np.all(t > 0) for t in taus)


def _drop_batch(types: Any) -> int:
    changed = 0
    for k, shape in list(types.items()):
        a = np.asarray(shape).reshape(-1)
        if a.size >= 2 and a[0] == 1:
            types[k] = a[1:]
            changed += 1
    return changed


def fix(graph: Any, dt: float, path: str | Path) -> str | None:
    """Correct Norse 1.1's exporter output in place (see the module docstring); None when it is not one."""
    import nir

    if not is_norse_export(graph, dt):
        return None
    done = [f"time constants / dt (norse/norse#411) in {len(_neurons(graph))} neuron node(s)"]
    n_w = 0
    for _, node in _neurons(graph):
        for f in TAU_FIELDS[type(node).__name__]:
            setattr(node, f, np.asarray(getattr(node, f), np.float64) / dt)
        if hasattr(node, "w_in") and np.all(np.asarray(node.w_in, np.float64) == 1.0):
            node.w_in = np.asarray(node.tau_syn, np.float64) / dt
            n_w += 1
    if n_w:
        done.append(f"w_in = tau_syn / dt in {n_w} CubaLIF/CubaLI node(s) (LIFCell adds its input unscaled)")
    n_b = 0
    for node in graph.nodes.values():
        if isinstance(node, nir.Input):
            n_b += _drop_batch(node.input_type) + _drop_batch(node.output_type)
        elif isinstance(node, nir.Output):
            n_b += _drop_batch(node.input_type) + _drop_batch(node.output_type)
    if n_b:
        done.append("batch dimension dropped from the Input/Output types")
    return (
        f"{path}: Norse 1.1 to_nir output detected and corrected: {'; '.join(done)}. "
        "Pass exporter_fixes=False (CLI --no-exporter-fixes) to load it as written"
    )
