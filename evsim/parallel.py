"""The one dataset runner, in this process, on many cores or on a Dask cluster, nothing lost: `run_dataset`.

    outputs, counters = evsim.parallel.run_sample(net, x)          # one sample: pure, no state kept
    r = evsim.run_dataset(net, "test.npz", workers=4, out="runs/a")  # every sample, 4 worker processes
    r = evsim.run_dataset(net, ds, scheduler="tcp://head:8786")      # the same job on a Dask cluster
    r.accuracy(), r.totals()["sops/1->3"], r.failed                  # {sample index: error} of samples that raised

Every figure is computed per sample by `run_sample` (`evsim.run`, then `evsim.accounting.account`): the dataset's
totals are sums of per-sample integers (floats only where a counter is real-valued), added in sample order, so
the result is bit-identical whatever the number of workers or the order in which chunks finish. Samples are read
from the dataset lazily and sent in chunks of ``chunk`` samples, with at most two chunks per worker in flight:
memory does not grow with the dataset (beyond a few numbers per sample). The network is sent to each worker once
(pool initializer; Dask: scattered to every worker), never per sample.

Every path is the same loop: samples are read (`iter_samples`), grouped into chunks and mapped by a mapper (this
process, `_here`: the one-worker case; processes or Dask, `evsim.workers`) onto `_run_chunk`, whose results are
gathered in one place. `evsim.data.run_dataset` and ``evsim run --input`` without ``--workers`` are the in-process
case (with each sample's output per step, every population's spikes, `evsim.run`'s budgets).

With ``out=DIR`` every finished chunk is written at once (`evsim.results`: one file per chunk, temporary file +
rename, and a manifest); a run stopped by Ctrl-C, a killed worker or samples that raise keeps what finished, lists
the failed samples with their errors, and ``resume=True`` runs only what is missing.
"""

from __future__ import annotations

import dataclasses
import os
import time
from itertools import chain, islice
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from .errors import EvsimError, InputError
from .network import Network

__all__ = ["run_sample", "run_dataset", "DatasetRun", "iter_samples"]

DEFAULT_CHUNK = 32


