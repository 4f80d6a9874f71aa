"""Norse 1.1's own NIR exports, unmodified, with Norse's spikes: the vendored files of tests/data/norse_*.

    cd validation/frameworks && python norse_exports.py ../../tests/data   # a Python with torch and norse

Two small feed-forward models of norse_cases.py (10 -> 20 -> 5, dt = 1 ms, float64): LIFBoxCell (NIR LIF) and
LIFCell (NIR CubaLIF), exported with ``norse.torch.to_nir`` and written with ``nir.write`` as they come: tau is dt
times the true time constant (norse/norse#411), the CubaLIF nodes lack LIFCell's w_in, the Input keeps the batch
dimension. ``norse_exports.npz`` holds each model's input ``<kind>:x`` [B, T, 10] and Norse's spikes ``<kind>:<node>``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nir
import numpy as np
import torch
from norse.torch import to_nir

from norse_cases import DT, N_IN, Net, node_names, run

B, T = 8, 60


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    torch.set_default_dtype(torch.float64)
    arrays = {}
    for i, kind in enumerate(("lifbox", "lifcell")):
        rng = np.random.default_rng(500 + i)
        net = Net(kind, rng, torch.float64)
        x = (rng.random((B, T, N_IN)) < 0.2).astype(np.float64)
        hid, o = run(net, torch.tensor(x))
        graph = to_nir(net, torch.zeros(1, N_IN), dt=DT)
        nir.write(out / f"norse_{kind}.nir", graph)
        _, neu = node_names(graph)
        arrays[f"{kind}:x"] = x
        arrays[f"{kind}:{neu[0]}"] = hid.numpy().astype(np.uint8)
        arrays[f"{kind}:{neu[1]}"] = o.numpy().astype(np.uint8)
    np.savez_compressed(out / "norse_exports.npz", **arrays)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
