"""The step-by-step exact loop (`evsim.engine.exact_steps`, used when every delay is at least the grid step)
against the general exact loop (`evsim.engine.exact.run_exact`, itself checked against an independent reference in
tests/test_exact_engine.py): the same spikes bit for bit, the same final state, on random networks of every neuron
kind, with off-grid and on-grid delays (simultaneous arrivals), tonic firing, refractory periods and fire-once
neurons; and run control stopping a step's long work early."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import evsim
from evsim import exact
from evsim.engine.exact_compile import compile_exact, run_sample_exact

ms = 1e-3


def _neurons(rng: np.random.Generator, kind: str, n: int, once: bool) -> exact.ExactNeuron:
    if kind == "delta":
        return exact.LIF(n, tau_m=rng.uniform(5, 20, n) * ms, v_th=1.0, v_reset=rng.uniform(-0.3, 0.2, n),
                         refractory=rng.uniform(0, 2, n) * ms, bias=rng.uniform(0, 1.3, n), once=once)  # fmt: skip
    if kind == "quiet":  # the loop's short path (NEST's iaf_psc_delta_ps: below threshold at rest)
        return exact.LIF(n, tau_m=rng.uniform(5, 20, n) * ms, v_th=1.0, v_reset=0.0, refractory=0.5 * ms,
                         once=once)  # fmt: skip
    if kind == "cuba":
        return exact.LIF(n, tau_m=rng.uniform(5, 20, n) * ms, tau_syn=rng.uniform(1, 8, n) * ms, v_th=1.0,
                         v_reset=0.0, refractory=rng.uniform(0, 2, n) * ms, bias=rng.uniform(0, 0.9, n),
                         r=rng.uniform(50, 200, n) * ms, once=once)  # fmt: skip
    if kind == "cuba_equal":
        return exact.LIF(n, tau_m=np.full(n, 4 * ms), tau_syn=np.full(n, 4 * ms), v_th=1.0, v_reset=0.0,
                         refractory=1 * ms, r=rng.uniform(100, 300, n) * ms, once=once)  # fmt: skip
    return exact.IF(n, v_th=1.0, v_reset=0.0, tau_syn=rng.uniform(1, 5, n) * ms, r=rng.uniform(5, 30, n),
                    bias=rng.uniform(0, 5, n), refractory=0.5 * ms)  # fmt: skip


def _net(seed: int, kind: str, on_grid: bool, once: bool = False) -> evsim.Network:
    rng = np.random.default_rng(seed)
    sizes = {"in": 6, "a": 12, "b": 9}
    w_scale = {"delta": 0.8, "quiet": 0.7, "cuba": 40.0, "cuba_equal": 30.0, "if": 1.0}[kind]
    pops = [evsim.Population("in", sizes["in"])]
    pops += [evsim.Population(p, sizes[p], _neurons(rng, kind, sizes[p], once)) for p in ("a", "b")]

    def proj(s: str, t: str) -> evsim.Projection:
        ns, nt = sizes[s], sizes[t]
        w = rng.normal(0.5, 0.6, (nt, ns)) * w_scale
        d = rng.integers(1, 30, (nt, ns)) * 0.1 * ms if on_grid else rng.uniform(0.1, 3, (nt, ns)) * ms
        return evsim.Projection.from_dense(f"{s}->{t}", s, t, w, d)

    projs = (proj("in", "a"), proj("a", "b"), proj("b", "a"), proj("a", "a"))
    return evsim.Network(tuple(pops), projs, ("in",), ("b",), dt=1e-4)


def _both(net: evsim.Network, ev_t: np.ndarray, ev_n: np.ndarray, duration: float) -> tuple:
    cn = compile_exact(net)
    assert cn.steps  # every delay >= dt
    vals = np.ones(ev_t.shape[0])
    new = run_sample_exact(cn, duration, ev_t, ev_n, vals)
    old = run_sample_exact(dataclasses.replace(cn, steps=False), duration, ev_t, ev_n, vals)
    return new, old


def _same(new, old) -> None:  # noqa: ANN001
    key_new = np.lexsort((new.spike_n, new.spike_t))
    key_old = np.lexsort((old.spike_n, old.spike_t))
    assert new.spike_t.shape[0] > 0
    np.testing.assert_array_equal(new.spike_n[key_new], old.spike_n[key_old])
    np.testing.assert_array_equal(new.spike_t[key_new], old.spike_t[key_old])  # bit for bit
    np.testing.assert_array_equal(new.v, old.v)
    np.testing.assert_array_equal(new.i, old.i)
    np.testing.assert_array_equal(new.sops, old.sops)


@pytest.mark.parametrize("kind", ["delta", "quiet", "cuba", "cuba_equal", "if"])
@pytest.mark.parametrize("on_grid", [False, True])
def test_step_loop_matches_the_general_loop(kind: str, on_grid: bool) -> None:
    for seed in range(3):
        net = _net(seed, kind, on_grid, once=(seed == 2 and kind != "if"))
        rng = np.random.default_rng([seed, 1])
        n_ev = 300
        ev_t = np.sort(rng.uniform(0, 0.05, n_ev))
        if on_grid:  # on-grid inputs: simultaneous arrivals from several paths
            ev_t = np.round(ev_t / 1e-4) * 1e-4
        new, old = _both(net, ev_t, rng.integers(0, 6, n_ev), 0.06)
        _same(new, old)


def test_step_loop_runs_at_t0_spikes_and_unsorted_input() -> None:
    net = _net(4, "quiet", True)
    rng = np.random.default_rng(9)
    ev_t = rng.uniform(0, 0.03, 200)  # unsorted: run_sample_exact sorts it
    cn = compile_exact(net)
    v0 = cn.v_init.copy()
    v0[6:9] = 1.5  # above threshold at t = 0: fire then
    vals = np.ones(200)
    ev_n = rng.integers(0, 6, 200)
    new = run_sample_exact(cn, 0.04, ev_t, ev_n, vals, v0=v0)
    old = run_sample_exact(dataclasses.replace(cn, steps=False), 0.04, ev_t, ev_n, vals, v0=v0)
    _same(new, old)
    assert np.sum(new.spike_t == 0.0) == 3


@pytest.mark.parametrize("first_delay", [1e-4, 5e-5])  # the step loop; a sub-step delay: the general loop
def test_run_control_stops_inside_a_long_step(first_delay: float) -> None:
    """An event budget stops the run within `EXACT_POLL` events of the limit, not at the end of a step."""
    from evsim.engine.exact_deliver import EXACT_POLL

    n = 400
    lif = exact.LIF(n, tau_m=10 * ms, v_th=1.0, v_reset=0.0, refractory=0.5 * ms)
    pops = (evsim.Population("in", 1), evsim.Population("a", n, lif))
    src, tgt = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    projs = (
        evsim.Projection.from_dense("in->a", "in", "a", np.full((n, 1), 2.0), first_delay),
        evsim.Projection.from_synapses("a->a", "a", "a", src.ravel(), tgt.ravel(), 0.01, 1e-4, n_source=n),
    )
    net = evsim.Network(pops, projs, ("in",), ("a",), dt=1e-4)
    cn = compile_exact(net)
    assert cn.steps == (first_delay >= 1e-4)
    limit = 100_000  # each step delivers 400 x 400 = 160k events
    ctl = np.array([0, limit, -1, 0], dtype=np.int64)
    run = run_sample_exact(cn, 0.01, np.array([0.0]), np.array([0]), np.ones(1), ctl=ctl)
    assert ctl[0] != 0 and run.steps_done < 10
    assert limit < run.sops.sum() <= limit + EXACT_POLL + n


def test_may_cross_never_rules_out_a_crossing_the_solver_finds() -> None:
    """`may_cross` (the bound that spares the solver) against `first_crossing` on random states, and `psp_peak`
    against the largest value of `phi` on a fine grid."""
    from evsim.exact.dynamics import first_crossing, may_cross, phi, psp_peak

    rng = np.random.default_rng(3)
    ruled_out = 0
    for _ in range(1500):
        lam = 1.0 / rng.uniform(2e-3, 20e-3)
        ls = rng.choice([0.0, lam, 1.0 / rng.uniform(0.5e-3, 10e-3)])
        c, b, i_inf = rng.uniform(10, 300), rng.uniform(-0.5, 1.2) * lam, rng.uniform(-0.2, 0.2) * (ls > 0)
        v, i = rng.uniform(-1, 0.999), rng.normal(0, 0.03)
        kappa = float(psp_peak(np.array([lam]), np.array([ls]))[0])
        t = first_crossing(v, i, 1.0, lam, ls, b, c, i_inf, 1.0)
        if not may_cross(v, i, lam, b, c, i_inf, 1.0, kappa):
            ruled_out += 1
            assert t == np.inf
        peak = max(phi(x, lam, ls) for x in np.linspace(0, 20 / min(lam, ls if ls > 0 else lam), 2001))
        assert kappa * (1 - 1e-3) <= peak <= kappa  # a true bound, and a tight one
    assert ruled_out > 300  # the bound does its job


def _direct_net(seed: int, kind: str, in_delay: float) -> evsim.Network:
    """Input synapses of one delay (every input neuron reaches every neuron of both populations), the others
    longer by more than a step: whole steps (seed 0) or off the grid."""
    rng = np.random.default_rng([seed, 7])
    sizes = {"in": 5, "a": 10, "b": 8}
    pops = [evsim.Population("in", 5)]
    pops += [evsim.Population(p, sizes[p], _neurons(rng, kind, sizes[p], False)) for p in ("a", "b")]
    w_scale = {"delta": 0.5, "quiet": 0.4, "cuba": 25.0}[kind]
    projs = []
    for s, t in (("in", "a"), ("in", "b"), ("a", "b"), ("b", "a"), ("a", "a")):
        shape = (sizes[t], sizes[s])
        if s == "in":
            d = np.full(shape, in_delay)
        else:
            d = rng.integers(3, 25, shape) * 1e-4 if seed == 0 else rng.uniform(0.3, 2.5, shape) * ms
        w = rng.normal(0.3, 0.5, shape) * w_scale
        projs.append(evsim.Projection.from_dense(f"{s}->{t}", s, t, w, d))
    return evsim.Network(tuple(pops), tuple(projs), ("in",), ("b",), dt=1e-4)


@pytest.mark.parametrize("kind", ["delta", "quiet", "cuba"])
@pytest.mark.parametrize("in_delay", [1e-4, 1.37e-4])  # on the grid, and off it (arrivals carried into a step)
def test_direct_input_matches_the_general_loop(kind: str, in_delay: float) -> None:
    """Input arrivals that skip the calendar (`evsim.engine.exact_open`), against the general loop. On-grid input
    times and every input neuron reaching every neuron make many simultaneous arrivals, with the calendar's too."""
    for seed in range(2):
        cn = compile_exact(_direct_net(seed, kind, in_delay))
        assert cn.direct == to_grid_pair(in_delay)
        rng = np.random.default_rng([seed, 8])
        n_ev = 400
        ev_t = np.round(np.sort(rng.uniform(0, 0.04, n_ev)) / 1e-4) * 1e-4
        ev_t[::3] += rng.uniform(0, 1e-4, ev_t[::3].shape)  # some off the grid too
        ev_t = np.sort(ev_t)
        ev_n = rng.integers(0, 5, n_ev)
        for vals in (np.broadcast_to(1.0, (n_ev,)), rng.uniform(0.5, 1.5, n_ev)):
            new = run_sample_exact(cn, 0.045, ev_t, ev_n, vals)
            old = run_sample_exact(dataclasses.replace(cn, steps=False), 0.045, ev_t, ev_n, vals)
            _same(new, old)


