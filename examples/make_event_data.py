#!/usr/bin/env python3
"""Make the small event files of examples/data/ that the README runs the bundled models on.

Sources: ``examples/data/digits_test.npz`` (made by ``examples/train_digits_snntorch.py``) and scikit-learn's 8x8
digits (``sklearn.datasets.load_digits``); the saccades follow N-MNIST's recording (Orchard et al. 2015).

1. ``digits_shd.h5``: the first 50 samples of ``digits_test.npz`` (the rate-coded 8x8 digits the snnTorch model was
   tested on) in the SHD/SSC layout (``spikes/times`` float seconds, ``spikes/units`` uint16, ``labels``), written
   with h5py by `evsim.data.write_shd`: a spike of input i at step k becomes unit i at time ``(k + 0.5) * 1e-4`` s
   (the model's dt is 1e-4 s), so binning it on the model's grid gives back the raster exactly.
2. ``nmnist_like/<digit>/<k>.aedat4``: N-MNIST-like recordings for the NIR paper's CNN (``cnn_sinabs.nir``, input
   2 x 34 x 34): the first ten digits (one per class) that ``examples/run_nmnist_cnn.py --samples 10`` classifies,
   recorded by its simulated event camera (``mnist_like`` + ``record``: N-MNIST's three saccades, 1 ms bins). Each
   count of ``c`` events in bin ``k`` becomes ``c`` events at ``k * 1000 + u`` microseconds (``u`` uniform in
   0..999, seeded), polarity True for ON; written as AEDAT4 (ZSTD-compressed) by iniVation's ``dv-processing``
   (the real writer). Binned with the ``grid`` rule at 1 ms they give back the script's bins, with ON in channel 1
   (tonic's layout: channel = polarity; ``--polarity swap`` puts it in channel 0, as the script does).

    pip install dv-processing     # only to remake the files; reading them needs 'evsim[events]'
    python examples/make_event_data.py
"""

import sys
from pathlib import Path

import numpy as np

import evsim.data

DATA = Path(__file__).resolve().parent / "data"
SIZE = 34


def digits_shd(n: int = 50) -> None:
    d = np.load(DATA / "digits_test.npz")
    x, labels = d["x"][:n], d["labels"][:n]
    times, units = [], []
    for b in range(n):
        k, i = np.nonzero(x[b])
        times.append((k + 0.5) * 1e-4)
        units.append(i)
    evsim.data.write_shd(DATA / "digits_shd.h5", times, units, labels, extra={"source": np.bytes_(b"digits_test.npz")})


def nmnist_like() -> None:
    import dv_processing as dv

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run_nmnist_cnn import ON_CHANNEL, mnist_like, record

    d = np.load(DATA / "digits_images.npz")
    images, labels = d["images"], d["labels"].astype(np.int64)
    order = np.random.default_rng(1).permutation(len(labels))  # run_nmnist_cnn.py's choice of digits
    dev = set(order[200:280].tolist())
    pick = [i for i in order if i not in dev]
    chosen = [next(j for j in pick if labels[j] == c) for c in range(10)]
    rng = np.random.default_rng(0)
    for i in chosen:
        counts = record(mnist_like(images[i])).astype(np.int64)  # [300, 2, 34, 34], channel ON_CHANNEL = ON
        k, ch, y, x = np.nonzero(counts)
        reps = counts[k, ch, y, x]
        k, ch, y, x = (np.repeat(a, reps) for a in (k, ch, y, x))
        t = k * 1000 + rng.integers(0, 1000, k.size)
        order_t = np.argsort(t, kind="stable")
        folder = DATA / "nmnist_like" / str(labels[i])
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i}.aedat4"
        writer = dv.io.MonoCameraWriter(
            str(path), dv.io.MonoCameraWriter.EventOnlyConfig("DVS-sim", (SIZE, SIZE), dv.CompressionType.ZSTD)
        )
        store = dv.EventStore()
        for n in order_t:
            store.push_back(int(t[n]), int(x[n]), int(y[n]), bool(ch[n] == ON_CHANNEL))
        writer.writeEvents(store)
        del writer  # closes the file
        print(f"{path}: {k.size} events")


if __name__ == "__main__":
    digits_shd()
    nmnist_like()
