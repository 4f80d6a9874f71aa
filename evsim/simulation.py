"""`evsim.run`: runs each sample through the engine and gathers a `Result` (`Spikes` per population, counters).

The inputs are checked and normalised first by `evsim.inputs` (`EventStream`, `as_dense_inputs`, ...: importable
from here too); an exact-time network goes to `evsim.exact.run`, a layered one to `evsim.layered`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

import numpy as np

from .control import (
    check_finite,
    check_magnitudes,
    check_run_memory,
    default_max_spikes,
    new_ctls,
    record_modes,
    run_chunked,
)
from .engine import CompiledNetwork, compile_network, partitioned
from .engine.batch import Runs, as_runs, join_batch, new_batch, run_chunk
from .engine.chunked_input import ChunkedInput
from .engine.exact_compile import CompiledExact, compile_exact
from .engine.record import GROUP_KERNEL_MIN, group_by_population
from .errors import InputError

# The inputs' checks and normalisation live in evsim.inputs; re-exported: callers import them from here.
from .inputs import (  # noqa: F401
    EventStream,
    _concatenated,
    _head,
    _normalise,
    _normalise_cat,
    as_dense_inputs,
    per_port_inputs,
    population_offsets,
)
from .network import Network


@dataclasses.dataclass
class Spikes:
    """Spikes of one population: step, neuron, count (1 unless multi-spike) and sample index of each spike."""

    times: np.ndarray
    indices: np.ndarray
    counts: np.ndarray
    samples: np.ndarray

    def __len__(self) -> int:
        return int(self.times.shape[0])

    def __repr__(self) -> str:
        from .summary import spikes_repr

        return spikes_repr(self)

    def dense(self, steps: int, size: int, n_samples: int = 1) -> np.ndarray:
        """Spike counts ``[n_samples, steps, size]`` (input values for an input population)."""
        out = np.zeros((n_samples, steps, size), dtype=self.counts.dtype)
        at = (self.samples.astype(np.int64) * steps + self.times) * size + self.indices
        if self.counts.dtype.kind in "iu" and np.all(at[1:] > at[:-1]):  # each entry once (a neuron's spikes in
            out.reshape(-1)[at] = self.counts  # sample and step order): set, ~10x faster than np.add.at
        else:
            np.add.at(out, (self.samples, self.times, self.indices), self.counts)
        return out


@dataclasses.dataclass
class Deferred:
    """An array built when it is first read (`Result.output`: dense spike counts of a long run of a big output
    population are ``[T, n]`` integers, 800 MB for 10,000 neurons over 10,000 steps, that most callers never read).
    """

    build: Callable[[], np.ndarray]
    shape: tuple[int, ...]


class SpikeRecords(Mapping):
    """`Result.spikes`: population name -> `Spikes`, each split from the run's records when first read, then kept
    (a batch's spikes come from the engine as one array for all populations; splitting it, and the input events
    given, by population is serial work in the main thread that most callers, reading the output or the counts,
    never need: ~1/3 of a 300-sample digits run's main-thread time). Pickles as a plain dict."""

    def __init__(self, builders: dict[str, Callable[[], "Spikes"]]) -> None:
        self._builders = builders
        self._built: dict[str, Spikes] = {}

    def __getitem__(self, name: str) -> "Spikes":
        sp = self._built.get(name)
        if sp is None:
            sp = self._built[name] = self._builders[name]()  # (KeyError for a population not recorded)
        return sp

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)

    def __repr__(self) -> str:
        return f"SpikeRecords({list(self._builders)})"

    def __reduce__(self) -> tuple:
        return (dict, (dict(self.items()),))


class _BuiltOnRead:
    """A dataclass field that may be given as a `Deferred`: built on first read, then kept. (No default: the class
    access raises AttributeError, which `dataclasses` takes as "required".)"""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: Any, owner: type | None = None) -> np.ndarray:
        if obj is None:
            raise AttributeError(self.slot)
        v = obj.__dict__[self.slot]
        if isinstance(v, Deferred):
            v = obj.__dict__[self.slot] = v.build()
        return v

    def __set__(self, obj: Any, value: np.ndarray | Deferred) -> None:
        obj.__dict__[self.slot] = value