# ------------------------------------------------------------------------------------------------ one sample
def run_sample(net: Network, x: Any, steps: int | None = None, seed: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """Run one sample ``x`` (anything `evsim.run` takes for one sample); returns the output ``[T, n_out]`` (spike
    counts per step, or the membrane of a non-spiking output) and every additive counter of
    `evsim.accounting.Accounting.counters` as numbers. Pure: the same input gives the same result anywhere."""
    from .accounting import account
    from .simulation import run

    res = run(net, x, steps=steps, seed=seed)
    if res.batch is not None:
        raise InputError(f"run_sample takes one sample; got a batch of {res.batch}")
    return res.output, {k: v[0].item() for k, v in account(res).counters().items()}


def _run_chunk(
    chunk: list[tuple[int, Any, int | None, Any]], net: Network | None = None, seed: int = 0, opts: dict | None = None
) -> dict:
    """Run samples ``(index, x, steps, label)``; returns the chunk's columns (`_Columns`), its errors and, as
    ``opts`` asks (`run_dataset`'s ``keep_output``, ``record``), each sample's output per step and every
    population's spikes. Samples of one length run as one `evsim.run` batch (the engine runs each sample on its
    own: the same figures as `run_sample`, cheaper to count); a batch that fails is retried sample by sample, to
    name the culprit. Budgets and Ctrl-C (``max_seconds``, ``max_events``) stop the chunk; ``raise`` re-raises a
    sample's error instead of keeping it."""
    from .accounting import account
    from .errors import BudgetExceeded, RunInterrupted
    from .simulation import Spikes, run

    o = opts or {}
    if net is None:
        from .workers import worker_network

        net = worker_network()
    t0 = time.perf_counter()
    cols = _Columns()
    errors: dict[int, str] = {}
    outputs: dict[int, np.ndarray] = {}
    spikes: dict[str, list] = {}

    def one_run(xs: Any, steps: int | None, first: int, ks: list[int]) -> None:
        left = None if o.get("max_seconds") is None else o["max_seconds"] - (time.perf_counter() - t0)
        if left is not None and left <= 0:
            raise BudgetExceeded(f"wall-clock budget of {o['budget']:g} s exceeded")
        res = run(net, xs, steps=steps, seed=seed + first, threads=o.get("threads", 1), max_seconds=left,
                  max_events=o.get("max_events"))  # fmt: skip
        outs = np.asarray(res.output).reshape(len(ks), -1, np.shape(res.output)[-1])  # [B, T, n_out]
        cols.add([chunk[k] for k in ks], res.steps, outs, np.atleast_1d(res.predictions()), account(res).counters())
        if o.get("keep_output"):
            for j, k in enumerate(ks):
                outputs[int(chunk[k][0])] = outs[j]
        if o.get("record"):
            index = np.asarray([chunk[k][0] for k in ks], dtype=np.int64)
            for name, s in res.spikes.items():
                spikes.setdefault(name, []).append(Spikes(s.times, s.indices, s.counts, index[s.samples]))

    groups: dict[tuple, list[int]] = {}
    for k, (_, x, steps, _) in enumerate(chunk):
        groups.setdefault((steps, _shape(x)), []).append(k)
    try:
        for (steps, shape), ks in groups.items():
            first = chunk[ks[0]][0]
            together = len(ks) > 1 and all(chunk[k][0] == first + j for j, k in enumerate(ks))  # Poisson seeds
            try:  # follow the sample index: only consecutive samples share a run
                if not together:
                    raise _Split
                xs = [chunk[k][1] for k in ks]
                one_run(xs if shape is None else np.stack(xs), steps, first, ks)
            except (BudgetExceeded, RunInterrupted):
                raise
            except Exception:  # noqa: BLE001 - one sample at a time: the good ones kept, the bad one named
                for k in ks:
                    i, x, st, _ = chunk[k]
                    try:
                        one_run([x] if shape is None else x[None], st, i, [k])
                    except (BudgetExceeded, RunInterrupted):
                        raise
                    except Exception as e:  # noqa: BLE001 - reported with the sample, the run goes on
                        if o.get("raise"):
                            raise
                        errors[i] = str(e) if isinstance(e, EvsimError) else f"{type(e).__name__}: {e}"
    except (BudgetExceeded, RunInterrupted) as e:  # the samples of this chunk's earlier runs count too
        e.samples_done = cols.n + int(getattr(e, "samples_done", 0) or 0)
        raise
    return {"columns": cols.arrays(), "errors": errors, "outputs": outputs, "spikes": spikes}


class _Split(Exception):
    pass


def _shape(x: Any) -> tuple | None:
    return tuple(x.shape) if isinstance(x, np.ndarray) else None


class _Columns:
    """Per-sample figures of a chunk as columns: index, label (-1: none), steps, prediction, output summed over
    steps, and every counter; gathered run by run (a run's samples as arrays: no Python per sample)."""

    def __init__(self) -> None:
        self.blocks: list[dict[str, np.ndarray]] = []
        self.n = 0  # samples

    def add(self, items: list, steps: int, outs: np.ndarray, preds: np.ndarray, counters: dict[str, Any]) -> None:
        """The samples ``items`` (``(index, x, steps, label)``) of one run: ``outs`` ``[B, T, n_out]``, ``preds``
        and each counter ``[B]``."""
        self.blocks.append(
            {
                "index": np.array([int(it[0]) for it in items], dtype=np.int64),
                "label": np.array([-1 if it[3] is None else int(it[3]) for it in items], dtype=np.int64),
                "steps": np.full(len(items), int(steps), dtype=np.int64),
                "prediction": np.asarray(preds).astype(np.int64),
                "output": np.asarray(outs).sum(axis=1),
                **{"c/" + name: np.asarray(v) for name, v in counters.items()},
            }
        )
        self.n += len(items)

    def arrays(self) -> dict[str, np.ndarray]:
        if not self.blocks:
            return {}
        return {k: np.concatenate([b[k] for b in self.blocks]) for k in self.blocks[0]}


# ------------------------------------------------------------------------------------------------ samples
def iter_samples(
    net: Network, data: Any, limit: int | None = None, pipeline: Any = None
) -> tuple[Iterator[tuple], int | None, str]:
    """``(index, x, steps, label)`` per sample of ``data``, read lazily, with the number of samples (None when
    unknown) and a name for messages. ``data``: a path or a dataset of `evsim.data.open` (events binned by
    ``pipeline``, an `evsim.data.InputPipeline`; default: the model's own), an array ``[B, T, ...]``, a tuple
    ``(x, labels)``, or any iterable of samples or ``(sample, label)``."""
    from .data import open as open_dataset
    from .data.runner import model_inputs, pipeline_for

    if isinstance(data, (str, Path)):
        data = open_dataset(data)
    if isinstance(data, np.ndarray):
        return _from_array(data, None, limit), _count(data.shape[0], limit), "array"
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], np.ndarray):
        return _from_array(data[0], data[1], limit), _count(data[0].shape[0], limit), "array"
    if hasattr(data, "kind") and hasattr(data, "on_grid"):  # an evsim.data dataset
        items = model_inputs(net, data, pipeline or pipeline_for(net), limit)
        n = _count(len(data), limit)
        return ((i, x, T, lab) for i, (x, T, lab) in enumerate(items)), n, str(getattr(data, "path", "dataset"))
    m = _count(len(data), limit) if hasattr(data, "__len__") else limit
    return _from_iterable(net, data, limit, pipeline), m, type(data).__name__


