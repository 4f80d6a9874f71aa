"""Shared by the framework scripts (run them in a Python with torch and the framework, e.g. /work/venv-torch).

Each script builds small random models in its framework, exports them to NIR with the framework's own exporter
(or writes the equivalent NIR by hand where there is none), runs the framework's forward pass on random spike
inputs, and saves one case per model: ``<fw>_<case>.nir`` and ``<fw>_<case>.npz`` with

* ``nir``: the file name of the graph (beside the .npz),
* ``x``: float64 inputs [B, T, n_in],
* ``out``: the framework's output spikes [B, T, n_out]; ``spk:<node>``: spikes of other NIR nodes [B, T, n],
* ``load``: JSON of the `evsim.load` keyword arguments that state the framework's conventions (dialect, ...),
* ``note``: what the case exercises and any exporter workaround applied,
* ``gap``: empty, or why evsim's neuron kernel cannot express this framework behaviour (the test then reports the
  match rate instead of requiring identity).

tests/test_validation_frameworks.py runs the scripts and compares evsim's spikes with these.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def outdir() -> Path:
    if len(sys.argv) < 2:
        raise SystemExit(f"usage: {sys.argv[0]} OUTDIR")
    d = Path(sys.argv[1])
    d.mkdir(parents=True, exist_ok=True)
    return d


def spikes_in(rng: np.random.Generator, b: int, t: int, n: int, rate: float = 0.2) -> np.ndarray:
    return (rng.random((b, t, n)) < rate).astype(np.float64)


def set_linear(
    layer, rng: np.random.Generator, mean: float, std: float, gain: float = 1.0, bias_std: float = 0.05
) -> None:
    """Weights ~ N(mean, std) * gain, then biases ~ N(0, bias_std) * gain (in that order of the random stream)."""
    import torch

    n_out, n_in = layer.weight.shape
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(rng.normal(mean, std, (n_out, n_in)) * gain))
        layer.bias.copy_(torch.tensor(rng.normal(0.0, bias_std, n_out) * gain))


def save_case(
    out: Path,
    fw: str,
    name: str,
    graph,
    x: np.ndarray,
    spikes: dict,
    load: dict,
    note: str = "",
    output: str | None = None,
    gap: str = "",
) -> None:
    """``spikes``: node name -> [B, T, n] array (torch or numpy); ``output``: which of them is the output."""
    import nir

    stem = f"{fw}_{name}"
    if isinstance(graph, (str, Path)):
        nir_name = Path(graph).name
    else:
        nir_name = stem + ".nir"
        nir.write(out / nir_name, graph)
    arrays = {f"spk:{k}": _np(v) for k, v in spikes.items()}
    if output is None:
        output = list(spikes)[-1]
    arrays["out"] = _np(spikes[output])
    np.savez_compressed(
        out / f"{stem}.npz",
        nir=nir_name,
        x=np.asarray(x, np.float64),
        load=json.dumps(load),
        note=note,
        gap=gap,
        **arrays,
    )
    n = int(arrays["out"].sum())
    print(
        f"{stem}: {arrays['out'].shape} output spikes {n}; "
        + ", ".join(f"{k[4:]} {int(v.sum())}" for k, v in arrays.items() if k.startswith("spk:")),
        flush=True,
    )


def _np(v) -> np.ndarray:
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    return np.asarray(v, dtype=np.float64)
