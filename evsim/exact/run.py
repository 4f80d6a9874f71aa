"""`evsim.run` for an exact-time network: inputs in seconds, one sample after the other (or in threads), the
result gathered as in discrete mode (`evsim.simulation._gather`)."""

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
):  # type: ignore[no-untyped-def]
    from ..control import execute
    from ..engine.exact_compile import run_sample_exact
    from ..simulation import _compiled, _gather, _initial
    from .inputs import normalise_exact

    samples, _, batched = normalise_exact(net, x, steps, duration)
    if record != "all":
        raise InputError("record= is not supported in exact mode yet: every spike is recorded")
    if int(threads) != threads or threads < 1:
        raise InputError(f"threads must be a positive integer, got {threads!r}")
    cn = _compiled(net)
    v0 = _initial(cn, initial)
    dur = float(duration)

    def one(b: int, ctl: np.ndarray) -> Any:
        ev_t, ev_n, ev_val = samples[b]
        out = run_sample_exact(cn, dur, ev_t, ev_n, ev_val, v0=v0)
        ctl[3] = 1  # (`execute` counts steps done: the exact run is one whole span)
        return out

    bar = None
    if progress and len(samples) > 1:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(samples), desc="samples", unit="sample")
    try:
        runs, stopped = execute(one, len(samples), 1, threads=int(threads), on_done=None if bar is None else bar.update)
    finally:
        if bar is not None:
            bar.close()
    if stopped is not None:
        raise stopped
    return _gather(cn, runs, samples, 1, batched, None, dur)
