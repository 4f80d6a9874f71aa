"""evsim runner for the SPEC workloads: same arrays as the peers, one JSON line per run.

    .venv/bin/python benchmarks/evsim_runner.py --workload feedforward --samples 10

build_s: Network construction + flattening for the engine (`compile_network`); a warm-up run on one step before
timing loads the Numba kernels from the on-disk cache (or compiles them), so wall_s is the simulation alone, as
for the peers. Time convention (benchmarks/workloads.py): a spike in step t with delay D steps is added in step
t + D; evsim's discrete mode is exactly this.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
from common import emit, load, parser, workloads  # noqa: E402

import evsim  # noqa: E402
from evsim.engine import compile_network  # noqa: E402


def feedforward(wl: dict) -> tuple[float, float, dict, int]:
    """Build, warm up, run; returns build_s, wall_s, spike counts per population, synaptic events."""
    t0 = time.perf_counter()
    nu = wl["neuron"]
    beta = float(np.exp(-wl["dt_ms"] / nu["tau_m"]))
    pops = [evsim.Population("in", wl["populations"]["in"])]
    for name in workloads.FF_NAMES[1:]:
        n = wl["populations"][name]
        pops.append(evsim.Population(name, n, evsim.LIF(n, beta, nu["v_th"], reset="zero", v_reset=nu["v_reset"])))
    projs = [evsim.Projection.from_synapses(p["name"], p["source"], p["target"], p["pre"], p["post"], p["weight"],
                                            p["delay_steps"], wl["populations"][p["source"]])
             for p in wl["projections"]]
    net = evsim.Network(tuple(pops), tuple(projs), ("in",), ("out",), dt=wl["dt_ms"] * 1e-3)
    compile_network(net)
    build_s = time.perf_counter() - t0
    x = (wl["input_steps"], wl["input_index"])
    evsim.run(net, (np.zeros(1, np.int64), np.zeros(1, np.int64)), steps=1)  # warm-up: load the cached kernels
    t1 = time.perf_counter()
    res = evsim.run(net, x, steps=wl["T_steps"])
    wall_s = time.perf_counter() - t1
    counts = {name: int(res.spikes[name].counts.sum()) for name in workloads.FF_NAMES}
    return build_s, wall_s, counts, workloads.synaptic_events(wl, counts)


def main() -> None:
    args = parser("evsim runner for the SPEC workloads").parse_args()
    if args.workload != "feedforward":
        print(f"evsim runner: workload {args.workload!r} is not wired yet (evsim has no Poisson drive yet)",
              file=sys.stderr)
        sys.exit(2)
    wl = load(args)
    build_s, wall_s, counts, n_events = feedforward(wl)
    emit("evsim", args, wl, build_s, wall_s, counts, n_events, threads=1)


if __name__ == "__main__":
    main()
