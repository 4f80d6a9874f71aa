"""The compiled batch path (`evsim.engine.batch`) and the delivery of contiguous rows (`_contiguous_rows`).

Checked against independent results: the dense reference simulator (`evsim.reference`) sample by sample, a
brute-force reading of each row's targets and delays, and `run_sample` (one Python call of the loop per sample).
"""

import numpy as np
import pytest

import evsim
from evsim import reference
from evsim.engine import _contiguous_rows, compile_network, run_sample
from evsim.simulation import _normalise, as_dense_inputs


def _brute_contiguous(rowptr, targets, delays):
    out = []
    for k in range(len(rowptr) - 1):
        t, d = targets[rowptr[k] : rowptr[k + 1]].astype(int), delays[rowptr[k] : rowptr[k + 1]]
        out.append(int(np.all(np.diff(t) == 1) and np.all(d == d[0]) if t.size else 1))
    return np.array(out + [1], dtype=np.uint8)


def test_contiguous_rows_flags(rng):
    for _ in range(20):
        n_rows = int(rng.integers(1, 12))
        rows, targets, delays = [0], [], []
        for _ in range(n_rows):
            kind = rng.integers(0, 4)
            length = int(rng.integers(0, 6))
            start = int(rng.integers(0, 5))
            t = np.arange(start, start + length)
            if kind == 1 and length > 1:  # a gap
                t[rng.integers(1, length) :] += 1
            d = np.full(length, rng.integers(0, 3))
            if kind == 2 and length > 1:  # two delays
                d[rng.integers(1, length) :] += 1
            targets.extend(t)
            delays.extend(d)
            rows.append(len(targets))
        rowptr = np.array(rows, dtype=np.int64)
        tg, dl = np.array(targets, dtype=np.uint16), np.array(delays, dtype=np.uint8)
        np.testing.assert_array_equal(_contiguous_rows(rowptr, tg, dl), _brute_contiguous(rowptr, tg, dl))


def _mixed_net(rng):
    """A dense layer with one delay per row (every row contiguous), a sparse one with zero weights (rows with gaps)
    and per-synapse delays (rows sorted by delay: several delays, not contiguous), recurrence with a delay."""
    w1 = rng.normal(0, 0.8, (20, 6))
    d1 = np.repeat(rng.integers(0, 4, (1, 6)), 20, axis=0)  # one delay per source row
    w2 = rng.normal(0, 1.0, (5, 20)) * (rng.random((5, 20)) < 0.6)
    d2 = rng.integers(0, 5, (5, 20))
    wr = rng.normal(0, 0.5, (20, 20))
    pops = (
        evsim.Population("in", 6),
        evsim.Population("h", 20, evsim.LIF(20, 0.9, 1.0, bias=0.02)),
        evsim.Population("o", 5, evsim.CubaLIF(5, 0.6, 0.9, 1.0)),
    )
    projs = (
        evsim.Projection.from_dense("in->h", "in", "h", w1, d1),
        evsim.Projection.from_dense("h->o", "h", "o", w2, d2),
        evsim.Projection.from_dense("h->h", "h", "h", wr, np.ones((20, 20), dtype=int)),
    )
    return evsim.Network(pops, projs, ("in",), ("o",))


@pytest.mark.parametrize("scan_max", [None, 0])
def test_contiguous_delivery_matches_reference(rng, scan_max):
    net = _mixed_net(rng)
    cn = compile_network(net, scan_max=scan_max)
    a = cn.arrays
    # the dense layer's rows are flagged, the sparse layer's are not all
    q = cn.proj_names.index("in->h")
    assert np.all(a["contig"][a["ip_off"][q] : a["ip_off"][q] + 6] == 1)
    q = cn.proj_names.index("h->o")
    assert not np.all(a["contig"][a["ip_off"][q] : a["ip_off"][q] + 20] == 1)
    x = (rng.random((5, 40, 6)) < 0.3) * rng.choice([1.0, 0.5, 2.0], (5, 40, 6))
    dense, T = as_dense_inputs(net, x)
    res = evsim.run(net, x)
    for b in range(5):
        ref = reference.simulate(net, dense[b], T)
        for p in ("h", "o"):
            np.testing.assert_array_equal(res.spikes[p].dense(T, net.population(p).size, 5)[b], ref.spikes[p])
            np.testing.assert_allclose(res.final_state[p][1][b], ref.v[p][-1], rtol=1e-9, atol=1e-12)
        if scan_max == 0:  # every population listed: the scatter path only, one Python call per sample
            (ev,), _, _ = _normalise(net, x[b], None)
            one = run_sample(cn, T, *ev)
            assert int(one.sops.sum()) == int(res.sops[b])


def test_batch_equals_sample_by_sample_and_threads(rng):
    """Every field of a batch run in chunks (several threads) equals the runs of one sample at a time."""
    net = _mixed_net(rng)
    x = (rng.random((11, 30, 6)) < 0.25).astype(np.uint8)
    one = [evsim.run(net, x[b], seed=b) for b in range(11)]
    for threads in (1, 3):
        r = evsim.run(net, x, threads=threads, record="outputs")
        for b in range(11):
            np.testing.assert_array_equal(r.output[b], one[b].output)
            assert r.sops[b] == one[b].sops and r.neuron_updates[b] == one[b].neuron_updates
            np.testing.assert_array_equal(r.counts["h"][b], one[b].spike_counts("h"))
            np.testing.assert_array_equal(r.counts["in"][b], x[b].sum(axis=0))
            for p in ("h", "o"):
                np.testing.assert_array_equal(r.final_state[p][0][b], one[b].final_state[p][0])
                np.testing.assert_array_equal(r.final_state[p][1][b], one[b].final_state[p][1])
        sp = r.spikes["o"]
        for b in range(11):
            s1 = one[b].spikes["o"]
            np.testing.assert_array_equal(sp.times[sp.samples == b], s1.times)
            np.testing.assert_array_equal(sp.indices[sp.samples == b], s1.indices)


def test_partial_result_across_chunks(rng):
    """A budget passed in a later chunk of a threaded run: the partial result holds exactly the samples before."""
    net = _mixed_net(rng)
    x = (rng.random((12, 30, 6)) < 0.3).astype(float)
    x[7] = 1.0  # the busiest sample: the only one past the budget
    full = evsim.run(net, x)
    budget = int(np.sort(full.sops)[-2])
    assert full.sops[7] > budget
    with pytest.raises(evsim.BudgetExceeded, match="sample 7") as e:
        evsim.run(net, x, threads=2, max_events=budget)
    assert e.value.samples_done == 7
    np.testing.assert_array_equal(e.value.partial.output, full.output[:7])
    np.testing.assert_array_equal(e.value.partial.sops, full.sops[:7])
