"""Run control: recording options, event/spike/wall-clock budgets, memory estimates, Ctrl-C, numeric overflow.

Each is checked against an independent result: the full recording of the same run (counts, partial results), the
dense reference, or the closed form of a size estimate.
"""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import evsim
from evsim import reference
from evsim.pool import POOL

from conftest import EXAMPLES, REPO

MODEL = str(EXAMPLES / "data" / "digits_snntorch.nir")
DATA = str(EXAMPLES / "data" / "digits_test.npz")


def _net(rng, n=(20, 30, 5), delay_max=3):
    ws = [rng.normal(0.6, 0.5, (n[k + 1], n[k])) for k in range(len(n) - 1)]
    ds = [rng.integers(0, delay_max + 1, w.shape) for w in ws]
    return evsim.feedforward(list(n), lambda m: evsim.LIF(m, beta=0.9), ws, ds)


def _x(rng, B=6, T=40, n=20, p=0.3):
    return (rng.random((B, T, n)) < p).astype(np.float64)


def test_record_counts_only_equal_the_full_recording(rng):
    net, x = _net(rng), _x(rng)
    full = evsim.run(net, x)
    part = evsim.run(net, x, record="outputs")
    hidden = [p.name for p in net.populations if p.name not in net.outputs]
    assert set(part.counts) == set(hidden) and not set(hidden) & set(part.spikes)
    for name in hidden:
        np.testing.assert_array_equal(part.spike_counts(name), full.spike_counts(name))
    np.testing.assert_array_equal(part.output, full.output)
    np.testing.assert_array_equal(part.sops, full.sops)
    named = evsim.run(net, x, record=[hidden[1]])
    assert hidden[1] in named.spikes and hidden[0] in named.counts
    with pytest.raises(evsim.InputError, match="no population named"):
        evsim.run(net, x, record=["nope"])


def test_event_budget_stops_and_keeps_the_finished_samples(rng):
    net, x = _net(rng), _x(rng)
    full = evsim.run(net, x)
    budget = int(np.max(full.sops[:2]))  # samples with more events than the first two stop the run
    over = int(np.argmax(full.sops > budget))
    with pytest.raises(evsim.BudgetExceeded, match=f"sample {over}: more than {budget} synaptic events") as e:
        evsim.run(net, x, max_events=budget)
    assert e.value.samples_done == over
    np.testing.assert_array_equal(e.value.partial.output, full.output[:over])
    np.testing.assert_array_equal(e.value.partial.sops, full.sops[:over])
    ok = evsim.run(net, x, max_events=int(full.sops.max()))
    np.testing.assert_array_equal(ok.output, full.output)


def test_spike_cap_and_wall_clock_budget(rng):
    net, x = _net(rng), _x(rng)
    with pytest.raises(evsim.ResourceLimitError, match="recorded spikes"):
        evsim.run(net, x, max_spikes=3)
    big = _x(rng, B=200, T=400)
    with pytest.raises(evsim.BudgetExceeded, match="wall-clock budget"):
        evsim.run(net, big, max_seconds=1e-9)


def test_event_ring_and_traces_are_estimated_before_allocation(rng):
    # one synapse with a 100,000-step delay onto 10,000 neurons: a ring of 131072 x 10,021 slots (17 GB)
    w = np.zeros((10_000, 21))
    w[0, 0] = 1.0
    net = evsim.feedforward([21, 10_000], lambda m: evsim.LIF(m, beta=0.9), [w], [np.full(w.shape, 100_000)])
    with pytest.raises(evsim.ResourceLimitError, match=r"event ring \(131072 slots.*evsim.limits.memory"):
        evsim.run(net, (np.array([0]), np.array([0])), steps=10)
    small = _net(rng)
    with evsim.limits.override(memory="1K"):
        with pytest.raises(evsim.ResourceLimitError, match="over the memory limit of 1.0 KiB"):
            evsim.run(small, _x(rng))
    with pytest.raises(evsim.ResourceLimitError, match="cannot read"):
        evsim.limits.parse_size("lots")
    assert evsim.limits.parse_size("16G") == 16 * 2**30


def test_overflowing_inputs_and_biases_are_refused(rng):
    net = _net(rng)
    x = _x(rng)
    x[0, 3, 2] = 1.7e308
    with pytest.raises(evsim.NumericalError, match="beyond float64"):
        evsim.run(net, x)
    biased = evsim.feedforward([3, 4], lambda m: evsim.LIF(m, beta=0.5, bias=1e308), [np.ones((4, 3))])
    with pytest.raises(evsim.NumericalError, match="population"):
        evsim.run(biased, np.zeros((5, 3)))


