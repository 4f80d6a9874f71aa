"""One sample of one network across threads (`evsim.engine.partitioned`): the same run as on one thread, bit for bit
(spikes, final state, synaptic events, neuron updates, counts), and the networks it does not take run as before.

Checked against the one-thread run (`evsim.engine.loop.run_discrete`), which the other tests check against the
reference and the peers.
"""

import numpy as np
import pytest

import evsim
from evsim.engine import partitioned
from evsim.simulation import _compiled


def _recurrent(rng, poisson: bool, d_min: int, n=(300, 170), bias=True, reset="zero", op=">=", levels=0):
    """Two LIF populations (one driven by a bias: stepped at every step; one quiet: stepped when input arrives),
    sparse random synapses between and within them with delays ``d_min .. d_min + 9`` (repeated pairs, mixed
    signs; ``levels``: rounded to multiples of 1 / levels), and, with ``poisson``, a Poisson source into both with
    delays 1 and 2."""
    a, b = n
    pops = [
        evsim.Population(
            "A",
            a,
            evsim.LIF(a, 0.9, 1.0, reset=reset, v_reset=0.1, threshold_op=op, refractory=2, bias=0.13 if bias else 0.0),
        ),  # fmt: skip
        evsim.Population("B", b, evsim.LIF(b, 0.95, 1.0, reset=reset, v_reset=0.0, threshold_op=op)),
    ]
    projs = []
    for src, tgt, ns, nt_, w in [
        ("A", "A", a, a, 0.12),
        ("A", "B", a, b, 0.2),
        ("B", "A", b, a, -0.15),
        ("B", "B", b, b, 0.1),
    ]:
        m = ns * 12
        pre, post = rng.integers(0, ns, m), rng.integers(0, nt_, m)
        wt = w * rng.uniform(0.2, 1.5, m) * np.where(rng.random(m) < 0.2, -1, 1)
        wt = np.round(wt * levels) / levels if levels else wt  # few distinct weights: the split weights as codes
        projs.append(evsim.Projection.from_synapses(f"{src}->{tgt}", src, tgt, pre, post, wt,
                                                    rng.integers(d_min, d_min + 10, m), ns))  # fmt: skip
    if poisson:
        pops.insert(0, evsim.Population("ext", 50, poisson_rate=0.3))
        for tgt, nt_, d in (("A", a, 1), ("B", b, 2)):
            pre, post = rng.integers(0, 50, 4 * nt_), rng.integers(0, nt_, 4 * nt_)
            projs.append(evsim.Projection.from_synapses(f"ext->{tgt}", "ext", tgt, pre, post, 0.3, d, 50))
    return evsim.Network(tuple(pops), tuple(projs), (), ("B",), dt=1e-3)


@pytest.fixture(autouse=True)
def _small_networks_too(monkeypatch):
    """The networks here are smaller than `partitioned.MIN_SYNAPSES`: taken anyway."""
    monkeypatch.setattr(partitioned, "MIN_SYNAPSES", 0)


def _same(r1, r2):
    assert r1.spikes.keys() == r2.spikes.keys()
    for name in r1.spikes:
        np.testing.assert_array_equal(r1.spikes[name].times, r2.spikes[name].times)
        np.testing.assert_array_equal(r1.spikes[name].indices, r2.spikes[name].indices)
    for name in r1.final_state:
        for x, y in zip(r1.final_state[name], r2.final_state[name]):
            np.testing.assert_array_equal(x, y)
    for name in r1.sops_by_projection:
        np.testing.assert_array_equal(r1.sops_by_projection[name], r2.sops_by_projection[name])
    np.testing.assert_array_equal(r1.neuron_updates, r2.neuron_updates)
    for name in r1.counts:
        np.testing.assert_array_equal(r1.counts[name], r2.counts[name])


@pytest.mark.parametrize("poisson, d_min, steps", [(False, 3, 400), (True, 3, 397), (True, 5, 250), (False, 1, 123)])
@pytest.mark.parametrize("threads", [2, 3])
def test_threads_equal_one_thread(rng, poisson, d_min, steps, threads):
    net = _recurrent(rng, poisson, d_min)
    v0 = {"B": rng.uniform(0, 1.05, 170)}  # some start at threshold: stepped at the first step
    r1 = evsim.run(net, steps=steps, seed=7, initial=v0)
    assert r1.spikes["A"].counts.sum() > 100 and r1.spikes["B"].counts.sum() > 20
    partitioned.last_stats.clear()
    rn = evsim.run(net, steps=steps, seed=7, initial=v0, threads=threads)
    assert partitioned.last_stats["d_blk"] == d_min - (2 if poisson else 0)  # it ran across threads
    _same(r1, rn)
    _same(evsim.run(net, steps=steps, seed=7, initial=v0, record="outputs"),
          evsim.run(net, steps=steps, seed=7, initial=v0, record="outputs", threads=threads))  # fmt: skip