def _count(n: int, limit: int | None) -> int:
    return n if limit is None else min(n, int(limit))


def _from_array(x: np.ndarray, labels: Any, limit: int | None) -> Iterator[tuple]:
    labs = None if labels is None else np.asarray(labels).reshape(-1)
    if labs is not None and labs.shape[0] != x.shape[0]:
        raise InputError(f"{labs.shape[0]} labels for {x.shape[0]} samples")
    for i in range(_count(x.shape[0], limit)):
        yield i, x[i], None, None if labs is None else int(labs[i])


def _from_iterable(net: Network, data: Iterable, limit: int | None, pipeline: Any) -> Iterator[tuple]:
    from .data.runner import model_inputs, pipeline_for

    it = iter(data)
    head = next(it, None)
    if head is None:
        return
    rest = chain([head], it)
    if isinstance(head, tuple) and len(head) == 2 and getattr(getattr(head[0], "dtype", None), "names", None):
        items = model_inputs(net, rest, pipeline or pipeline_for(net), limit)  # (event array, label) pairs: binned
        yield from ((i, x, T, lab) for i, (x, T, lab) in enumerate(items))
        return
    for i, item in enumerate(rest):
        if limit is not None and i >= limit:
            return
        if isinstance(item, tuple) and len(item) == 2 and np.ndim(item[1]) == 0:  # (sample, label)
            yield i, item[0], None, item[1]
        else:
            yield i, item, None, None