@dataclasses.dataclass
class Result:
    """What `evsim.run` returns. For a batch, per-sample figures have a leading sample axis."""

    net: Network
    steps: int
    batch: int | None  # number of samples, None for a single sample
    # [T, n_out] spike counts per step ([B, T, n_out]); membrane for a non-spiking output. Built on first read.
    if TYPE_CHECKING:
        output: np.ndarray
    else:
        output: np.ndarray = _BuiltOnRead()
    spikes: Mapping[str, Spikes]  # every population recorded, inputs included (each split when first read)
    sops: Any  # total synaptic operations: int, or int64 [B]
    sops_by_projection: dict[str, Any]
    neuron_updates: Any  # neuron state updates done by the engine (events reaching a neuron): int or [B]
    final_state: dict[str, tuple[np.ndarray, np.ndarray]]  # population -> (i, v) at the last step ([B, n] each)
    counts: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # spike counts per neuron ([B, n]) of
    # the populations recorded as counts only (`run(record=...)`); they are not in `spikes`
    duration: float | None = None  # exact mode: the run's length in seconds (then ``steps`` is 1, spike times are
    # seconds and ``output`` holds spike counts over the whole run, [1, n_out], or a non-spiking output's final v)

    def __repr__(self) -> str:
        from .summary import result_repr

        return result_repr(self)

    def __getstate__(self) -> dict[str, Any]:  # (pickled with its output built: a Deferred holds a closure)
        self.output  # noqa: B018
        return self.__dict__

    @property
    def output_shape(self) -> tuple[int, ...]:
        """``output.shape``, without building the output."""
        return tuple(self.__dict__["_output"].shape)

    def spike_counts(self, name: str) -> np.ndarray:
        """Total spikes per neuron of population ``name`` (per sample for a batch)."""
        if name in self.counts:
            return self.counts[name]
        sp = self.spikes[name]
        d = np.zeros((self.batch or 1, self.net.population(name).size), dtype=sp.counts.dtype)
        np.add.at(d, (sp.samples, sp.indices), sp.counts)
        return d if self.batch else d[0]

    def first_spike_times(self, name: str) -> np.ndarray:
        """Time of each neuron's first spike in population ``name`` (seconds in exact mode, steps in discrete
        mode), ``inf`` where it stays silent: ``[n]``, or ``[B, n]`` for a batch (time-to-first-spike decoding)."""
        sp = self.spikes[name]
        d = np.full((self.batch or 1, self.net.population(name).size), np.inf)
        np.minimum.at(d, (sp.samples, sp.indices), sp.times.astype(np.float64))
        return d if self.batch else d[0]

    def predictions(self) -> np.ndarray | int:
        """Class decision from the output: argmax of spike counts (or of the final membrane if non-spiking)."""
        return np.argmax(self.output.sum(axis=-2) if self._spiking_output else self.output[..., -1, :], axis=-1)

    def first_spike_predictions(self) -> np.ndarray | int:
        """Class decision by the output neuron that fires first (time-to-first-spike decoding, `evsim.ttfs`): ties
        go to the lowest index, -1 where no output neuron fires."""
        from .ttfs import first_spike_class

        return first_spike_class(self.first_spike_times(self.net.outputs[0]))

    @property
    def _spiking_output(self) -> bool:
        p = self.net.population(self.net.outputs[0])
        return p.neuron is None or p.neuron.spiking


_cache: dict[int, tuple[Network, Any]] = {}


def per_network(cache: dict[int, tuple[Network, Any]], net: Network, make: Callable[[Network], Any]) -> Any:
    """``make(net)``, kept in ``cache`` for the network object ``net`` (by identity: a `Network` holds arrays and
    is not hashable) among the 8 used last: a new entry evicts the one used least recently."""
    hit = cache.pop(id(net), None)
    if hit is None or hit[0] is not net:
        hit = (net, make(net))
        if len(cache) >= 8:
            del cache[next(iter(cache))]
    cache[id(net)] = hit  # (last in order: used most recently)
    return hit[1]


def _compiled(net: Network) -> Any:  # CompiledNetwork, or CompiledExact for an exact-time network
    return per_network(_cache, net, lambda n: compile_exact(n) if n.exact else compile_network(n))


