"""Lockstep batches (`evsim.engine.lockstep`): every field equal to the per-sample path's, bit for bit.

Checked against the runs of the same chunks one sample at a time (`evsim.engine.batch._run_each`, one call of the
event loop per sample) and the dense reference simulator (`evsim.reference`), on random networks that use every
update the lockstep path serves: per-neuron coefficients with a refractory period and reset to a value (kind 1),
uniform coefficients (kind 2), snnTorch's late subtract reset (kind 3), ``>=`` thresholds, synaptic currents,
per-synapse delays, recurrence, two input ports and a recorded membrane.
"""

import numpy as np
import pytest

import evsim
from evsim import reference
from evsim.control import STOPPED, new_ctls
from evsim.engine import batch, compile_network, lockstep
from evsim.simulation import _compiled, _normalise_cat, as_dense_inputs, record_modes


@pytest.fixture(autouse=True)
def batch_kernel(monkeypatch):
    monkeypatch.setenv("EVSIM_BATCH_KERNEL", "1")  # (the compiled batch path: lockstep where it serves)


def _net(rng) -> evsim.Network:
    n_a, n_b, n_c = 12, 9, 7
    a = evsim.LIF(n_a, rng.uniform(0.7, 0.95, n_a), rng.uniform(0.8, 1.2, n_a), bias=0.03, reset="zero",
                  v_reset=-0.1, refractory=rng.integers(0, 3, n_a), threshold_op=">=", v_min=-1.0,
                  refractory_keeps_current=True)  # fmt: skip
    b = evsim.CubaLIF(n_b, 0.5, 0.85, 1.0, bias=0.01)
    c = evsim.LIF(n_c, 0.9, 0.8, bias=rng.normal(0, 0.05, n_c), reset="subtract", reset_delay=True, refractory=1)
    pops = (
        evsim.Population("in", 8),
        evsim.Population("in2", 3),
        evsim.Population("a", n_a, a),
        evsim.Population("b", n_b, b),
        evsim.Population("c", n_c, c),
        evsim.Population("o", 4, evsim.LI(4, 0.8)),
    )

    def dense(name, src, tgt, n_src, n_tgt, p=1.0, d=0):
        w = rng.normal(0, 0.7, (n_tgt, n_src)) * (rng.random((n_tgt, n_src)) < p)
        return evsim.Projection.from_dense(name, src, tgt, w, d)

    projs = (
        dense("in->a", "in", "a", 8, n_a, d=np.repeat(rng.integers(0, 3, (1, 8)), n_a, axis=0)),
        dense("in2->b", "in2", "b", 3, n_b),
        dense("a->b", "a", "b", n_a, n_b, 0.6, rng.integers(0, 4, (n_b, n_a))),
        dense("b->c", "b", "c", n_b, n_c),
        dense("c->a", "c", "a", n_c, n_a, 0.5, 1),
        dense("c->o", "c", "o", n_c, 4),
    )
    return evsim.Network(pops, projs, ("in", "in2"), ("o",))


def _inputs(rng, B: int, T: int) -> dict:
    x = (rng.random((B, T, 8)) < 0.3) * rng.choice([1.0, 0.5, 2.0], (B, T, 8))
    return {"in": x, "in2": (rng.random((B, T, 3)) < 0.2).astype(np.uint8)}


def _per_sample(monkeypatch, *args, **kw):
    """`evsim.run` by the per-sample path (lockstep switched off)."""
    with monkeypatch.context() as m:
        m.setattr(lockstep, "serves", lambda cn: False)
        return evsim.run(*args, **kw)


def _assert_same(r, s) -> None:
    np.testing.assert_array_equal(r.output, s.output)
    np.testing.assert_array_equal(r.sops, s.sops)
    np.testing.assert_array_equal(r.neuron_updates, s.neuron_updates)
    for q in r.sops_by_projection:
        np.testing.assert_array_equal(r.sops_by_projection[q], s.sops_by_projection[q])
    for p in r.spikes:
        for f in ("times", "indices", "counts", "samples"):
            np.testing.assert_array_equal(getattr(r.spikes[p], f), getattr(s.spikes[p], f))
    for p in r.counts:
        np.testing.assert_array_equal(r.counts[p], s.counts[p])
    for p in r.final_state:
        for k in (0, 1):  # (bit for bit: NaN-free, so equal arrays are equal floats)
            np.testing.assert_array_equal(r.final_state[p][k], s.final_state[p][k])


