"""Run a model over a whole dataset, streaming: samples are read, binned and run a batch at a time, and only the
per-sample figures (prediction, label, SOPs, output spike counts) are kept, so memory does not grow with the file
(unless every population's spikes are recorded).

`model_inputs(net, ds, pipe)` turns a dataset's samples into what `evsim.run` takes, one ``(input, steps, label)``
per sample, checking each against the model's input port (width, (C, H, W) layout); `run_dataset` runs them.
Samples run for their own number of frames; samples of one batch with the same length run in one `evsim.run`.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Iterator

import numpy as np

from .. import limits
from ..errors import BudgetExceeded, InputError, RunInterrupted
from ..network import Network
from ..simulation import Spikes, run
from .binning import InputPipeline, to_stream
from .dataset import _Timed

__all__ = ["model_inputs", "run_dataset", "DatasetResult", "pipeline_for", "materialise"]


def _seconds(net: Network) -> float | None:
    """Seconds per step of the model, None when it counts time in steps (then the input needs --time-step)."""
    return getattr(net, "seconds_per_step", net.dt)


def pipeline_for(net: Network, **override: Any) -> InputPipeline:
    """The model's own input pipeline (``net.meta["input_pipeline"]``, e.g. from an SNN-delays config) with
    ``override`` (None values ignored) on top."""
    return InputPipeline.from_dict(net.meta.get("input_pipeline"), **override)


def model_inputs(
    net: Network, ds: Any, pipe: InputPipeline, limit: int | None = None
) -> Iterator[tuple[Any, int, Any]]:
    """``(input, steps, label)`` per sample of ``ds`` (at most ``limit``), on the model's grid."""
    if len(net.inputs) != 1:
        raise InputError(f"the model has {len(net.inputs)} input ports {list(net.inputs)}; datasets feed one")
    port = net.population(net.inputs[0])
    n_in, shape = port.size, tuple(port.shape or (port.size,))
    if hasattr(ds, "bind"):
        ds.bind(_seconds(net) or pipe.time_step)
    src = getattr(ds, "path", type(ds).__name__)
    for i, (sample, label) in enumerate(ds):
        if limit is not None and i >= limit:
            return
        where = f"{src}: sample {i}"
        if isinstance(sample, _Timed):
            yield sample.stream, sample.steps, label
        elif isinstance(sample, np.ndarray) and sample.dtype.names is None:
            yield sample, int(sample.shape[0]), label
        else:
            W, H, P = pipe.out_size(sample.sensor_size)
            one_d = H == 1 and P == 1
            if not one_d and (P * H * W != n_in or (len(shape) == 3 and shape != (P, H, W))):
                raise InputError(
                    f"{where}: frames of (C, H, W) = ({P}, {H}, {W}) from the sensor {sample.sensor_size} (W, H, P) do "
                    f"not fit the model's input {shape}; crop, downsample or merge polarities (--crop, --downsample, "
                    "--polarity merge)"
                )
            s, T = to_stream(sample, pipe, _seconds(net), where=where)
            if one_d and s.indices.size and s.indices.max() >= n_in:
                field = "spikes/units" if getattr(ds, "kind", "") == "shd" else "x"
                u = int(s.indices.max()) * pipe.n_bins
                raise InputError(
                    f"{where}: field {field!r}: unit {u}"
                    + (f" (channel {int(s.indices.max())} after n_bins={pipe.n_bins})" if pipe.n_bins > 1 else "")
                    + f" is beyond the model's width of {n_in} inputs"
                )
            yield s, T, label


@dataclasses.dataclass
class DatasetResult:
    """Per-sample figures of a run over a dataset (``B`` samples)."""

    predictions: np.ndarray  # [B]
    labels: np.ndarray | None  # [B], when every sample has one
    sops: np.ndarray  # [B]
    sops_by_projection: dict[str, np.ndarray]  # projection -> [B]
    output_counts: np.ndarray  # [B, n_out] output spikes per neuron (summed over steps)
    steps: np.ndarray  # [B] frames each sample ran for
    output: list[np.ndarray]  # per sample [T_b, n_out] (empty with keep_output=False)
    spikes: dict[str, Spikes] | None  # every population, when recorded (sample index = position in the dataset)
    run_seconds: float  # after warm-up (the first batch, which compiles)
    warmup_seconds: float

    @property
    def n(self) -> int:
        return int(self.predictions.shape[0])

    def accuracy(self) -> float | None:
        return None if self.labels is None else float(np.mean(self.predictions == self.labels))


