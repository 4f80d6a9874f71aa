#!/usr/bin/env python3
"""Train the bundled example SNN (8x8 digits) with snnTorch and export it to NIR.

Sources
-------
* Network, training loop and surrogate-gradient setup follow the snnTorch
  tutorials (J. K. Eshraghian et al., "Training Spiking Neural Networks Using
  Lessons From Deep Learning", https://snntorch.readthedocs.io/ tutorials 5-6:
  ``nn.Linear`` + ``snn.Leaky`` feed-forward net, ``surrogate.fast_sigmoid``,
  cross-entropy on output spike counts, Adam) and the snnTorch NIR export
  (``snntorch.export_nir.export_to_nir``).
* Data: scikit-learn's bundled 8x8 handwritten digits,
  ``sklearn.datasets.load_digits`` (1797 samples, 64 features, values 0..16;
  a copy of the UCI ML "Optical Recognition of Handwritten Digits" test set).
  It ships inside scikit-learn, so nothing is downloaded.

This script is the only place that needs the optional torch stack
(``torch``, ``snntorch``, ``nirtorch``, ``scikit-learn``: the ``validation``
extra; install the CPU torch first, ``pip install torch==2.13.0`` then
``pip install -e '.[validation]'``). evsim itself and its tests only read the
files it writes:

* ``examples/data/digits_snntorch.nir``  - the trained net, exported by snnTorch
* ``examples/data/digits_test.npz``      - the fixed binary test raster and
  snnTorch's own per-step spikes of both layers on it (reference output)

Run (from the repository root)::

    python examples/train_digits_snntorch.py            # ~20 s on 2 CPU cores

Everything is seeded (NumPy for data/spikes, torch.manual_seed(0) for the
net), so reruns on the same library versions give the same files.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

N_TEST = 300
T = 25
BETA = 0.9
THRESHOLD = 1.0
N_HIDDEN = 128
SPLIT_SEED = 0
TEST_SPIKE_SEED = 1234
TRAIN_SPIKE_SEED = 42
TORCH_SEED = 0

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "data")


def load_data():
    """Digits scaled to [0, 1], fixed-seed 1497/300 split."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float64)  # 0..16 -> [0, 1]
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    test_idx, train_idx = perm[:N_TEST], perm[N_TEST:]
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx]


def rate_code(x, rng, steps=T):
    """Bernoulli rate code: [N, 64] intensities -> [N, steps, 64] uint8 spikes."""
    u = rng.random((x.shape[0], steps, x.shape[1]))
    return (u < x[:, None, :]).astype(np.uint8)


def build_net():
    import torch.nn as nn
    import snntorch as snn
    from snntorch import surrogate

    import torch

    grad = surrogate.fast_sigmoid(slope=25)

    def leaky(n, **kw):
        # beta/threshold are given as fixed (non-learnable) per-neuron
        # vectors of one value each: with plain Python scalars snnTorch
        # 1.0.0's exporter writes 0-d LIF parameters, and nir's
        # infer_types() then rejects the graph ("type mismatch ... -> []").
        return snn.Leaky(
            beta=torch.full((n,), BETA), threshold=torch.full((n,), THRESHOLD), spike_grad=grad, init_hidden=True, **kw
        )

    # init_hidden=True so the plain nn.Sequential is exactly what
    # export_to_nir traces (snnTorch's documented export pattern).
    return nn.Sequential(
        nn.Linear(64, N_HIDDEN, bias=True),
        leaky(N_HIDDEN),
        nn.Linear(N_HIDDEN, 10, bias=True),
        leaky(10, output=True),
    )