def run(
    net: Network,
    x: Any = None,
    *,
    steps: int | None = None,
    progress: bool = False,
    seed: int = 0,
    initial: Mapping[str, Any] | None = None,
    threads: int = 1,
    record: Any = "all",
    max_events: int | None = None,
    max_spikes: int | None = None,
    max_seconds: float | None = None,
    duration: float | None = None,
) -> Result:
    """Run ``net`` on input ``x`` with the event-driven engine (discrete mode: integer steps).

    ``x`` for a network with one input port: an array ``[T, n_in]`` (one sample on the model's time grid),
    ``[B, T, n_in]`` (a batch); a multi-dimensional input (e.g. ``(C, H, W)``) may be given in its shape
    (``[T, C, H, W]``) or flattened in C order; an `EventStream` or a tuple ``(times, indices[, values])`` with
    times in steps; or a list of those (a batch). With several input ports, a dict ``{port: x}``.
    ``steps`` sets T for event input (default: last event + 1). ``progress`` shows a bar over samples.
    A network whose only sources are Poisson populations takes no ``x``, only ``steps``; sample ``b`` of a batch
    draws its Poisson events with seed ``seed + b``. ``initial={population: v0}`` sets initial membranes
    (default: the populations' ``v_init``, else 0), the same for every sample. ``threads > 1`` runs the samples
    of a batch in parallel threads (the compiled loop releases the GIL), and one sample without input events of a
    network `evsim.engine.partitioned` takes (brunel-like) across threads; results do not depend on it.

    Resources (`evsim.control`, `evsim.limits`): ``record="all"`` keeps every spike of every population;
    ``"outputs"`` or a list of population names keeps those (outputs always) and only spike counts per neuron of
    the others (`Result.counts`). ``max_spikes`` caps the spikes recorded per sample (default: what
    `evsim.limits.memory` allows), ``max_events`` the synaptic events per sample, ``max_seconds`` the wall-clock
    time of the run: past one, `evsim.BudgetExceeded` (or `ResourceLimitError`) is raised with ``.partial``, the
    `Result` of the samples that finished. Ctrl-C stops the run within a step of the loop and raises
    `evsim.RunInterrupted` (a KeyboardInterrupt) with the same ``.partial``.

    An exact-time network (`evsim.exact` neurons) runs in continuous time over ``[0, duration)`` seconds: ``x`` is
    an `EventStream` (or a tuple, or a list of them) with times in seconds; spike times come back in seconds
    (`evsim.exact.run`). Its Poisson sources (rates in Hz) draw continuous spike times with seed ``seed + b``.
    """
    if not isinstance(net, Network):
        raise InputError(f"run() needs an evsim.Network (from evsim.load or evsim.Network), got {type(net).__name__}")
    if int(seed) != seed or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    if net.exact:
        from .exact.run import run_exact_network

        return run_exact_network(
            net, x, steps, duration, initial, threads, progress, record, max_events, max_spikes, max_seconds, seed
        )
    if duration is not None:
        raise InputError("duration= is for exact-time networks (evsim.exact neurons); a discrete one takes steps=")
    if "layered" in net.meta:  # padded-convolution models (SNN-delays): layer by layer, see evsim.layered
        from .layered import run as run_layered

        return run_layered(
            net,
            x,
            steps=steps,
            threads=threads,
            initial=initial,
            progress=progress,
            max_events=max_events,
            max_spikes=max_spikes,
            max_seconds=max_seconds,
        )
    ev, T, batched = _normalise_cat(net, x, steps, lazy=True)  # (lazy: a dense input stays an array, see below)
    cn = _compiled(net)
    v0 = _initial(cn, initial)
    if int(threads) != threads or threads < 1:
        raise InputError(f"threads must be a positive integer, got {threads!r}")

    # a dense input is turned into events chunk by chunk, by the threads that run the chunks (`ChunkedInput`)
    lazy = isinstance(ev, ChunkedInput)
    B = ev.B if lazy else ev[3].shape[0] - 1
    rec_mode = record_modes(net, record)
    max_spikes = default_max_spikes() if max_spikes is None else int(max_spikes)
    check_run_memory(cn, T, B, rec_mode, max_spikes, int(threads))
    check_magnitudes(cn, [ev.extremes() if lazy else ev], T)
    if partitioned.fits(cn, ev, B, int(threads)):  # one sample across threads (`evsim.engine.partitioned`)
        runs, stopped = partitioned.run_partitioned(
            cn, T, v0, int(seed), rec_mode, int(threads), max_events, max_spikes, max_seconds
        )
        if stopped is not None:
            raise stopped
        check_finite(cn, runs)
        return _gather(cn, runs, _head(ev, 1), T, batched, rec_mode)
    # the compiled batch path (`evsim.engine.batch`): chunks of samples, each chunk one compiled call
    bt = new_batch(
        cn, T, ev.placeholder() if lazy else ev, v0, int(seed), rec_mode, new_ctls(B, max_events, max_spikes)
    )

    if lazy and rec_mode[cn.names.index(ev.name)] == 1:
        ev.count()  # (the input population counted chunk by chunk too: its events are not needed after the run)

    def gather(runs: Runs) -> Result:
        given = (lambda: _head(ev.joined(), len(runs))) if lazy else _head(ev, len(runs))
        counted = {ev.name: ev.counts[: len(runs)]} if lazy and ev.counts is not None else None
        return _gather(cn, runs, given, T, batched, rec_mode, given_counts=counted)

    runs = run_chunked(
        ev.runner(bt, run_chunk) if lazy else lambda lo, hi: run_chunk(bt, lo, hi),
        bt.ctls,
        lambda parts: join_batch(bt, parts),
        gather,
        threads=int(threads),
        max_seconds=max_seconds,
        progress=progress,
    )
    check_finite(cn, runs)
    return gather(runs)


