"""`evsim.run` for an exact-time network: inputs in seconds (with the continuous-time spikes of its Poisson sources,
`evsim.exact.poisson`), one sample after the other (or in threads), under the run control of discrete mode
(`evsim.control.execute`: Ctrl-C, budgets, record modes), the result gathered as there
(`evsim.simulation._gather`). The run's memory is estimated before anything is allocated (`check_exact_memory`)."""

from __future__ import annotations

import warnings
from typing import Any, Mapping

import numpy as np

from .. import limits
from ..errors import InputError
from ..network import Network

BYTES_PER_NEURON = 100  # the loop's per-neuron state: float and int records (80 B), population, flags
BYTES_PER_INPUT = 64  # an input event on the grid (step, offset, neuron, value), and its sorted copy


def run_exact_network(
    net: Network,
    x: Any,
    steps: Any,
    duration: Any,
    initial: Mapping[str, Any] | None,
    threads: int,
    progress: bool,
    record: Any,
    max_events: int | None = None,
    max_spikes: int | None = None,
    max_seconds: float | None = None,
    seed: int = 0,
):  # type: ignore[no-untyped-def]
    from ..control import default_max_spikes, record_modes, run_samples
    from ..engine.exact_compile import n_steps, run_sample_exact
    from ..simulation import _compiled, _gather, _initial
    from .inputs import normalise_exact
    from .poisson import has_poisson, poisson_events

    samples, _, batched = normalise_exact(net, x, steps, duration)  # (each sample's events sorted by time)
    rec_mode = record_modes(net, record)
    max_spikes = default_max_spikes() if max_spikes is None else int(max_spikes)
    if int(threads) != threads or threads < 1:
        raise InputError(f"threads must be a positive integer, got {threads!r}")
    dur = float(duration)
    _warn_unreachable(net, dur)
    check_exact_memory(net, samples, dur, rec_mode, int(threads))
    cn = _compiled(net)
    v0 = _initial(cn, initial)
    poisson = has_poisson(net)

    def one(b: int, ctl: np.ndarray) -> Any:
        if poisson:  # drawn here, one sample at a time; kept in `samples` for the result's spikes of the sources
            samples[b] = _merge(samples[b], poisson_events(net, dur, int(seed) + b))
        ev_t, ev_n, ev_val = samples[b]
        return run_sample_exact(cn, dur, ev_t, ev_n, ev_val, v0=v0, ctl=ctl, rec_mode=rec_mode, ordered=True)

    def gather(runs: list) -> Any:
        return _gather(cn, runs, samples[: len(runs)], 1, batched, rec_mode, dur)

    runs = run_samples(
        one,
        len(samples),
        n_steps(cn, dur),
        gather,
        threads=int(threads),
        max_events=max_events,
        max_spikes=max_spikes,
        max_seconds=max_seconds,
        progress=progress,
    )
    return gather(runs)


def _warn_unreachable(net: Network, duration: float) -> None:
    """A projection none of whose spikes can arrive within the run: most likely delays meant as ms (NEST's unit)."""
    for q in net.projections:
        if q.n_synapses and q.min_delay >= duration:
            warnings.warn(
                f"projection {q.name!r}: its shortest delay ({q.min_delay:g} s) is not shorter than the run "
                f"({duration:g} s), so none of its spikes arrive; delays are seconds in exact mode (NEST's are ms)",
                stacklevel=4,
            )


def _merge(a: tuple, b: tuple) -> tuple:
    """Two event lists ``(times, neurons, values)`` as one, sorted by time (stable: ``a``'s first at equal times)."""
    t, n, v = (np.concatenate([x, y]) for x, y in zip(a, b))
    o = np.argsort(t, kind="stable")
    return t[o], n[o], v[o]


def check_exact_memory(net: Network, samples: list, duration: float, rec_mode: np.ndarray, threads: int) -> None:
    """Estimate an exact run's memory before allocating any of it (`evsim.limits.memory`; `ResourceLimitError`
    over it): the loop's state and calendar per thread, every sample's input events (the Poisson sources' at their
    mean), the spike counts of populations recorded as counts. (The synapse tables are the network's, checked when
    it was built; recorded spikes are capped by ``max_spikes``.)"""
    from ..engine.exact_compile import resolution
    from .poisson import BYTES_PER_EVENT

    B = len(samples)
    N = sum(p.size for p in net.populations)
    h = resolution(net)
    buckets = 2 ** int(np.ceil(np.log2(max(float(net.max_delay) / h, 1.0) + 3)))  # the calendar: the longest delay
    limits.check_memory(
        f"the exact engine's state ({N} neurons, a calendar of {buckets} steps of {h:g} s)",
        (N * BYTES_PER_NEURON + buckets * 16.0) * min(threads, B),
        "use fewer threads, or a larger dt (the calendar's step) for long delays",
    )
    given = sum(s[0].shape[0] for s in samples)
    rate = sum(p.size * float(p.poisson_rate) for p in net.populations if p.poisson_rate)
    limits.check_memory(
        f"the input events ({B} samples: {given} given, ~{rate * duration * B:.4g} from Poisson sources)",
        given * float(BYTES_PER_INPUT) + rate * duration * B * (BYTES_PER_EVENT + BYTES_PER_INPUT),
        "run fewer samples at a time, or shorten the run",
    )
    off = np.cumsum([0] + [p.size for p in net.populations])
    n_counted = sum(int(off[k + 1] - off[k]) for k in range(len(rec_mode)) if rec_mode[k] == 1)
    limits.check_memory(f"spike counts ({B} samples x {n_counted} neurons)", B * n_counted * 8.0)
