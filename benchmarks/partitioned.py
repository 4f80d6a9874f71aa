"""One big network across threads (`evsim.engine.partitioned`): brunel at 1 and N threads, alternating.

    .venv/bin/python benchmarks/partitioned.py [--workload brunel-large] [--threads 2] [--runs 3]

One JSON line per run: wall and process CPU seconds, the main thread's CPU (``main_cpu_s``: the serial part,
mostly `Result` assembly, whose dense ``output`` of brunel-large is [10000 steps, 10000 neurons]), spikes and whether
they equal the 1-thread run's, and for the threaded runs each thread's CPU seconds and barrier wait
(`evsim.engine.partitioned.last_stats`). A last line, medians: ``est_engine`` the 1-thread run's simulation CPU
(process less main thread) over the busiest thread's, ``est_run`` its process CPU over the main thread's plus the
busiest thread's at N threads: what free cores would give (on a shared machine the wall-clock figures mostly say
how much of the cores this process got).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parent))
import evsim  # noqa: E402
from benchmarks import workloads  # noqa: E402
from benchmarks.evsim_networks import brunel_network  # noqa: E402
from evsim.engine import partitioned  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="brunel-large", help="brunel-large, brunel-small or N,K")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ms", type=float, default=1000.0, help="simulated milliseconds")
    args = ap.parse_args()
    n, k = {"brunel-large": (10000, 1000), "brunel-small": (2000, 200)}.get(args.workload, (0, 0))
    if not n:
        n, k = map(int, args.workload.split(","))
    wl = workloads.brunel(n, k, 0, args.ms)
    net = brunel_network(wl)
    T = wl["T_steps"]
    for th in (1, args.threads):  # warm-up: kernels loaded, the thread split made
        evsim.run(net, steps=50, threads=th)
    rows: dict[int, list] = {1: [], args.threads: []}
    ref = None
    for r in range(args.runs):
        for th in (1, args.threads) if r % 2 == 0 else (args.threads, 1):
            load = os.getloadavg()[0]
            w0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
            res = evsim.run(net, steps=T, initial={"all": wl["v0"]}, threads=th)
            wall, cpu, main = time.perf_counter() - w0, time.process_time() - c0, time.thread_time() - m0
            sp = res.spikes["all"]
            key = (sp.times.tobytes(), sp.indices.tobytes())
            ref = key if ref is None else ref
            row = dict(workload=args.workload, threads=th, wall_s=round(wall, 3), cpu_s=round(cpu, 3),
                       main_cpu_s=round(main, 3), n_spikes=int(sp.counts.sum()), equal=key == ref,
                       load=round(load, 1))  # fmt: skip
            if th > 1:
                st = partitioned.last_stats
                row.update(thread_cpu_s=[round(x, 3) for x in st["cpu_s"]], wait_s=[round(x, 3) for x in st["wait_s"]],
                           blocks=st["blocks"], d_blk=st["d_blk"])  # fmt: skip
            rows[th].append(row)
            print(json.dumps(row), flush=True)
    med = statistics.median
    one, many = rows[1], rows[args.threads]
    wall_1, wall_n = (med(x["wall_s"] for x in rows[n]) for n in (1, args.threads))
    busiest = med(max(x["thread_cpu_s"]) for x in many)
    print(json.dumps(dict(
        summary=args.workload, threads=args.threads,
        cpu_1_s=med(x["cpu_s"] for x in one), cpu_n_s=med(x["cpu_s"] for x in many),
        main_1_s=med(x["main_cpu_s"] for x in one), main_n_s=med(x["main_cpu_s"] for x in many),
        busiest_thread_s=busiest, wall_speedup=round(wall_1 / wall_n, 2),
        est_engine=round(med(x["cpu_s"] - x["main_cpu_s"] for x in one) / busiest, 2),
        est_run=round(med(x["cpu_s"] for x in one) / (med(x["main_cpu_s"] for x in many) + busiest), 2),
        all_equal=all(x["equal"] for x in one + many),
        wait_frac=round(float(np.median([max(x["wait_s"]) / x["wall_s"] for x in many])), 3),
        load=[min(x["load"] for x in one + many), max(x["load"] for x in one + many)],
    )))  # fmt: skip


if __name__ == "__main__":
    main()