# ------------------------------------------------------------------------------------------------ the result
@dataclasses.dataclass
class DatasetRun:
    """A dataset run's per-sample figures (the samples done, in sample order) and what failed.

    ``counters[name]`` is ``[B]`` per sample for every counter of `evsim.accounting.Accounting.counters`
    (``"sops/<projection>"``, ``"spikes/<population>"``, ``"neuron_updates"``, ...); `totals` adds them up."""

    index: np.ndarray  # [B] sample index in the dataset
    labels: np.ndarray | None  # [B], when every sample done has one
    predictions: np.ndarray  # [B] argmax of output spike counts (of the last membrane for a non-spiking output)
    steps: np.ndarray  # [B]
    output_counts: np.ndarray  # [B, n_out] output summed over steps
    counters: dict[str, np.ndarray]
    failed: dict[int, str]  # sample index -> error, for samples that raised or whose worker died
    total: int | None  # samples in the job (None: unknown, the input was not counted)
    status: str  # "complete", "incomplete" (failed samples) or "interrupted"
    backend: str
    wall_seconds: float
    out: Path | None = None
    output: list[np.ndarray] = dataclasses.field(default_factory=list)  # per sample [T_b, n_out] (keep_output)
    spikes: dict[str, Any] | None = None  # every population's `evsim.Spikes` (record); sample = dataset index
    warmup_seconds: float = 0.0  # until the first chunk was back (it compiles)

    @property
    def run_seconds(self) -> float:
        """Wall-clock seconds after the warm-up (the first chunk)."""
        return self.wall_seconds - self.warmup_seconds

    @property
    def n(self) -> int:
        return int(self.index.shape[0])

    def accuracy(self) -> float | None:
        return None if self.labels is None or not self.n else float(np.mean(self.predictions == self.labels))

    def totals(self) -> dict[str, Any]:
        return {k: v.sum().item() for k, v in self.counters.items()}

    @property
    def sops(self) -> np.ndarray:
        keys = [k for k in self.counters if k.startswith("sops/")]
        return sum((self.counters[k] for k in keys), np.zeros(self.n, dtype=np.int64))

    @property
    def sops_by_projection(self) -> dict[str, np.ndarray]:
        return {k[5:]: v for k, v in self.counters.items() if k.startswith("sops/")}

    def __repr__(self) -> str:
        acc = self.accuracy()
        return (
            f"DatasetRun({self.n} samples{'' if self.total is None else f' of {self.total}'}, {self.status}, "
            f"{len(self.failed)} failed" + ("" if acc is None else f", accuracy {acc:.4f}") + f", {self.backend})"
        )


def _as_run(merged: dict[str, np.ndarray], failed: dict[int, str], **kw: Any) -> DatasetRun:
    if not merged:
        e = np.zeros(0, dtype=np.int64)
        return DatasetRun(e, None, e, e, np.zeros((0, 0)), {}, failed, **kw)
    lab = merged["label"]
    return DatasetRun(
        index=merged["index"],
        labels=None if np.any(lab < 0) else lab,
        predictions=merged["prediction"],
        steps=merged["steps"],
        output_counts=merged["output"],
        counters={k[2:]: v for k, v in merged.items() if k.startswith("c/")},
        failed=failed,
        **kw,
    )