def test_multi_spike_counts_never_wrap(rng):
    # Sinabs-style multi-spike IF: inputs x 1e30 would need 1e30 spikes in one step, beyond the int64 count
    net = evsim.feedforward([2, 2], lambda m: evsim.IF(m, multi_spike=True, threshold_op=">="), [np.eye(2)])
    x = np.zeros((3, 2))
    x[1, 0] = 1e30
    with pytest.raises(evsim.NumericalError, match="sample 0: multi-spike"):
        evsim.run(net, x)
    x[1, 0] = 1e6  # in range: the count is exact, as the reference gives it
    res = evsim.run(net, x)
    ref = reference.simulate(net, {net.inputs[0]: x}, 3)
    np.testing.assert_array_equal(res.output, ref.spikes[net.outputs[0]])
    assert res.output[1, 0] == 1e6


def test_ctrl_c_in_process_stops_within_a_step_and_keeps_finished_samples(rng):
    net = _net(rng, n=(50, 400, 10), delay_max=8)
    x = _x(rng, B=3000, T=200, n=50)
    evsim.run(net, x[:1])  # the kernels loaded (from Numba's cache) before the timed part

    def interrupt():  # once a worker thread runs the run
        while not POOL.busy:
            time.sleep(0.01)
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(evsim.RunInterrupted) as e:
        evsim.run(net, x)
    done = e.value.samples_done
    assert done < 3000
    if done:  # (none may have finished on a very loaded machine)
        ref = evsim.run(net, x[:done])
        np.testing.assert_array_equal(e.value.partial.output, ref.output)
    else:
        assert e.value.partial is None


@pytest.mark.slow
def test_cli_ctrl_c_exits_130_with_one_line(tmp_path):
    z = np.load(DATA)
    inp = tmp_path / "many.npz"
    np.savez(inp, x=np.tile(z["x"], (200, 1, 1)), labels=np.tile(z["labels"], 200))
    # this model's variant of the loop compiled (into Numba's disk cache) before: the CLI must only load it
    evsim.run(evsim.load(MODEL, dialect="snntorch"), z["x"][:1])
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "evsim.cli", "run", MODEL, "--input", str(inp), "--dialect", "snntorch"]
    for delay in (4.0, 8.0, 16.0):  # (a loaded machine may still be importing: then SIGINT ends it quietly)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO)
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        lines = err.decode().strip().splitlines()
        if p.returncode == -signal.SIGINT:
            assert lines == [], lines  # interrupted while importing: no traceback
            continue
        assert p.returncode == 130, err.decode()
        assert len(lines) == 1 and lines[0].startswith("evsim: interrupted"), lines
        return
    pytest.fail("the run never started within 16 s")


