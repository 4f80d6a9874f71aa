"""Running the samples of `evsim.run` under control: Ctrl-C, wall-clock and event budgets, memory estimates.

The compiled loop runs in worker threads (it releases the GIL and never calls back into Python); the main thread
only waits, in short timeouts, so Ctrl-C reaches it at once. It then sets every sample's stop flag (``ctl[0]``,
polled by the loop before each step), waits for the workers (a step at most) and raises `RunInterrupted` with the
samples that finished. Why a thread: the loop's results are boxed into Python objects by Numba's wrapper, which
unpickles type constants by calling Python code; a KeyboardInterrupt raised in the main thread inside that call
made the wrapper return NULL into Numba's boxing (segfault) or return with the exception set (``SystemError:
CPUDispatcher(run_discrete) returned a result with an exception set``). Python runs signal handlers only in the
main thread, so the workers never see one.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from . import limits
from ._jit import njit
from .errors import BudgetExceeded, InputError, NumericalError, ResourceLimitError, _Partial

# ctl[0] values: why a sample stopped
RUNNING, STOPPED, EVENTS, SPIKES = 0, 1, 2, 3
BYTES_PER_SPIKE = 64  # recorded spike in the loop (20 B, doubled while growing) and gathered (~44 B)
POLL_S = 0.05  # how often the main thread wakes while waiting (progress bar, wall-clock budget)


@njit
def halted(ctl: np.ndarray, sops: np.ndarray, n_spk: int) -> bool:
    """The loops' poll (discrete before each step, exact also every `EXACT_POLL` events): True when ``ctl[0]``
    is set (by another thread) or the sample's synaptic events (``sops``, per projection) or recorded spikes
    ``n_spk`` pass a non-negative limit ``ctl[1]`` / ``ctl[2]``; it then sets ``ctl[0]`` to EVENTS or SPIKES."""
    if ctl[0] != RUNNING:
        return True
    if ctl[1] >= 0:
        total = 0
        for q in range(sops.shape[0]):  # (not sops.sum(): that compiles ~0.2 s more on the first run)
            total += sops[q]
        if total > ctl[1]:
            ctl[0] = EVENTS
            return True
    if ctl[2] >= 0 and n_spk > ctl[2]:
        ctl[0] = SPIKES
        return True
    return False


def record_modes(net: Any, record: Any) -> np.ndarray:
    """Per population: 2 = every spike recorded, 1 = spike counts per neuron only. ``record`` is ``"all"``,
    ``"outputs"`` (outputs in full, the others counted) or the names of the populations recorded in full; output
    populations are always recorded in full (`Result.output` is made from them)."""
    names = [p.name for p in net.populations]
    if isinstance(record, str) and record == "all":
        full = set(names)
    elif isinstance(record, str) and record == "outputs":
        full = set(net.outputs)
    elif isinstance(record, (list, tuple, set, frozenset)) and all(isinstance(r, str) for r in record):
        unknown = sorted(set(record) - set(names))
        if unknown:
            raise InputError(f"record: no population named {unknown}; the network has {names}")
        full = set(record) | set(net.outputs)
    else:
        raise InputError(f"record must be 'all', 'outputs' or a list of population names, got {record!r}")
    return np.array([2 if n in full else 1 for n in names], dtype=np.int8)


def check_run_memory(cn: Any, T: int, B: int, rec_mode: np.ndarray, max_spikes: int, threads: int) -> None:
    """Estimate the memory of a run before allocating any of it; raise `ResourceLimitError` over the limit."""
    a = cn.arrays
    N, D, n_rec = int(a["N"]), int(a["D"]), int(a["n_rec"])
    ring = D * N * 13  # acc (float64), mark (uint8), tl (int32): one slot per step of the longest delay
    limits.check_memory(
        f"the event ring ({D} slots for delays up to {D - 1} steps x {N} neurons)",
        ring * min(threads, B),
        "shorten the longest delay or use fewer threads",
    )
    limits.check_memory(f"membrane traces ({B} samples x {T} steps x {n_rec} neurons)", 2.0 * B * T * n_rec * 8)
    n_out = sum(cn.net.population(o).size for o in cn.net.outputs)
    limits.check_memory(f"the output array ({B} samples x {T} steps x {n_out} outputs)", B * T * n_out * 8.0)
    n_counted = sum(int(cn.pop_off[k + 1] - cn.pop_off[k]) for k in range(len(rec_mode)) if rec_mode[k] == 1)
    limits.check_memory(f"spike counts ({B} samples x {n_counted} neurons)", B * n_counted * 8.0)


def default_max_spikes() -> int:
    return max(1, limits.memory // BYTES_PER_SPIKE)


def execute(
    run_one: Callable[[int, np.ndarray], Any],
    B: int,
    T: int,
    *,
    threads: int = 1,
    max_events: int | None = None,
    max_spikes: int | None = None,
    max_seconds: float | None = None,
    on_done: Callable[[], None] | None = None,
) -> tuple[list, BaseException | None]:
    """Run ``run_one(b, ctl)`` (``T`` steps each) for ``b = 0..B-1`` in ``threads`` worker threads; returns the
    results of the samples that finished before the first one that did not (all of them normally) and the reason
    it stopped (None, or a `RunInterrupted` / `BudgetExceeded` / `ResourceLimitError`; the caller adds
    ``partial``)."""
    ctls = [
        np.array([RUNNING, -1 if max_events is None else max_events, max_spikes or -1, 0], np.int64) for _ in range(B)
    ]
    results: list[Any] = [None] * B
    errors: list[BaseException | None] = [None] * B
    next_b = [0]
    lock = threading.Lock()
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            with lock:
                b = next_b[0]
                next_b[0] += 1
            if b >= B:
                return
            try:
                r = run_one(b, ctls[b])
            except BaseException as e:  # noqa: BLE001 - handed to the main thread, which raises it
                errors[b] = e
                stop.set()
                return
            if max_events is not None and int(np.sum(r.sops)) > max_events:  # (the loop checks before each step)
                ctls[b][0] = EVENTS
            if ctls[b][3] < T or ctls[b][0] == EVENTS:  # stopped early: Ctrl-C, a budget or a limit
                stop.set()
                return
            results[b] = r
            if on_done is not None:
                on_done()

    reason = _supervise(worker, min(int(threads), B), stop, ctls, max_seconds)
    done = 0
    while done < B and results[done] is not None:
        done += 1
    _raise_errors(errors)
    return results[:done], reason or _budget_reason(ctls, B, max_events, max_spikes)


def _supervise(
    worker: Callable[[], None], n: int, stop: threading.Event, ctls: Any, max_seconds: float | None
) -> BaseException | None:
    """Run ``worker`` in ``n`` threads (at least one; `evsim.pool`: kept between runs) and wait for them, in short
    timeouts; on Ctrl-C or past ``max_seconds``, stop every sample (``ctls``) and return the reason (None when they
    all finished)."""
    from .errors import RunInterrupted
    from .pool import POOL

    jobs = []
    t0 = time.monotonic()
    reason: BaseException | None = None
    try:
        for _ in range(max(1, n)):
            jobs.append(POOL.submit(worker))
        for job in jobs:
            while not job.done.wait(POLL_S):
                if max_seconds is not None and reason is None and time.monotonic() - t0 > max_seconds:
                    reason = BudgetExceeded("wall-clock budget exceeded (max_seconds; CLI --max-seconds)")
                    _stop_all(stop, ctls)
    except KeyboardInterrupt:
        _stop_all(stop, ctls)
        for job in jobs:  # each stops within one step of its loop (or at once if it had not started)
            job.done.wait()
        reason = RunInterrupted("interrupted")
    return reason


def in_worker(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` run in a worker thread while this one waits in short timeouts: a kernel that compiles on the
    first run (LLVM calls back into Python) never sees a KeyboardInterrupt, which would be swallowed there. On
    Ctrl-C the call is let finish, then `RunInterrupted` is raised."""
    from .errors import RunInterrupted

    out: list = []

    def work() -> None:
        try:
            out.append(fn(*args))
        except BaseException as e:  # noqa: BLE001 - raised in the caller's thread
            out.append(e)

    th = threading.Thread(target=work, name="evsim-prepare", daemon=True)
    th.start()
    try:
        while th.is_alive():
            th.join(POLL_S)
    except KeyboardInterrupt:
        th.join()
        raise RunInterrupted("interrupted") from None
    if isinstance(out[0], BaseException):
        raise out[0]
    return out[0]


