"""`Result` assembly groups the spike records by population: the compiled counting sort
(`evsim.engine.record.group_by_population`, used for big records) against NumPy's stable argsort."""

import numpy as np

import evsim
import evsim.simulation
from evsim.engine.record import group_by_population


def test_group_by_population_is_numpys_stable_sort():
    rng = np.random.default_rng(0)
    pop_off = np.array([0, 3, 3, 10, 1000, 1001], dtype=np.int64)  # (an empty population too)
    n = rng.integers(0, 1001, 5000)
    order, local, starts = group_by_population(n, pop_off)
    pop = np.searchsorted(pop_off, n, side="right") - 1
    want = np.argsort(pop, kind="stable")
    np.testing.assert_array_equal(order, want)
    np.testing.assert_array_equal(local, n[want] - pop_off[pop[want]])
    np.testing.assert_array_equal(starts, np.r_[0, np.cumsum(np.bincount(pop, minlength=5))])
    order, local, starts = group_by_population(np.zeros(0, np.int64), pop_off)
    assert order.size == local.size == 0 and not starts.any()


def test_run_result_same_with_the_kernel_and_numpy(monkeypatch):
    rng = np.random.default_rng(1)
    pops = (
        evsim.Population("in", 20),
        evsim.Population("a", 30, evsim.IF(30, 0.5)),
        evsim.Population("b", 7, evsim.IF(7, 1.0)),
    )
    projs = (
        evsim.Projection.from_dense("in->a", "in", "a", rng.normal(0.4, 0.3, (30, 20))),
        evsim.Projection.from_dense("a->b", "a", "b", rng.normal(0.3, 0.3, (7, 30))),
    )
    net = evsim.Network(pops, projs, ("in",), ("b",))
    x = (rng.random((3, 40, 20)) < 0.3).astype(float)
    for xs in (x, x[0]):  # several samples, and one
        monkeypatch.setattr(evsim.simulation, "GROUP_KERNEL_MIN", 1)
        r1 = evsim.run(net, xs)
        monkeypatch.setattr(evsim.simulation, "GROUP_KERNEL_MIN", 1 << 62)
        r2 = evsim.run(net, xs)
        assert len(r1.spikes["a"]) > 0 and len(r1.spikes["b"]) > 0
        for name in ("in", "a", "b"):
            for f in ("times", "indices", "counts", "samples"):
                np.testing.assert_array_equal(getattr(r1.spikes[name], f), getattr(r2.spikes[name], f))
