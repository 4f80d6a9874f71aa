"""evsim as an edge classifier: per-sample latency, end-to-end job time, start-up time with a warm Numba cache.

    .venv/bin/python benchmarks/latency.py          # prints one JSON line

* per-sample latency: the SPEC feedforward classifier (700-256-256-20, delays 1..26 ms) on one-second samples,
  each run on its own (`evsim.run` per sample, as a stream of decisions), mean and p99 over the samples;
* end to end: a fresh Python process that imports evsim, builds the network from the workload arrays and runs a
  20-sample batch (import + build + run, warm on-disk kernel cache), wall clock from outside;
* start-up: `evsim run` of the bundled digits model on 1 sample in a fresh process (warm cache).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks" / "peers"))

JOB = """
import sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {peers!r})
from benchmarks import workloads
from benchmarks.evsim_runner import feedforward
feedforward(workloads.feedforward({n}))
"""


def spec_classifier(n: int = 20) -> tuple:
    """The SPEC feedforward classifier (700-256-256-20, LIF, delays) and its input events (``n`` one-second samples of
    1000 steps, concatenated: step times and input indices)."""
    from benchmarks import workloads
    from benchmarks.evsim_networks import layered_network

    wl = workloads.feedforward(n)
    net = layered_network(wl)
    return net, wl["input_steps"], wl["input_index"]


def per_sample_latency(n: int = 20) -> dict:
    import evsim

    net, t_all, i_all = spec_classifier(n)
    evsim.run(net, (t_all[:1], i_all[:1]), steps=1000)  # warm-up
    lat = []
    for k in range(n):
        sel = (t_all >= 1000 * k) & (t_all < 1000 * (k + 1))
        t0 = time.perf_counter()
        res = evsim.run(net, (t_all[sel] - 1000 * k, i_all[sel]), steps=1000)
        res.predictions()
        lat.append(time.perf_counter() - t0)
    lat_ms = np.array(lat) * 1e3
    return dict(
        samples=n,
        latency_mean_ms=round(float(lat_ms.mean()), 3),
        latency_p99_ms=round(float(np.percentile(lat_ms, 99)), 3),
    )


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - t0


def main() -> None:
    py = sys.executable
    job = [py, "-c", JOB.format(root=str(ROOT), peers=str(ROOT / "benchmarks" / "peers"), n=20)]
    timed(job)  # fills the on-disk cache if needed
    end_to_end = min(timed(job) for _ in range(3))
    evsim_cli = [
        py,
        "-m",
        "evsim.cli",
        "run",
        "examples/data/digits_snntorch.nir",
        "--input",
        "examples/data/digits_test.npz",
        "--dialect",
        "snntorch",
        "--samples",
        "1",
        "--no-progress",
    ]
    timed(evsim_cli)
    startup = min(timed(evsim_cli) for _ in range(3))
    rec = dict(
        simulator="evsim",
        workload="latency",
        **per_sample_latency(),
        end_to_end_20_samples_s=round(end_to_end, 3),
        cli_startup_cached_s=round(startup, 3),
    )
    print(json.dumps(rec))


if __name__ == "__main__":
    main()
