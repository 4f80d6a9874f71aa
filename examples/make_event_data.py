#!/usr/bin/env python3
"""Make the small event files of examples/data/ that the README runs the bundled models on.

Sources: ``examples/data/digits_test.npz`` (made by ``examples/train_digits_snntorch.py``) and scikit-learn's 8x8
digits (``sklearn.datasets.load_digits``); the saccades follow N-MNIST's recording (Orchard et al. 2015).

1. ``digits_shd.h5``: the first 50 samples of ``digits_test.npz`` (the rate-coded 8x8 digits the snnTorch model was
   tested on) in the SHD/SSC layout (``spikes/times`` float seconds, ``spikes/units`` uint16, ``labels``), written
   with h5py by `evsim.data.write_shd`: a spike of input i at step k becomes unit i at time ``(k + 0.5) * 1e-4`` s
   (the model's dt is 1e-4 s), so binning it on the model's grid gives back the raster exactly.
2. ``nmnist_like/<digit>/<k>.aedat4``: N-MNIST-like recordings for the NIR paper's CNN (``cnn_sinabs.nir``, input
   2 x 34 x 34): a digit of scikit-learn's 8x8 digits (``load_digits``, ships with scikit-learn), scaled to 24 x 24,
   seen by a simulated event camera while it makes N-MNIST's three saccades (a triangle of 3 px sides, 100 ms
   each, 300 ms in all): a pixel emits an ON (OFF) event each time its log intensity rose (fell) by 0.15 since its
   last event, time stamps in microseconds. Written as AEDAT4 by iniVation's ``dv-processing`` (the real writer),
   one recording per digit class.

    pip install dv-processing scikit-learn     # only to remake the files; reading them needs 'evsim[events]'
    python examples/make_event_data.py
"""

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


def saccade_events(img: np.ndarray, rng: np.random.Generator, contrast: float = 0.15) -> np.ndarray:
    """Events (t us, x, y, p) of ``img`` (values 0..1, 24 x 24) moving along N-MNIST's saccade triangle."""
    path = [(0.0, 0.0), (3.0, 3.0), (6.0, 0.0), (0.0, 0.0)]  # three 100 ms saccades
    canvas = np.full((SIZE, SIZE), 0.05)
    ref = None
    out = []
    for t in range(300):  # one frame per ms
        s, f = divmod(t, 100)
        (x0, y0), (x1, y1) = path[s], path[s + 1]
        dx, dy = x0 + (x1 - x0) * f / 100, y0 + (y1 - y0) * f / 100
        frame = canvas.copy()
        ys, xs = np.mgrid[:24, :24]
        xi, yi = np.clip((xs + 2 + dx).round().astype(int), 0, 33), np.clip((ys + 2 + dy).round().astype(int), 0, 33)
        np.maximum.at(frame, (yi, xi), img)
        logi = np.log(frame + 0.05)
        if ref is None:
            ref = logi
            continue
        diff = logi - ref
        for p, mask in ((1, diff >= contrast), (0, diff <= -contrast)):
            y, x = np.nonzero(mask)
            ts = t * 1000 + rng.integers(0, 1000, y.size)
            out.append(np.stack([ts, x, y, np.full(y.size, p)], axis=1))
            ref[mask] = logi[mask]
    ev = np.concatenate(out)
    return ev[np.argsort(ev[:, 0], kind="stable")]


def nmnist_like() -> None:
    import dv_processing as dv
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(0)
    for label in range(10):
        k = int(np.flatnonzero(digits.target == label)[0])
        small = digits.images[k] / 16.0
        img = np.kron(small, np.ones((3, 3)))  # 24 x 24
        ev = saccade_events(img, rng)
        folder = DATA / "nmnist_like" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{k}.aedat4"
        writer = dv.io.MonoCameraWriter(str(path), dv.io.MonoCameraWriter.EventOnlyConfig("DVS-sim", (SIZE, SIZE)))
        store = dv.EventStore()
        for t, x, y, p in ev:
            store.push_back(int(t), int(x), int(y), bool(p))
        writer.writeEvents(store)
        del writer  # closes the file
        print(f"{path}: {len(ev)} events")


if __name__ == "__main__":
    digits_shd()
    nmnist_like()
