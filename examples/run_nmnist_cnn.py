#!/usr/bin/env python3
"""Run the NIR paper's spiking CNN for N-MNIST (Sinabs) on synthetic saccade events, with implicit convolutions.

Source: ``cnn_sinabs.nir`` from the NIR paper (Pedersen et al., Nat. Commun. 15, 8122 (2024);
github.com/neuromorphs/NIR, ``paper/02_cnn``, BSD-3-Clause), trained as an ANN and converted with Sinabs: IAF
neurons with multi-spike, reset by subtraction, 1 ms bins. The N-MNIST recordings are not shipped, so the input is
an N-MNIST-like stream: a digit-shaped blob seen through three saccades, ON/OFF events on a 34x34 sensor.

    python examples/run_nmnist_cnn.py
"""

from pathlib import Path

import numpy as np

import evsim

DATA = Path(__file__).resolve().parent / "data"


def saccade_events(rng: np.random.Generator, steps: int = 300) -> evsim.EventStream:
    """ON (channel 0) and OFF (channel 1) events of a ring moving in three saccades over a 34x34 sensor."""
    yy, xx = np.mgrid[:34, :34]
    times, idx = [], []
    for t in range(steps):
        phase = 3 * t / steps
        cy = 17 + 3 * np.sin(2 * np.pi * phase)
        cx = 17 + 3 * np.cos(2 * np.pi * phase * (1 + (t // 100) % 2))
        r = np.hypot(yy - cy, xx - cx)
        edge = np.abs(r - 8) < 1.5
        on = edge & (rng.random((34, 34)) < 0.15)
        off = edge & (rng.random((34, 34)) < 0.10)
        for c, m in ((0, on), (1, off)):
            y, x = np.nonzero(m)
            times.append(np.full(y.size, t))
            idx.append((c * 34 + y) * 34 + x)
    return evsim.EventStream(np.concatenate(times), np.concatenate(idx))


def main() -> None:
    net = evsim.load(DATA / "cnn_sinabs.nir", dialect="sinabs", dt=1e-3)
    explicit = sum(q.n_synapses for q in net.projections) * 20  # bytes an expanded table would need (~20 B/syn)
    print(
        f"model: {net.n_neurons} neurons, {net.n_synapses} synapses, {net.nbytes() / 1e6:.1f} MB in memory "
        f"(an expanded synapse table: ~{explicit / 1e6:.0f} MB)"
    )
    rng = np.random.default_rng(0)
    samples = [saccade_events(rng) for _ in range(4)]
    res = evsim.run(net, samples, steps=300)
    for name in ("1", "3", "6", "10", "12"):
        print(
            f"layer {name:>2}: {len(net.population(name).neuron.v_th):5d} neurons, "
            f"{res.spikes[name].counts.sum() / len(samples):8.0f} spikes per sample"
        )
    print(f"class decisions: {res.predictions().tolist()}; SOPs per sample: {np.mean(res.sops):.0f}")


if __name__ == "__main__":
    main()
