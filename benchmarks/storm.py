"""Event storm under the limits: peak memory and outcome (issue 14).

100,000 neurons that, once kicked, fire every step (a self-loop of delay 1) for 1,000 steps: 100 M spikes. With
every spike recorded (``record="all"``) the default cap (`evsim.limits.memory` / 64 B = 67 M spikes under the
default 4 GiB) stops the run with `ResourceLimitError`; with ``record="outputs"`` it completes, counting only.

    python benchmarks/storm.py [N] [T] [all|outputs]     # prints outcome, seconds and peak resident memory (MiB)
"""

import json
import resource
import sys
import time

import numpy as np

import evsim


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    T = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    record = sys.argv[3] if len(sys.argv) > 3 else "all"
    idx = np.arange(n)
    net = evsim.Network(
        (
            evsim.Population("in", n),
            evsim.Population("storm", n, evsim.LIF(n, beta=0.5, threshold=0.5)),
            evsim.Population("out", 1, evsim.LIF(1, beta=0.5)),
        ),
        (
            evsim.Projection.from_synapses("kick", "in", "storm", idx, idx, 1.0, 0, n),
            evsim.Projection.from_synapses("loop", "storm", "storm", idx, idx, 1.0, 1, n),
            evsim.Projection.from_synapses("readout", "storm", "out", idx[:10], np.zeros(10, int), 0.01, 0, n),
        ),
        ("in",),
        ("out",),
    )
    t0 = time.perf_counter()
    try:
        res = evsim.run(net, (idx * 0, idx), steps=T, record=record)
        out = dict(result="finished", spikes=int(res.spike_counts("storm").sum()), sops=int(res.sops))
    except evsim.EvsimError as e:
        out = dict(result=type(e).__name__, message=str(e))
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["maxrss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
