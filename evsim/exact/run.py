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
    from ..control import default_max_spikes, execute, record_modes, with_partial
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

    bar = None
    if progress and len(samples) > 1:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(samples), desc="samples", unit="sample")
    try:
        runs, stopped = execute(
            one,
            len(samples),
            n_steps(cn, dur),
            threads=int(threads),
            max_events=max_events,
            max_spikes=max_spikes,
            max_seconds=max_seconds,
            on_done=None if bar is None else bar.update,
        )
    finally:
        if bar is not None:
            bar.close()
    if stopped is not None:  # Ctrl-C or a budget: the samples that finished come with the error
        raise with_partial(stopped, runs, lambda r: _gather(cn, r, samples[: len(r)], 1, batched, rec_mode, dur))
    return _gather(cn, runs, samples, 1, batched, rec_mode, dur)