def _initial(cn: CompiledNetwork, initial: Mapping[str, Any] | None) -> np.ndarray | None:
    if not initial:
        return None
    v0 = cn.v_init.copy()
    for name, value in initial.items():
        if name not in cn.names or cn.net.population(name).is_input:
            raise InputError(f"initial: {name!r} is not a neuron population")
        k = cn.names.index(name)
        n = int(cn.pop_off[k + 1] - cn.pop_off[k])
        a = (
            np.broadcast_to(np.asarray(value, dtype=np.float64), (n,))
            if np.ndim(value) == 0
            else np.asarray(value, dtype=np.float64)
        )
        if a.shape != (n,) or not np.all(np.isfinite(a)):
            raise InputError(f"initial[{name!r}]: expected {n} finite membrane values, got shape {a.shape}")
        v0[cn.pop_off[k] : cn.pop_off[k + 1]] = a
    return v0


def _gather(
    cn: CompiledNetwork | CompiledExact,
    runs: Any,
    samples: Any,
    T: int,
    batched: bool,
    rec_mode: np.ndarray | None = None,
    duration: float | None = None,
    given_counts: Mapping[str, np.ndarray] | None = None,
) -> Result:
    """The `Result` of ``runs`` (`evsim.engine.batch.Runs`, or a list of `SampleRun`) on inputs ``samples``
    (concatenated ``(ev_t, ev_n, ev_val, ev_off)``, or a list of per-sample ``(ev_t, ev_n, ev_val)``, or a function
    that returns them, called if they are needed). ``given_counts``: input populations counted already
    (``[B, size]``, `ChunkedInput.counts`)."""
    net = cn.net
    runs = as_runs(runs)
    B = len(runs)

    def by_population(t: np.ndarray, n: np.ndarray, c: np.ndarray, off: np.ndarray) -> tuple[list, np.ndarray]:
        """(step, global neuron, count or value) arrays of every sample, one after the other (sample b's from
        ``off[b]``) -> joined with the sample index, in population order (one stable radix sort, then a slice per
        population), and where each population starts."""
        n = n.astype(np.int64, copy=False)
        B_ = off.shape[0] - 1
        b = np.zeros(n.shape[0], np.int64) if B_ == 1 else np.repeat(np.arange(B_, dtype=np.int64), np.diff(off))
        starts = np.zeros(len(cn.names) + 1, dtype=np.int64)
        k = int(np.searchsorted(cn.pop_off, n.min(), side="right") - 1) if n.size else 0
        if n.size == 0 or n.max() < cn.pop_off[k + 1]:  # one population (e.g. the input): in order already
            starts[k + 1 :] = n.size
            return [t, n - cn.pop_off[k] if cn.pop_off[k] else n, c, b], starts
        if n.size >= GROUP_KERNEL_MIN:  # (the same grouping, compiled: `evsim.engine.record`)
            order, local, starts = group_by_population(n, np.asarray(cn.pop_off, np.int64))
            return [t[order], local, c[order], b if B_ == 1 else b[order]], starts
        pop = (np.searchsorted(cn.pop_off, n, side="right") - 1).astype(np.int16 if len(cn.names) < 2**15 else np.int32)
        np.cumsum(np.bincount(pop, minlength=len(cn.names)), out=starts[1:])
        order = np.argsort(pop, kind="stable")
        return [t[order], n[order] - cn.pop_off[pop[order]], c[order], b[order]], starts

    emitted: list = []  # the neurons' spikes, split when first needed
    given: list = []  # input events as given (values may be real numbers), split when needed

    def split(k: int) -> tuple[list, np.ndarray]:
        if net.populations[k].is_input:
            if not given:
                given.append(by_population(*_given(samples() if callable(samples) else samples)))
            return given[0]
        if not emitted:
            emitted.append(by_population(runs.spike_t, runs.spike_n, runs.spike_c.astype(np.int64), runs.off))
        return emitted[0]

    def population_spikes(k: int) -> Spikes:
        (t, n, c, b), starts = split(k)
        sl = slice(starts[k], starts[k + 1])
        return Spikes(t[sl], n[sl], c[sl], b[sl])

    recorded: list[int] = []
    counts: dict[str, np.ndarray] = dict(given_counts or {})
    for k, name in enumerate(cn.names):
        if name in counts:
            continue
        if rec_mode is None or rec_mode[k] == 2:
            recorded.append(k)
        elif net.populations[k].is_input:  # counted only: the sum of the values given, per neuron and sample
            (t, n, c, b), starts = split(k)
            sl = slice(starts[k], starts[k + 1])
            size = net.populations[k].size
            counts[name] = np.bincount(b[sl] * size + n[sl], weights=c[sl], minlength=B * size).reshape(B, size)
        else:
            counts[name] = runs.counts[:, cn.pop_off[k] : cn.pop_off[k + 1]]
    spikes = SpikeRecords({cn.names[k]: functools.partial(population_spikes, k) for k in recorded})
    output = _output(net, cn, runs, spikes, T, B, duration)
    sops_pq = runs.sops if net.projections else np.zeros((B, 0), dtype=np.int64)
    final = {}
    all_i, all_v = runs.i, runs.v
    for k, name in enumerate(cn.names):
        sl = slice(cn.pop_off[k], cn.pop_off[k + 1])
        final[name] = (all_i[:, sl], all_v[:, sl])
    upd = runs.n_updates

    def pick(a):
        return a if batched else a[0]

    return Result(
        net=net,
        steps=T,
        batch=B if batched else None,
        output=output if batched else _first(output),
        spikes=spikes,
        sops=pick(sops_pq.sum(axis=1)) if batched else int(sops_pq.sum()),
        sops_by_projection={q: (sops_pq[:, j] if batched else int(sops_pq[0, j])) for j, q in enumerate(cn.proj_names)},
        neuron_updates=upd if batched else int(upd[0]),
        final_state={k: (pick(i), pick(v)) for k, (i, v) in final.items()},
        counts={k: pick(c) for k, c in counts.items()},
        duration=duration,
    )