# ------------------------------------------------------------------------------------------------ the runner
def run_dataset(
    net: Network,
    data: Any,
    pipeline: Any = None,
    *,
    workers: int | None = None,
    scheduler: Any = None,
    chunk: int = DEFAULT_CHUNK,
    out: str | Path | None = None,
    resume: bool = False,
    limit: int | None = None,
    seed: int = 0,
    progress: bool = False,
    threads: int = 1,
    record: bool = False,
    keep_output: bool = False,
    max_seconds: float | None = None,
    max_events: int | None = None,
    errors: str = "keep",
    warmup: bool = False,
) -> DatasetRun:
    """Run ``net`` on every sample of ``data`` (see `iter_samples` for what it may be) and gather every figure.

    ``workers``: worker processes on this machine (default: one per core; 1 runs in this process);
    ``scheduler``: a Dask scheduler address (``"tcp://host:8786"``) or a ``distributed.Client``, instead of local
    processes. ``chunk``: samples sent to a worker at a time (``pipeline.pad == "batch"``: each chunk as long as its
    longest sample); ``warmup=True``: the first chunk is one sample (not with pad batch), so that the compilation is
    out of the progress bar's rate and of ``run_seconds``. ``out``: a results folder
    written as chunks finish (`evsim.results`); ``resume=True`` completes the run recorded there. ``seed``:
    Poisson sources of sample ``i`` draw with ``seed + i``. ``pipeline``: how `evsim.data` bins events.
    ``keep_output``: each sample's output per step in ``output``; ``record``: every population's spikes in
    ``spikes``; ``threads``: `evsim.run`'s threads per batch. ``max_seconds`` (the whole run) and ``max_events``
    (each sample) are `evsim.run`'s budgets and raise `evsim.BudgetExceeded`; they, and ``errors="raise"`` (a
    sample's error raised rather than kept in ``failed``), need the run in this process (``workers=1``).
    Ctrl-C stops the run and returns what finished (``status="interrupted"``); with ``errors="raise"`` it raises
    the KeyboardInterrupt (`evsim.RunInterrupted`) with that `DatasetRun` (the finished chunks) as its ``run``.
    Samples that raise, or whose worker process died, are in ``failed``."""
    from .data.runner import pipeline_for
    from .errors import BudgetExceeded
    from .results import ResultStore, fingerprint, merge
    from .workers import map_dask, map_processes

    if not isinstance(net, Network):
        raise InputError(f"run_dataset() needs an evsim.Network, got {type(net).__name__}")
    if net.exact:
        raise InputError(
            "run_dataset() bins events onto a time grid; an exact-time network takes each event at its own time: "
            "evsim run --mode exact, or evsim.exact.data.exact_inputs and evsim.run(..., duration=...)"
        )
    for name, v in (("chunk", chunk), ("workers", workers), ("limit", limit)):
        if v is not None and (int(v) != v or v < 1):
            raise InputError(f"{name} must be a positive integer, got {v!r}")
    if errors not in ("keep", "raise"):
        raise InputError(f"errors must be 'keep' or 'raise', got {errors!r}")
    if resume and out is None:
        raise InputError("resume needs the results folder of the run to complete (out=DIR, --out DIR)")
    if resume and (record or keep_output):
        raise InputError("record and keep_output keep what runs in this call only: not with resume")
    items, total, name = iter_samples(net, data, limit, pipeline)
    if total == 0:
        raise InputError(f"{name}: holds no sample")
    store = None
    if out is not None:
        job = {"input": name, "limit": limit, "seed": int(seed), "total": total, "pipeline": repr(pipeline)}
        store = ResultStore(out, fingerprint(net, job), job, resume)
        done = set(store.done)
        items = (it for it in items if it[0] not in done)
    n_workers = int(workers) if workers is not None else (os.cpu_count() or 1)
    if total is not None:
        n_workers = max(1, min(n_workers, -(-total // int(chunk))))
    here = scheduler is None and n_workers == 1
    if not here and (max_seconds is not None or max_events is not None or errors == "raise"):
        raise InputError("max_seconds, max_events and errors='raise' stop the whole run: they need workers=1")
    pad = getattr(pipeline or pipeline_for(net), "pad", None) == "batch"
    opts = {"threads": threads, "record": record, "keep_output": keep_output, "max_events": max_events,
            "raise": errors == "raise", "budget": max_seconds}  # fmt: skip
    chunks = _chunks(items, int(chunk), 1 if warmup and not pad else int(chunk), pad)
    t0 = time.perf_counter()
    if scheduler is not None:
        results, backend = map_dask(net, scheduler, chunks, seed, opts), f"dask {scheduler}"
    elif not here:
        results, backend = map_processes(net, n_workers, chunks, seed, opts), f"{n_workers} processes"
    else:
        results, backend = _here(net, chunks, seed, opts, t0), "this process"
    parts: list[dict[str, np.ndarray]] = list(store.parts) if store else []
    failed: dict[int, str] = {}
    outputs: dict[int, np.ndarray] = {}
    spikes: dict[str, list] = {}
    resumed = sum(len(p["index"]) for p in parts if p)
    bar = None
    warm = 0.0
    first = True
    status = "complete"
    interrupted: KeyboardInterrupt | None = None
    try:
        for r in results:
            cols, errs = r["columns"], r["errors"]
            if store is not None:
                store.add(cols, errs)
            else:
                parts.append(cols)
            failed.update(errs)
            for i in cols.get("index", ()):
                failed.pop(int(i), None)
            outputs.update(r.get("outputs", {}))
            for k, v in r.get("spikes", {}).items():
                spikes.setdefault(k, []).extend(v)
            n_back = len(cols.get("index", ())) + len(errs)
            if first:  # the bar starts after the first chunk (compilation), so its rate is the run's
                first, warm = False, time.perf_counter() - t0
                if progress and (total is None or total > 1):
                    from tqdm.auto import tqdm

                    bar = tqdm(total=total, initial=resumed + n_back, desc="samples", unit="sample")
            elif bar is not None:
                bar.update(n_back)
    except KeyboardInterrupt as e:
        if errors == "raise":  # raised after the finished chunks are gathered: ``e.run`` holds them
            interrupted = e
        status = "interrupted"
    except BudgetExceeded:
        raise
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()  # the generator's own cleanup: pending chunks cancelled, worker processes ended
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - t0
    merged = merge(store.parts if store else parts)
    if store is not None:
        failed = dict(store.failed)
    if status == "complete" and failed:
        status = "incomplete"
    run_ = _as_run(merged, failed, total=total, status=status, backend=backend, wall_seconds=wall,
                   out=None if store is None else store.path)  # fmt: skip
    run_.warmup_seconds = warm
    if keep_output:
        run_.output = [outputs[int(i)] for i in run_.index]
    if record:
        run_.spikes = {k: _join(v) for k, v in spikes.items()}
    if store is not None:
        store.finish(status, merged, samples_done=run_.n, accuracy=run_.accuracy(), backend=backend)
    if interrupted is not None:
        interrupted.run = run_  # type: ignore[attr-defined]
        raise interrupted
    return run_


def _chunks(items: Iterator[tuple], size: int, first: int, pad: bool) -> Iterator[list]:
    """Lists of ``size`` samples (the first of ``first``); ``pad``: every event sample of a chunk runs as long as
    the chunk's longest (SpikingJelly's pad_sequence_collate)."""
    n = first
    while c := list(islice(items, n)):
        if pad:
            longest = max(s for _, _, s, _ in c if s is not None) if any(s is not None for _, _, s, _ in c) else None
            c = [(i, x, s if isinstance(x, np.ndarray) else longest, lab) for i, x, s, lab in c]
        yield c
        n = size


def _here(net: Network, chunks: Iterator[list], seed: int, opts: dict, t0: float) -> Iterator[dict]:
    """The 1-worker mapper: chunks run in this process, the wall-clock budget shared by all of them."""
    from .errors import BudgetExceeded, RunInterrupted

    done = 0
    budget = opts["budget"]
    for c in chunks:
        left = None if budget is None else budget - (time.perf_counter() - t0)
        if left is not None and left <= 0:
            raise BudgetExceeded(f"wall-clock budget of {budget:g} s exceeded; {done} sample(s) finished")
        try:
            r = _run_chunk(c, net, seed, {**opts, "max_seconds": left})
        except (BudgetExceeded, RunInterrupted) as e:  # the samples of the earlier chunks count too
            e.samples_done += done
            raise
        done += len(r["columns"].get("index", ()))
        yield r


def _join(parts: list) -> Any:
    """`evsim.Spikes` of many runs as one, in sample order."""
    from .simulation import Spikes

    fs = ("times", "indices", "counts", "samples")
    cat = [np.concatenate([getattr(s, f) for s in parts]) for f in fs]
    order = np.argsort(cat[3], kind="stable")
    return Spikes(*(a[order] for a in cat))
