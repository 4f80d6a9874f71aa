"""Thread scaling of `evsim.run(..., threads=N)`: a batch's samples run in N worker threads (the loop frees the GIL).

    .venv/bin/python benchmarks/threads.py [--threads 1,2] [--runs 3]     # one JSON line per model

Models: the SPEC feedforward classifier (4 one-second samples: busy samples, ~12 ms of loop each) and the digits
model (300 samples of 25 steps: ~0.04 ms of loop each, run in compiled chunks of samples, so the serial input
preparation and gathering weigh more). Runs alternate over the thread counts; reported: median wall
seconds, process CPU seconds (all threads), the speed-up over 1 thread (wall, same round), the serial fraction (the
main thread's CPU time over the process's: with N threads the speed-up is at most 1 / (s + (1 - s) / N)) and the
load average.
Read the speed-up with the load: on a shared machine with autogrouped scheduling (Linux
``sched_autogroup_enabled``), a process gets its session's share of the cores whatever its thread count, so CPU
seconds per wall second (``cpu_per_wall``) stay at that share and no speed-up shows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# the compiled batch kernel, as every run gets it once it is in Numba's cache (a first run on a machine, with fewer
# than evsim.engine.batch.BATCH_KERNEL_MIN samples, calls the loop once per sample instead)
os.environ.setdefault("EVSIM_BATCH_KERNEL", "1")
import evsim  # noqa: E402
from benchmarks.dense_torch import digits, feedforward  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    load0 = os.getloadavg()
    for name, (net, x) in (("feedforward-4x1000", feedforward(4)), ("digits-300x25", digits())):
        evsim.run(net, x[:2], threads=max(counts))  # warm-up: the cached kernels
        rec: dict = {n: [] for n in counts}
        serial: dict = {n: [] for n in counts}  # the main thread's share of the CPU time: the serial part
        ref = None
        for _ in range(args.runs):
            for n in counts:
                c0, t0, m0 = time.process_time(), time.perf_counter(), time.thread_time()
                r = evsim.run(net, x, threads=n, record="outputs")
                rec[n].append((time.perf_counter() - t0, time.process_time() - c0))
                serial[n].append((time.thread_time() - m0) / max(rec[n][-1][1], 1e-9))
                ref = r.output if ref is None else ref
                assert (r.output == ref).all()  # results do not depend on the thread count
        line = dict(workload="threads", model=name, samples=int(x.shape[0]), steps=int(x.shape[1]))
        for n in counts:
            line[f"wall_s_{n}"] = round(statistics.median(w for w, _ in rec[n]), 4)
            line[f"cpu_per_wall_{n}"] = round(statistics.median(c / w for w, c in rec[n]), 2)
            line[f"speedup_{n}"] = round(statistics.median(a[0] / b[0] for a, b in zip(rec[counts[0]], rec[n])), 2)
            line[f"serial_fraction_{n}"] = round(statistics.median(serial[n]), 3)
        line["load_avg"] = [round(v, 2) for v in (load0[0], os.getloadavg()[0])]
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
