"""The one event type of `evsim.data`: a tonic-style structured array that knows its sensor and its time unit.

`EventArray` is a NumPy structured array (a subclass: ``ev["x"]``, ``ev.dtype.names``, slicing, ``len`` all work as
on tonic's arrays) with fields

* ``t``: time stamp of each event, in ``ev.t_unit`` seconds per unit (1e-6 for camera files and tonic, whose
  stamps are integer microseconds; 1.0 for SHD/SSC, whose stamps are float seconds), non-decreasing;
* ``x``: column (or channel: SHD's unit), ``y`` (optional) row, ``p`` (optional) polarity / channel;
* ``v`` (optional): a value per event (default 1: a spike), for NIR's valued events.

and ``ev.sensor_size = (W, H, P)`` in tonic's order. The flat input index of an event in the model's
``(C, H, W)`` layout (C order, C = polarity) is ``(p * H + y) * W + x`` (`flat_index`).

`as_events` accepts any structured array whose fields are found by name, in any order and of any numeric dtype
(tonic's ``x, y, t, p``; expelliarmus' ``t, x, y, p``; aedat's ``t, x, y, on``; SHD's ``t, x``), and checks it once:
times finite, non-negative and in order, coordinates inside the sensor. Every error names the source, sample and
field.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError

__all__ = ["EventArray", "as_events", "flat_index"]

ALIASES = {"t": ("t", "ts", "time", "times", "timestamp"), "x": ("x", "unit", "units", "idx", "addr"),
           "y": ("y",), "p": ("p", "pol", "polarity", "on"), "v": ("v", "value", "values")}  # fmt: skip


class EventArray(np.ndarray):
    """A structured array of events (see the module docstring) with ``sensor_size`` (W, H, P) and ``t_unit``."""

    sensor_size: tuple[int, int, int]
    t_unit: float

    def __new__(cls, a: np.ndarray, sensor_size: tuple[int, int, int], t_unit: float) -> "EventArray":
        obj = np.asarray(a).view(cls)
        obj.sensor_size = tuple(int(s) for s in sensor_size)  # type: ignore[assignment]
        obj.t_unit = float(t_unit)
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.sensor_size = getattr(obj, "sensor_size", (0, 1, 1))
        self.t_unit = getattr(obj, "t_unit", 1e-6)

    def __repr__(self) -> str:
        W, H, P = self.sensor_size
        span = (float(self["t"][-1] - self["t"][0]) * self.t_unit) if len(self) else 0.0
        return f"EventArray({len(self)} events, sensor {W}x{H}x{P}, {span:g} s, fields {self.dtype.names})"

    @property
    def n_channels(self) -> int:
        """Input neurons of the flat layout: ``P * H * W``."""
        W, H, P = self.sensor_size
        return W * H * P

    def seconds(self) -> np.ndarray:
        """Event times in seconds (float64)."""
        return np.asarray(self["t"], dtype=np.float64) * self.t_unit


def flat_index(ev: EventArray) -> np.ndarray:
    """Each event's flat input index in the ``(P, H, W)`` layout: ``(p * H + y) * W + x`` (int64)."""
    W, H, _ = ev.sensor_size
    names = ev.dtype.names or ()
    i = np.asarray(ev["x"], dtype=np.int64)
    if "y" in names:
        i = i + W * np.asarray(ev["y"], dtype=np.int64)
    if "p" in names:
        i = i + W * H * np.asarray(ev["p"], dtype=np.int64)
    return i


