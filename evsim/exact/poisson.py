"""Poisson sources of an exact-time network: spike times of a homogeneous Poisson process, drawn before the run.

A population made with ``poisson_rate`` (`evsim.exact.poisson_source`) takes no input: in an exact-time network its
rate is in **Hz** (spikes per second per neuron, NEST's ``poisson_generator``; in discrete mode it is a mean count
per step). Each of its neurons fires over ``[0, duration)`` at the times of an independent Poisson process of that
rate: intervals between spikes are exponential with mean ``1 / rate`` (so the count in a window of length ``T`` is
Poisson with mean ``rate T`` and the intervals have CV 1). The times are drawn in NumPy as the process's conditional
form, identical in law to summing exponential intervals and vectorised: the neuron's count ``N ~ Poisson(rate T)``,
then ``N`` times uniform on ``[0, T)``, sorted (given the count, a Poisson process's arrival times are uniform order
statistics). They reach the engine as ordinary input events of that population (value 1), float64 seconds, never
rounded to a grid.

Seeding: sample ``b`` of `evsim.run(..., seed=s)` draws from ``numpy.random.default_rng(s + b)``, the populations
in network order, so a run is reproducible and the samples of a batch are independent (as in discrete mode). The
events' memory (24 bytes each) is checked against `evsim.limits.memory` from the drawn counts, before the times are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import limits
from ..errors import NetworkError

if TYPE_CHECKING:
    from ..network import Network, Population

BYTES_PER_EVENT = 24  # time (float64), neuron (int64), value (float64)


def poisson_source(name: str, n: int, rate: float) -> Population:
    """An input population of ``n`` independent Poisson neurons firing at ``rate`` Hz each, for an exact-time
    network (it takes no input in `evsim.run`; do not list it in ``Network.inputs``). Porting NEST: one
    ``poisson_generator`` sends each of its targets a train of its own, so give it one source neuron per target,
    connected one to one (a source neuron with several synapses sends them all the same spikes)."""
    from ..network import Population

    r = float(rate)
    if not (np.isfinite(r) and r >= 0):
        raise NetworkError(f"population {name!r}: a Poisson rate must be a finite number of Hz >= 0, got {rate!r}")
    return Population(name, int(n), poisson_rate=r)


def poisson_times(rate: float, n: int, duration: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Spike times (float64 seconds in ``[0, duration)``, sorted by time) and neuron indices of ``n`` independent
    Poisson processes of ``rate`` Hz."""

    def check(total: float) -> None:
        limits.check_memory(
            f"the Poisson input ({total:.4g} events: {n} neurons x {rate:g} Hz x {duration:g} s)",
            total * BYTES_PER_EVENT * 2,  # (the events, and their copy when merged with the given input)
            "shorten the run or lower the rate",
        )

    check(n * rate * duration)  # the mean, before drawing (NumPy refuses means beyond ~1e19)
    counts = rng.poisson(rate * duration, size=n)
    total = int(counts.sum())
    check(float(total))
    t = np.minimum(rng.random(total) * duration, np.nextafter(duration, 0.0))  # [0, duration), rounding included
    idx = np.repeat(np.arange(n, dtype=np.int64), counts)
    order = np.argsort(t, kind="stable")
    return t[order], idx[order]


def poisson_events(net: Network, duration: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The events of every Poisson population of ``net`` for one sample drawn with ``seed``: ``(times_s, global
    neuron, value)``, sorted by time."""
    from ..inputs import population_offsets

    offsets = population_offsets(net)
    rng = np.random.default_rng(seed)
    ts, ns = [np.zeros(0)], [np.zeros(0, dtype=np.int64)]
    for p in net.populations:
        if p.poisson_rate is None or p.poisson_rate == 0:
            continue
        t, i = poisson_times(float(p.poisson_rate), p.size, duration, rng)
        ts.append(t)
        ns.append(i + offsets[p.name])
    t, n = np.concatenate(ts), np.concatenate(ns)
    order = np.argsort(t, kind="stable")
    return t[order], n[order], np.ones(t.shape[0])


def has_poisson(net: Network) -> bool:
    return any(p.poisson_rate for p in net.populations)
