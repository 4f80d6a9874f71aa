"""Run the small SNN-delays model of examples/data/ event by event and compare it with PyTorch; then drop its delays.

Source: SNN-delays (Hammouamri, Khalfaoui-Hassani, Masquelier, ICLR 2024; github.com/Thvnvtos/SNN-delays), trained by
examples/train_snn_delays.py on a synthetic SHD-layout task where the order and gap of two bursts decide the class.
PyTorch's hidden spikes, output membranes and predictions on the test set were recorded at training time
(examples/data/snn_delays_reference.npz); this script needs only evsim.

    python examples/run_snn_delays.py
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

import evsim

DATA = Path(__file__).resolve().parent / "data"


def without_delays(net: evsim.Network) -> evsim.Network:
    """Every synapse with the delay of position 0 (the kernel's centre): what the model is without learned delays."""
    centre = int(net.meta["config"]["max_delay"]) // 2
    projs = tuple(dataclasses.replace(q, delays=np.full_like(q.delays, centre)) for q in net.projections)
    return dataclasses.replace(net, projections=projs)


def main() -> None:
    net = evsim.load(DATA / "snn_delays_model.pt", config=DATA / "snn_delays_config.py")
    ref = np.load(DATA / "snn_delays_reference.npz")
    x, labels = ref["frames"].astype(np.float64), ref["labels"]
    res = evsim.run(net, x)
    B = x.shape[0]
    pred = res.predictions()
    print(f"model: {' -> '.join(f'{p.name} ({p.size})' for p in net.populations)}, {net.n_synapses} synapses")
    print(f"delays: {net.max_delay + 1} values (0..{net.max_delay} steps of {net.dt * 1e3:g} ms), one per synapse")
    for k in (0, 1):
        want = ref[f"spikes{k}"]
        got = res.spikes[f"hidden{k + 1}"].dense(want.shape[1], want.shape[2], B).astype(bool)
        same = np.mean([np.array_equal(got[b], want[b]) for b in range(B)])
        n = int(want.sum())
        print(f"hidden layer {k + 1}: spikes identical to PyTorch's in {same:.1%} of samples ({n} spikes)")
    print(f"predictions identical to PyTorch's: {np.mean(pred == ref['pred']):.1%} of samples")
    print(f"accuracy with learned delays: {np.mean(pred == labels):.1%} (PyTorch: {float(ref['accuracy']):.1%})")
    flat = evsim.run(without_delays(net), x)
    print(f"accuracy with every delay equal: {np.mean(flat.predictions() == labels):.1%}")
    print(f"synaptic operations: {int(np.sum(res.sops)) / B:.0f} per sample")


if __name__ == "__main__":
    main()
