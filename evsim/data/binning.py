"""Events -> the model's input on its time grid, with the rule the training pipeline used.

`InputPipeline` is plain data: how one `EventArray` becomes one sample of ``evsim.run`` input (an `EventStream`
of frame index, flat input index and count). The steps, in order:

1. **time window** ``t_start``/``t_stop`` (seconds, on the file's clock): events outside are dropped;
2. **space**: ``crop = (x0, y0, w, h)`` keeps events inside and shifts them to the origin; ``downsample = f``
   multiplies coordinates by ``f`` and truncates (tonic's ``Downsample(spatial_factor=f)``: the new width is
   ``int((W - 1) f) + 1``); ``n_bins = k`` sums groups of ``k`` adjacent channels of a 1-D sensor and drops the
   ``W mod k`` last ones (SHD/SSC in SNN-delays: ``binned[:, i] = frames[:, k i : k (i + 1)].sum(1)``, width
   ``W // k``); ``polarity="merge"`` sums the polarities into one channel, ``"swap"`` puts polarity ``p`` in
   channel ``P - 1 - p`` (for a model trained with ON events in channel 0);
3. **time** with ``time_step`` seconds per frame (default: the model's ``dt``), by one of the named rules:

   * ``grid``: frame ``floor((t - t0) / time_step)`` with ``t0 = t_start`` if given, else 0 (``origin="zero"``:
     the recording's clock, as SHD's times from the stimulus onset) or the first event (``origin="first"``, for
     camera clocks that do not start at 0); frames: last frame + 1. evsim's own rule (`EventStream` times are steps).
   * ``spikingjelly``: frame ``(t - t_first) // time_step``, the last frame also taking the events at its end;
     frames ``ceil((t_last - t_first) / time_step)`` (at least 1). SpikingJelly's
     ``integrate_events_by_fixed_duration`` (for SHD: times x 1000 in ms, in the file's float type).
   * ``tonic``: windows ``[t_first + k w, t_first + (k + 1) w)``; frames ``floor((t_last - t_first - w) / w) + 1``
     (``include_incomplete``: ``ceil``), at least 1; events past the last window are dropped. tonic's
     ``ToFrame(time_window=w)`` (``slicers.SliceByTime``).

4. **layout**: a frame is ``(P, H, W)`` flattened in C order (the model's ``(C, H, W)`` input, C = polarity:
   tonic's ``ToFrame`` layout), index ``(p H + y) W + x``; ``binary=True`` clips counts to 1; ``steps = T``
   pads or crops every sample to ``T`` frames; ``pad="batch"`` runs each batch as long as its longest sample
   (silent frames after the shorter ones: SpikingJelly's ``pad_sequence_collate``, with which SNN-delays tested).

A model may carry its own pipeline (`Network.meta["input_pipeline"]`, a dict of these fields; an SNN-delays config
gives ``rule="spikingjelly"``, ``time_step``, ``n_bins``), so that ``evsim run`` needs nothing else.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, cast

import numpy as np

from ..errors import InputError
from ..simulation import EventStream
from .events import EventArray

__all__ = ["InputPipeline", "RULES", "frame_index", "to_stream", "raster"]

RULES = ("grid", "spikingjelly", "tonic")


@dataclasses.dataclass(frozen=True)
class InputPipeline:
    """How events become input on the model's grid (see the module docstring for each step and rule)."""

    rule: str = "grid"  # "grid" | "spikingjelly" | "tonic"
    time_step: float | None = None  # seconds per frame; None: the model's dt
    n_bins: int = 1  # channel binning of a 1-D sensor (SHD's n_bins)
    steps: int | None = None  # pad/crop every sample to this many frames
    t_start: float | None = None  # time window, seconds
    t_stop: float | None = None
    crop: tuple[int, int, int, int] | None = None  # (x0, y0, w, h)
    downsample: float = 1.0  # spatial factor (tonic Downsample)
    polarity: str = "channels"  # "channels" (channel = p) | "swap" (channel = P - 1 - p: OFF first) | "merge"
    include_incomplete: bool = False  # tonic rule: keep the last, shorter window
    binary: bool = False  # clip counts to 1
    origin: str = "zero"  # grid rule: frames counted from time 0 ("zero") or from the first event ("first")
    pad: str = "none"  # "batch": every sample of a batch runs as long as its longest (SpikingJelly's
    # pad_sequence_collate, as SNN-delays evaluated: the same --batch and order give the same padding)

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise InputError(f"input pipeline: unknown binning rule {self.rule!r}; expected one of {RULES}")
        if self.time_step is not None and not (math.isfinite(self.time_step) and self.time_step > 0):
            raise InputError(f"input pipeline: time_step must be a positive number of seconds, got {self.time_step}")
        if int(self.n_bins) != self.n_bins or self.n_bins < 1:
            raise InputError(f"input pipeline: n_bins must be a positive integer, got {self.n_bins}")
        if self.steps is not None and (int(self.steps) != self.steps or self.steps < 1):
            raise InputError(f"input pipeline: steps must be a positive integer, got {self.steps}")
        if not (0 < self.downsample <= 1):
            raise InputError(f"input pipeline: downsample must lie in (0, 1], got {self.downsample}")
        if self.pad not in ("none", "batch"):
            raise InputError(f"input pipeline: pad must be 'none' or 'batch', got {self.pad!r}")
        if self.origin not in ("zero", "first"):
            raise InputError(f"input pipeline: origin must be 'zero' or 'first', got {self.origin!r}")
        if self.polarity not in ("channels", "swap", "merge"):
            raise InputError(f"input pipeline: polarity must be 'channels', 'swap' or 'merge', got {self.polarity!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, **override: Any) -> "InputPipeline":
        """From a plain dict (a model's ``meta["input_pipeline"]``); ``override`` (None values ignored) wins."""
        d = dict(d or {})
        d.update({k: v for k, v in override.items() if v is not None})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InputError(f"input pipeline: unknown setting(s) {unknown}; known: {sorted(names)}")
        if d.get("crop") is not None:
            d["crop"] = tuple(int(v) for v in d["crop"])
        return cls(**d)

    def out_size(self, sensor_size: tuple[int, int, int]) -> tuple[int, int, int]:
        """The ``(W, H, P)`` of the frames this pipeline makes from a sensor of ``sensor_size``."""
        W, H, P = sensor_size
        if self.crop is not None:
            W, H = self.crop[2], self.crop[3]
        if self.downsample != 1:
            W, H = int((W - 1) * self.downsample) + 1, int((H - 1) * self.downsample) + 1
        if self.n_bins > 1:
            if H != 1:
                raise InputError(f"input pipeline: n_bins bins the channels of a 1-D sensor; this one is {W}x{H}")
            W = W // self.n_bins
        return (W, H, 1 if self.polarity == "merge" else P)


def _time_unit_step(ev: EventArray, step: float) -> Any:
    """The frame width in the events' own time unit: an int when it is a whole number of units."""
    w = step / ev.t_unit
    return int(round(w)) if abs(w - round(w)) < 1e-9 * max(1.0, w) and round(w) > 0 else w


MAX_FRAMES = 10_000_000  # a sample longer than this is a clock offset, not a recording


def frame_index(
    ev: EventArray, rule: str, time_step: float, include_incomplete: bool = False, t0: Any = 0
) -> tuple[Any, int]:
    """``(frame of each event, number of frames)`` under ``rule``; events with frame -1 are dropped. ``t0`` (grid
    rule): the time of frame 0, in the events' unit."""
    t = np.asarray(ev["t"])
    n = t.shape[0]
    if rule == "grid":
        w = _time_unit_step(ev, time_step)
        if t0:
            t = t - np.asarray(t0, dtype=t.dtype)
        if isinstance(w, int) and np.issubdtype(t.dtype, np.integer):
            k = t // w
        else:
            k = np.floor(t.astype(np.float64) / w * (1 + 1e-12) + 1e-9)
        k = k.astype(np.int64)
        return k, int(k[-1]) + 1 if n else 0
    if n == 0:
        return np.zeros(0, dtype=np.int64), 1
    if rule == "spikingjelly":
        if ev.t_unit == 1.0 and np.issubdtype(t.dtype, np.floating):  # SHD: 1000 * seconds, ms, in the file's type
            tt, dur = 1000 * t, _whole(time_step * 1000)
        else:
            tt, dur = t, _time_unit_step(ev, time_step)
        tt = tt - tt.min()
        frames = max(1, math.ceil(tt[-1] / dur))
        k = np.minimum((tt // dur).astype(np.int64), frames - 1)
        return k, frames
    if rule == "tonic":
        w = _time_unit_step(ev, time_step)
        duration = t[-1] - t[0]
        n_slices = int(np.ceil((duration - w) / w) + 1) if include_incomplete else int(np.floor((duration - w) / w) + 1)
        n_slices = max(n_slices, 1)
        starts = np.arange(n_slices) * w + t[0]
        ends = starts + w  # tonic: window j holds starts[j] <= t < ends[j]; windows do not overlap
        k = np.searchsorted(starts, t, side="right") - 1  # the last window starting at or before t
        inside = (k >= 0) & (t < ends[np.clip(k, 0, n_slices - 1)])
        return np.where(inside, k, -1).astype(np.int64), n_slices
    raise InputError(f"unknown binning rule {rule!r}; expected one of {RULES}")


def _whole(v: float) -> Any:
    return int(round(v)) if abs(v - round(v)) < 1e-9 else v


def select(ev: EventArray, pipe: InputPipeline) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 1, 2 and 4 of ``pipe`` (time window, space, layout) without the time binning: which events are kept
    (a mask over ``ev``), and the kept events' flat input index and value (for `to_stream`, and for exact mode's
    inputs, which keep each event's own time)."""
    names = ev.dtype.names or ()
    keep = np.ones(len(ev), dtype=bool)
    sec = ev.seconds()
    if pipe.t_start is not None:
        keep &= sec >= pipe.t_start
    if pipe.t_stop is not None:
        keep &= sec < pipe.t_stop
    x = np.asarray(ev["x"], dtype=np.int64)
    y = np.asarray(ev["y"], dtype=np.int64) if "y" in names else np.zeros(len(ev), dtype=np.int64)
    p = np.asarray(ev["p"], dtype=np.int64) if "p" in names else np.zeros(len(ev), dtype=np.int64)
    if pipe.crop is not None:
        x0, y0, w, h = pipe.crop
        keep &= (x >= x0) & (x < x0 + w) & (y >= y0) & (y < y0 + h)
        x, y = x - x0, y - y0
    if pipe.downsample != 1:
        x = (x * pipe.downsample).astype(np.int64)
        y = (y * pipe.downsample).astype(np.int64)
    W, H, P = pipe.out_size(ev.sensor_size)
    if pipe.n_bins > 1:
        x = x // pipe.n_bins
        keep &= x < W
    if pipe.polarity == "merge":
        p = np.zeros_like(p)
    elif pipe.polarity == "swap":
        p = (P - 1) - p
    flat = ((p[keep] * H + y[keep]) * W + x[keep]).astype(np.int64)
    vals = np.asarray(ev["v"][keep], dtype=np.float64) if "v" in names else np.ones(flat.shape[0])
    return keep, flat, vals


def to_stream(ev: EventArray, pipe: InputPipeline, dt: float | None, where: str = "events") -> tuple[EventStream, int]:
    """One sample's events as an `EventStream` on the model's grid (frame index, flat index, count) and its number
    of frames, per ``pipe`` (``time_step`` defaults to ``dt``)."""
    step = pipe.time_step if pipe.time_step is not None else dt
    if step is None:
        raise InputError(
            f"{where}: the model counts time in steps, not seconds: give the input's seconds per step "
            "(--time-step SECONDS, or the model's --dt)"
        )
    keep, flat, vals = select(ev, pipe)
    sel = cast(EventArray, ev[keep]) if not keep.all() else ev
    t0: Any = 0
    if pipe.t_start is not None:
        t0 = pipe.t_start / ev.t_unit
        t0 = int(round(t0)) if np.issubdtype(ev.dtype["t"], np.integer) and t0 == round(t0) else t0
    elif pipe.origin == "first" and len(ev):
        t0 = ev["t"][0]
    k, frames = frame_index(sel, pipe.rule, step, pipe.include_incomplete, t0)
    if frames > MAX_FRAMES:
        raise InputError(
            f"{where}: field 't': the last event is {frames} frames of {step:g} s after the origin; a clock that does "
            "not start at 0? count frames from the first event (--origin first) or set a --window"
        )
    ok = k >= 0
    if pipe.steps is not None:
        ok &= k < pipe.steps
        frames = int(pipe.steps)
    W, H, P = pipe.out_size(ev.sensor_size)
    n = W * H * P
    key = k[ok] * n + flat[ok]
    if frames * n <= 4 * key.shape[0] + 4096:  # a dense count is cheaper than sorting the keys
        dense = np.bincount(key, weights=vals[ok], minlength=frames * n)
        uniq = np.flatnonzero(dense)
        counts = dense[uniq]
    else:
        uniq, inv = np.unique(key, return_inverse=True)
        counts = np.bincount(inv.ravel(), weights=vals[ok], minlength=uniq.shape[0])
    if pipe.binary:
        counts = np.minimum(counts, 1.0)
    return EventStream(uniq // n, uniq % n, counts), int(frames)


def raster(ev: EventArray, pipe: InputPipeline, dt: float | None = None) -> np.ndarray:
    """One sample as a dense ``[T, P, H, W]`` array of counts (tonic's ``ToFrame`` layout)."""
    s, T = to_stream(ev, pipe, dt)
    W, H, P = pipe.out_size(ev.sensor_size)
    out = np.zeros((T, P * H * W))
    np.add.at(out, (s.times, s.indices), 1.0 if s.values is None else s.values)
    return out.reshape(T, P, H, W)
