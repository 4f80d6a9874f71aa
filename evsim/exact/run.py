"""`evsim.run` for an exact-time network: inputs in seconds, one sample after the other (or in threads), under the
run control of discrete mode (`evsim.control.execute`: Ctrl-C, budgets, record modes), the result gathered as
there (`evsim.simulation._gather`)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..errors import InputError
from ..network import Network


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
):  # type: ignore[no-untyped-def]
    from ..control import default_max_spikes, record_modes, run_samples
    from ..engine.exact_compile import n_steps, run_sample_exact
    from ..simulation import _compiled, _gather, _initial
    from .inputs import normalise_exact

    samples, _, batched = normalise_exact(net, x, steps, duration)
    rec_mode = record_modes(net, record)
    max_spikes = default_max_spikes() if max_spikes is None else int(max_spikes)
    if int(threads) != threads or threads < 1:
        raise InputError(f"threads must be a positive integer, got {threads!r}")
    cn = _compiled(net)
    v0 = _initial(cn, initial)
    dur = float(duration)

    def one(b: int, ctl: np.ndarray) -> Any:
        ev_t, ev_n, ev_val = samples[b]
        return run_sample_exact(cn, dur, ev_t, ev_n, ev_val, v0=v0, ctl=ctl, rec_mode=rec_mode)

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