def _output(net: Network, cn: Any, runs: Any, spikes: Mapping, T: int, B: int, duration: float | None) -> Any:
    """`Result.output` ``[B, T, n_out]``: membrane traces, or exact mode's counts over the run, built now; spike
    counts per step (`Spikes.dense` of the output populations) deferred until read (`Deferred`)."""

    def build() -> np.ndarray:
        outs = []
        for name in net.outputs:
            p = net.population(name)
            if name in cn.rec_pops:
                start = sum(net.population(r).size for r in cn.rec_pops[: cn.rec_pops.index(name)])
                outs.append(runs.vtrace[:, :, start : start + p.size])
            elif (
                duration is not None
            ):  # exact mode: one bin over the whole run (counts; a non-spiking output's final v)
                k = cn.names.index(name)
                if p.neuron is not None and not p.neuron.spiking:
                    outs.append(runs.v[:, None, cn.pop_off[k] : cn.pop_off[k + 1]])
                else:
                    c = np.zeros((B, p.size), dtype=np.int64)
                    np.add.at(c, (spikes[name].samples, spikes[name].indices), spikes[name].counts.astype(np.int64))
                    outs.append(c[:, None, :])
            else:
                outs.append(spikes[name].dense(T, p.size, B))
        return outs[0] if len(outs) == 1 else np.concatenate(outs, axis=-1)

    if duration is not None or any(name in cn.rec_pops for name in net.outputs):
        return build()
    return Deferred(build, (B, T, sum(net.population(o).size for o in net.outputs)))


def _first(a: Any) -> Any:
    """Sample 0 of a batch's array or `Deferred` array."""
    return Deferred(lambda: a.build()[0], a.shape[1:]) if isinstance(a, Deferred) else a[0]


def _given(samples: Any) -> tuple:
    """`_concatenated` for a result: one sample's arrays are not copied but shown as read-only views."""
    if isinstance(samples, tuple) or len(samples) != 1:
        return _concatenated(samples)
    views = [np.asarray(a).view() for a in samples[0][:3]]
    for a in views:
        a.flags.writeable = False
    return (*views, np.array([0, views[0].shape[0]], dtype=np.int64))
