"""lava-dl netx HDF5 (``network.net``) -> `evsim.Network`.

lava-dl's SLAYER exports a trained network as an HDF5 file (``slayer`` blocks' ``export_hdf5``; read back into Lava
by ``lava.lib.dl.netx.hdf5.Network``). Layout: ``layer/<i>`` groups in order, each with ``type`` (``dense``,
``conv``, ``input``, ``flatten``, ...), and for a dense layer ``weight`` [out, in] in hardware units, ``shape``,
and ``neuron/`` with ``type`` (``CUBA``), ``iDecay``, ``vDecay`` (out of 4096), ``vThMant``, ``refDelay``,
``gradedSpike``.

Semantics (lava-dl ``slayer/neuron/cuba.py``, ``slayer/block`` with ``delay_shift=True``; the same units as the
NIR docs' ``examples/lava/lava_to_nir.py``): per step, in units where the threshold is ``vThMant / 64``::

    u <- (1 - iDecay/4096) u + (weight / 64) @ s_in
    v <- (1 - vDecay/4096) v + u
    spike if v > vThMant / 64  (Loihi compares v > vth on its integer grid); then v = 0

and each layer's spikes reach the next layer one step later (Loihi's one-step latency per layer; slayer's
``delay_shift``). Loihi and lava-dl compute this in fixed point (states on a grid of 1/4096, decays truncated
towards zero every step); evsim computes it in float64, so membranes differ from the fixed-point ones by that
rounding and a spike can move when the fixed-point membrane lands within rounding of the threshold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelFileError
from ..network import Network, Population, Projection
from ..neurons import CubaLIF

W_SCALE = 64  # weight and threshold mantissa scale (lava-dl cuba neuron: scale = 1 << 6)
P_SCALE = 4096  # decay scale (p_scale = 1 << 12)


def _scalar(group, key: str, where: str) -> int:
    if key not in group:
        raise ModelFileError(f"{where}: missing 'neuron/{key}'")
    a = np.asarray(group[key][()]).reshape(-1)
    if a.size != 1:
        raise ModelFileError(f"{where}: per-neuron 'neuron/{key}' is not supported (got {a.size} values)")
    if not (np.issubdtype(a.dtype, np.number) and np.isfinite(a[0]) and a[0] == np.round(a[0]) and abs(a[0]) < 2**31):
        raise ModelFileError(f"{where}: 'neuron/{key}' must be a finite whole number, got {a[0]!r}")
    return int(a[0])


def _text(value) -> str:
    v = np.asarray(value).reshape(-1)
    if v.size == 0:
        return "?"
    v = v[0]
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _item(g, key: str, where: str, kind: str = "dataset"):
    import h5py

    obj = g.get(key) if hasattr(g, "get") else None
    want = h5py.Group if kind == "group" else h5py.Dataset
    if not isinstance(obj, want):
        raise ModelFileError(f"{where}: missing {kind} {key!r}")
    return obj


def load_netx(path: str | Path, *, latency: int = 1) -> Network:
    """Read a lava-dl netx ``.net`` file of dense CUBA layers (``latency`` steps per layer; Loihi: 1)."""
    import h5py

    from .h5safe import check_hdf5, read_checked

    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"{p}: no such file")
    if not h5py.is_hdf5(p):
        raise ModelFileError(f"{p}: not an HDF5 file (a lava-dl netx network is HDF5)")
    check_hdf5(p)
    if int(latency) != latency or not 0 <= latency < 2**16:
        raise ModelFileError(f"latency must be a whole number of steps >= 0, got {latency!r}")
    return read_checked(p, lambda: _read(h5py.File(p, "r"), p, int(latency)), "cannot read this netx network")


def _read(f, p: Path, latency: int) -> Network:
    import h5py

    with f:
        if not isinstance(f.get("layer"), h5py.Group):
            raise ModelFileError(f"{p}: no 'layer' group; not a lava-dl netx network")
        keys = sorted(f["layer"].keys(), key=lambda k: int(k) if k.isdigit() else -1)
        pops: list[Population] = []
        projs: list[Projection] = []
        prev: str | None = None
        prev_n: int | None = None
        for k in keys:
            where = f"{p}: layer/{k}"
            g = _item(f["layer"], k, where, "group")
            kind = _text(_item(g, "type", where)[()])
            if kind == "input":
                shape = np.asarray(_item(g, "shape", where)[()]).reshape(-1)
                if not (np.issubdtype(shape.dtype, np.integer) and shape.size and np.all(shape > 0)):
                    raise ModelFileError(f"{where}: input shape must be positive whole numbers, got {shape.tolist()}")
                n = 1
                for d in shape:
                    n *= int(d)
                if n > 2**31:
                    raise ModelFileError(f"{where}: an input of {n} neurons (shape {shape.tolist()}) is refused")
                pops.append(Population("input", n, None, (n,)))
                prev, prev_n = "input", n
                continue
            if kind != "dense":
                raise ModelFileError(
                    f"{where}: layer type {kind!r} is not supported by the netx reader yet (dense CUBA layers only)"
                )
            w_raw = np.asarray(_item(g, "weight", where)[()])
            if not np.issubdtype(w_raw.dtype, np.number) or np.iscomplexobj(w_raw):
                raise ModelFileError(f"{where}: weight must hold real numbers, got {w_raw.dtype}")
            w = w_raw.astype(np.float64)
            if w.ndim == 1:
                w = w[None, :]
            if w.ndim != 2 or 0 in w.shape or not np.all(np.isfinite(w)):
                raise ModelFileError(f"{where}: weight must be a finite 2-D matrix, got shape {w.shape}")
            if prev is None:
                pops.append(Population("input", w.shape[1], None, (w.shape[1],)))
                prev, prev_n = "input", w.shape[1]
            if w.shape[1] != prev_n:
                raise ModelFileError(f"{where}: weight takes {w.shape[1]} inputs but the layer before gives {prev_n}")
            if "bias" in g:
                raise ModelFileError(f"{where}: dense layers with a bias are not supported by the netx reader yet")
            if "delay" in g:
                raise ModelFileError(f"{where}: axonal delays are not supported by the netx reader yet")
            ng = _item(g, "neuron", where, "group")
            ntype = _text(ng["type"][()]) if "type" in ng else "?"
            if ntype not in ("CUBA", "LOIHI"):
                raise ModelFileError(f"{where}: neuron type {ntype!r} is not supported (CUBA only)")
            graded = np.asarray(ng["gradedSpike"][()]).reshape(-1) if "gradedSpike" in ng else np.zeros(1)
            if graded.size != 1 or graded.dtype.kind not in "biuf":
                raise ModelFileError(f"{where}: 'neuron/gradedSpike' must be one boolean, got {graded.tolist()[:3]}")
            if bool(graded[0]):
                raise ModelFileError(f"{where}: graded spikes are not supported")
            i_decay, v_decay = _scalar(ng, "iDecay", where), _scalar(ng, "vDecay", where)
            v_th, ref = _scalar(ng, "vThMant", where), _scalar(ng, "refDelay", where)
            if ref != 1:
                raise ModelFileError(f"{where}: refDelay {ref} is not supported (1: no refractory period)")
            if v_th <= 0:
                raise ModelFileError(f"{where}: 'neuron/vThMant' must be > 0, got {v_th}")
            if not (0 <= i_decay <= P_SCALE and 0 <= v_decay <= P_SCALE):
                raise ModelFileError(
                    f"{where}: decays must lie in 0..{P_SCALE}, got iDecay {i_decay}, vDecay {v_decay}"
                )
            n = w.shape[0]
            name = f"layer{k}"
            neuron = CubaLIF(
                n, 1.0 - i_decay / P_SCALE, 1.0 - v_decay / P_SCALE, v_th / W_SCALE, reset="zero", threshold_op=">"
            )
            pops.append(Population(name, n, neuron, (n,)))
            projs.append(Projection.from_dense(f"{prev}->{name}", prev, name, w / W_SCALE, latency))
            prev, prev_n = name, n
    if prev is None or prev == "input":
        raise ModelFileError(f"{p}: no dense layer found")
    meta = dict(
        source=str(p),
        format="lava-dl netx",
        dialect="lava-dl",
        settings=dict(dt=1e-4, latency=latency, w_scale=W_SCALE, p_scale=P_SCALE),
    )
    return Network(tuple(pops), tuple(projs), ("input",), (prev,), dt=1e-4, meta=meta)
