"""The *limit* workload of shared/bench/SPEC.md: the irreducible work of delivering spikes, in a tight Numba loop.

For each spike and each of its K outgoing synapses: read (target, weight, delay) and add the weight into the
future slot ``buf[(t + delay) % D, target]``. Layouts:

* ``naive``: per-synapse delays (rows sorted by delay, as evsim stores them);
* ``grouped``: each row grouped by delay (one ring slot per group, then ``row[target] += w``), D a power of two;
* ``naive-u`` and ``grouped-u``: the same loops with unsigned indices. Numba tests every signed index for a
  negative value (Python's wrap-around); with unsigned indices those tests go and the loop runs ~2x faster
  on this machine, which makes them the real bound.

The fastest layout bounds what an event-driven engine can reach on this machine; evsim's events/s on the
feedforward workload is reported as a fraction of it (``python -m benchmarks`` prints both).

    .venv/bin/python benchmarks/limit.py        # one JSON line per layout, then the limit
"""

from __future__ import annotations

import json
import time

import numba
import numpy as np


@numba.njit(cache=True)
def naive(spk_t, spk_n, indptr, tgt, w, d, N, D):  # pragma: no cover - timed, not tested
    buf = np.zeros(D * N)
    mask = D - 1
    for k in range(spk_t.shape[0]):
        t, n = spk_t[k], spk_n[k]
        for e in range(indptr[n], indptr[n + 1]):
            buf[((t + d[e]) & mask) * N + tgt[e]] += w[e]
    return buf


@numba.njit(cache=True)
def grouped(spk_t, spk_n, gptr, g_start, g_end, g_delay, tgt, w, N, D):  # pragma: no cover
    buf = np.zeros(D * N)
    mask = D - 1
    for k in range(spk_t.shape[0]):
        t, n = spk_t[k], spk_n[k]
        for g in range(gptr[n], gptr[n + 1]):
            base = ((t + g_delay[g]) & mask) * N
            for e in range(g_start[g], g_end[g]):
                buf[base + tgt[e]] += w[e]
    return buf


@numba.njit(cache=True)
def naive_u(spk_t, spk_n, indptr, tgt, w, d, N, D):  # pragma: no cover
    buf = np.zeros(D * N)
    mask = D - 1
    for k in range(spk_t.shape[0]):
        t, n = spk_t[k], spk_n[k]
        e0 = indptr[n]
        for j in range(indptr[n + 1] - e0):
            e = np.uint64(e0 + j)
            buf[np.uint64(((t + d[e]) & mask) * N + tgt[e])] += w[e]
    return buf


@numba.njit(cache=True)
def grouped_u(spk_t, spk_n, gptr, g_start, g_end, g_delay, tgt, w, N, D):  # pragma: no cover
    buf = np.zeros(D * N)
    mask = D - 1
    for k in range(spk_t.shape[0]):
        t, n = spk_t[k], spk_n[k]
        for g in range(gptr[n], gptr[n + 1]):
            base = ((t + g_delay[g]) & mask) * N
            e0 = g_start[g]
            for j in range(g_end[g] - e0):
                e = np.uint64(e0 + j)
                buf[np.uint64(base + tgt[e])] += w[e]
    return buf


def layouts(n_src=700, n_tgt=256, max_d=26, seed=0):
    rng = np.random.default_rng(seed)
    tgt = np.tile(np.arange(n_tgt, dtype=np.int32), n_src)
    w = rng.normal(0, 1, n_src * n_tgt)
    d = rng.integers(1, max_d + 1, n_src * n_tgt).astype(np.int32)
    indptr = np.arange(0, n_src * n_tgt + 1, n_tgt, dtype=np.int64)
    order = np.lexsort((d, np.repeat(np.arange(n_src), n_tgt)))  # grouped: sorted by delay within each row
    gt, gw, gd = tgt[order], w[order], d[order]
    rows = np.repeat(np.arange(n_src), n_tgt)
    new = np.ones(rows.size, bool)
    new[1:] = (rows[1:] != rows[:-1]) | (gd[1:] != gd[:-1])
    starts = np.flatnonzero(new)
    gptr = np.zeros(n_src + 1, np.int64)
    np.cumsum(np.bincount(rows[starts], minlength=n_src), out=gptr[1:])
    ends = np.append(starts[1:], rows.size)
    return (indptr, tgt, w, d), (
        gptr,
        starts.astype(np.int64),
        ends.astype(np.int64),
        gd[starts].astype(np.int64),
        gt,
        gw,
    )


def main(steps=10_000, rate=0.01, n_src=700, n_tgt=256, repeats=5):
    rng = np.random.default_rng(1)
    spk_t, spk_n = np.nonzero(rng.random((steps, n_src)) < rate)
    (indptr, tgt, w, d), g = layouts(n_src, n_tgt)
    order = np.lexsort((d, np.repeat(np.arange(n_src), n_tgt)))  # rows sorted by delay, as evsim's
    sorted_rows = (indptr, tgt[order].astype(np.uint16), w[order], d[order].astype(np.uint8))
    N, D = n_tgt, 32
    events = spk_t.size * n_tgt
    best_of = {}
    for name, fn, args in (
        ("naive", naive, sorted_rows),
        ("grouped", grouped, g),
        ("naive-u", naive_u, sorted_rows),
        ("grouped-u", grouped_u, g),
    ):
        fn(spk_t[:2], spk_n[:2], *args, N, D)  # compile or load
        best = min(_timed(fn, spk_t, spk_n, args, N, D) for _ in range(repeats))
        best_of[name] = events / best
        print(
            json.dumps(
                dict(
                    simulator=f"limit-{name}",
                    workload="limit",
                    n_synapses=int(n_src * n_tgt),
                    n_synaptic_events=int(events),
                    wall_s=round(best, 4),
                    events_per_s=round(events / best, 1),
                )
            ),
            flush=True,
        )
    name = max(best_of, key=best_of.get)
    print(
        json.dumps(dict(simulator="limit", workload="limit", layout=name, events_per_s=round(best_of[name], 1))),
        flush=True,
    )


def _timed(fn, spk_t, spk_n, args, N, D) -> float:
    t0 = time.perf_counter()
    fn(spk_t, spk_n, *args, N, D)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