def test_eligibility(rng):
    net = _net(rng)
    assert lockstep.eligible(compile_network(net))
    assert not lockstep.eligible(compile_network(net, scan_max=0))  # listed populations
    quiet = evsim.Network(
        (evsim.Population("in", 3), evsim.Population("q", 4, evsim.LIF(4, 0.9))),  # no bias: stepped on input only
        (evsim.Projection.from_dense("in->q", "in", "q", np.ones((4, 3))),),
        ("in",),
        ("q",),
    )
    assert not lockstep.eligible(compile_network(quiet))
    assert compile_network(net).arrays["plain"][2:5].tolist() == [1, 2, 3]  # every update kind exercised


def test_lockstep_equals_per_sample_path(rng, monkeypatch):
    net = _net(rng)
    x = _inputs(rng, 13, 40)
    calls = []
    real = lockstep.run_lockstep
    monkeypatch.setattr(lockstep, "run_lockstep", lambda *a: calls.append(a[1:]) or real(*a))
    for record in ("all", "outputs"):
        for threads in (1, 3):
            r = evsim.run(net, x, record=record, threads=threads)
            _assert_same(r, _per_sample(monkeypatch, net, x, record=record, threads=threads))
    assert calls and all(hi > lo for lo, hi in calls)
    assert r.spikes["o"].times.size == 0 and r.counts["c"].sum() > 30 and r.counts["a"].sum() > 30


