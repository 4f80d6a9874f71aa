"""Run a chain of layers as padded-convolution frameworks do: each layer's sequence is longer than its input's.

SNN-delays' layers (a ``Dcls1d`` convolution padded with more zeros than the kernel consumes) output a sequence
``grow`` steps longer than their input; the next layer sees the padded zeros, not what the layer would do after its
own last step. A `Network` whose ``meta["layered"] = {"grow": [g_1, ..., g_L], "decoding": ...}`` is a chain
``input -> layer_1 -> ... -> layer_L`` (one projection each); `evsim.run` hands it to `run`, which simulates layer
``l`` alone for ``T_l = T_{l-1} + g_l`` steps (``T_0``: the input's length) on the spikes of layer ``l-1`` (all of
which lie before ``T_{l-1}``), then gathers one `LayeredResult` over ``T_L`` steps. Same engine, same kernels; the
result is exactly the framework's, to its last step, and the synaptic operations are those of the chain.

``meta["layered"]["filters"]`` (optional, one ``1/tau`` per hidden layer): SpikingJelly's SynapseFilter on that
layer's spikes (`synapse_filter`); its graded trace is the next layer's input.

`LayeredResult.predictions` decodes the output as the training did (SNN-delays' ``calc_metric``): ``sum`` = argmax
over classes of the time sum of the softmax of the membrane, ``mean`` / ``max`` of the membrane over time,
``spike_count`` = argmax of the output's spike counts.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from .errors import InputError, NetworkError
from .network import Network, Population
from .simulation import EventStream, Result, Spikes, _normalise, per_network

DECODINGS = ("sum", "mean", "max", "spike_count", "last")


@dataclasses.dataclass
class LayeredResult(Result):
    """A `Result` whose ``predictions()`` follows the model's decoding (``decoding``)."""

    decoding: str = "last"

    def predictions(self) -> np.ndarray | int:
        out = np.asarray(self.output, dtype=np.float64)
        if self.decoding == "sum":
            z = np.exp(out - out.max(axis=-1, keepdims=True))
            return np.argmax((z / z.sum(axis=-1, keepdims=True)).sum(axis=-2), axis=-1)
        if self.decoding == "mean":
            return np.argmax(out.mean(axis=-2), axis=-1)
        if self.decoding == "max":
            return np.argmax(out.max(axis=-2), axis=-1)
        return super().predictions()


def synapse_filter(e: EventStream, T: int, n: int, inv_tau: float) -> EventStream:
    """SpikingJelly's SynapseFilter of one layer's spikes, ``I_t = I_{t-1} - (1 - S_t) I_{t-1} / tau + S_t``, as
    graded events (every step where ``I != 0``) for the next layer."""
    s = np.zeros((T, n))
    np.add.at(s, (e.times, e.indices), 1.0)
    out = np.zeros((T, n))
    i = np.zeros(n)
    for t in range(T):
        i = i - (1.0 - s[t]) * i * inv_tau + s[t]
        out[t] = i
    tt, nn = np.nonzero(out)
    return EventStream(tt, nn, out[tt, nn])


def chain(net: Network) -> list[str]:
    """The populations ``input, layer_1, ..., layer_L`` of a layered network (raises if it is not a chain)."""
    names = [net.inputs[0]] if len(net.inputs) == 1 else []
    for q in net.projections:
        if not names or q.source != names[-1] or q.target == q.source:
            raise NetworkError("a layered network must be a chain input -> layer_1 -> ... (one projection each)")
        names.append(q.target)
    if len(names) != len(net.populations) or net.outputs != (names[-1],):
        raise NetworkError("a layered network must be a chain whose last layer is the only output")
    return names


def _layers(net: Network) -> list[Network]:
    """Each projection of the chain ``net`` as a network of its own (source as an input population, target), made
    once per network: `evsim.run` keeps the compiled form of a network it has seen (a new one each call compiled
    the layers again: ~2 ms per call of the 3-layer SNN-delays example, ~20% of one sample's run)."""

    def make(net: Network) -> list[Network]:
        subs = []
        for q in net.projections:
            src = net.population(q.source)
            sub = Network(
                (Population(q.source, src.size, shape=src.shape), net.population(q.target)),
                (q,),
                (q.source,),
                (q.target,),
                dt=net.dt,
            )
            subs.append(sub)
        return subs

    return per_network(_layer_cache, net, make)


_layer_cache: dict[int, tuple[Network, list[Network]]] = {}


def run(net: Network, x: Any, *, steps: int | None = None, threads: int = 1, **kw: Any) -> LayeredResult:
    """Run a layered network (see the module docstring); arguments as `evsim.run` (``progress``, the budgets
    ``max_events``/``max_spikes``/``max_seconds`` apply to each layer's run; every spike is recorded)."""
    from .simulation import run as run_net

    info: Mapping[str, Any] = net.meta["layered"]
    names = chain(net)
    grow = [int(g) for g in info["grow"]]
    if len(grow) != len(names) - 1:
        raise NetworkError(f"meta['layered']['grow'] has {len(grow)} entries for {len(names) - 1} layers")
    if kw.pop("initial", None):
        raise InputError("initial= is not available for a layered network (every layer starts at rest)")
    filters = [float(f) for f in info.get("filters", [])]
    layers = _layers(net)
    samples, T, batched = _normalise(net, x, steps)
    B = len(samples)
    off = sum(p.size for p in net.populations[: [p.name for p in net.populations].index(names[0])])
    stream = [EventStream(t, n - off, v) for t, n, v in samples]
    T_l = T
    spikes: dict[str, Spikes] = {}
    sops: dict[str, Any] = {}
    upd = np.zeros(B, dtype=np.int64)
    final: dict[str, Any] = {}
    res = None
    for k, q in enumerate(net.projections):
        T_l += grow[k]
        if T_l < 1:
            raise InputError(f"the input is too short: layer {q.target!r} would run {T_l} steps")
        res = run_net(layers[k], stream, steps=T_l, threads=threads, **kw)  # every spike kept: the next layer's input
        if k == 0:
            spikes[q.source] = res.spikes[q.source]
            final[q.source] = res.final_state[q.source]
        spikes[q.target] = res.spikes[q.target]
        sops[q.name] = res.sops_by_projection[q.name]
        upd += np.atleast_1d(res.neuron_updates)
        final[q.target] = res.final_state[q.target]
        s = res.spikes[q.target]
        cut = np.searchsorted(s.samples, np.arange(B + 1))  # (a population's spikes come sample by sample)
        stream = [
            EventStream(s.times[a:b], s.indices[a:b], s.counts[a:b].astype(float)) for a, b in zip(cut[:-1], cut[1:])
        ]
        if k < len(filters):
            stream = [synapse_filter(e, T_l, net.population(q.target).size, filters[k]) for e in stream]
    assert res is not None

    def pick(a: Any) -> Any:
        return a if batched else a[0]

    total = sum(np.asarray(v, dtype=np.int64) for v in sops.values())
    return LayeredResult(
        net=net,
        steps=T_l,
        batch=B if batched else None,
        output=pick(res.output),
        spikes=spikes,
        sops=total if batched else int(np.asarray(total).reshape(-1)[0]),
        sops_by_projection={k: v if batched else int(np.asarray(v).reshape(-1)[0]) for k, v in sops.items()},
        neuron_updates=upd if batched else int(upd[0]),
        final_state={k: (pick(i), pick(v)) for k, (i, v) in final.items()},
        decoding=str(info.get("decoding", "last")),
    )
