"""What a user porting a model to exact mode meets beyond the run itself: counting a run's SOPs
(`evsim.accounting`, against the engine's own counter), writing its spikes as NIR data in seconds (read back by
NIR's reader), the memory check before a run, a warning for delays no spike can cross within the run (NEST's ms
given as seconds), and one clear `EvsimError` line for each discrete-only tool."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import evsim
import evsim.accounting
import evsim.data
import evsim.io.nir_data
import evsim.io.nir_export
import evsim.report
import evsim.verify
from evsim import exact
from evsim.errors import EvsimError, ResourceLimitError

MS = 1e-3


def _net(delay: float = 0.5 * MS) -> evsim.Network:
    rng = np.random.default_rng(3)
    lif = exact.LIF(6, tau_m=5 * MS, v_th=1.0, refractory=0.5 * MS)
    w = rng.uniform(0.2, 0.9, (6, 8))
    q = evsim.Projection.from_dense("in->out", "in", "out", w, delay)
    return evsim.Network((evsim.Population("in", 8), evsim.Population("out", 6, lif)), (q,), ("in",), ("out",))


def _events(seed: int) -> evsim.EventStream:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 8 * MS, 60))
    return evsim.EventStream(t, rng.integers(0, 8, 60))


def test_accounting_counts_an_exact_run():
    net = _net()
    res = evsim.run(net, [_events(1), _events(2)], duration=10 * MS)
    acct = evsim.accounting.account(res)
    np.testing.assert_array_equal(acct.sops, res.sops)  # events x synapses, against the engine's counter
    assert acct.steps == 100 and acct.dt == 1e-4  # per-step figures on the calendar grid (h = 0.1 ms)
    sp = res.spikes["out"]
    assert acct.populations["out"].spikes.tolist() == [int(np.sum(sp.samples == b)) for b in range(2)]
    per_step = np.zeros((2, 100), dtype=np.int64)
    np.add.at(per_step, (sp.samples, np.floor(sp.times / 1e-4).astype(np.int64)), 1)
    np.testing.assert_array_equal(acct.populations["out"].events_per_step, per_step)
    np.testing.assert_array_equal(acct.projections["in->out"].sops_per_step.sum(axis=1), res.sops)


def test_nir_data_of_an_exact_run_keeps_seconds(tmp_path):
    import nir

    net = _net()
    res = evsim.run(net, _events(4), duration=10 * MS)
    path = tmp_path / "spikes.h5"
    evsim.io.nir_data.write_nir_data(path, res)
    o = nir.read_data(str(path)).nodes["out"].observables["spikes"]
    ok = o.idx[0] >= 0
    order = np.lexsort((res.spikes["out"].indices, res.spikes["out"].times))
    np.testing.assert_array_equal(o.time[0][ok], res.spikes["out"].times[order])
    np.testing.assert_array_equal(o.idx[0][ok], res.spikes["out"].indices[order])
    assert o.t_max == 10 * MS
    back = evsim.io.nir_data.read_nir_data(path, "out", snap="seconds")  # exact mode's reading: float seconds
    np.testing.assert_array_equal(np.sort(back[0].times), np.sort(res.spikes["out"].times))
    with pytest.raises(EvsimError, match="no time grid"):
        evsim.io.nir_data.write_nir_data(path, res, gridded=True)


def test_exact_run_checks_memory_first():
    net = _net()
    with evsim.limits.override(memory="1K"):
        with pytest.raises(ResourceLimitError, match="exact engine's state"):
            evsim.run(net, _events(1), duration=10 * MS)
    long = _net(delay=0.5)  # a calendar of 2**13 steps of 0.1 ms
    with evsim.limits.override(memory="64K"):
        with pytest.raises(ResourceLimitError, match="calendar of 8192 steps"):
            evsim.run(long, _events(1), duration=1.0)


def test_delays_longer_than_the_run_warn():
    with pytest.warns(UserWarning, match="delays are seconds in exact mode"):
        evsim.run(_net(delay=1.5), _events(1), duration=10 * MS)  # 1.5 meant as ms
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evsim.run(_net(), _events(1), duration=10 * MS)


def test_discrete_only_tools_refuse_in_one_line(tmp_path):
    net = _net()
    ev = _events(1)
    cases = [
        (lambda: evsim.verify.verify(net, ev), "clock-driven reference"),
        (lambda: evsim.stream(net), "stream\\(\\) runs discrete-time networks"),
        (lambda: evsim.io.nir_export.save_nir(net, tmp_path / "x.nir"), "exact-time network cannot be written"),
        (lambda: evsim.run_dataset(net, evsim.data.open("examples/data/digits_shd.h5")), "bins events"),
        (lambda: evsim.run(net, ev, steps=10), "duration= seconds, not steps="),
    ]
    for call, msg in cases:
        with pytest.raises(EvsimError, match=msg) as e:
            call()
        assert "\n" not in str(e.value)
