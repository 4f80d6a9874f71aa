#!/usr/bin/env python3
"""NeuroBench's and Sinabs' own operation counters on two models, for comparison with `evsim.accounting`.

Sources
-------
* NeuroBench 2.3.0 (``neurobench.metrics``: ``SynapticOperations``, ``ActivationSparsity``, ``MembraneUpdates``,
  ``ConnectionSparsity``; ``neurobench.models.SNNTorchModel``; ``neurobench.benchmarks.Benchmark``), run on the
  bundled snnTorch digits model: the ``nn.Sequential`` of ``examples/train_digits_snntorch.py`` with its weights,
  biases, beta (= 1 - dt/tau, dt = 1e-4) and thresholds read back from ``examples/data/digits_snntorch.nir``, on
  the first N samples of ``examples/data/digits_test.npz``.
* Sinabs 3.1.3 (``sinabs.from_nir``, ``sinabs.hooks.conv_layer_synops_hook`` / ``linear_layer_synops_hook``), run
  on the NIR paper's N-MNIST CNN (``examples/data/cnn_sinabs.nir``: 3 Conv2d + 2 SumPool2d +
  2 Linear, multi-spike IAF) on seeded random event frames with counts 0-2 per pixel and step.

This script runs in a Python with torch, snntorch, nir, neurobench and sinabs (e.g. /work/venv-torch; NeuroBench
installed with ``pip install --no-deps neurobench``: its metrics need only torch and snntorch). It does not import
evsim: it writes the frameworks' own figures, the inputs and Sinabs' spikes to OUTDIR, and
``tests/test_validation_neurobench.py`` runs evsim on the same model and inputs and compares::

    /work/venv-torch/bin/python validation/neurobench_sinabs.py OUTDIR [--samples 300]
    .venv/bin/python -m pytest -m validation tests/test_validation_neurobench.py -s
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DIGITS_NIR = REPO / "examples" / "data" / "digits_snntorch.nir"
DIGITS_DATA = REPO / "examples" / "data" / "digits_test.npz"
CNN_NIR = REPO / "examples" / "data" / "cnn_sinabs.nir"  # the NIR paper's CNN (examples/data/README.md)
DT_SNNTORCH = 1e-4  # what snnTorch's exporter assumes


def digits_net():
    """The snnTorch digits model of examples/train_digits_snntorch.py, weights read from the .nir file."""
    import nir
    import snntorch as snn
    import torch
    import torch.nn as nn

    g = nir.read(str(DIGITS_NIR))

    def leaky(node, output=False):
        beta = torch.tensor(1 - DT_SNNTORCH / np.asarray(node.tau), dtype=torch.float32)
        thr = torch.tensor(np.asarray(node.v_threshold), dtype=torch.float32)
        return snn.Leaky(beta=beta, threshold=thr, init_hidden=True, output=output)

    def linear(node):
        w = torch.tensor(np.asarray(node.weight), dtype=torch.float32)
        lin = nn.Linear(w.shape[1], w.shape[0], bias=True)
        with torch.no_grad():
            lin.weight.copy_(w)
            lin.bias.copy_(torch.tensor(np.asarray(node.bias), dtype=torch.float32))
        return lin

    n = g.nodes
    return nn.Sequential(linear(n["0"]), leaky(n["1"]), linear(n["2"]), leaky(n["3"], output=True))


def neurobench_digits(samples: int, batch: int = 50) -> dict:
    import torch
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity
    from neurobench.metrics.workload import ActivationSparsity, MembraneUpdates, SynapticOperations
    from neurobench.models import SNNTorchModel
    from torch.utils.data import DataLoader, TensorDataset

    d = np.load(DIGITS_DATA)
    x = torch.tensor(d["x"][:samples], dtype=torch.float32)
    y = torch.tensor(d["labels"][:samples])
    model = SNNTorchModel(digits_net())
    loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=False)
    bench = Benchmark(
        model, loader, [], [], [[ConnectionSparsity], [SynapticOperations, ActivationSparsity, MembraneUpdates]]
    )
    res = bench.run(quiet=True)
    with torch.no_grad():  # the output spikes, to check the model is the trained one
        out = model(x).numpy()
    same = float(np.mean(out == d["snntorch_output"][:samples]))
    return {
        "samples": samples,
        "batch": batch,
        "output_bits_identical_to_snntorch_output": same,
        "ConnectionSparsity": float(res["ConnectionSparsity"]),
        "SynapticOperations": {k: float(v) for k, v in res["SynapticOperations"].items()},
        "ActivationSparsity": float(res["ActivationSparsity"]),
        "MembraneUpdates": float(res["MembraneUpdates"]),
    }


def sinabs_cnn(batch: int, steps: int, seed: int = 0) -> dict:
    import nir
    import torch
    from sinabs import from_nir
    from sinabs.hooks import conv_layer_synops_hook, linear_layer_synops_hook
    from sinabs.layers import StatefulLayer

    g = nir.read(str(CNN_NIR))
    model = from_nir(g, batch_size=batch)
    succ = {a: b for a, b in g.edges}
    layers, spikes = {}, {}
    for name, mod in model.named_children():
        if isinstance(mod, torch.nn.Conv2d):
            mod.register_forward_hook(conv_layer_synops_hook)
            layers[name] = mod
        elif isinstance(mod, torch.nn.Linear):
            mod.register_forward_hook(linear_layer_synops_hook)
            layers[name] = mod
        elif isinstance(mod, StatefulLayer):
            mod.register_forward_hook(lambda m, i, o, name=name: spikes.__setitem__(name, o.detach().clone()))
    r = np.random.default_rng(seed)
    x = np.minimum(r.poisson(0.06, (batch, steps, 2, 34, 34)), 2).astype(np.float32)
    with torch.no_grad():
        model(torch.tensor(x).reshape(batch * steps, 2, 34, 34))

    def spiking_successor(node: str) -> str:  # the IF population a weight layer feeds
        while type(g.nodes[node]).__name__ != "IF":
            node = succ[node]
        return node

    synops = {spiking_successor(k): float(m.hook_data["layer_synops_per_timestep"]) for k, m in layers.items()}
    arrays = {f"spk:{k}": v.reshape(batch, steps, -1).numpy() for k, v in spikes.items()}
    return {"x": x, "synops_per_timestep": synops, "spikes": arrays}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="folder for neurobench_digits.json and sinabs_cnn.npz")
    ap.add_argument("--samples", type=int, default=300, help="digits samples for NeuroBench (default 300)")
    ap.add_argument("--cnn-batch", type=int, default=2)
    ap.add_argument("--cnn-steps", type=int, default=40)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    nb = neurobench_digits(args.samples)
    (out / "neurobench_digits.json").write_text(json.dumps(nb, indent=2) + "\n")
    print("NeuroBench on the digits model:", json.dumps(nb))
    if CNN_NIR.exists():
        sb = sinabs_cnn(args.cnn_batch, args.cnn_steps)
        np.savez_compressed(
            out / "sinabs_cnn.npz",
            x=sb["x"],
            synops=json.dumps(sb["synops_per_timestep"]),
            nir=str(CNN_NIR),
            **sb["spikes"],
        )
        print("Sinabs synops per time step on the N-MNIST CNN:", json.dumps(sb["synops_per_timestep"]))
    else:
        print(f"no {CNN_NIR}: Sinabs part skipped")


if __name__ == "__main__":
    main()