def _raise_errors(errors: Sequence[BaseException | None], per_sample: bool = True) -> None:
    """Raise the first error of a worker; a kernel's `NumericalError` with its sample named (``per_sample``:
    ``errors[b]`` is sample ``b``'s, else the error names it)."""
    for b, e in enumerate(errors):
        if per_sample and isinstance(e, NumericalError):  # raised by a kernel: say which sample
            raise NumericalError(f"sample {b}: {e}") from None
        if e is not None:
            raise e


def _budget_reason(ctls: Any, B: int, max_events: int | None, max_spikes: int | None) -> BaseException | None:
    """The first sample's budget or limit that stopped the run (``ctls[b][0]``), as an exception; else None."""
    whys = ctls[:B, 0] if isinstance(ctls, np.ndarray) else np.array([c[0] for c in ctls[:B]], dtype=np.int64)
    for b in np.flatnonzero((whys == EVENTS) | (whys == SPIKES))[:1].tolist():  # (the first; a loop over B: slow)
        why = int(whys[b])
        if why == EVENTS:
            return BudgetExceeded(
                f"sample {b}: more than {max_events} synaptic events (stopped at step "
                f"{int(ctls[b][3])}; the max_events budget, CLI --max-events)"
            )
        if why == SPIKES:
            return ResourceLimitError(
                f"sample {b}: more than {max_spikes} recorded spikes (stopped at step {int(ctls[b][3])}), "
                f"~{BYTES_PER_SPIKE} B each; record fewer populations in full (run(record='outputs' or "
                "[names])), or raise run(max_spikes=...) / evsim.limits.memory"
            )
    return None


