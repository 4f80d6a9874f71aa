#!/usr/bin/env python3
"""Time-to-first-spike (TTFS) classification of 8x8 digits in continuous time: one spike per pixel in, the class
is the output neuron that fires first.

Source: the bundled test raster ``examples/data/digits_test.npz`` (scikit-learn's 8x8 digits, 300 test samples,
made by ``examples/train_digits_snntorch.py``; see ``examples/data/README.md``). Its pixel intensities are
estimated from the raster as the firing rate over its 25 steps (k/25). Needs nothing but evsim::

    python examples/ttfs_digits.py

What it does and shows:
1. trains a linear softmax classifier ``s = W x + b`` in NumPy on the first 200 samples (intensities x in [0, 1]);
2. encodes each sample with `evsim.ttfs.ttfs_encode`: pixel i fires once at ``t_i = t_max (1 - x_i)`` (brighter
   = earlier; blank pixels stay silent), t_max = 1 ms;
3. runs a continuous-time spiking layer (`evsim.exact.IF`, current synapses with tau_syn = 1 s >> t_max, fire at
   most once) in evsim's exact mode. The membrane of output c is then ``v_c(t) ~ sum_i w_ci (t - t_i)``, so at
   ``t_max`` it holds ``t_max (W x)_c``: the classifier's score. A "go" input spike at t_max then adds a common
   steep ramp, and the output with the highest score reaches the threshold first;
4. decodes by earliest output spike (``res.first_spike_predictions()``) on the other 100 samples,
   compares the spiking decision with the NumPy classifier's argmax, and reports when the decisions are made.
The spiking net reproduces the linear classifier's decision up to the small curvature of the synaptic current
(tau_syn finite) and the finite ramp; the figures it prints are measured on this run.
"""

from pathlib import Path

import numpy as np

import evsim
from evsim.ttfs import ttfs_encode

DATA = Path(__file__).resolve().parent / "data"
T_MAX = 1e-3  # s: the latest input spike (a pixel of intensity 0 would fire here; blank pixels stay silent)


def train_softmax(x: np.ndarray, y: np.ndarray, epochs: int = 400, lr: float = 0.5, l2: float = 1e-3):
    """Multinomial logistic regression by full-batch gradient descent (seeded, deterministic)."""
    n, d = x.shape
    W, b = np.zeros((10, d)), np.zeros(10)
    onehot = np.eye(10)[y]
    for _ in range(epochs):
        s = x @ W.T + b
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) / n
        W -= lr * (g.T @ x + l2 * W)
        b -= lr * g.sum(axis=0)
    return W, b


def ttfs_network(W: np.ndarray, b: np.ndarray, theta: float, ramp: float) -> evsim.Network:
    """64 pixel inputs + 1 go input -> 10 fire-once IF neurons with slow current synapses (tau_syn = 1 s).

    A weight jumps the current (A); dv/dt = I + bias, so an input at t_i adds about w (t - t_i) to v. Weights
    are the classifier's divided by t_max, so that v_c(t_max) = (W x + b)_c."""
    n_out, n_in = W.shape
    out = evsim.exact.IF(n_out, v_th=theta, v_reset=0.0, r=1.0, tau_syn=1.0, bias=b / T_MAX, once=True)
    pre, post = np.meshgrid(np.arange(n_in), np.arange(n_out), indexing="ij")
    pix = evsim.Projection.from_synapses(
        "pixels->out", "pixels", "out", pre.ravel(), post.ravel(), W.T.ravel() / T_MAX, 0.0, n_source=n_in
    )
    go = evsim.Projection.from_synapses(
        "go->out", "go", "out", np.zeros(n_out, int), np.arange(n_out), ramp / T_MAX, 0.0, n_source=1
    )
    pops = (evsim.Population("pixels", n_in), evsim.Population("go", 1), evsim.Population("out", n_out, out))
    return evsim.Network(pops, (pix, go), ("pixels", "go"), ("out",))


def main() -> None:
    data = np.load(DATA / "digits_test.npz")
    x = data["x"].mean(axis=1)  # [300, 64] intensities k/25 estimated from the rate-coded raster
    y = data["labels"]
    x_tr, y_tr, x_te, y_te = x[:200], y[:200], x[200:], y[200:]
    W, b = train_softmax(x_tr, y_tr)
    scores_tr, scores_te = x_tr @ W.T + b, x_te @ W.T + b
    linear = np.argmax(scores_te, axis=1)
    # threshold above every training score (no output should fire before the go spike); a ramp much steeper
    # than any output's own slope, so that the order of crossing follows the score at t_max
    theta = float(scores_tr.max()) + 1.0
    ramp = 20.0 * float(np.abs(W).sum(axis=1).max() + np.abs(b).max())
    net = ttfs_network(W, b, theta, ramp)

    streams = ttfs_encode(x_te, T_MAX)
    go = evsim.EventStream(np.array([T_MAX]), np.array([0]))
    inputs = {"pixels": streams, "go": [go] * len(streams)}  # a batch: one list of streams per input port
    res = evsim.run(net, inputs, duration=3 * T_MAX)
    first = res.first_spike_times("out")  # [100, 10] seconds, inf where silent
    spiking = np.asarray(res.first_spike_predictions())  # = first_spike_class(first)

    decided = np.isfinite(first).any(axis=1)
    t_dec = first.min(axis=1)[decided]
    before_go = int(np.sum(t_dec < T_MAX))
    print(
        f"samples: train {len(y_tr)}, test {len(y_te)}; "
        f"input spikes per sample: {np.mean([len(s.times) for s in streams]):.1f}"
    )
    print(f"NumPy linear classifier (softmax) test accuracy: {np.mean(linear == y_te):.3f}")
    print(f"TTFS spiking net (evsim exact mode), class = first output spike: accuracy {np.mean(spiking == y_te):.3f}")
    print(f"same decision as the linear classifier: {np.mean(spiking == linear):.1%} of samples")
    print(
        f"decision time: median {np.median(t_dec) * 1e3:.4f} ms, max {t_dec.max() * 1e3:.4f} ms "
        f"(input window t_max = {T_MAX * 1e3:g} ms); {before_go} decided before the go spike; "
        f"{int((~decided).sum())} without any output spike"
    )
    print(f"output spikes per sample: {np.mean(res.spike_counts('out').sum(axis=1)):.2f} (at most one per neuron)")


if __name__ == "__main__":
    main()
