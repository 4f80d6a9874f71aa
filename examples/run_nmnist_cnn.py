#!/usr/bin/env python3
"""The NIR paper's spiking CNN for N-MNIST (Sinabs) on N-MNIST-like saccade recordings of handwritten digits.

Sources: the model is ``cnn_sinabs.nir`` from the NIR paper (Pedersen et al., Nat. Commun. 15, 8122 (2024);
github.com/neuromorphs/NIR ``paper/02_cnn``, BSD-3-Clause): trained as an ANN on N-MNIST and converted with Sinabs
(IAF neurons, multi-spike, reset by subtraction, 1 ms bins, 300 bins). The digits are scikit-learn's 8x8
handwritten digits (``sklearn.datasets.load_digits``: the UCI "Optical Recognition of Handwritten Digits" set),
copied into ``examples/data/digits_images.npz``. N-MNIST itself (Orchard et al., Front. Neurosci. 9:437, 2015) is
not shipped, so this script records its own the way N-MNIST was recorded:

1. each digit becomes an MNIST-like image: upsampled to the 20 x 20 box MNIST digits fill (cubic), strokes
   sharpened to MNIST's near-binary contrast, centred by centre of mass in 28 x 28;
2. a simulated event camera (34 x 34 pixels, as N-MNIST's ATIS crop) watches it while it makes N-MNIST's three
   saccades, a triangle of 3 px sides, 100 ms each: every 1 ms a pixel emits one ON (OFF) event per 0.15 rise
   (fall) of its log intensity since its last event;
3. events are binned per 1 ms and per polarity, as the paper's ``tonic.transforms.ToFrame(time_window=1000)``.

Which channel takes ON events was chosen on 80 development digits, not on those reported here: ON in channel 0
gave 0.79 (0.89 with sharpened strokes), ON in channel 1 0.65 (0.75). The accuracy printed is then measured on 100
other digits (10 per class); the paper's frameworks reach 0.95-0.98 on real N-MNIST. What this shows: evsim runs
the converted CNN event by event with implicit convolutions (2.3 MB instead of an 18 MB synapse table) and it
recognises digits it never saw recorded this way: 0.80 (80/100).

    python examples/run_nmnist_cnn.py [--samples 100]
"""

import argparse
from pathlib import Path

import numpy as np
from scipy import ndimage

import evsim

DATA = Path(__file__).resolve().parent / "data"
SENSOR = 34
SACCADES = np.array([(0.0, 0.0), (3.0, 3.0), (6.0, 0.0), (0.0, 0.0)])  # (dx, dy) pixels: three 100 ms saccades
CONTRAST = 0.15  # log-intensity change per event
ON_CHANNEL = 0  # chosen on the development digits (see the docstring)


def mnist_like(img8: np.ndarray) -> np.ndarray:
    """An 8x8 digit (values 0..16) as a 28 x 28 MNIST-like image (0..1): 20 x 20 box, sharp strokes, centred."""
    d = ndimage.zoom(img8 / 16.0, 20 / 8, order=3).clip(0, 1)
    d = ((d - 0.25) / 0.5).clip(0, 1)  # sharpen: MNIST strokes are nearly binary
    img = np.zeros((28, 28))
    img[4:24, 4:24] = d
    cy, cx = ndimage.center_of_mass(img)
    return ndimage.shift(img, (14 - cy, 14 - cx), order=1).clip(0, 1)


def record(img28: np.ndarray, steps: int = 300) -> np.ndarray:
    """Event counts ``[steps, 2, 34, 34]`` (1 ms bins; channel ``ON_CHANNEL`` ON, the other OFF) of an event
    camera watching ``img28`` make the three saccades."""
    out = np.zeros((steps, 2, SENSOR, SENSOR), np.float32)
    canvas = np.zeros((SENSOR, SENSOR))
    canvas[:28, :28] = img28
    ref = np.log(canvas + 0.1)  # each pixel's log intensity at its last event
    for t in range(1, steps + 1):
        s, f = divmod(min(t, steps - 1e-9), 100)
        dx, dy = SACCADES[int(s)] + (SACCADES[int(s) + 1] - SACCADES[int(s)]) * f / 100
        d = np.log(ndimage.shift(canvas, (dy, dx), order=1) + 0.1) - ref
        n = np.floor(np.abs(d) / CONTRAST)
        ref += np.sign(d) * n * CONTRAST
        out[t - 1, ON_CHANNEL] = np.where(d > 0, n, 0)
        out[t - 1, 1 - ON_CHANNEL] = np.where(d < 0, n, 0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=100, help="digits to classify (10 per class at 100)")
    n = ap.parse_args().samples
    net = evsim.load(DATA / "cnn_sinabs.nir", dialect="sinabs")
    explicit = sum(q.n_synapses for q in net.projections) * 16
    print(f"model: {net.n_neurons} neurons, {net.n_synapses} synapses, {net.nbytes() / 1e6:.1f} MB in memory")
    print(f"       (an explicit synapse table: ~{explicit / 1e6:.0f} MB)")

    d = np.load(DATA / "digits_images.npz")
    images, labels = d["images"], d["labels"].astype(np.int64)
    order = np.random.default_rng(1).permutation(len(labels))
    dev = set(order[200:280].tolist())  # the development digits: not reported
    pick = [i for i in order if i not in dev]
    chosen = [i for c in range(10) for i in [j for j in pick if labels[j] == c][: -(-n // 10)]][:n]
    x = np.stack([record(mnist_like(images[i])) for i in chosen])
    y = labels[chosen]
    print(f"input: {len(chosen)} digits, {x.sum() / len(chosen):.0f} events per recording, 300 x 1 ms bins")

    res = evsim.run(net, x)
    pred = np.asarray(res.predictions())
    for name in ("1", "3", "6", "10", "12"):
        size = net.population(name).size
        print(f"layer {name:>2}: {size:5d} neurons, {res.spikes[name].counts.sum() / len(chosen):8.0f} spikes/sample")
    per_class = [float(np.mean(pred[y == c] == c)) for c in range(10) if np.any(y == c)]
    print(f"per-class accuracy: {' '.join(f'{a:.1f}' for a in per_class)}")
    right = int(np.sum(pred == y))
    print(f"accuracy {right / len(y):.3f} ({right}/{len(y)}); SOPs per sample {np.mean(res.sops):.0f}")


if __name__ == "__main__":
    main()
