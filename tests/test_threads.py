"""Scheduling of `evsim.run(..., threads=N)`: guided chunks taken from a shared counter (`execute_chunks`), dense
inputs converted chunk by chunk in the worker threads (`ChunkedInput`).

Checked against independent results: the whole input converted at once (``np.nonzero``), the run on one thread and
the runs of one sample at a time; the chunks against the partition of the batch they must form.
"""

import threading
import time

import numpy as np
import pytest

import evsim
from evsim.control import execute_chunks, guided_chunk, new_ctls
from evsim.engine.chunked_input import ChunkedInput


class _Done(list):
    """A chunk's result: ``len()`` is the samples finished."""


@pytest.mark.parametrize("B, threads", [(1, 2), (4, 2), (300, 2), (37, 3), (1000, 4)])
def test_guided_chunks_partition_the_batch_in_order(B, threads):
    taken: list = []
    lock = threading.Lock()

    def run_chunk(lo, hi):
        with lock:
            taken.append((lo, hi))
        time.sleep(0.0002 * ((lo * 7) % 5))  # chunks finish out of order
        return _Done(range(lo, hi))

    parts, reason = execute_chunks(run_chunk, B, new_ctls(B, None, None), threads=threads)
    assert reason is None
    assert [x for p in parts for x in p] == list(range(B))  # every sample once, in sample order
    taken.sort()
    assert taken[0][0] == 0 and taken[-1][1] == B and all(a[1] == b[0] for a, b in zip(taken, taken[1:]))
    sizes = [hi - lo for lo, hi in taken]
    assert sizes == sorted(sizes, reverse=True)  # large chunks first, the small ones last
    assert min(sizes[:-1], default=B) >= -(-B // (16 * threads))  # not smaller than the floor (but the rest)
    if B >= 64 * threads:
        assert len(sizes) < B // 8  # few calls, ~log(B)
        assert sizes[0] == guided_chunk(B, B, threads) == -(-B // (2 * threads))


def test_chunked_input_equals_the_whole_conversion(rng):
    a = ((rng.random((9, 7, 5)) < 0.3) * rng.normal(0, 2, (9, 7, 5))).astype(np.float64)
    a[4] = 0  # a sample without events
    ci = ChunkedInput(a, first=3, name="in")
    ci.count()
    for lo, hi in [(5, 9), (0, 2), (2, 5)]:  # converted out of order, as threads finish
        t, n, v, off = ci.events(lo, hi)
        b, tt, jj = np.nonzero(a[lo:hi])
        np.testing.assert_array_equal(t, tt)
        np.testing.assert_array_equal(n, jj + 3)
        np.testing.assert_array_equal(v, a[lo:hi][b, tt, jj])
        np.testing.assert_array_equal(off[lo : hi + 1] - off[lo], np.searchsorted(b, np.arange(hi - lo + 1)))
        if (lo, hi) == (0, 2):  # only the chunks from sample 0 on, without a gap, are joined
            jt, jn, jv, joff = ci.joined()
            np.testing.assert_array_equal(joff, off[:3])
    b, tt, jj = np.nonzero(a)
    jt, jn, jv, joff = ci.joined()
    np.testing.assert_array_equal(jt, tt)
    np.testing.assert_array_equal(jn, jj + 3)
    np.testing.assert_array_equal(jv, a[b, tt, jj])
    np.testing.assert_array_equal(joff, np.searchsorted(b, np.arange(10)))
    assert sorted(ci.extremes()[2]) == [a.min(), a.max()]
    summed = np.zeros((9, 5))
    for t in range(7):  # the values per sample and neuron, added step by step (the events' order)
        summed += a[:, t, :]
    np.testing.assert_array_equal(ci.counts, summed)


def _net_input_second(rng):
    """The input population after a neuron population (its events' global indices do not start at 0), a recurrent
    hidden layer with delays: samples of very different lengths of work."""
    w1 = rng.normal(0, 0.9, (12, 4))
    wr = rng.normal(0, 0.3, (12, 12)) * (rng.random((12, 12)) < 0.5)
    pops = (
        evsim.Population("h", 12, evsim.LIF(12, 0.9, 1.0, reset="subtract")),
        evsim.Population("in", 4),
        evsim.Population("o", 3, evsim.LIF(3, 0.8, 1.0)),
    )
    projs = (
        evsim.Projection.from_dense("in->h", "in", "h", w1, rng.integers(1, 4, (12, 4))),
        evsim.Projection.from_dense("h->h", "h", "h", wr, rng.integers(1, 3, (12, 12))),
        evsim.Projection.from_dense("h->o", "h", "o", rng.normal(0, 0.7, (3, 12)), np.ones((3, 12), dtype=int)),
    )
    return evsim.Network(pops, projs, ("in",), ("o",))


@pytest.mark.parametrize("record", ["all", "outputs"])
def test_threads_equal_one_thread_and_single_samples(rng, record):
    net = _net_input_second(rng)
    x = rng.random((40, 25, 4)) * (rng.random((40, 1, 1)) < np.linspace(0.05, 0.9, 40)[:, None, None])
    one = evsim.run(net, x, threads=1, record=record)
    for threads in (2, 3):
        r = evsim.run(net, x, threads=threads, record=record)
        np.testing.assert_array_equal(r.output, one.output)
        np.testing.assert_array_equal(r.sops, one.sops)
        for k in one.spikes:
            for f in ("times", "indices", "counts", "samples"):
                np.testing.assert_array_equal(getattr(r.spikes[k], f), getattr(one.spikes[k], f))
        for k in one.counts:
            np.testing.assert_array_equal(r.counts[k], one.counts[k])
        for k, (i, v) in one.final_state.items():
            np.testing.assert_array_equal(r.final_state[k][0], i)
            np.testing.assert_array_equal(r.final_state[k][1], v)
    for b in (0, 17, 39):  # against one sample at a time (its own conversion, no chunks)
        s = evsim.run(net, x[b], seed=b, record=record)
        np.testing.assert_array_equal(one.output[b], s.output)
        if record == "all":
            sel = one.spikes["in"].samples == b
            np.testing.assert_array_equal(one.spikes["in"].times[sel], s.spikes["in"].times)
            np.testing.assert_array_equal(one.spikes["in"].counts[sel], s.spikes["in"].counts)
        else:
            np.testing.assert_array_equal(one.counts["in"][b], x[b].sum(axis=0))


def test_spikes_dense_sorted_unsorted_repeated(rng):
    """`Spikes.dense` (the outputs gathered after the threads): set when each entry comes once in order, added
    otherwise; both against a plain loop."""
    from evsim.simulation import Spikes

    s, t, i = rng.integers(0, 3, 200), rng.integers(0, 6, 200), rng.integers(0, 4, 200)
    for order in (np.lexsort((i, t, s)), rng.permutation(200)):  # sorted (with repeats), shuffled
        for c in (rng.integers(1, 5, 200), rng.normal(0, 1, 200)):
            sp = Spikes(t[order], i[order], c[order], s[order])
            ref = np.zeros((3, 6, 4), dtype=c.dtype)
            for k in order:
                ref[s[k], t[k], i[k]] += c[k]
            np.testing.assert_array_equal(sp.dense(6, 4, 3), ref)
    key = np.unique(s * 24 + t * 4 + i)  # each entry once, in order: the fast path
    sp = Spikes(key // 4 % 6, key % 4, np.arange(1, key.size + 1), key // 24)
    ref = np.zeros(72, dtype=np.int64)
    ref[key] = np.arange(1, key.size + 1)
    np.testing.assert_array_equal(sp.dense(6, 4, 3), ref.reshape(3, 6, 4))
