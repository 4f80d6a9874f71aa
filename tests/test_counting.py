"""The compiled projection counters (`evsim.counting`) against the straightforward NumPy formulas, on random spikes.

The reference below is `evsim.accounting`'s NumPy implementation as it was before the counters were compiled
(commit eae06eb): bincounts over the events, ``np.unique`` for NeuroBench's per-step layer inputs. The kernel must
give the same integers and the same floats bit for bit (sums in the same order; real-valued sums of no events are
now float zeros, where ``np.bincount`` gave int64), for events in (sample, step)
order and shuffled, binary and real values, explicit projections with and without delays and convolutions with
pooling and a delay.
"""

import numpy as np
import pytest

import evsim
from evsim.accounting import _layer, _projection_counts
from evsim.conv import ConvSpec
from evsim.network import ConvProjection
from evsim.simulation import Spikes


# ------------------------------------------------------------------------------------------------ the reference
def ref_delivered(layer, src, t, T, delay):
    if layer.delay_key is not None:
        D = layer.max_delay
        lim = np.minimum(T - t, D + 1)
        hi = np.searchsorted(layer.delay_key, src * (D + 2) + lim, side="left")
        return hi - layer.delay_row0[src]
    entry = layer.in_index[src]
    fan = np.where(entry >= 0, layer.fan_nz[np.maximum(entry, 0)], 0)
    return np.where(t + delay < T, fan, 0)


def ref_projection(layer, sp, B, T, delay, n_src, real_fed):
    vals = np.asarray(sp.counts, dtype=np.float64)
    s, t, src = sp.samples, sp.times, sp.indices
    ops = ref_delivered(layer, src, t, T, delay).astype(np.int64)
    is_ac = np.abs(vals) == 1

    def per_sample(weights, sel=None):
        if sel is not None:
            weights = np.where(sel, weights, 0)
        return np.bincount(s, weights=weights, minlength=B).round().astype(np.int64)

    entry = layer.in_index[src]
    ok = entry >= 0
    n_in = layer.fan_nz.shape[0]
    key = (s[ok] * T + t[ok]) * n_in + entry[ok]
    uniq, inv = np.unique(key, return_inverse=True)
    summed = np.bincount(inv, weights=vals[ok], minlength=uniq.shape[0])
    live = summed != 0
    bt, k = uniq[live] // n_in, uniq[live] % n_in
    step_real = np.bincount(bt, weights=(np.abs(summed[live]) != 1), minlength=B * T) > 0
    nb_ops = layer.fan_nz[k]
    nb_mac = np.bincount(bt // T, weights=np.where(step_real[bt], nb_ops, 0), minlength=B)
    nb_all = np.bincount(bt // T, weights=nb_ops, minlength=B)
    total_in = np.bincount(s, weights=vals, minlength=B)
    return {
        "sops": per_sample(ops),
        "acs": per_sample(ops, is_ac),
        "macs": per_sample(ops, ~is_ac),
        "sops_per_step": np.bincount(s * T + t, weights=ops, minlength=B * T).reshape(B, T).round().astype(np.int64),
        "neurobench_acs": (nb_all - nb_mac).round().astype(np.int64),
        "neurobench_macs": nb_mac.round().astype(np.int64),
        "sinabs_synops": np.bincount(s[ok], weights=vals[ok] * layer.fan_all[entry[ok]], minlength=B),
        "spikformer_sops": np.zeros(B) if real_fed else total_in / n_src * layer.flops,
    }


# ------------------------------------------------------------------------------------------------ random cases
def random_spikes(rng, B, T, n, n_events, real, ordered):
    s = rng.integers(0, B, n_events)
    t = rng.integers(0, T, n_events)
    i = rng.integers(0, n, n_events)  # repeated (sample, step, neuron) entries included
    if real:
        v = rng.choice([1.0, -1.0, 0.0, 0.5, 2.0, 0.1, 0.2, 0.3, -0.7], n_events)
    else:
        v = np.ones(n_events)
    if ordered:
        o = np.lexsort((i, t, s))
        s, t, i, v = s[o], t[o], i[o], v[o]
    return Spikes(t.astype(np.int64), i.astype(np.int64), v, s.astype(np.int64))


def explicit(rng, n_src, n_tgt, max_delay):
    W = rng.normal(0, 1, (n_tgt, n_src)) * (rng.random((n_tgt, n_src)) < 0.6)
    D = rng.integers(0, max_delay + 1, (n_tgt, n_src))
    return evsim.Projection.from_dense("p", "a", "b", W, D)


def conv(rng, pool):
    w = rng.normal(0, 1, (4, 2, 3, 3)) * (rng.random((4, 2, 3, 3)) < 0.7)
    spec = ConvSpec((2, 9, 11), w, stride=(2, 1), pad=(1, 0), dilation=(1, 2), pool=pool)
    return ConvProjection("p", "a", "b", spec, 2)


def network(q, n_src, n_tgt):
    pops = (evsim.Population("a", n_src), evsim.Population("b", n_tgt, evsim.IF(n_tgt, 1.0)))
    return evsim.Network(pops, (q,), ("a",), ("b",))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("kind", ["explicit", "delays", "conv", "conv-pool"])
def test_kernels_equal_numpy_formulas(seed, kind):
    rng = np.random.default_rng(seed)
    if kind.startswith("conv"):
        q = conv(rng, 2 if kind == "conv-pool" else 1)
        n_src, n_tgt = q.spec.n_in, q.spec.n_out
    else:
        n_src, n_tgt = int(rng.integers(1, 30)), int(rng.integers(1, 20))
        q = explicit(rng, n_src, n_tgt, 5 if kind == "delays" else 0)
    net = network(q, n_src, n_tgt)
    layer = _layer(net, q)
    assert (layer.delay_key is not None) == (kind == "delays" and layer.max_delay > 0)
    B, T = int(rng.integers(1, 5)), int(rng.integers(1, 12))
    for real in (False, True):
        for ordered in (True, False):
            for n_events in (0, 1, int(rng.integers(2, 400))):
                sp = random_spikes(rng, B, T, n_src, n_events, real, ordered)
                delay = q.delay if isinstance(q, ConvProjection) else 0
                got = _projection_counts(q, layer, sp, B, T, n_src, real_fed=real)
                for field, want in ref_projection(layer, sp, B, T, delay, n_src, real).items():
                    a = getattr(got, field)
                    assert a.dtype == want.dtype or not want.any(), field  # (np.bincount of nothing: int64)
                    np.testing.assert_array_equal(a, want, err_msg=f"{field} ({kind}, real={real}, {ordered=})")
