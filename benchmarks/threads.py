"""Thread scaling of `evsim.run(..., threads=N)`: a batch's samples run in N worker threads (the loop frees the GIL).

    .venv/bin/python benchmarks/threads.py [--threads 1,2] [--runs 3]     # one JSON line per model

Models: the SPEC feedforward classifier (4 one-second samples: busy samples, ~12 ms of loop each) and the digits
model (300 samples of 25 steps: ~0.05 ms of loop each, run in compiled chunks of samples, so the serial input
preparation and gathering weigh more). Runs alternate over the thread counts; reported: median wall
seconds, process CPU seconds (all threads), the speed-up over 1 thread (wall, same round), the serial fraction (the
main thread's CPU time over the process's: with N threads the speed-up is at most 1 / (s + (1 - s) / N)) and the
load average.
Read the speed-up with the load: on a shared machine with autogrouped scheduling (Linux
``sched_autogroup_enabled``), a process gets its session's share of the cores whatever its thread count, so CPU
seconds per wall second (``cpu_per_wall``) stay at that share and no speed-up shows. The CPU-time figures do not
depend on the load that much: ``est_speedup_N`` is what N free cores would give, from CPU time alone: the
process's CPU at 1 thread over (the main thread's CPU at N + the longest thread's share of the chunks, each
chunk's CPU time measured in its thread and the chunks dealt in order to the first free thread);
``chunk_cpu_N`` is the chunks' CPU at N threads over that at 1 (smaller chunks, two cores' caches) and
``balance_N`` the longest thread's chunk CPU over the mean.
"""

from __future__ import annotations

import argparse
import heapq
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
import evsim.control  # noqa: E402
from benchmarks.dense_torch import digits, feedforward  # noqa: E402

CHUNKS: list = []  # (first sample, CPU seconds) of each chunk of the run being measured
_execute_chunks = evsim.control.execute_chunks


def _timed_chunks(run_chunk, *args, **kw):  # type: ignore[no-untyped-def]
    """`evsim.control.execute_chunks` with each chunk's CPU time (in its worker thread) kept in CHUNKS."""

    def timed(lo: int, hi: int):  # type: ignore[no-untyped-def]
        t0 = time.thread_time()
        r = run_chunk(lo, hi)
        CHUNKS.append((lo, time.thread_time() - t0))
        return r

    return _execute_chunks(timed, *args, **kw)


evsim.control.execute_chunks = _timed_chunks


def makespan(chunks: list, n: int) -> float:
    """CPU seconds of the busiest of ``n`` threads when the chunks, in sample order, go to the first free one."""
    free = [0.0] * n
    for _, c in sorted(chunks):
        heapq.heappush(free, heapq.heappop(free) + c)
    return max(free)


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
        parts: dict = {n: [] for n in counts}  # (main thread CPU, chunks' CPU, busiest thread's chunk CPU)
        ref = None
        for _ in range(args.runs):
            for n in counts:
                CHUNKS.clear()
                c0, t0, m0 = time.process_time(), time.perf_counter(), time.thread_time()
                r = evsim.run(net, x, threads=n, record="outputs")
                rec[n].append((time.perf_counter() - t0, time.process_time() - c0))
                serial[n].append((time.thread_time() - m0) / max(rec[n][-1][1], 1e-9))
                parts[n].append((time.thread_time() - m0, sum(c for _, c in CHUNKS), makespan(CHUNKS, n)))
                ref = r.output if ref is None else ref
                assert (r.output == ref).all()  # results do not depend on the thread count
        line = dict(workload="threads", model=name, samples=int(x.shape[0]), steps=int(x.shape[1]))
        for n in counts:
            line[f"wall_s_{n}"] = round(statistics.median(w for w, _ in rec[n]), 4)
            line[f"cpu_per_wall_{n}"] = round(statistics.median(c / w for w, c in rec[n]), 2)
            line[f"speedup_{n}"] = round(statistics.median(a[0] / b[0] for a, b in zip(rec[counts[0]], rec[n])), 2)
            line[f"serial_fraction_{n}"] = round(statistics.median(serial[n]), 3)
            cpu1 = statistics.median(c for _, c in rec[counts[0]])
            chunks1 = statistics.median(p[1] for p in parts[counts[0]])
            line[f"chunk_cpu_{n}"] = round(statistics.median(p[1] for p in parts[n]) / chunks1, 3)
            line[f"balance_{n}"] = round(statistics.median(p[2] / (p[1] / n) for p in parts[n]), 3)
            line[f"est_speedup_{n}"] = round(cpu1 / statistics.median(p[0] + p[2] for p in parts[n]), 2)
        line["load_avg"] = [round(v, 2) for v in (load0[0], os.getloadavg()[0])]
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