def to_grid_pair(d: float) -> tuple[int, float]:
    from evsim.engine.exact_compile import to_grid

    k, o = to_grid(np.array([d]), 1e-4)
    return int(k[0]), float(o[0])


def test_direct_input_only_when_the_order_is_kept() -> None:
    """The calendar serves inputs whose delays differ, or are not shorter than the others by more than a step."""
    assert compile_exact(_net(0, "quiet", True)).direct == (-1, 0.0)  # input delays of 0.1 to 2.9 ms
    lif = exact.LIF(3, tau_m=10 * ms, v_th=1.0, v_reset=0.0)
    for d_in, d_rec, direct in ((1e-4, 2e-4, (1, 0.0)), (1e-4, 1e-4, (-1, 0.0)), (1.5e-4, 2e-4, (-1, 0.0))):
        pops = (evsim.Population("in", 2), evsim.Population("a", 3, lif))
        projs = (evsim.Projection.from_dense("in->a", "in", "a", np.ones((3, 2)), d_in),
                 evsim.Projection.from_dense("a->a", "a", "a", np.ones((3, 3)), d_rec))  # fmt: skip
        assert compile_exact(evsim.Network(pops, projs, ("in",), ("a",), dt=1e-4)).direct == direct


def test_direct_input_keeps_the_tie_order() -> None:
    """Three simultaneous arrivals at one neuron, whose sum depends on their order: a spike's (1.0, from the
    calendar) and two input events' (2**-53 each, direct). The rule (queue.py): in the order they were sent, so the
    spike's first, (1 + 2**-53) + 2**-53 = 1 (the other order gives 1 + 2**-52)."""
    tiny = 2.0**-53
    assert (1.0 + tiny) + tiny != (tiny + tiny) + 1.0
    relay = exact.LIF(1, tau_m=10 * ms, v_th=1.0, v_reset=0.0)
    pops = (evsim.Population("in", 3), evsim.Population("r", 1, relay),
            evsim.Population("x", 1, exact.IF(1, v_th=1e9, v_reset=0.0)))  # fmt: skip
    projs = (
        evsim.Projection.from_synapses("in->r", "in", "r", [0], [0], 2.0, 0.1 * ms, n_source=3),
        evsim.Projection.from_synapses("in->x", "in", "x", [1, 2], [0, 0], tiny, 0.1 * ms, n_source=3),
        evsim.Projection.from_synapses("r->x", "r", "x", [0], [0], 1.0, 0.3 * ms, n_source=1),
    )
    cn = compile_exact(evsim.Network(pops, projs, ("in",), ("x",), dt=1e-4))
    assert cn.direct == (1, 0.0)
    ev_t, ev_n = np.array([1.0, 1.3, 1.3]) * ms, np.array([0, 1, 2])  # r fires at 1.1 ms; all three reach x at 1.4
    new = run_sample_exact(cn, 2 * ms, ev_t, ev_n, np.ones(3))
    old = run_sample_exact(dataclasses.replace(cn, steps=False), 2 * ms, ev_t, ev_n, np.ones(3))
    _same(new, old)
    assert new.v[4] == 1.0