def new_ctls(B: int, max_events: int | None, max_spikes: int | None) -> np.ndarray:
    """Run control rows ``[B, 4]`` (`evsim.engine.loop.run_discrete`'s ``ctl``: stop, max_events, max_spikes,
    steps done), one per sample."""
    ctls = np.zeros((B, 4), dtype=np.int64)
    ctls[:, 0] = RUNNING
    ctls[:, 1] = -1 if max_events is None else max_events
    ctls[:, 2] = max_spikes or -1
    return ctls


def execute_chunks(
    run_chunk: Callable[[int, int], Any],
    B: int,
    ctls: np.ndarray,
    *,
    threads: int = 1,
    chunk: int | None = None,
    max_seconds: float | None = None,
    on_done: Callable[[int], None] | None = None,
) -> tuple[list, BaseException | None]:
    """`execute` for the compiled batch path: ``run_chunk(lo, hi)`` runs samples ``lo .. hi - 1`` (each under its
    row of ``ctls``, `new_ctls`) in one call that releases the GIL, and returns their results (``len()``: the
    samples finished; fewer than asked when one stopped). ``threads`` worker threads take chunks in sample order
    from a shared counter: of ``chunk`` samples, or by default (several threads) guided, each a share of what is
    left (`guided_chunk`), so that the threads finish together. Returns the chunks' results up to the first sample
    that did not finish, and the reason it stopped (as `execute`)."""
    n_thr = max(1, min(int(threads), B))
    if chunk is None and n_thr == 1:
        chunk = B
    bounds: list[tuple[int, int]] = []  # the chunks taken, in sample order
    results: list[Any] = []
    errors: list[BaseException | None] = []
    lock = threading.Lock()
    stop = threading.Event()

    def take() -> tuple[int, int, int] | None:
        with lock:
            lo = bounds[-1][1] if bounds else 0
            if lo >= B:
                return None
            hi = min(B, lo + (max(1, chunk) if chunk is not None else guided_chunk(B - lo, B, n_thr)))
            bounds.append((lo, hi))
            results.append(None)
            errors.append(None)
            return len(bounds) - 1, lo, hi

    def worker() -> None:
        while not stop.is_set():
            got = take()
            if got is None:
                return
            c, lo, hi = got
            try:
                r = run_chunk(lo, hi)
            except BaseException as e:  # noqa: BLE001 - handed to the main thread, which raises it
                errors[c] = e
                stop.set()
                return
            results[c] = r
            if len(r) < hi - lo:  # stopped early: Ctrl-C, a budget or a limit
                stop.set()
                return
            if on_done is not None:
                on_done(hi - lo)

    reason = _supervise(worker, n_thr, stop, ctls, max_seconds)
    _raise_errors(errors, per_sample=False)
    done = []
    for (lo, hi), r in zip(bounds, results):
        if r is None:
            break
        done.append(r)
        if len(r) < hi - lo:
            break
    return done, reason or _budget_reason(ctls, B, int(ctls[0, 1]) if B else None, int(ctls[0, 2]) if B else None)


