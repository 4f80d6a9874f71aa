"""The compiled batch path (`evsim.engine.batch`), its dense-input pass and the branch-free stepping of late-reset
populations.

Checked against independent results: the dense reference simulator (`evsim.reference`) sample by sample,
``np.nonzero``, and the runs of one sample at a time (`evsim.run` per sample, `run_sample`: one Python call of the
loop per sample).
"""

import numpy as np
import pytest

import evsim
from evsim import reference
from evsim.engine import compile_network, run_sample
from evsim.engine.batch import _nonzero_events, dense_events
from evsim.simulation import _normalise, as_dense_inputs


def test_dense_events_equal_nonzero(rng):
    for dtype, B in ((np.uint8, 4), (np.int64, 4), (np.float64, 4), (np.bool_, 4), (np.float64, 1)):
        a = (rng.random((B, 9, 5)) < 0.3) * rng.integers(1, 4, (B, 9, 5)) * rng.choice([-1, 1], (B, 9, 5))
        a[B // 2] = 0 if B > 1 else a[0]  # an empty sample (not the only one)
        a = a.astype(dtype)
        bs, tt, jj = np.nonzero(a)
        for t, j, v, off in (dense_events(a), _nonzero_events(a)):  # (the kernel; NumPy, for a first run)
            np.testing.assert_array_equal(t, tt)
            np.testing.assert_array_equal(j, jj)
            np.testing.assert_array_equal(v, a[bs, tt, jj])
            np.testing.assert_array_equal(off, np.searchsorted(bs, np.arange(B + 1)))
            assert (t.dtype, j.dtype, v.dtype, off.dtype) == (np.int64, np.int64, np.float64, np.int64)


@pytest.fixture(params=["1", "0"], ids=["batch-kernel", "sample-calls"], autouse=True)
def kernel_mode(request, monkeypatch):
    """Every test below twice: chunks run by the batch kernel (`_run_batch`), and one loop call per sample from
    Python (`_run_each`, what a first run on a machine takes: the kernel is not compiled then)."""
    monkeypatch.setenv("EVSIM_BATCH_KERNEL", request.param)
    return request.param


def _mixed_net(rng):
    """A dense layer with one delay per row into late-reset (snnTorch-style) neurons with a refractory period, a
    sparse layer with zero weights and per-synapse delays, recurrence with a delay."""
    w1 = rng.normal(0, 0.8, (20, 6))
    d1 = np.repeat(rng.integers(0, 4, (1, 6)), 20, axis=0)  # one delay per source row
    w2 = rng.normal(0, 1.0, (5, 20)) * (rng.random((5, 20)) < 0.6)
    d2 = rng.integers(0, 5, (5, 20))
    wr = rng.normal(0, 0.5, (20, 20))
    pops = (
        evsim.Population("in", 6),
        evsim.Population("h", 20, evsim.LIF(20, 0.9, 1.0, bias=0.02, reset="subtract", reset_delay=True, refractory=2)),
        evsim.Population("o", 5, evsim.CubaLIF(5, 0.6, 0.9, 1.0)),
    )
    projs = (
        evsim.Projection.from_dense("in->h", "in", "h", w1, d1),
        evsim.Projection.from_dense("h->o", "h", "o", w2, d2),
        evsim.Projection.from_dense("h->h", "h", "h", wr, np.ones((20, 20), dtype=int)),
    )
    return evsim.Network(pops, projs, ("in",), ("o",))


def test_batch_matches_reference(rng):
    net = _mixed_net(rng)
    assert compile_network(net).arrays["plain"][1] == 3  # "h": the branch-free loop with the late reset (step.py)
    listed = compile_network(net, scan_max=0)  # every population listed: the closed-form path, per sample
    x = (rng.random((5, 40, 6)) < 0.3) * rng.choice([1.0, 0.5, 2.0], (5, 40, 6))
    dense, T = as_dense_inputs(net, x)
    res = evsim.run(net, x)
    assert res.spikes["h"].times.size > 20  # (the late resets and refractory periods are exercised)
    for b in range(5):
        ref = reference.simulate(net, dense[b], T)
        (ev,), _, _ = _normalise(net, x[b], None)
        one = run_sample(listed, T, *ev)
        for k, p in ((1, "h"), (2, "o")):
            size = net.population(p).size
            np.testing.assert_array_equal(res.spikes[p].dense(T, size, 5)[b], ref.spikes[p])
            np.testing.assert_allclose(res.final_state[p][1][b], ref.v[p][-1], rtol=1e-9, atol=1e-12)
            sel = (one.spike_n >= listed.pop_off[k]) & (one.spike_n < listed.pop_off[k + 1])
            got = np.zeros((T, size), dtype=np.int64)
            np.add.at(got, (one.spike_t[sel], one.spike_n[sel] - listed.pop_off[k]), one.spike_c[sel])
            np.testing.assert_array_equal(got, ref.spikes[p])
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


def test_spikes_split_when_read_and_pickled_whole(rng):
    """`Result.spikes` splits the run's records by population when first read: what it gives equals the reference,
    reading one population does not split the input events, and a pickled result carries every population."""
    import pickle

    net = _mixed_net(rng)
    x = (rng.random((4, 30, 6)) < 0.3).astype(np.uint8)
    dense, T = as_dense_inputs(net, x)
    res = evsim.run(net, x)
    assert sorted(res.spikes) == sorted(net.order) and len(res.spikes) == len(net.order)
    assert not res.spikes._built  # nothing split yet
    h = res.spikes["h"]
    assert res.spikes["h"] is h and "in" not in res.spikes._built
    for b in range(4):
        ref = reference.simulate(net, dense[b], T)
        np.testing.assert_array_equal(h.dense(T, net.population("h").size, 4)[b], ref.spikes["h"])
    back = pickle.loads(pickle.dumps(res))
    assert isinstance(back.spikes, dict) and sorted(back.spikes) == sorted(res.spikes)
    for name in net.order:
        np.testing.assert_array_equal(back.spikes[name].times, res.spikes[name].times)
        np.testing.assert_array_equal(back.spikes[name].indices, res.spikes[name].indices)
    np.testing.assert_array_equal(back.spikes["in"].dense(T, 6, 4), x)
    with pytest.raises(KeyError):
        evsim.run(net, x, record="outputs").spikes["h"]


def test_compiled_networks_kept_for_the_eight_used_last(rng):
    """`evsim.simulation.per_network`: a network used again is made again only after eight others were used since
    (a new entry evicts the one used least recently; a full cache used to be emptied whole)."""
    from evsim.simulation import per_network

    cache: dict = {}
    made: list = []
    nets = [_mixed_net(rng) for _ in range(10)]

    def make(n):
        made.append(n)
        return len(made)

    assert [per_network(cache, n, make) for n in nets[:8]] == list(range(1, 9))
    assert per_network(cache, nets[0], make) == 1  # kept, and now the one used last
    assert per_network(cache, nets[8], make) == 9  # evicts nets[1], the least recently used
    assert per_network(cache, nets[0], make) == 1 and len(made) == 9
    assert per_network(cache, nets[1], make) == 10 and len(cache) == 8