def run_net(net, x_tbf):
    """x_tbf: float tensor [T, B, 64]. Returns (hidden spikes [T,B,H],
    output spikes [T,B,10]). Membranes start at zero for every batch."""
    import torch

    net[1].reset_mem()
    net[3].reset_mem()
    hid, out = [], []
    for t in range(x_tbf.shape[0]):
        s1 = net[1](net[0](x_tbf[t]))
        s2, _ = net[3](net[2](s1))
        hid.append(s1)
        out.append(s2)
    return torch.stack(hid), torch.stack(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output folder")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-3)
    args = ap.parse_args()

    import torch
    import torch.nn as nn
    import nir
    import snntorch
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(TORCH_SEED)
    torch.set_num_threads(2)
    t0 = time.time()

    xtr, ytr, xte, yte = load_data()
    x_test = rate_code(xte, np.random.default_rng(TEST_SPIKE_SEED))  # [300,T,64]
    train_rng = np.random.default_rng(TRAIN_SPIKE_SEED)
    batch_rng = np.random.default_rng(SPLIT_SEED + 1)

    net = build_net()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr, betas=(0.9, 0.999))
    loss_fn = nn.CrossEntropyLoss()
    xte_t = torch.from_numpy(x_test).float().transpose(0, 1)  # [T,300,64]

    def test_acc():
        with torch.no_grad():
            _, out = run_net(net, xte_t)
            counts = out.sum(0).numpy()
        return float((np.argmax(counts, axis=1) == yte).mean())

    for ep in range(args.epochs):
        net.train()
        spikes = rate_code(xtr, train_rng)  # fresh Bernoulli draw each epoch
        order = batch_rng.permutation(len(ytr))
        tot = 0.0
        for i in range(0, len(order), args.batch):
            idx = order[i : i + args.batch]
            xb = torch.from_numpy(spikes[idx]).float().transpose(0, 1)
            yb = torch.from_numpy(ytr[idx])
            _, out = run_net(net, xb)
            loss = loss_fn(out.sum(0), yb)  # CE on output spike counts
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
        if ep % 5 == 4 or ep == args.epochs - 1:
            print(f"epoch {ep + 1:3d}  loss {tot / len(ytr):.4f}  test acc {test_acc():.4f}  ({time.time() - t0:.0f}s)")

    # ---- reference run of the trained net on the shipped test raster ----
    net.eval()
    with torch.no_grad():
        hid, out = run_net(net, xte_t)
    snn_hidden = hid.transpose(0, 1).numpy().astype(np.uint8)  # [300,T,128]
    snn_output = out.transpose(0, 1).numpy().astype(np.uint8)  # [300,T,10]
    acc = float((np.argmax(snn_output.sum(1), axis=1) == yte).mean())
    print(f"final snnTorch test accuracy (spike-count argmax): {acc:.4f}")

    # ---- export with snnTorch's own NIR exporter ----
    os.makedirs(args.out, exist_ok=True)
    nir_path = os.path.join(args.out, "digits_snntorch.nir")
    net[1].reset_mem()
    net[3].reset_mem()
    graph = export_to_nir(net, torch.zeros(1, 64), ignore_dims=[0])
    nir.write(nir_path, graph)
    net[1].reset_mem()
    net[3].reset_mem()
    g2 = nir.read(nir_path)
    print("NIR nodes:", {k: type(v).__name__ for k, v in g2.nodes.items()})
    print("NIR edges:", g2.edges)

    npz_path = os.path.join(args.out, "digits_test.npz")
    desc = (
        "evsim example data: scikit-learn load_digits (8x8, /16 -> [0,1]), "
        f"test split of {N_TEST} (seed {SPLIT_SEED} permutation, first {N_TEST}), "
        f"Bernoulli rate code T={T} (numpy default_rng({TEST_SPIKE_SEED}), "
        "spike if U[0,1) < intensity). x[n,t,i] is the input spike of pixel i "
        "at step t. snntorch_output/snntorch_hidden are snnTorch "
        f"{snntorch.__version__} Leaky spikes per step of digits_snntorch.nir's "
        f"net (64-128-10, beta={BETA}, threshold={THRESHOLD}, subtract reset, "
        "reset_delay=True, membranes zero at t=0 of every sample). "
        "snntorch_accuracy = mean(argmax(output.sum(t)) == labels)."
    )
    np.savez_compressed(
        npz_path,
        x=x_test.astype(np.uint8),
        labels=yte.astype(np.int64),
        snntorch_output=snn_output,
        snntorch_hidden=snn_hidden,
        snntorch_accuracy=np.float64(acc),
        beta=np.float64(BETA),
        threshold=np.float64(THRESHOLD),
        description=np.array(desc),
    )
    for p in (nir_path, npz_path):
        print(f"wrote {p} ({os.path.getsize(p)} bytes)")
    print(f"total {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