def run_dataset(
    net: Network,
    ds: Any,
    pipe: InputPipeline | None = None,
    *,
    batch: int = 32,
    limit: int | None = None,
    progress: bool = False,
    threads: int = 1,
    record: bool = False,
    keep_output: bool = True,
    max_seconds: float | None = None,
    max_events: int | None = None,
) -> DatasetResult:
    """Run ``net`` over ``ds`` (an `evsim.data.open` dataset) in batches of ``batch`` samples; see the module
    docstring. ``record=True`` keeps every population's spikes; ``keep_output=False`` keeps only the per-sample
    figures (not the output per step), so memory stays flat over any number of samples. ``max_seconds`` bounds the
    whole run's wall-clock time, ``max_events`` each sample's synaptic events (`evsim.run`'s budgets)."""
    pipe = pipe or pipeline_for(net)
    if int(batch) != batch or batch < 1:
        raise InputError(f"batch must be a positive integer, got {batch!r}")
    if hasattr(ds, "bind"):
        ds.bind(_seconds(net) or pipe.time_step)
    total = len(ds) if limit is None else min(len(ds), limit)
    if total == 0:
        raise InputError(f"{getattr(ds, 'path', 'the dataset')}: holds no sample")
    it = model_inputs(net, ds, pipe, limit)
    preds, labels, sops, steps, counts, outs = [], [], [], [], [], []
    by_proj: dict[str, list] = {}
    spikes: dict[str, list] = {}
    bar = None
    t_start = time.perf_counter()
    warm = 0.0
    done = 0
    first = True
    while True:
        # the first batch is one sample (the warm-up), unless batches are padded together (then it is a whole one)
        size = 1 if first and pipe.pad != "batch" else int(batch)
        chunk = [s for _, s in zip(range(size), it)]
        if not chunk:
            break
        if pipe.pad == "batch":
            longest = max(T for _, T, _ in chunk)
            chunk = [(x, longest if not isinstance(x, np.ndarray) else T, lab) for x, T, lab in chunk]
        groups: dict[int, list[int]] = {}
        for k, (_, T, _) in enumerate(chunk):
            groups.setdefault(T, []).append(k)
        per: list[Any] = [None] * len(chunk)
        for T, ks in groups.items():
            xs = [chunk[k][0] for k in ks]
            x = np.stack(xs) if isinstance(xs[0], np.ndarray) else xs
            left = None if max_seconds is None else max_seconds - (time.perf_counter() - t_start)
            if left is not None and left <= 0:
                raise BudgetExceeded(f"wall-clock budget of {max_seconds:g} s exceeded; {done} sample(s) finished")
            try:
                res = run(
                    net,
                    x,
                    steps=None if isinstance(xs[0], np.ndarray) else T,
                    threads=threads,
                    max_seconds=left,
                    max_events=max_events,
                )
            except (BudgetExceeded, RunInterrupted) as e:  # count the samples of the earlier batches too
                e.samples_done = done + (e.samples_done if len(groups) == 1 else 0)
                raise
            out = np.asarray(res.output)
            out = out.reshape(len(ks), -1, out.shape[-1])  # [B, T, n_out] (a layered model's T may be longer)
            pred = np.atleast_1d(res.predictions())
            sp = np.atleast_1d(res.sops)
            for j, k in enumerate(ks):
                per[k] = (pred[j], sp[j], {q: np.atleast_1d(v)[j] for q, v in res.sops_by_projection.items()}, out[j])
            if record:
                for name, s in res.spikes.items():
                    idx = np.asarray(ks, dtype=np.int64)[s.samples] + done
                    spikes.setdefault(name, []).append(Spikes(s.times, s.indices, s.counts, idx))
        for k, (_, T, lab) in enumerate(chunk):
            p, s, q, o = per[k]
            preds.append(int(p))
            sops.append(int(s))
            steps.append(int(T))
            labels.append(lab)
            if keep_output:
                outs.append(o)
            counts.append(o.sum(axis=0))
            for name, v in q.items():
                by_proj.setdefault(name, []).append(int(v))
        done += len(chunk)
        if first:
            first = False
            warm = time.perf_counter() - t_start
            if progress and total > 1:
                from tqdm.auto import tqdm

                # started after the warm-up sample (compilation), so its rate and estimate are those of the run
                bar = tqdm(total=total, initial=done, desc="samples", unit="sample")
        elif bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - t_start
    have = all(lab is not None for lab in labels)
    rec = None
    if record:
        fs = ("times", "indices", "counts", "samples")
        rec = {n: Spikes(*(np.concatenate([getattr(s, f) for s in v]) for f in fs)) for n, v in spikes.items()}
    return DatasetResult(
        predictions=np.asarray(preds, dtype=np.int64),
        labels=np.asarray(labels, dtype=np.int64) if have else None,
        sops=np.asarray(sops, dtype=np.int64),
        sops_by_projection={q: np.asarray(v, dtype=np.int64) for q, v in by_proj.items()},
        output_counts=np.stack(counts),
        steps=np.asarray(steps, dtype=np.int64),
        output=outs,
        spikes=rec,
        run_seconds=elapsed - warm,
        warmup_seconds=warm,
    )


def materialise(net: Network, ds: Any, pipe: InputPipeline, limit: int | None = None) -> tuple[Any, Any]:
    """All samples (at most ``limit``) as one `evsim.run` input and the labels: for `verify` and `report`, which
    need the whole batch as one dense array (shorter samples are padded with silence to the longest)."""
    items = list(model_inputs(net, ds, pipe, limit))
    if not items:
        raise InputError(f"{getattr(ds, 'path', 'the dataset')}: holds no sample")
    labs = [lab for _, _, lab in items]
    labels = np.asarray(labs, dtype=np.int64) if all(v is not None for v in labs) else None
    if isinstance(items[0][0], np.ndarray):
        Ts = {T for _, T, _ in items}
        if len(Ts) != 1:
            raise InputError("dense samples of different lengths cannot form one batch")
        return np.stack([x for x, _, _ in items]), labels
    T = max(T for _, T, _ in items)
    n = net.population(net.inputs[0]).size
    limits.check_memory(
        f"the input as one dense batch ({len(items)} samples x {T} steps x {n} inputs)",
        4.0 * len(items) * T * n,
        "verify/report fewer samples (--limit N)",
    )
    x = np.zeros((len(items), T, n), dtype=np.float32)  # dense: a silent tail pads each sample to the longest
    for b, (s, _, _) in enumerate(items):
        np.add.at(x[b], (s.times, s.indices), s.values)
    return x, labels