def test_lockstep_matches_reference(rng):
    net = _net(rng)
    x = _inputs(rng, 4, 30)
    res = evsim.run(net, x)
    dense, T = as_dense_inputs(net, x)
    for b in range(4):
        ref = reference.simulate(net, dense[b], T)
        for p in ("a", "b", "c"):
            size = net.population(p).size
            np.testing.assert_array_equal(res.spikes[p].dense(T, size, 4)[b], ref.spikes[p])
            np.testing.assert_allclose(res.final_state[p][1][b], ref.v[p][-1], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(res.output[b], ref.v["o"], rtol=1e-9, atol=1e-12)


def test_groups_and_stop(rng, monkeypatch):
    """Groups of one sample: a stop flag seen at sample 2 leaves samples 0 and 1 finished, equal to a full run."""
    net = _net(rng)
    x = _inputs(rng, 5, 20)
    full = evsim.run(net, x)
    monkeypatch.setattr(lockstep, "GROUP_BYTES", 1)
    _assert_same(evsim.run(net, x), full)
    cn = _compiled(net)
    ev, T, _ = _normalise_cat(net, x, None)
    ctls = new_ctls(5, None, None)
    ctls[2, 0] = STOPPED
    bt = batch.new_batch(cn, T, ev, None, 0, record_modes(net, "all"), ctls)
    done, t, n, c, n_sp = lockstep.run_lockstep(bt, 0, 5)
    assert done == 2 and ctls[2, 3] == 0
    np.testing.assert_array_equal(bt.out[1][:2], np.concatenate([full.final_state[p][1] for p in cn.names], 1)[:2])
    expected = [sum(int(np.sum(full.spikes[p].samples == b)) for p in ("a", "b", "c", "o")) for b in (0, 1)]
    assert n_sp.tolist() == expected and t.size == sum(expected)


@pytest.mark.parametrize("limit", ["max_spikes", "max_events"])
def test_limits_as_per_sample_path(rng, monkeypatch, limit):
    """A limit passed mid-run: lockstep hands the chunk to the per-sample path, which stops where it stops."""
    net = _net(rng)
    x = _inputs(rng, 6, 30)
    x["in"][3] = 2.0  # the busiest sample: samples 0 to 2 finish
    full = evsim.run(net, x)
    per = full.sops if limit == "max_events" else sum(np.bincount(full.spikes[p].samples, minlength=6)
                                                      for p in full.spikes if p not in ("in", "in2"))  # fmt: skip
    assert int(np.argmax(per)) == 3
    kw = {limit: int(np.sort(per)[-2]) if limit == "max_events" else int(per[3]) // 2}
    with pytest.raises(evsim.EvsimError) as e1:
        evsim.run(net, x, **kw)
    with pytest.raises(evsim.EvsimError) as e2:
        _per_sample(monkeypatch, net, x, **kw)
    assert type(e1.value) is type(e2.value) and str(e1.value) == str(e2.value)
    if limit == "max_events":  # (a budget: the samples before come back; past the spike limit, none)
        assert e1.value.samples_done == e2.value.samples_done == 3
        _assert_same(e1.value.partial, e2.value.partial)


@pytest.mark.parametrize("dtype", [np.uint8, np.bool_, np.float64])
def test_dense_input_read_in_place(rng, monkeypatch, dtype):
    """A dense spike input of one port, counted only: read by the kernel itself (uint8, bool), not made into events
    first; every field, and the input's counts, as the per-sample path gives them from the events."""
    w1, w2 = rng.normal(0, 0.3, (10, 12)), rng.normal(0, 0.8, (3, 10))
    pops = (
        evsim.Population("in", 12),
        evsim.Population("h", 10, evsim.LIF(10, 0.9, 1.0, bias=rng.normal(0, 0.05, 10), reset_delay=True)),
        evsim.Population("o", 3, evsim.LIF(3, 0.8, 1.0, bias=0.02)),
    )
    projs = (
        evsim.Projection.from_dense("in->h", "in", "h", w1),
        evsim.Projection.from_dense("h->o", "h", "o", w2, rng.integers(0, 3, (3, 10))),
    )
    net = evsim.Network(pops, projs, ("in",), ("o",))
    x = (rng.random((9, 30, 12)) < 0.7).astype(dtype)  # (often eight rows or more at once: `_add_rows`)
    read = []
    real = lockstep._lockstep
    monkeypatch.setattr(lockstep, "_lockstep", lambda *a: read.append(a[9]) or real(*a))  # (a[9]: d_first)
    for record in ("outputs", "all"):
        for threads in (1, 2):
            _assert_same(evsim.run(net, x, record=record, threads=threads),
                         _per_sample(monkeypatch, net, x, record=record, threads=threads))  # fmt: skip
    in_place = dtype != np.float64
    assert any(f == 0 for f in read) == in_place and any(f == -1 for f in read)  # ("all": the events are needed)
    r = evsim.run(net, x, record="outputs")
    np.testing.assert_array_equal(r.counts["in"], x.sum(axis=1))
    assert r.counts["h"].sum() > 20


def test_input_events_beyond_the_neurons_in_one_step(rng, monkeypatch):
    """More input events in one step than the network has neurons (events may repeat a neuron): the lockstep
    buffers hold them (they were sized N: a heap overflow, found by tests/fuzzing.py on a retyped NIR data file)."""
    net = _net(rng)
    n = 40 * compile_network(net).arrays["N"]
    one = evsim.EventStream(np.zeros(n, dtype=np.int64), rng.integers(0, 8, n), rng.choice([0.5, -1.0], n))
    x = {"in": [one, one], "in2": [evsim.EventStream(np.array([0, 3]), np.array([1, 2]))] * 2}
    calls = []
    real = lockstep.run_lockstep
    monkeypatch.setattr(lockstep, "run_lockstep", lambda *a: calls.append(a[1:]) or real(*a))
    r = evsim.run(net, x, steps=6)
    assert calls
    _assert_same(r, _per_sample(monkeypatch, net, x, steps=6))


def test_kernel_takes_the_network_as_one_tuple(rng):
    """`_lockstep` takes the network's arrays as one tuple (`lockstep.NET`), not a copy of the loop's arguments."""
    assert set(lockstep.NET) <= set(batch.NET_ARGS)
    code = lockstep._lockstep.py_func.__code__
    params = code.co_varnames[: code.co_argcount]
    assert len(params) < 20
    bt = batch.new_batch(_compiled(_net(rng)), 5, (np.zeros(0, np.int64),) * 2 + (np.zeros(0), np.zeros(3, np.int64)),
                         None, 0, np.ones(6, np.int64), new_ctls(2, None, None))  # fmt: skip
    args = lockstep._args(bt, 0, 2)
    assert args[9] == -1 and len(args[params.index("net")]) == len(lockstep.NET)