@pytest.mark.slow
def test_cli_ctrl_c_with_out_file_keeps_the_finished_samples(tmp_path):
    z = np.load(DATA)
    inp, out = tmp_path / "many.npz", tmp_path / "out.npz"
    np.savez(inp, x=np.tile(z["x"], (200, 1, 1)), labels=np.tile(z["labels"], 200))
    net = evsim.load(MODEL, dialect="snntorch")
    evsim.run(net, z["x"][:1])  # compiled into Numba's disk cache: the CLI only loads it
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "evsim.cli", "run", MODEL, "--input", str(inp), "--dialect", "snntorch", "--out"]
    for delay in (4.0, 8.0, 16.0):
        p = subprocess.Popen([*cmd, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO)
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
        lines = err.decode().strip().splitlines()
        if not out.exists():  # interrupted before the first chunk finished: nothing to keep, nothing written
            continue
        assert p.returncode == 130, err.decode()
        kept = np.load(out)
        n = len(kept["index"])
        assert 0 < n < 60000 and lines[-1] == f"evsim: interrupted after {n} samples; {out} holds them", lines
        ref = evsim.run(net, np.tile(z["x"], (200, 1, 1))[:n])
        np.testing.assert_array_equal(kept["index"], np.arange(n))
        np.testing.assert_array_equal(kept["output"], ref.output)
        return
    pytest.fail("no chunk finished within 16 s")


# --- exact (continuous-time) mode: the same run control (`evsim.exact.run` through `evsim.control.execute`)


def _exact_net(n=60):
    """A recurrent exact-time LIF population that, once one input event kicks it, keeps firing on its own (every
    neuron every 1.2 ms: ~n^2 events a ms) until the end of the run; with no input it stays silent."""
    from evsim import exact

    ms = 1e-3
    pops = (
        evsim.Population("in", 1),
        evsim.Population("a", n, exact.LIF(n, tau_m=10 * ms, v_th=1.0, v_reset=0.0, refractory=0.5 * ms)),
        evsim.Population("out", 2, exact.LIF(2, tau_m=10 * ms, v_th=1.0, v_reset=0.0)),
    )
    projs = (
        evsim.Projection.from_dense("in->a", "in", "a", np.full((n, 1), 2.0), 0.3 * ms),
        evsim.Projection.from_dense("a->a", "a", "a", np.full((n, n), 2.0), 1.2 * ms),
        evsim.Projection.from_dense("a->out", "a", "out", np.full((2, n), 0.01), 0.7 * ms),
    )
    return evsim.Network(pops, projs, ("in",), ("out",), dt=1e-4)


def _kicks(B, kicked):
    """B samples; those in ``kicked`` get one input event (at 1 ms) that ignites the network."""
    return [evsim.EventStream([1e-3] if b in kicked else [], [0] if b in kicked else []) for b in range(B)]


def test_exact_record_modes_count_what_the_full_recording_holds():
    net = _exact_net(20)
    x = _kicks(3, {1, 2})
    full = evsim.run(net, x, duration=0.02)
    part = evsim.run(net, x, duration=0.02, record="outputs")
    assert set(part.counts) == {"in", "a"} and set(part.spikes) == {"out"}
    assert full.spike_counts("a").sum() > 100
    np.testing.assert_array_equal(part.spike_counts("a"), full.spike_counts("a"))
    np.testing.assert_array_equal(part.spikes["out"].times, full.spikes["out"].times)
    np.testing.assert_array_equal(part.output, full.output)
    np.testing.assert_array_equal(part.sops, full.sops)
    named = evsim.run(net, x, duration=0.02, record=["a"])
    np.testing.assert_array_equal(named.spikes["a"].times, full.spikes["a"].times)
    with pytest.raises(evsim.InputError, match="no population named"):
        evsim.run(net, x, duration=0.02, record=["nope"])


def test_exact_budgets_stop_as_in_discrete_mode():
    net = _exact_net(20)
    x = _kicks(4, {2, 3})
    full = evsim.run(net, x, duration=0.02)
    budget = int(full.sops[:2].max())  # samples 0 and 1 (silent) fit, sample 2 does not
    with pytest.raises(evsim.BudgetExceeded, match=f"sample 2: more than {budget} synaptic events") as e:
        evsim.run(net, x, duration=0.02, max_events=budget)
    assert e.value.samples_done == 2
    np.testing.assert_array_equal(e.value.partial.sops, full.sops[:2])
    np.testing.assert_array_equal(e.value.partial.output, full.output[:2])
    ok = evsim.run(net, x, duration=0.02, max_events=int(full.sops.max()))
    np.testing.assert_array_equal(ok.output, full.output)
    with pytest.raises(evsim.ResourceLimitError, match="sample 2: more than 5 recorded spikes") as e2:
        evsim.run(net, x, duration=0.02, max_spikes=5)
    assert e2.value.__class__ is evsim.ResourceLimitError
    counted = evsim.run(
        net, x, duration=0.02, record="outputs", max_spikes=int(full.spike_counts("out").sum(axis=-1).max())
    )
    np.testing.assert_array_equal(counted.output, full.output)  # hidden spikes are counted, not recorded
    with pytest.raises(evsim.BudgetExceeded, match="wall-clock budget") as e3:
        evsim.run(_exact_net(), _kicks(2, {1}), duration=1e4, max_seconds=0.3)  # sample 1: hours
    assert e3.value.samples_done == 1


def test_exact_ctrl_c_stops_a_long_sample_and_keeps_the_finished_ones():
    net = _exact_net()
    x = _kicks(3, {1, 2})  # sample 0 is silent (done at once); sample 1 would run for hours
    evsim.run(net, x[:2], duration=0.005)  # the kernels loaded (from Numba's cache) before the timed part
    sent = []

    def interrupt():  # once a worker thread runs the run
        while not POOL.busy:
            time.sleep(0.01)
        time.sleep(0.5)
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(evsim.RunInterrupted) as e:
        evsim.run(net, x, duration=1e4)
    print(f"exact mode: Ctrl-C to return {time.perf_counter() - sent[0]:.4f} s")
    assert e.value.samples_done == 1
    ref = evsim.run(net, x[:1], duration=1e4)
    np.testing.assert_array_equal(e.value.partial.output, ref.output)
    np.testing.assert_array_equal(e.value.partial.sops, ref.sops)


def test_worker_threads_are_kept_between_runs_nest_and_survive_a_fork(rng):
    """`evsim.pool`: runs reuse its threads (same results as one thread); a job that waits for a job of its own
    gets a thread of its own; a forked child runs with threads of its own (the parent's do not exist there)."""
    net, x = _net(rng), _x(rng, B=8)
    ref = evsim.run(net, x, threads=1)
    evsim.run(net, x, threads=2)
    started = POOL._threads
    for _ in range(3):
        np.testing.assert_array_equal(evsim.run(net, x, threads=2).output, ref.output)
    assert POOL._threads == started and POOL.busy == 0

    inner: list = []
    outer = POOL.submit(lambda: inner.append(POOL.submit(lambda: None).done.wait(10)))
    assert outer.done.wait(10) and inner == [True]

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a run with 2 threads, its output's sum to the parent
        try:
            os.write(w, str(int(evsim.run(net, x, threads=2).output.sum())).encode())
        finally:
            os._exit(0)
    os.close(w)
    t0 = time.monotonic()
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() - t0 > 60:
            os.kill(pid, signal.SIGKILL)
            pytest.fail("a run in a forked child hung (it waited for the parent's threads)")
        time.sleep(0.05)
    assert os.read(r, 64).decode() == str(int(ref.output.sum()))
