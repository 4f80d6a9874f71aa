"""A dataset's samples as the model's input: `model_inputs` (streamed, checked), `materialise` (one dense batch for
`verify` and `report`), and `run_dataset`, the in-process entry point of the one dataset runner (`evsim.parallel`).

`model_inputs(net, ds, pipe)` turns a dataset's samples into what `evsim.run` takes, one ``(input, steps, label)``
per sample, checking each against the model's input port (width, (C, H, W) layout); `run_dataset` runs them.
`run_dataset` is `evsim.run_dataset` (`evsim.parallel`) in this process: one runner for every path.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from .. import limits
from ..errors import InputError
from ..network import Network
from .binning import InputPipeline, to_stream
from .dataset import _Timed

__all__ = ["model_inputs", "run_dataset", "pipeline_for", "materialise"]


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
    """``(input, steps, label)`` per sample of ``ds`` (at most ``limit``), on the model's grid; the model's port
    is checked and the dataset bound to its time step at once (then ``len(ds)`` is known), the samples read lazily."""
    if len(net.inputs) != 1:
        raise InputError(f"the model has {len(net.inputs)} input ports {list(net.inputs)}; datasets feed one")
    if hasattr(ds, "bind"):
        ds.bind(_seconds(net) or pipe.time_step)
    return _inputs(net, ds, pipe, limit)


def _inputs(net: Network, ds: Any, pipe: InputPipeline, limit: int | None) -> Iterator[tuple[Any, int, Any]]:
    port = net.population(net.inputs[0])
    n_in, shape = port.size, tuple(port.shape or (port.size,))
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


def run_dataset(net: Network, ds: Any, pipe: InputPipeline | None = None, *, batch: int = 32, **kw: Any) -> Any:
    """`evsim.run_dataset` in this process (``workers=1``), ``batch`` samples per chunk, each sample's output per
    step kept (``keep_output=True``), a sample's error raised and the first sample run alone (the warm-up), as
    `evsim run --input` wants them."""
    from ..parallel import run_dataset as run_all

    kw = {"workers": 1, "keep_output": True, "errors": "raise", "warmup": True, **kw}
    if int(batch) != batch or batch < 1:
        raise InputError(f"batch must be a positive integer, got {batch!r}")
    return run_all(net, ds, pipe, chunk=int(batch), **kw)


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