def guided_chunk(left: int, B: int, threads: int) -> int:
    """The next chunk's samples when ``left`` of ``B`` are not taken yet (guided scheduling): half of each thread's
    share of them (large chunks first: few calls), at least 1/16 of a thread's share of the batch (the last ones:
    the threads finish within a small chunk of each other; a chunk costs ~40 us more than its samples, a digits
    sample ~22 us: with 1/64, the 15 chunks of 300 digits samples on 2 threads took 19% more CPU than one chunk,
    with 1/16 11 chunks 12%)."""
    return max(-(-left // (2 * threads)), -(-B // (16 * threads)), 1)


def run_samples(
    run_one: Callable[[int, np.ndarray], Any],
    B: int,
    T: int,
    gather: Callable[[list], Any],
    *,
    threads: int = 1,
    max_events: int | None = None,
    max_spikes: int | None = None,
    max_seconds: float | None = None,
    progress: bool = False,
) -> list:
    """`execute` for `evsim.run` (both modes): a progress bar over the samples when ``progress`` and ``B > 1``; on
    Ctrl-C or a budget, raises the reason `with_partial` (``gather`` of the samples that finished); else returns
    every sample's run."""
    with _bar(progress, B) as bar:
        runs, stopped = execute(
            run_one,
            B,
            T,
            threads=threads,
            max_events=max_events,
            max_spikes=max_spikes,
            max_seconds=max_seconds,
            on_done=None if bar is None else bar.update,
        )
    if stopped is not None:  # Ctrl-C or a budget: the samples that finished come with the error
        raise with_partial(stopped, runs, gather)
    return runs


def run_chunked(
    run_chunk: Callable[[int, int], Any],
    ctls: np.ndarray,
    join: Callable[[list], Any],
    gather: Callable[[Any], Any],
    *,
    threads: int = 1,
    max_seconds: float | None = None,
    progress: bool = False,
) -> Any:
    """`run_samples` for the compiled batch path (`execute_chunks`): returns ``join`` of the chunks' results."""
    B = ctls.shape[0]
    with _bar(progress, B) as bar:
        chunk = -(-B // 50) if bar is not None and threads == 1 else None  # (a bar that moves)
        parts, stopped = execute_chunks(
            run_chunk, B, ctls, threads=threads, chunk=chunk, max_seconds=max_seconds,
            on_done=None if bar is None else bar.update,
        )  # fmt: skip
    runs = join(parts) if parts else []
    if stopped is not None:
        raise with_partial(stopped, runs, gather)
    return runs


@contextlib.contextmanager
def _bar(progress: bool, B: int) -> Iterator[Any]:
    """A progress bar over ``B`` samples when ``progress`` and ``B > 1`` (else None)."""
    bar = None
    if progress and B > 1:
        from tqdm.auto import tqdm

        bar = tqdm(total=B, desc="samples", unit="sample")
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()


def with_partial(stopped: BaseException, runs: list, gather: Callable[[list], Any]) -> BaseException:
    """``stopped`` (from `execute`) with the samples that finished attached: ``.partial`` (``gather(runs)``, made
    when first read) and ``.samples_done``."""
    if runs and isinstance(stopped, _Partial):
        stopped.partial = lambda: gather(runs)
        stopped.samples_done = len(runs)
    return stopped


def _stop_all(stop: threading.Event, ctls: Sequence[np.ndarray]) -> None:
    stop.set()
    for c in ctls:
        if c[0] == RUNNING:
            c[0] = STOPPED


def check_finite(cn: Any, runs: Any) -> None:
    """After a run: every final state and recorded membrane finite, else `NumericalError` naming the population
    and sample (inputs, weights or biases too large for float64: the state overflowed to Inf or NaN). ``runs``:
    `evsim.engine.batch.Runs` (or a list of `SampleRun`)."""
    from .engine.batch import as_runs

    r = as_runs(runs)
    bad = ~(np.isfinite(r.v) & np.isfinite(r.i))
    bad_vt = ~np.isfinite(r.vtrace).reshape(len(r), -1).all(axis=1)
    if not (bad.any() or bad_vt.any()):
        return
    b = int(np.flatnonzero(bad.any(axis=1) | bad_vt)[0])
    if bad_vt[b]:
        raise NumericalError(
            f"sample {b}: the membrane of {list(cn.rec_pops)} became NaN or infinite (inputs, weights or "
            "biases too large for float64)"
        )
    n = int(np.flatnonzero(bad[b])[0])
    k = int(np.searchsorted(cn.pop_off, n, side="right") - 1)
    raise NumericalError(
        f"sample {b}: population {cn.names[k]!r}, neuron {n - int(cn.pop_off[k])}: the state became NaN "
        f"or infinite (i = {r.i[b, n]}, v = {r.v[b, n]}); inputs, weights or biases are too large for float64"
    )


FLOAT_SAFE = 1e300  # a bound on any state beyond this could overflow float64 (max ~1.8e308) on the way
_input_bounds: "weakref.WeakKeyDictionary[Any, np.ndarray]" = weakref.WeakKeyDictionary()


def _drive_per_source(cn: Any) -> np.ndarray:
    """``[projection]``: the largest summed |weight| one target neuron receives from a source whose every event
    has value 1 (max |w| x the largest fan-in; for a convolution max |w| x its kernel taps per output)."""
    hit = _input_bounds.get(cn)
    if hit is not None:
        return hit
    from .network import ConvProjection

    out = np.zeros(len(cn.net.projections))
    for q_i, q in enumerate(cn.net.projections):
        if isinstance(q, ConvProjection):
            w = q.spec.weight
            out[q_i] = float(np.abs(w).max(initial=0.0)) * w[0].size * q.spec.pool**2 * q.spec.pool_scale
        elif q.n_synapses:
            fan_in = np.bincount(np.asarray(q.targets, dtype=np.int64)).max()
            out[q_i] = float(np.abs(q.weights).max()) * float(fan_in)
    _input_bounds[cn] = out
    return out


_neuron_maxima: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _neuron_max(nrn: Any) -> dict:
    """max |parameter| of a population's neurons, kept per `NeuronParams` (a run of one sample spent a fifth of
    its time recomputing them)."""
    hit = _neuron_maxima.get(nrn)
    if hit is None:
        with np.errstate(all="ignore"):
            fields = ("in_gain", "i_bias", "alpha", "g_x", "g_i", "v_bias", "beta", "v_reset")
            hit = {f: float(np.max(np.abs(getattr(nrn, f)))) for f in fields}
        _neuron_maxima[nrn] = hit
    return hit


def check_magnitudes(cn: Any, samples: Sequence[Any], T: int) -> None:
    """Before a run: refuse inputs, weights and biases that could drive a state beyond ~1e300 (float64 overflows
    at 1.8e308 into Inf, then NaN; a reset to zero would hide it). A crude upper bound per population: the largest
    input per step (values x summed weights), through the neuron's gains, accumulated over ``1 / (1 - decay)``
    steps (or ``T`` for a perfect integrator). Raises `NumericalError` naming the population."""
    net = cn.net
    v_in = max((float(np.maximum(s[2].max(initial=0.0), -s[2].min(initial=0.0))) for s in samples), default=0.0)
    src_max = {}
    for p in net.populations:
        if p.neuron is None:
            src_max[p.name] = v_in if p.poisson_rate is None else 1e3
        else:
            src_max[p.name] = 2.0**40 if p.neuron.multi_spike else 1.0  # (spike_count refuses more)
    drive = _drive_per_source(cn)
    x_in: dict[str, float] = {}
    with np.errstate(all="ignore"):
        for q_i, q in enumerate(net.projections):
            x_in[q.target] = x_in.get(q.target, 0.0) + float(drive[q_i] * src_max[q.source])
        for p in net.populations:
            nrn = p.neuron
            if nrn is None:
                continue
            x = x_in.get(p.name, 0.0)
            m = _neuron_max(nrn)

            def horizon(d: float) -> float:
                return float(T) if d >= 1.0 else min(float(T), 1.0 / (1.0 - d))

            i_bound = (m["in_gain"] * x + m["i_bias"]) * horizon(m["alpha"])
            v_bound = (m["g_x"] * x + m["g_i"] * i_bound + m["v_bias"]) * horizon(m["beta"])
            v_bound = max(v_bound, m["v_reset"] if np.isfinite(m["v_reset"]) else 0.0)
            if not v_bound < FLOAT_SAFE:
                raise NumericalError(
                    f"population {p.name!r}: inputs (values up to {v_in:.3g}), weights or biases are so large that "
                    f"the state could reach {v_bound:.3g}, beyond float64 (~1.8e308): scale them down"
                )
