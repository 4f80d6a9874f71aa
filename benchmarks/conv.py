"""The *conv* workload of shared/bench/SPEC.md on evsim: the NIR paper's N-MNIST CNN (Sinabs), event input.

    .venv/bin/python benchmarks/conv.py [--samples 20]      # one JSON line

Input: synthetic saccade streams of a ring (`benchmarks.workloads._ring_saccades`, 2 x 34 x 34, 1 ms bins,
300 steps per sample; the conv example's input when these figures were first taken). Convolutions stay implicit
(the kernel only); `--explicit` expands them into synapse tables for comparison. The peers have no implicit
convolution and no multi-spike IAF neuron, so this figure is evsim's own.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import evsim  # noqa: E402
from benchmarks.workloads import _ring_saccades  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--explicit", action="store_true", help="expand the convolutions into synapse tables")
    args = ap.parse_args()
    t0 = time.perf_counter()
    net = evsim.load(ROOT / "examples" / "data" / "cnn_sinabs.nir", dialect="sinabs", implicit=not args.explicit)
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    x = [_ring_saccades(rng) for _ in range(args.samples)]
    evsim.run(net, x[:1], steps=300)  # warm-up
    t1 = time.perf_counter()
    res = evsim.run(net, x, steps=300)
    split = {p.name: res.spikes[p.name] for p in net.populations}  # (split by population when read: timed)
    wall = time.perf_counter() - t1
    events = int(np.sum(res.sops))
    spikes = {name: int(sp.counts.sum()) for name, sp in split.items()}
    print(
        json.dumps(
            dict(
                simulator="evsim" + ("-explicit" if args.explicit else ""),
                workload="conv",
                n_neurons=net.n_neurons,
                n_synapses=net.n_synapses,
                model_bytes=net.nbytes(),
                samples=args.samples,
                build_s=round(build_s, 4),
                wall_s=round(wall, 4),
                n_synaptic_events=events,
                events_per_s=round(events / wall, 1),
                ms_per_sample=round(wall / args.samples * 1e3, 2),
                peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                checksum=spikes,
            )
        )
    )


if __name__ == "__main__":
    main()
