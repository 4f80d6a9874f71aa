"""The exact-time engine against an independent reference (tests/exact_reference.py: matrix exponentials, a fine
grid and bisection), the exact refractory boundary, zero-delay cycles, and discrete-vs-exact agreement on the grid."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import evsim
from evsim import exact

from exact_reference import simulate


def _random_net(rng: np.random.Generator, kind: str) -> evsim.Network:
    n_in, n1, n2 = 3, 4, 3
    ms = 1e-3
    if kind == "delta":
        mk = lambda n: exact.LIF(  # noqa: E731
            n, tau_m=rng.uniform(5, 20, n) * ms, v_th=1.0, v_reset=rng.uniform(-0.3, 0.2, n),
            refractory=rng.uniform(0, 2, n) * ms, bias=rng.uniform(0, 1.3, n),
        )  # fmt: skip
    elif kind == "cuba":
        mk = lambda n: exact.LIF(  # noqa: E731
            n, tau_m=rng.uniform(5, 20, n) * ms, tau_syn=rng.uniform(1, 8, n) * ms, v_th=1.0, v_reset=0.0,
            refractory=rng.uniform(0, 2, n) * ms, bias=rng.uniform(0, 0.9, n), r=rng.uniform(50, 200, n) * ms,
        )  # fmt: skip
    elif kind == "cuba_equal":  # tau_syn == tau_m: the t exp(-t / tau) case
        mk = lambda n: exact.LIF(  # noqa: E731
            n, tau_m=np.full(n, 4 * ms), tau_syn=np.full(n, 4 * ms), v_th=1.0, v_reset=0.0, refractory=1 * ms,
            r=rng.uniform(100, 300, n) * ms,
        )  # fmt: skip
    else:  # IF with current synapses and a bias
        mk = lambda n: exact.IF(  # noqa: E731
            n, v_th=1.0, v_reset=0.0, tau_syn=rng.uniform(1, 5, n) * ms, r=rng.uniform(5, 30, n),
            bias=rng.uniform(0, 5, n), refractory=0.5 * ms,
        )  # fmt: skip
    w_scale = {"delta": 0.8, "cuba": 40.0, "cuba_equal": 30.0, "if": 1.0}[kind]
    pops = (evsim.Population("in", n_in), evsim.Population("a", n1, mk(n1)), evsim.Population("b", n2, mk(n2)))

    def proj(name: str, s: str, t: str, ns: int, nt: int, lo: float) -> evsim.Projection:
        w = rng.normal(0.5, 0.6, (nt, ns)) * w_scale
        return evsim.Projection.from_dense(name, s, t, w, rng.uniform(lo, 3, (nt, ns)) * ms)

    projs = (
        proj("in->a", "in", "a", n_in, n1, 0.0),
        proj("a->b", "a", "b", n1, n2, 0.2),
        proj("b->a", "b", "a", n2, n1, 0.5),
    )
    return evsim.Network(pops, projs, ("in",), ("b",), dt=1e-4)


def _spikes(res: evsim.Result, net: evsim.Network) -> list[tuple[float, str, int]]:
    out = []
    for p in net.populations:
        if p.neuron is not None:
            s = res.spikes[p.name]
            out += [(float(t), p.name, int(j)) for t, j in zip(s.times, s.indices)]
    return sorted(out)


@pytest.mark.parametrize(
    "kind, seed", [("delta", 1), ("delta", 2), ("cuba", 3), ("cuba", 4), ("cuba_equal", 5), ("if", 6)]
)
def test_random_networks_match_the_reference(kind, seed):
    rng = np.random.default_rng(seed)
    net = _random_net(rng, kind)
    dur = 0.02
    times = np.sort(rng.uniform(0, 0.015, 12))
    idx = rng.integers(0, 3, 12)
    res = evsim.run(net, evsim.EventStream(times, idx), duration=dur)
    got = _spikes(res, net)
    want = simulate(net, (times, idx), dur, dt=1e-5)
    assert len(want) > 3, "the network should be active"
    assert [(p, j) for _, p, j in got] == [(p, j) for _, p, j in want]
    np.testing.assert_allclose([t for t, _, _ in got], [t for t, _, _ in want], rtol=0, atol=1e-9)


def _boundary_net(second_path_ms: tuple[float, float]) -> evsim.Network:
    """in -> n directly (1.0 ms, fires n) and in -> relay -> n (two delays); n is refractory for 2.0 ms."""
    ms = 1e-3
    n = exact.LIF(1, tau_m=10 * ms, v_th=1.0, refractory=2.0 * ms)
    relay = exact.LIF(1, tau_m=10 * ms, v_th=1.0)
    pops = (evsim.Population("in", 1), evsim.Population("relay", 1, relay), evsim.Population("n", 1, n))
    d1, d2 = second_path_ms
    projs = (
        evsim.Projection.from_synapses("direct", "in", "n", [0], [0], [2.0], [1.0 * ms], 1),
        evsim.Projection.from_synapses("to_relay", "in", "relay", [0], [0], [2.0], [d1 * ms], 1),
        evsim.Projection.from_synapses("from_relay", "relay", "n", [0], [0], [2.0], [d2 * ms], 1),
    )
    return evsim.Network(pops, projs, ("in",), ("n",), dt=1e-4)


@pytest.mark.parametrize("t0", [0.0, 0.37e-3, 2.1e-3, 1.234567e-3])
def test_input_at_the_end_of_the_refractory_period_counts(t0):
    # n fires at t0 + 1.0 ms; the relay path arrives at t0 + 1.3 ms + 1.7 ms = exactly the end of n's refractory
    # period (t0 + 1.0 ms + 2.0 ms). For t0 = 0.37 and 2.1 ms, plain float sums put the arrival an ulp early:
    if t0 in (0.37e-3, 2.1e-3):
        assert (t0 + 1.3e-3) + 1.7e-3 < (t0 + 1.0e-3) + 2.0e-3
    res = evsim.run(_boundary_net((1.3, 1.7)), evsim.EventStream([t0], [0]), duration=0.01)
    np.testing.assert_allclose(res.spikes["n"].times, [t0 + 1e-3, t0 + 3e-3], rtol=0, atol=1e-15)
    # just before the end of the period the same input is discarded (the test can fail)
    res = evsim.run(_boundary_net((1.3, 1.6999)), evsim.EventStream([t0], [0]), duration=0.01)
    np.testing.assert_allclose(res.spikes["n"].times, [t0 + 1e-3], rtol=0, atol=1e-15)


def test_zero_delay_cycle_is_refused_and_positive_delays_are_not():
    nrn = lambda: exact.LIF(2, tau_m=0.01)  # noqa: E731
    pops = (evsim.Population("in", 1), evsim.Population("a", 2, nrn()), evsim.Population("b", 2, nrn()))

    def net(d_back: float) -> evsim.Network:
        return evsim.Network(
            pops,
            (
                evsim.Projection.from_dense("in->a", "in", "a", np.ones((2, 1)), 0.0),
                evsim.Projection.from_dense("a->b", "a", "b", np.eye(2), 0.0),
                evsim.Projection.from_dense("b->a", "b", "a", np.eye(2), d_back),
            ),
            ("in",),
            ("b",),
        )

    with pytest.raises(evsim.EvsimError, match="zero-delay cycle"):
        net(0.0)
    net(1e-7)  # any positive delay closes the loop
    with pytest.raises(evsim.EvsimError, match="connects 'a' to itself with zero delay"):
        evsim.Network(pops[:2], (evsim.Projection.from_dense("a->a", "a", "a", np.eye(2), 0.0),), ("in",), ("a",))


def test_on_the_grid_delta_lif_gives_the_discrete_spikes():
    # The two modes agree when their semantics coincide: delta synapses, every input time and delay on the grid
    # of h, no bias (no crossing between inputs), threshold v >= theta, reset to v_reset. Discrete LIF
    # v_t = beta v_{t-1} + x_t is the exact solution sampled at the steps, with beta = exp(-h / tau). The
    # refractory periods differ by one step in their definitions: discrete `refractory = k` discards steps t+1..t+k
    # after a spike at t, exact [t, t + r) discards the same steps when r = (k + 1) h.
    rng = np.random.default_rng(7)
    h, n_in, n1, n2, T = 1e-4, 5, 6, 4, 300
    tau = rng.uniform(2e-3, 2e-2, n1 + n2)
    k_ref = rng.integers(0, 4, n1 + n2)
    w1, w2, wr = rng.normal(0.4, 0.5, (n1, n_in)), rng.normal(0.4, 0.6, (n2, n1)), rng.normal(0, 0.4, (n1, n2))
    d1, d2, dr = rng.integers(0, 8, (n1, n_in)), rng.integers(1, 8, (n2, n1)), rng.integers(1, 8, (n1, n2))

    def build(exact_mode: bool) -> evsim.Network:
        def mk(sl: slice) -> object:
            if exact_mode:
                return exact.LIF(
                    sl.stop - sl.start, tau_m=tau[sl], v_th=1.0, v_reset=0.0, refractory=(k_ref[sl] + 1) * h
                )
            return evsim.LIF(
                sl.stop - sl.start, np.exp(-h / tau[sl]), 1.0, reset="zero", threshold_op=">=", refractory=k_ref[sl]
            )

        s = h if exact_mode else 1
        pops = (
            evsim.Population("in", n_in),
            evsim.Population("a", n1, mk(slice(0, n1))),
            evsim.Population("b", n2, mk(slice(n1, n1 + n2))),
        )
        projs = (
            evsim.Projection.from_dense("in->a", "in", "a", w1, d1 * s if exact_mode else d1),
            evsim.Projection.from_dense("a->b", "a", "b", w2, d2 * s if exact_mode else d2),
            evsim.Projection.from_dense("b->a", "b", "a", wr, dr * s if exact_mode else dr),
        )
        return evsim.Network(pops, projs, ("in",), ("b",), dt=h)

    steps = np.sort(rng.integers(0, T - 10, 120))
    idx = rng.integers(0, n_in, 120)
    disc = evsim.run(build(False), evsim.EventStream(steps, idx), steps=T)
    exa = evsim.run(build(True), evsim.EventStream(steps * h, idx), duration=T * h)
    for name in ("a", "b"):
        d, e = disc.spikes[name], exa.spikes[name]
        assert len(d) > 10
        np.testing.assert_array_equal(np.lexsort((d.indices, d.times)), np.arange(len(d)))
        o = np.lexsort((e.indices, e.times))
        np.testing.assert_array_equal(e.indices[o], d.indices)
        np.testing.assert_allclose(e.times[o], d.times * h, rtol=0, atol=1e-12)


def test_nir_graph_in_exact_mode_follows_nir_equations(tmp_path):
    # Input -> Linear -> Delay (off the grid) -> LIF / CubaLIF: one spike of weight w is a Dirac pulse of area w in
    # NIR's I, so after it the LIF membrane is r w / tau exp(-t / tau) and the CubaLIF one the exponential PSP
    # r w_in w / (tau_syn tau) (exp(-t / tau_syn) - exp(-t / tau)) / (1 / tau - 1 / tau_syn) (thresholds far away).
    nir = pytest.importorskip("nir")
    w, d, tau, ts, r, w_in = 0.3, 0.37e-3, 5e-3, 2e-3, 2.0, 1.5
    g = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type=np.array([1])),
            "lin": nir.Linear(weight=np.array([[w], [w]])),
            "delay": nir.Delay(delay=np.array([d, d])),
            "lif": nir.LIF(tau=np.full(2, tau), r=np.full(2, r), v_leak=np.zeros(2), v_threshold=np.full(2, 1e9)),
            "cuba": nir.CubaLIF(
                tau_mem=np.full(2, tau),
                tau_syn=np.full(2, ts),
                r=np.full(2, r),
                v_leak=np.zeros(2),
                v_threshold=np.full(2, 1e9),
                w_in=np.full(2, w_in),
            ),  # fmt: skip
            "out": nir.Output(output_type=np.array([2])),
            "out2": nir.Output(output_type=np.array([2])),
        },
        edges=[("in", "lin"), ("lin", "delay"), ("delay", "lif"), ("delay", "cuba"), ("lif", "out"), ("cuba", "out2")],
    )
    path = tmp_path / "g.nir"
    nir.write(path, g)
    net = evsim.load(path, mode="exact")
    assert net.exact and net.projections[0].delays[0] == d
    t_in, dur = 0.11e-3, 4e-3
    res = evsim.run(net, evsim.EventStream([t_in], [0]), duration=dur)
    t = dur - t_in - d
    np.testing.assert_allclose(res.final_state["lif"][1], r * w / tau * np.exp(-t / tau), rtol=1e-12)
    psp = r * w_in * w / (ts * tau) * (np.exp(-t / ts) - np.exp(-t / tau)) / (1 / tau - 1 / ts)
    np.testing.assert_allclose(res.final_state["cuba"][1], psp, rtol=1e-12)
    with pytest.raises(evsim.EvsimError, match="dialect"):
        evsim.load(path, mode="exact", dialect="snntorch")


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.sampled_from([0.0, 0.25, 0.5, 0.75]), st.integers(0, 3)),
        min_size=1,
        max_size=60,
    ),
    st.lists(st.tuples(st.sampled_from([0.0, 0.5, 0.9]), st.integers(0, 3)), max_size=10),
)
def test_queue_pops_events_in_time_then_target_then_insertion_order(events, same_step):
    # The calendar (ring of D = 16 steps, far heap beyond it) and the step's sorted array merged with the bucket
    # heap (events made while a step is processed, due in that step): each pop is the least pending event by
    # (step, off, target, seq), however they were scheduled (offsets in units of h = 1, many ties).
    from evsim.engine import queue as qu

    cap = 256
    qi, qf = np.zeros((cap, 5), np.int64), np.zeros((cap, 2))
    free = np.arange(cap - 1, -1, -1).astype(np.int64)
    head = np.zeros((16, 2), np.int64)
    head[:, 0] = -1
    hev, hoff, htie = np.empty(cap, np.int64), np.empty(cap), np.empty(cap, np.int64)
    fheap = np.empty(cap, np.int64)
    cnt = np.zeros(8, np.int64)
    cnt[qu.NFREE] = cap
    pending = set()
    for step, off, tgt in events:
        seq = qu.schedule(qi, qf, free, head, hev, hoff, htie, fheap, cnt, 0, step, off, tgt, 1.0, qu.ARRIVE)
        pending.add((step, off, tgt, seq))
    n_popped = 0
    buf = (np.empty(4, np.int64), np.empty(4), np.empty(4, np.int64), np.empty(4), np.empty(4, np.int64))
    extra = list(same_step)
    for cur in range(41):
        k, buf = qu.open_step(qi, qf, head, fheap, cnt, cur, buf)
        pb = 0
        while pb < k or cnt[qu.BSIZE] > 0:
            if pb < k and (cnt[qu.BSIZE] == 0 or (buf[1][pb], buf[2][pb]) < (hoff[0], htie[0])):
                e = buf[0][pb]
                pb += 1
            else:
                e = hev[0]
                cnt[qu.BSIZE] = qu.bucket_pop(hev, hoff, htie, cnt[qu.BSIZE])
            popped = (int(qi[e, 0]), float(qf[e, 0]), int(qi[e, 1]), int(qi[e, 2]))
            assert popped == min(pending)
            pending.remove(popped)
            n_popped += 1
            if extra and extra[0][0] >= qf[e, 0]:  # an event made now for later in this step
                off, tgt = extra.pop(0)
                seq = qu.schedule(qi, qf, free, head, hev, hoff, htie, fheap, cnt, cur, cur, off, tgt, 1.0, qu.ARRIVE)
                pending.add((cur, off, tgt, seq))
    assert not pending and n_popped == len(events) + len(same_step) - len(extra)


def test_exact_run_refuses_what_it_does_not_support():
    net = _boundary_net((1.3, 1.7))
    ev = evsim.EventStream([0.0], [0])
    with pytest.raises(evsim.InputError, match="duration"):
        evsim.run(net, ev)
    with pytest.raises(evsim.InputError, match="not before duration"):
        evsim.run(net, evsim.EventStream([0.02], [0]), duration=0.01)
    with pytest.raises(evsim.InputError, match="steps"):
        evsim.run(net, ev, duration=0.01, steps=10)


@pytest.mark.parametrize(
    "ev, match",
    [
        (([0.001, np.nan], [0, 0]), "finite seconds >= 0"),
        (([0.001, -1e-9], [0, 0]), "finite seconds >= 0"),
        (([np.inf], [0]), "finite seconds >= 0"),
        (([0.001, 0.5], [0, 0]), "event at 0.5 s is not before duration"),
        (([0.001, 0.002], [0, 1]), r"indices must be integers in \[0, 1\)"),
        ((np.array([0.001]), np.array([2**64 - 1], np.uint64)), r"indices must be integers in \[0, 1\)"),
        ((np.array([0.001]), np.array([-1], np.int8)), r"indices must be integers in \[0, 1\)"),
        (([0.001], [0.0]), r"indices must be integers in \[0, 1\)"),
        (([0.001, 0.002], [0, 0], [1.0, np.nan]), "NaN or Inf"),
    ],
)
def test_exact_run_refuses_bad_events_one_line_each(ev, match):
    with pytest.raises(evsim.InputError, match=match):
        evsim.run(_boundary_net((1.3, 1.7)), ev, duration=0.01)


def test_exact_inputs_sorted_stably_or_passed_through():
    """Unsorted events come out as NumPy's stable argsort orders them (ties keep their order); sorted ones of one
    port are passed through without a copy (the indices as int64)."""
    from evsim.exact.inputs import normalise_exact

    net = _boundary_net((1.3, 1.7))
    t = np.array([3e-3, 1e-3, 3e-3, 2e-3, 1e-3])
    v = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    ((gt, gn, gv),), _, _ = normalise_exact(net, (t, np.zeros(5, np.int32), v), None, 0.01)
    o = np.argsort(t, kind="stable")
    assert np.array_equal(gt, t[o]) and np.array_equal(gv, v[o]) and gn.dtype == np.int64
    ts = np.sort(t)
    ((gt, gn, gv),), _, _ = normalise_exact(net, (ts, np.zeros(5, np.int64), v), None, 0.01)
    assert gt is ts and gn.dtype == np.int64 and np.array_equal(gv, v)


@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.int32, np.uint32, np.int64, np.uint64])
def test_exact_input_indices_of_any_integer_type_give_one_answer(dtype):
    """Indices are read as int64 in the same pass that checks them (no separate cast), whatever their type; an int64
    array is passed through as it is, read-only too; a value out of range is refused in every type."""
    from evsim.exact.inputs import normalise_exact

    ms = 1e-3
    pops = (evsim.Population("in", 5), evsim.Population("n", 5, exact.LIF(5, tau_m=10 * ms, v_th=1.5)))
    proj = evsim.Projection.from_synapses("p", "in", "n", np.arange(5), np.arange(5), 1.0, 1 * ms, 5)
    net = evsim.Network(pops, (proj,), ("in",), ("n",), dt=1e-4)
    t = np.sort(np.random.default_rng(3).uniform(0, 0.02, 200))
    idx = np.random.default_rng(4).integers(0, 5, 200)
    ref = evsim.run(net, evsim.EventStream(t, idx), duration=0.03)
    typed = idx.astype(dtype)
    typed.flags.writeable = False
    ((gt, gn, _),), _, _ = normalise_exact(net, (t, typed), None, 0.03)
    assert gn.dtype == np.int64 and np.array_equal(gn, idx) and (gn is typed) == (dtype == np.int64)
    res = evsim.run(net, evsim.EventStream(t, typed), duration=0.03)
    assert np.array_equal(res.spikes["n"].times, ref.spikes["n"].times)
    assert np.array_equal(res.spikes["n"].indices, ref.spikes["n"].indices) and len(ref.spikes["n"].times) > 10
    bad = typed.copy()
    bad[7] = 5
    with pytest.raises(evsim.InputError, match=r"input 'in': event indices must be integers in \[0, 5\)"):
        evsim.run(net, (t, bad), duration=0.03)