@pytest.mark.parametrize("d_in", [1e-4, 0.5e-4])  # the step loop (direct input), the general loop
def test_inputs_of_every_kind_share_one_compilation(d_in: float) -> None:
    """Read-only times, int32 indices, given or default values: no new specialisation of the loop (each costs a
    compilation of ~15 s in the middle of a run)."""
    from evsim.engine.exact import run_exact
    from evsim.engine.exact_steps import run_exact_steps

    lif = exact.LIF(3, tau_m=10 * ms, v_th=1.0, v_reset=0.0)
    pops = (evsim.Population("in", 2), evsim.Population("a", 3, lif))
    projs = (evsim.Projection.from_dense("in->a", "in", "a", np.ones((3, 2)), d_in),
             evsim.Projection.from_dense("a->a", "a", "a", np.full((3, 3), 0.1), 2e-4))  # fmt: skip
    net = evsim.Network(pops, projs, ("in",), ("a",), dt=1e-4)
    evsim.run(net, evsim.EventStream(np.array([1e-4]), np.array([0])), duration=1e-3)
    n_sig = len(run_exact_steps.signatures) + len(run_exact.signatures)
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 0.01, 50))
    t.flags.writeable = False
    idx = rng.integers(0, 2, 50).astype(np.int32)
    evsim.run(net, evsim.EventStream(t, idx), duration=0.01)
    evsim.run(net, evsim.EventStream(t.copy(), idx, np.full(50, 0.5)), duration=0.01)
    assert len(run_exact_steps.signatures) + len(run_exact.signatures) == n_sig
