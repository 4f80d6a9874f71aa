"""The benchmark workloads of shared/bench/SPEC.md as plain NumPy arrays, made with fixed seeds.

Every simulator (evsim and the peers) builds the same connectivity, weights, delays, initial voltages and input
spikes from these arrays; only brunel's external Poisson drive is drawn by each simulator.

A workload is a dict:
  name, dt_ms, T_steps, sim_time_ms
  populations: {name: size}, in the order spikes flow (for feedforward "in" is the input population)
  projections: [{name, source, target, pre, post, weight, delay_steps}]  (indices local to source/target)
  neuron: {tau_m, v_th, v_reset, t_ref_steps, e_l}   (mV and ms; feedforward is unitless with V_th = 1)
  feedforward, conv: input_steps, input_index (one spike of input `index` in step `step`, sorted by step)
  brunel: v0 (initial voltage per neuron), NE, CE, CI, J, g, eta, ext_rate_hz

Time convention ("canonical steps"): the step of every spike is an integer 0..T_steps-1. A spike in step t sent
with delay D steps is added in step t + D. Per step: decay V, add the input that arrives in this step, test the
threshold, reset (NEST's order). `dense_reference` implements exactly this for feedforward.

`save_npz` / `load_npz` carry a workload between Python environments (the peers run in their own venvs).
`synaptic_events` gives n_synaptic_events from per-population spike counts: sum over spikes of the sender's
out-degree (input spikes count: they are delivered through the first layer's synapses; brunel's external drive
does not).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

FF_SIZES = (700, 256, 256, 20)
FF_NAMES = ("in", "h1", "h2", "out")
FF_SCALE = (0.6, 2.0, 2.0)
FF_BIAS = (0.012, 0.0, 0.0)
FF_MAX_D = 25  # trained delay index d ~ U{0..25}; used delay = d + 1 steps


def feedforward(n_samples: int = 10, seed: int = 0) -> dict:
    """700 -> 256 -> 256 -> 20 dense, dt = 1 ms, T = n_samples * 1000 steps of Bernoulli(0.01) input.

    Weights and delays come from `default_rng([seed, 0])`; the input of sample k from `default_rng([seed, 1, k])`,
    so a run with fewer samples sees a prefix of the same input.
    """
    rng = np.random.default_rng([seed, 0])
    projections = []
    for layer in range(3):
        n_pre, n_post = FF_SIZES[layer], FF_SIZES[layer + 1]
        w = rng.standard_normal((n_pre, n_post)) / np.sqrt(n_pre) * FF_SCALE[layer] + FF_BIAS[layer]
        d = rng.integers(0, FF_MAX_D + 1, size=(n_pre, n_post))
        pre, post = np.meshgrid(np.arange(n_pre), np.arange(n_post), indexing="ij")
        src, tgt = FF_NAMES[layer], FF_NAMES[layer + 1]
        projections.append(_projection(f"{src}->{tgt}", src, tgt, pre.ravel(), post.ravel(), w.ravel(), d.ravel() + 1))
    samples = [
        np.nonzero(np.random.default_rng([seed, 1, k]).random((1000, FF_SIZES[0])) < 0.01) for k in range(n_samples)
    ]
    return _input_driven("feedforward", seed, dict(zip(FF_NAMES, FF_SIZES)), projections, 20.0, samples, 1000)


def _projection(name: str, source: str, target: str, pre: Any, post: Any, weight: Any, delay_steps: Any) -> dict:
    """One projection of a workload: synapse ``k`` from ``pre[k]`` to ``post[k]`` (int32), ``weight`` (float64),
    ``delay_steps`` (int32)."""
    i32 = np.int32
    return dict(name=name, source=source, target=target, pre=np.asarray(pre, i32), post=np.asarray(post, i32),
                weight=np.asarray(weight, np.float64), delay_steps=np.asarray(delay_steps, i32))  # fmt: skip


def _input_driven(
    name: str, seed: int, populations: dict, projections: list, tau_m: float, samples: list, steps: int
) -> dict:
    """A workload driven by input spikes (feedforward, conv): dt = 1 ms, threshold 1, reset to 0, no refractory
    period; ``samples``: each sample's ``(steps, indices)`` of input spikes, sorted by step, played back to back,
    ``steps`` steps each."""
    T = steps * len(samples)
    return dict(
        name=name,
        dt_ms=1.0,
        T_steps=T,
        sim_time_ms=float(T),
        seed=seed,
        populations=populations,
        projections=projections,
        neuron=dict(tau_m=tau_m, v_th=1.0, v_reset=0.0, t_ref_steps=0, e_l=0.0),
        input_steps=np.concatenate([t + steps * k for k, (t, _) in enumerate(samples)]).astype(np.int64),
        input_index=np.concatenate([i for _, i in samples]).astype(np.int32),
    )


def brunel(N: int = 2000, K: int = 200, seed: int = 0, T_ms: float = 1000.0) -> dict:
    """Brunel (2000) with delta synapses: 80/20 E/I, fixed in-degree K with replacement, delays U{5..50} x 0.1 ms."""
    rng = np.random.default_rng([seed, 2])
    NE = int(0.8 * N)
    CE, CI = int(0.8 * K), K - int(0.8 * K)
    J, g, eta, tau_m, theta = 0.1, 5.0, 2.0, 20.0, 20.0
    post = np.repeat(np.arange(N, dtype=np.int32), K)
    pre = np.empty((N, K), dtype=np.int32)
    pre[:, :CE] = rng.integers(0, NE, size=(N, CE))
    pre[:, CE:] = rng.integers(NE, N, size=(N, CI))
    pre = pre.ravel()
    weight = np.where(pre < NE, J, -g * J)
    delay = rng.integers(5, 51, size=N * K).astype(np.int32)
    v0 = rng.uniform(0.0, theta, size=N)
    nu_thr = theta / (J * CE * tau_m)  # per ms
    dt = 0.1
    return dict(
        name=f"brunel-{N}-{K}",
        dt_ms=dt,
        T_steps=int(round(T_ms / dt)),
        sim_time_ms=float(T_ms),
        seed=seed,
        populations=dict(E=NE, I=N - NE),
        projections=[_projection("all->all", "all", "all", pre, post, weight, delay)],
        neuron=dict(tau_m=tau_m, v_th=theta, v_reset=10.0, t_ref_steps=20, e_l=0.0),
        v0=v0,
        N=N,
        K=K,
        NE=NE,
        CE=CE,
        CI=CI,
        J=J,
        g=g,
        eta=eta,
        ext_rate_hz=CE * eta * nu_thr * 1000.0,
    )


CONV_TAU_M = 1e9  # ms: the CNN's neurons integrate without leak (IAF); every simulator uses this tau_m


def _ring_saccades(rng: np.random.Generator, steps: int = 300) -> Any:
    """ON (channel 0) and OFF (channel 1) events of a ring moving in three saccades over a 34x34 sensor (the input
    of the conv workload since it was written; examples/run_nmnist_cnn.py now records digits instead)."""
    import evsim

    yy, xx = np.mgrid[:34, :34]
    times, idx = [], []
    for t in range(steps):
        phase = 3 * t / steps
        cy = 17 + 3 * np.sin(2 * np.pi * phase)
        cx = 17 + 3 * np.cos(2 * np.pi * phase * (1 + (t // 100) % 2))
        r = np.hypot(yy - cy, xx - cx)
        edge = np.abs(r - 8) < 1.5
        on = edge & (rng.random((34, 34)) < 0.15)
        off = edge & (rng.random((34, 34)) < 0.10)
        for c, m in ((0, on), (1, off)):
            y, x = np.nonzero(m)
            times.append(np.full(y.size, t))
            idx.append((c * 34 + y) * 34 + x)
    return evsim.EventStream(np.concatenate(times), np.concatenate(idx))


def conv(n_samples: int = 20, seed: int = 0) -> dict:
    """The NIR paper's N-MNIST CNN (shared/models, bundled as examples/data/cnn_sinabs.nir) as explicit synapses,
    for every simulator: the convolutions expanded (pooling folded into the weights, as Sinabs computes it),
    layers of non-leaky integrate-and-fire neurons (tau_m = 1e9 ms), one spike per step at most, V_th = 1, reset
    to 0, every delay 1 step (NEST's minimum); input: a synthetic ring seen through three saccades
    (`_ring_saccades`, the conv example's first input, kept so that the figures stay comparable), 300 steps per
    sample, samples back to back. Sinabs' own model fires several spikes per step and subtracts the
    threshold: no peer has that neuron, so this is the same network with the neuron every peer has (evsim's
    multi-spike figure is benchmarks/conv.py)."""
    from pathlib import Path

    import evsim

    root = Path(__file__).resolve().parents[1]
    net = evsim.load(root / "examples" / "data" / "cnn_sinabs.nir", dialect="sinabs", implicit=False)
    names = ["in" if p.is_input else p.name for p in (net.population(n) for n in net.order)]
    rename = {net.order[0]: "in"}
    projections = []
    for q in net.projections:
        pre = np.repeat(np.arange(q.indptr.size - 1), np.diff(q.indptr)).astype(np.int32)
        source = rename.get(q.source, q.source)
        projections.append(_projection(q.name, source, q.target, pre, q.targets, q.weights, np.ones(pre.size)))
    samples = []
    rng = np.random.default_rng([seed, 3])
    for _ in range(n_samples):
        ev = _ring_saccades(rng)
        order = np.argsort(ev.times, kind="stable")
        samples.append((np.asarray(ev.times)[order], np.asarray(ev.indices)[order]))
    pops = {n: net.population(o).size for n, o in zip(names, net.order)}
    return _input_driven("conv", seed, pops, projections, CONV_TAU_M, samples, 300)


def build(workload: str, samples: int = 10, seed: int = 0) -> dict:
    """Builder by harness name: feedforward, conv, brunel-small, brunel-large (``samples``: feedforward's
    one-second samples, or twice as many 300-step conv samples)."""
    if workload == "feedforward":
        return feedforward(samples, seed)
    if workload == "conv":
        return conv(2 * samples, seed)
    if workload == "brunel-small":
        return brunel(2000, 200, seed)
    if workload == "brunel-large":
        return brunel(10000, 1000, seed)
    if workload.endswith("-precise"):
        return precise(build(workload[: -len("-precise")], samples, seed), seed)
    raise ValueError(f"unknown workload {workload!r}")


PRECISE_T_MS = 200.0  # brunel's precise variant runs 0.2 s (SPEC: NEST's *_ps models are about 5x slower)


def precise(wl: dict, seed: int = 0) -> dict:
    """The continuous-time variant of a workload (evsim's exact mode against NEST's ``*_ps`` models).

    brunel: the same network, ``iaf_psc_delta_ps`` and an off-grid Poisson drive (``poisson_generator_ps``; evsim
    draws its own off-grid trains), T = 0.2 s. feedforward: the input spike of step s moves to the off-grid time
    ``(s + u) dt`` with u ~ U(0, 1) from ``default_rng([seed, 4])``; delays stay on the grid; NEST's ``_ps``
    neurons need a refractory period of at least one step, so every simulator uses t_ref = 0.1 ms (NEST at
    resolution 0.1 ms).
    """
    wl = dict(wl, name=wl["name"] + "-precise", precise=True)
    if "input_steps" in wl:
        u = np.random.default_rng([seed, 4]).random(wl["input_steps"].size)
        wl["input_times_ms"] = (wl["input_steps"] + u) * wl["dt_ms"]
        wl["neuron"] = dict(wl["neuron"], t_ref_ms=0.1)
    else:
        wl["T_steps"] = int(round(PRECISE_T_MS / wl["dt_ms"]))
        wl["sim_time_ms"] = PRECISE_T_MS
    return wl


def n_synapses(wl: dict) -> int:
    return int(sum(len(p["pre"]) for p in wl["projections"]))


def synaptic_events(wl: dict, counts: dict) -> int:
    """Sum over spikes of the sender's out-degree.

    feedforward: counts = {population: total spikes}; conv: counts = {population: spikes per neuron [n]};
    brunel: counts = {"per_neuron": array [N]}.
    """
    if wl["name"].startswith("feedforward"):
        return int(sum(counts[FF_NAMES[layer]] * FF_SIZES[layer + 1] for layer in range(3)))
    if wl["name"] == "conv":
        total = 0
        for p in wl["projections"]:
            outdeg = np.bincount(p["pre"], minlength=wl["populations"][p["source"]])
            total += int(np.dot(np.asarray(counts[p["source"]], dtype=np.int64), outdeg))
        return total
    outdeg = np.bincount(wl["projections"][0]["pre"], minlength=wl["N"])
    return int(np.dot(np.asarray(counts["per_neuron"], dtype=np.int64), outdeg))


def save_npz(wl: dict, path: str) -> None:
    arrays, meta = {}, {}
    for k, v in wl.items():
        if k == "projections":
            meta[k] = []
            for i, p in enumerate(v):
                meta[k].append({kk: vv for kk, vv in p.items() if not isinstance(vv, np.ndarray)})
                arrays.update({f"proj{i}_{kk}": vv for kk, vv in p.items() if isinstance(vv, np.ndarray)})
        elif isinstance(v, np.ndarray):
            arrays[k] = v
        else:
            meta[k] = v
    np.savez(path, _meta=np.array(json.dumps(meta)), **arrays)


def load_npz(path: str) -> dict:
    with np.load(path) as z:
        wl = json.loads(str(z["_meta"]))
        for i, p in enumerate(wl.get("projections", [])):
            for k in ("pre", "post", "weight", "delay_steps"):
                p[k] = z[f"proj{i}_{k}"]
        for k in z.files:
            if k != "_meta" and not k.startswith("proj"):
                wl[k] = z[k]
    return wl


def dense_reference(wl: dict) -> dict:
    """Discrete-time NumPy reference of feedforward: v = v*exp(-dt/tau) + arriving input; spike if v > 1; v = 0.

    Returns {population: spike count} over steps 0..T-1 (input included).
    """
    T, n = wl["T_steps"], list(wl["populations"].values())
    decay = np.exp(-wl["dt_ms"] / wl["neuron"]["tau_m"])
    W = [p["weight"].reshape(n[layer], n[layer + 1]) for layer, p in enumerate(wl["projections"])]
    D = [p["delay_steps"].reshape(n[layer], n[layer + 1]) for layer, p in enumerate(wl["projections"])]
    R = max(int(d.max()) for d in D) + 1  # ring of future input slots
    buf = [np.zeros((R, m)) for m in n[1:]]
    v = [np.zeros(m) for m in n[1:]]
    counts = np.zeros(4, dtype=np.int64)
    bounds = np.searchsorted(wl["input_steps"], np.arange(T + 1))
    for t in range(T):
        spk = wl["input_index"][bounds[t] : bounds[t + 1]]
        counts[0] += spk.size
        for layer in range(3):
            if spk.size:  # deliver the spikes of layer layer (sent in step t) into layer layer+1's future slots
                np.add.at(buf[layer], ((t + D[layer][spk]) % R, np.arange(n[layer + 1])), W[layer][spk])
            slot = t % R  # layer layer+1 updates in step t (delays >= 1, so nothing just written lands here)
            v[layer] = v[layer] * decay + buf[layer][slot]
            buf[layer][slot] = 0.0
            fired = v[layer] > wl["neuron"]["v_th"]
            v[layer][fired] = wl["neuron"]["v_reset"]
            spk = np.nonzero(fired)[0]
            counts[layer + 1] += spk.size
    return dict(zip(wl["populations"], counts.tolist()))


if __name__ == "__main__":
    import sys
    import time

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    t0 = time.perf_counter()
    wl = feedforward(n)
    c = dense_reference(wl)
    print(
        json.dumps(
            dict(
                workload="feedforward",
                samples=n,
                counts=c,
                rates_per_bin={k: c[k] / (wl["T_steps"] * wl["populations"][k]) for k in c},
                seconds=round(time.perf_counter() - t0, 2),
            )
        )
    )