@pytest.mark.parametrize("levels", [0, 20])
def test_quiet_network_keeps_the_one_thread_steps(rng, levels):
    """No bias: both populations quiet, stepped only at the steps with input (and the first); the threads step
    their part at the same steps (or a closed-form catch-up would differ in the last bits)."""
    net = _recurrent(rng, True, 4, bias=False, levels=levels)
    v0 = {"A": rng.uniform(0.5, 1.2, 300), "B": rng.uniform(0, 1.05, 170)}
    r1 = evsim.run(net, steps=300, seed=3, initial=v0)
    assert r1.spikes["A"].counts.sum() > 0
    partitioned.last_stats.clear()
    _same(r1, evsim.run(net, steps=300, seed=3, initial=v0, threads=2))
    assert partitioned.last_stats
    assert (partitioned._plans[_compiled(net)][2]["wtab"] is not None) == (levels > 0)


@pytest.mark.parametrize("case", ["subtract", ">", "delay 1", "batch", "input"])
def test_other_runs_go_the_usual_way(rng, case):
    net = _recurrent(rng, True, 1 if case == "delay 1" else 4, reset="subtract" if case == "subtract" else "zero",
                     op=">" if case == ">" else ">=")  # fmt: skip
    kw: dict = dict(steps=120, seed=2)
    if case in ("input", "batch"):  # input events (one sample, or a batch of two): not taken
        inp = evsim.Projection.from_synapses("in->A", "in", "A", np.arange(10), np.arange(10), 2.0, 5, 10)
        net = evsim.Network((*net.populations, evsim.Population("in", 10)), (*net.projections, inp), ("in",), ("B",),
                            dt=1e-3)  # fmt: skip
        x = (np.array([3, 9]), np.array([1, 4]))
        kw["x"] = x if case == "input" else [x, (np.array([5]), np.array([2]))]
    r1 = evsim.run(net, **kw)
    partitioned.last_stats.clear()
    _same(r1, evsim.run(net, threads=2, **kw))
    assert not partitioned.last_stats  # the batch path, not the partitioned one
    assert not partitioned.fits(_compiled(net), (np.zeros(0),), 1, 2) or case in ("batch", "input")


def test_budgets_stop_the_threads(rng):
    net = _recurrent(rng, True, 4)
    with pytest.raises(evsim.ResourceLimitError):
        evsim.run(net, steps=2000, seed=1, threads=2, max_events=1000)
    with pytest.raises(evsim.BudgetExceeded):
        evsim.run(net, steps=10**6, seed=1, threads=2, max_seconds=0.2)


@pytest.mark.parametrize("n, steps", [((2, 1), 60), ((40, 30), 2)])
def test_small_populations_and_short_runs(rng, n, steps):
    """Populations with fewer neurons than threads (a thread owns none), a run shorter than a block."""
    net = _recurrent(rng, True, 4, n=n)
    r1 = evsim.run(net, steps=steps, seed=5)
    partitioned.last_stats.clear()
    _same(r1, evsim.run(net, steps=steps, seed=5, threads=3))
    assert partitioned.last_stats


def test_small_networks_run_on_one_thread(rng, monkeypatch):
    monkeypatch.setattr(partitioned, "MIN_SYNAPSES", 65536)
    net = _recurrent(rng, True, 4)
    assert not partitioned.fits(_compiled(net), (np.zeros(0),), 1, 2)


def test_ctrl_c_stops_the_threads(rng):
    import os
    import signal
    import threading
    import time

    from evsim.pool import POOL

    net = _recurrent(rng, True, 4)
    evsim.run(net, steps=20, threads=2)  # (kernels loaded)

    def interrupt():  # once the partitioned run's threads are running
        while not any(t.name.startswith("evsim-part") for t in threading.enumerate()):
            time.sleep(0.01)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(evsim.RunInterrupted):
        evsim.run(net, steps=10**6, seed=1, threads=2)
    for t in threading.enumerate():  # the threads end (within a block; the supervisor may return before them)
        if t.name.startswith("evsim-part"):
            t.join(60)
            assert not t.is_alive()
    t0 = time.monotonic()
    while POOL.busy and time.monotonic() - t0 < 60:  # and the pool's (kept between runs) are idle again
        time.sleep(0.01)
    assert POOL.busy == 0
