#!/usr/bin/env python3
"""What the time step costs: the bundled digits model run on a grid of step dt, against its exact continuous-time
answer (evsim's exact mode), as dt shrinks. Writes a log-log plot and prints the measured order of convergence.

    python validation/discrete_vs_exact.py [--samples 100] [--png validation/discrete_vs_exact.png]

Model: examples/data/digits_snntorch.nir (64 -> 128 -> 10, trained with snnTorch; its weights and tau = 1 ms)
read as a continuous-time LIF network: ``tau dv/dt = -v + bias_c``, an input spike of weight w jumps v by w (delta
synapses), spike when v >= 1, reset to 0, zero delays between layers. ``bias_c = b / (1 - exp(-0.1 ms / tau))``
so that at the model's training step (dt = 0.1 ms) the discrete bias per step is the trained Affine bias b.
(snnTorch's own model subtracts the threshold one step late; the exact engine resets to v_reset, so both modes
here reset to 0: this compares time steps, not frameworks.)
Input: the bundled test raster (25 steps of 0.1 ms) with every spike moved off the grid, to time (k + u) 0.1 ms,
u ~ U(0, 1) (seed 0).

Discrete mode at step dt (evsim.LIF, exact decay over a step, the bias integrated exactly over a step): step s
holds the interval (s dt, (s+1) dt]; an input at time t counts in the step that contains it and a spike of step s
is reported at its end, (s+1) dt (so no neuron sees an input before it happens). Against the exact run, per dt:
the mean |time difference| of matched spikes (hidden and output, a pair = one neuron, < 0.5 ms apart), the share
of spikes without a partner (missing or extra), and the share of samples whose class (spike-count argmax)
differs. The order is the least-squares slope of log(error) against log(dt).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

import evsim

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nest_precise import pair_differences  # noqa: E402  (neuron-by-neuron spike pairing)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data"
STEP = 1e-4  # s: the raster's (and the model's training) step
DTS = (1e-4, 5e-5, 2e-5, 1e-5, 5e-6, 2e-6, 1e-6)


def model() -> tuple[list[np.ndarray], list[np.ndarray], float]:
    import nir

    g = nir.read(DATA / "digits_snntorch.nir")
    W = [np.asarray(g.nodes[k].weight, np.float64) for k in ("0", "2")]
    b = [np.asarray(g.nodes[k].bias, np.float64) for k in ("0", "2")]
    tau = float(np.asarray(g.nodes["1"].tau).ravel()[0])
    return W, b, tau


def inputs(n: int) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    x = np.load(DATA / "digits_test.npz")["x"][:n]
    rng = np.random.default_rng(0)
    times, idx = [], []
    for sample in x:
        k, i = np.nonzero(sample)
        t = (k + rng.random(k.size)) * STEP
        o = np.argsort(t, kind="stable")
        times.append(t[o])
        idx.append(i[o])
    return times, idx, x.shape[1] * STEP


def network(W, b, tau, dt: float | None) -> evsim.Network:
    """The model on a grid of step dt (discrete mode), or in exact mode (dt=None)."""
    sizes = [W[0].shape[1], W[0].shape[0], W[1].shape[0]]
    names = ["in", "hidden", "out"]
    pops = [evsim.Population("in", sizes[0])]
    for k in (1, 2):
        bias_c = b[k - 1] / (1.0 - math.exp(-STEP / tau))
        if dt is None:
            nu = evsim.exact.LIF(sizes[k], tau_m=tau, v_th=1.0, v_reset=0.0, r=1.0, bias=bias_c)
        else:
            beta = math.exp(-dt / tau)
            nu = evsim.LIF(sizes[k], beta, 1.0, bias=bias_c * (1 - beta), reset="zero", threshold_op=">=")
        pops.append(evsim.Population(names[k], sizes[k], nu))
    projs = []
    for k in (0, 1):
        pre, post = np.meshgrid(np.arange(sizes[k]), np.arange(sizes[k + 1]), indexing="ij")
        w = W[k].T.ravel()
        d = 0.0 if dt is None else 0
        projs.append(
            evsim.Projection.from_synapses(
                f"{names[k]}->{names[k + 1]}", names[k], names[k + 1], pre.ravel(), post.ravel(), w, d, sizes[k]
            )
        )
    return evsim.Network(tuple(pops), tuple(projs), ("in",), ("out",), dt=dt)


def spikes_by_sample(res, name: str, B: int, scale: float, shift: float) -> list[tuple[np.ndarray, np.ndarray]]:
    s = res.spikes[name]
    t = np.asarray(s.times, np.float64) * scale + shift
    return [(t[s.samples == b], np.asarray(s.indices)[s.samples == b]) for b in range(B)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--png", default=str(ROOT / "validation" / "discrete_vs_exact.png"))
    args = p.parse_args()
    W, b, tau = model()
    times, idx, T = inputs(args.samples)
    B = len(times)
    ex = evsim.run(network(W, b, tau, None), [evsim.EventStream(t, i) for t, i in zip(times, idx)], duration=T)
    exact = {n: spikes_by_sample(ex, n, B, 1e3, 0.0) for n in ("hidden", "out")}  # ms
    exact_cls = np.argmax(ex.spike_counts("out"), axis=1)
    n_exact = sum(len(ex.spikes[n]) for n in ("hidden", "out"))
    rows = []
    for dt in DTS:
        steps = int(math.ceil(T / dt)) + 1
        x = [(np.ceil(t / dt - 1e-9).astype(np.int64) - 1, i) for t, i in zip(times, idx)]
        x = [(np.maximum(s, 0), i) for s, i in x]
        res = evsim.run(network(W, b, tau, dt), x, steps=steps)
        err, unmatched, total = [], 0, 0
        for n in ("hidden", "out"):
            disc = spikes_by_sample(res, n, B, dt * 1e3, dt * 1e3)  # step s -> end of the step, (s+1) dt
            for bb in range(B):
                d, u = pair_differences(exact[n][bb], disc[bb])
                unmatched += u
                total += exact[n][bb][0].size
                err.append(np.abs(d))
        e = np.concatenate(err)
        cls = np.argmax(res.spike_counts("out"), axis=1)
        rows.append((dt, float(np.mean(e)), float(np.median(e)), unmatched / total, float(np.mean(cls != exact_cls))))
    print(f"exact run: {n_exact} spikes (hidden + output) over {B} samples of {T * 1e3:g} ms; tau = {tau * 1e3:.4f} ms")
    print(
        "| dt (ms) | matched spikes: mean abs time error (ms) | median (ms) | unmatched spikes | samples: other class |"
    )
    print("|---|---|---|---|---|")
    for dt, e, med, u, c in rows:
        print(f"| {dt * 1e3:g} | {e:.3g} | {med:.3g} | {u:.2%} | {c:.1%} |")
    a = np.array(rows)
    orders = [_order(a[:, 0], a[:, k]) for k in (1, 2, 3)]
    print(
        f"\nmeasured order (least-squares slope in log-log over dt = {a[-1, 0] * 1e3:g} .. {a[0, 0] * 1e3:g} ms): "
        f"mean spike-time error ~ dt^{orders[0]:.2f}, median ~ dt^{orders[1]:.2f}, "
        f"unmatched spikes ~ dt^{orders[2]:.2f}"
    )
    plot(a, orders, args.png)
    print(f"wrote {args.png}")


def _order(dt: np.ndarray, err: np.ndarray) -> float:
    ok = err > 0
    return float(np.polyfit(np.log(dt[ok]), np.log(err[ok]), 1)[0]) if ok.sum() >= 2 else float("nan")


def plot(a: np.ndarray, orders: list[float], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    dt_ms = a[:, 0] * 1e3
    ax.loglog(dt_ms, a[:, 1], "o-", label=f"mean |spike-time error| (ms), order {orders[0]:.2f}")
    ax.loglog(dt_ms, a[:, 2], "o--", label=f"median |spike-time error| (ms), order {orders[1]:.2f}")
    ok = a[:, 3] > 0
    ax.loglog(dt_ms[ok], a[ok, 3], "s-", label=f"share of spikes missing or extra, order {orders[2]:.2f}")
    ok = a[:, 4] > 0
    if ok.any():
        ax.loglog(dt_ms[ok], a[ok, 4], "^-", label="share of samples with another class (count argmax)")
    ax.loglog(dt_ms, a[0, 1] * (dt_ms / dt_ms[0]), "k:", label="slope 1")
    ax.set_xlabel("time step dt (ms)")
    ax.set_ylabel("difference from the exact run")
    ax.set_title("digits model: discrete mode vs exact continuous time")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = Path(path).with_name(Path(path).stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    Path(tmp).replace(path)


if __name__ == "__main__":
    main()