def as_events(
    a: Any,
    sensor_size: Any = None,
    *,
    t_unit: float = 1e-6,
    where: str = "events",
    sort: bool = False,
) -> EventArray:
    """Check and normalise a structured array (or an `EventArray`, or a dict of equal-length arrays) into an
    `EventArray` with fields ``x[, y], t[, p][, v]``. ``sensor_size`` (W, H, P) defaults to the array's own, else to
    the largest coordinates + 1. Times must be non-decreasing unless ``sort=True`` (then sorted, stably).
    Raises `InputError` naming ``where`` and the field."""
    if isinstance(a, EventArray):
        sensor_size = a.sensor_size if sensor_size is None else sensor_size
        t_unit = a.t_unit
    if isinstance(a, dict):
        fields = {k: np.asarray(v) for k, v in a.items()}
    else:
        arr = np.asarray(a)
        if arr.dtype.names is None:
            raise InputError(f"{where}: expected a structured array with fields x, t (and y, p), got dtype {arr.dtype}")
        if arr.ndim != 1:
            raise InputError(f"{where}: expected a 1-D structured array of events, got shape {arr.shape}")
        fields = {k: arr[k] for k in arr.dtype.names}
    found: dict[str, np.ndarray] = {}
    used = set()
    for key, names in ALIASES.items():
        for n in names:
            if n in fields:
                found[key] = fields[n]
                used.add(n)
                break
    unknown = sorted(set(fields) - used)
    if unknown or "t" not in found or "x" not in found:
        raise InputError(
            f"{where}: unknown or missing event fields: has {sorted(fields)}, expected t and x (and optionally y, p, v;"
            f" also named {', '.join(n for k in ALIASES for n in ALIASES[k][1:])})"
        )
    n = found["t"].shape[0]
    for k, v in found.items():
        if v.ndim != 1 or v.shape[0] != n:
            raise InputError(f"{where}: field {k!r} has shape {v.shape}, but there are {n} time stamps")
        if not (np.issubdtype(v.dtype, np.number) or v.dtype == bool):
            raise InputError(f"{where}: field {k!r} has dtype {v.dtype}, expected numbers")
    t = found["t"]
    if n and np.issubdtype(t.dtype, np.floating) and not np.all(np.isfinite(t)):
        j = int(np.flatnonzero(~np.isfinite(t))[0])
        raise InputError(f"{where}: field 't': event {j} has time {t[j]} (NaN or infinite)")
    if n and t.min() < 0:
        j = int(np.argmin(t))
        raise InputError(f"{where}: field 't': event {j} has a negative time {t[j]}")
    if n > 1 and np.any(t[1:] < t[:-1]):
        if not sort:
            j = int(np.flatnonzero(t[1:] < t[:-1])[0]) + 1
            raise InputError(f"{where}: field 't': time stamps out of order at event {j} ({t[j - 1]} then {t[j]})")
        order = np.argsort(t, kind="stable")
        found = {k: v[order] for k, v in found.items()}
    if "p" in found and found["p"].size and found["p"].min() < 0:
        if not np.all(np.isin(found["p"], (-1, 1))):
            raise InputError(f"{where}: field 'p': polarities must be 0/1 (or -1/1), got {np.unique(found['p'])[:5]}")
        found["p"] = (found["p"] > 0).astype(np.int16)  # -1/1 -> 0/1
    for k in ("x", "y", "p"):
        if k in found and found[k].size:
            v = found[k]
            if not np.issubdtype(v.dtype, np.integer) and v.dtype != bool:
                if not np.all(v == np.round(v)):
                    raise InputError(f"{where}: field {k!r} holds non-integer coordinates")
            if v.min() < 0:
                raise InputError(f"{where}: field {k!r}: event {int(np.argmin(v))} has a negative coordinate {v.min()}")
    if "v" in found and found["v"].size and not np.all(np.isfinite(found["v"])):
        raise InputError(f"{where}: field 'v' contains NaN or infinite values")
    size = _sensor(found, sensor_size, where)
    dt_t = t.dtype if np.issubdtype(t.dtype, np.floating) else np.int64  # keep float16/32: binning rules use it
    dtype = [("x", "<i4")] + ([("y", "<i4")] if "y" in found else []) + [("t", dt_t)]
    dtype += ([("p", "<i2")] if "p" in found else []) + ([("v", "<f8")] if "v" in found else [])
    out = np.empty(n, dtype=dtype)
    for k in out.dtype.names or ():
        out[k] = found[k]
    return EventArray(out, size, t_unit)


def _sensor(found: dict[str, np.ndarray], sensor_size: Any, where: str) -> tuple[int, int, int]:
    def top(k: str) -> int:
        return int(found[k].max()) + 1 if k in found and found[k].size else 1

    if sensor_size is None:
        return (top("x"), top("y"), max(top("p"), 1))
    s = tuple(int(v) for v in sensor_size)
    if len(s) == 1:
        s = (s[0], 1, 1)
    elif len(s) == 2:
        s = (s[0], s[1], 1)
    if len(s) != 3 or min(s) < 1:
        raise InputError(f"{where}: sensor_size must be (W, H, P) with positive sizes, got {sensor_size!r}")
    for k, lim in zip(("x", "y", "p"), s):
        if k in found and found[k].size and int(found[k].max()) >= lim:
            j = int(np.argmax(found[k]))
            raise InputError(
                f"{where}: field {k!r}: event {j} has {k} = {int(found[k][j])}, outside the sensor "
                f"(W, H, P) = {s} (expected {k} < {lim})"
            )
    return s  # type: ignore[return-value]
