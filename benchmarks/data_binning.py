"""Input side: reading and binning event data, against tonic (the library whose rule evsim's ``tonic`` rule is).

    .venv/bin/python benchmarks/data_binning.py     # prints one JSON line

* ``tonic_to_frame``: N-MNIST-sized samples (34 x 34 x 2, 300 ms, 4,000 events, tonic's dtype): evsim's
  `to_stream` with the ``tonic`` rule (1 ms windows) vs ``tonic.transforms.ToFrame(time_window=1000)``, the same
  frames (checked), best of 3 over 200 samples; the ratio is tonic's time / evsim's.
* ``shd_read_bin``: a synthetic SHD-layout file (2,264 samples, 3,000-9,000 spikes each, written with h5py), read
  sample by sample and binned with SNN-delays' pipeline (``spikingjelly`` rule, 10 ms, ``n_bins`` 5): seconds and
  microseconds per sample (no peer: SpikingJelly writes its frames to disk first).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import evsim.data as D  # noqa: E402


def best(fn, runs: int = 3) -> float:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def main() -> None:
    rng = np.random.default_rng(0)
    result: dict = {}
    samples = []
    for _ in range(200):
        ev = np.zeros(4000, dtype=[("x", int), ("y", int), ("t", int), ("p", int)])
        ev["t"] = np.sort(rng.integers(0, 300_000, 4000))
        ev["x"], ev["y"], ev["p"] = rng.integers(0, 34, 4000), rng.integers(0, 34, 4000), rng.integers(0, 2, 4000)
        samples.append(ev)
    arrays = [D.as_events(e, (34, 34, 2)) for e in samples]
    pipe = D.InputPipeline(rule="tonic", time_step=1e-3)
    t_evsim = best(lambda: [D.to_stream(a, pipe, None) for a in arrays])
    try:
        import tonic

        to_frame = tonic.transforms.ToFrame((34, 34, 2), time_window=1000)
        assert np.array_equal(D.raster(arrays[0], pipe), to_frame(samples[0].copy()))
        t_tonic = best(lambda: [to_frame(e.copy()) for e in samples])
        result["tonic_to_frame"] = dict(evsim_s=t_evsim, tonic_s=t_tonic, ratio=t_tonic / t_evsim, samples=200)
    except ImportError:
        result["tonic_to_frame"] = dict(evsim_s=t_evsim, tonic="not installed", samples=200)
    with tempfile.TemporaryDirectory() as tmp:
        n = 2264
        times = [np.sort(rng.uniform(0, 1.0, k)).astype(np.float32) for k in rng.integers(3000, 9000, n)]
        units = [rng.integers(0, 700, t.size).astype(np.uint16) for t in times]
        D.write_shd(Path(tmp) / "shd.h5", times, units, rng.integers(0, 20, n))
        shd_pipe = D.InputPipeline(rule="spikingjelly", time_step=0.01, n_bins=5)

        def read_bin() -> None:
            with D.open(Path(tmp) / "shd.h5") as ds:
                for ev, _ in ds:
                    D.to_stream(ev, shd_pipe, None)

        t = best(read_bin)
        result["shd_read_bin"] = dict(seconds=t, us_per_sample=t / n * 1e6, samples=n, events=sum(map(len, times)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
