"""Streaming inference (`evsim.stream`) against batch runs of the same events: spike for spike, on random
networks (every neuron model and rule of the engine's own property test) and random push/advance schedules."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_engine_vs_reference import networks

import evsim
from evsim.engine import compile_network
from evsim.errors import NumericalError


def _batch_output_spikes(net, times, idx, vals, T):
    res = evsim.run(net, (times, idx, vals), steps=T)
    s = res.spikes[net.outputs[0]]
    return sorted(zip(s.times.tolist(), s.indices.tolist(), s.counts.tolist()))


@settings(max_examples=150)
@given(networks(), st.data())
def test_stream_equals_batch_run(case, data):
    net, x = case
    T = x.shape[0]
    tt, nn = np.nonzero(x)
    vals = x[tt, nn]
    try:
        want = _batch_output_spikes(net, tt, nn, vals, T)
    except NumericalError:
        assume(False)
    assume(len(want) < 10_000)
    # a schedule: advance to increasing steps, pushing before each advance the events not yet pushed up to a
    # random step at or beyond it (events may be pushed early); each push a random split
    stops = sorted(set(data.draw(st.lists(st.integers(0, T - 1), max_size=6)) + [T - 1]))
    listed = data.draw(st.booleans())
    s = evsim.stream(compile_network(net, scan_max=0) if listed else net)
    got = []
    pushed = 0
    for stop in stops:
        upto = data.draw(st.integers(stop, T - 1)) if pushed < tt.shape[0] else stop
        k = int(np.searchsorted(tt, upto, side="right"))
        if k > pushed:
            cut = data.draw(st.integers(pushed, k))
            s.push(tt[pushed:cut], nn[pushed:cut], vals[pushed:cut])
            s.push(tt[cut:k], nn[cut:k], vals[cut:k])
            pushed = k
        sp = s.advance(stop)
        assert np.all((sp.times <= stop) & (sp.times >= (got[-1][0] if got else 0)))
        got += list(zip(sp.times.tolist(), sp.indices.tolist(), sp.counts.tolist()))
    assert s.time == T
    assert sorted(got) == want
    counts = np.zeros(net.population(net.outputs[0]).size, dtype=np.int64)
    for _, n, c in want:
        counts[n] += c
    assert np.array_equal(s.counts, counts)


def test_stream_decision_and_sops_equal_the_batch_run():
    net = evsim.load("examples/data/digits_snntorch.nir", dialect="snntorch")
    z = np.load("examples/data/digits_test.npz")
    res = evsim.run(net, z["x"][:5])
    for b in range(5):
        s = evsim.stream(net)
        tt, nn = np.nonzero(z["x"][b])
        for t in range(25):  # events pushed as they arrive, one step at a time
            sel = tt == t
            s.push(tt[sel], nn[sel], z["x"][b][tt[sel], nn[sel]])
            s.advance(t)
        assert s.decision == res.predictions()[b]
        assert np.array_equal(s.counts, res.output[b].sum(axis=0))
        assert int(s.sops.sum()) == res.sops[b]  # no delays in this model: nothing cut at the end


def test_stream_refuses_late_and_bad_events():
    net = evsim.feedforward([3, 2], lambda n: evsim.LIF(n, beta=0.9), [np.ones((2, 3))])
    s = evsim.stream(net, horizon=100)
    s.push([5], [0])
    s.advance(7)
    assert s.time == 8 and len(s.advance(3)) == 0
    with pytest.raises(evsim.InputError, match="after the stream reached step 8"):
        s.push([7], [1])
    with pytest.raises(evsim.InputError, match=r"in \[0, 3\)"):
        s.push([9], [3])
    with pytest.raises(evsim.InputError, match="horizon"):
        s.push([100], [0])
    with pytest.raises(evsim.InputError, match="whole numbers"):
        s.push([9.5], [0])


def test_early_exit_curve_on_the_bundled_model():
    from evsim.streaming import early_exit_curve

    net = evsim.load("examples/data/digits_snntorch.nir", dialect="snntorch")
    z = np.load("examples/data/digits_test.npz")
    x, y = z["x"][:40], z["labels"][:40]
    c = early_exit_curve(net, x, y, thresholds=[0.0, 0.9, 1.1])
    full = evsim.run(net, x)
    assert c.full_accuracy == np.mean(full.predictions() == y) and c.full_sops == full.sops.mean()
    # threshold 0: every sample stops after its first step; above 1: none stops early (the full run)
    assert c.latency[0] == 1 and c.latency[2] == 25 and c.accuracy[2] == c.full_accuracy
    first = evsim.run(net, x[:, :1])
    assert c.accuracy[0] == np.mean(first.predictions() == y) and c.sops[0] == first.sops.mean()
    assert c.sops[0] <= c.sops[1] <= c.sops[2] and 1 <= c.latency[1] <= 25


def test_report_early_exit(tmp_path, capsys):
    import json

    from evsim.cli import main

    args = ["report", "examples/data/digits_snntorch.nir", "--input", "examples/data/digits_test.npz"]
    args += ["--dialect", "snntorch", "--samples", "12", "--out", str(tmp_path), "--early-exit", "0.9", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "early exit (full run: accuracy" in out and ">= 0.9" in out
    rows = json.loads((tmp_path / "early_exit.json").read_text())["rows"]
    assert [r["threshold"] for r in rows] == [0.9, 2.0] and rows[1]["latency_saved"] == 0.0
    assert (tmp_path / "early_exit.png").stat().st_size > 1000
