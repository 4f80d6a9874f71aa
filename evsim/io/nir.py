"""NIR import: `load` a `.nir` graph (NIR 1.0.x, HDF5) as an `evsim.Network`, and `read_graph` with clear errors.

`load` is the entry point of every model file: it dispatches evsim's own compiled files (`evsim.io.native`),
SNN-delays checkpoints, lava-dl netx files and NIR graphs, reads a NIR file (`read_graph`: checked before NIR's
reader loads it), settles the time semantics (`Settings` from a dialect and explicit settings) and builds the
network. The conversion lives in three places, each a lookup table or a walk:

* `evsim.io.nir_graph`: the graph walk (nested graphs inlined, linear nodes fused into projections, learned-delay
  groups merged, recurrent back edges found): `from_graph`;
* `evsim.io.nir_neurons`: neuron node type -> `evsim.neurons` parameters (`NEURON_CONVERTERS`), `Settings`;
* `evsim.io.linear`: linear node type -> operator (`LINEAR_CONVERTERS`); `evsim.io.nir_exact`: continuous time.

The names of those modules stay importable from here (``from evsim.io.nir import from_graph, Settings, ...``).
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..dialects import get_dialect
from ..errors import EvsimError, ModelFileError
from ..network import ConvProjection, Network
from .h5safe import check_hdf5, read_checked

# Moved to evsim.io.nir_graph / nir_neurons; re-exported: callers import them from here.
from .nir_graph import (  # noqa: F401
    BYTES_PER_NEURON,
    NODE_SETTINGS,
    PLANNED,
    _back_edges,
    _flatten,
    _layered_meta,
    _projections,
    _shape,
    _size,
    from_graph,
)
from .nir_neurons import (  # noqa: F401
    NEURON_CONVERTERS,
    NEURON_TYPES,
    Settings,
    _check_time_constants,
    _integrator,
    _neuron,
    _param,
    _threshold,
    converting,
)


def load(
    path: str | Path,
    dt: float | None = None,
    *,
    dialect: str = "nir",
    reset: str | None = None,
    reset_delay: bool | None = None,
    threshold_op: str | None = None,
    multi_spike: bool | None = None,
    discretisation: str | None = None,
    strict: bool = True,
    implicit: bool = True,
    v_min: float | None = None,
    if_gain: str | None = None,
    synapse_delay: int | None = None,
    nodes: Mapping[str, Mapping[str, Any]] | None = None,
    config: str | Path | Mapping[str, Any] | None = None,
    exporter_fixes: bool = True,
    mode: str = "discrete",
) -> Network:
    """Load a NIR graph as an `evsim.Network` (discrete mode; ``mode="exact"``: continuous time); with
    ``config``, an SNN-delays checkpoint (`evsim.io.snn_delays`: ``evsim.load("model.pt", config="config.py")``).

    ``dt`` (seconds per step) and every other setting default to the dialect's (`evsim.dialects.DIALECTS`);
    an explicit value overrides it. ``strict=False`` reads a file that fails NIR's type check, with a warning.
    ``implicit=False`` expands convolutions into explicit synapses (same spikes, more memory).
    ``v_min`` clamps every spiking membrane from below (``-inf``: no clamp; default: the dialect's, e.g. Sinabs IF
    at ``-v_threshold``); ``if_gain`` is the IF input gain (``"r"`` or ``"r*dt"``); ``synapse_delay`` adds that
    many steps to every projection except a population's feedback onto itself (lava-dl: 1).
    ``nodes={node name: {setting: value}}`` overrides neuron settings (reset, reset_delay, threshold_op,
    multi_spike, discretisation, v_min) for single nodes, e.g. a model whose layers were built differently.
    ``exporter_fixes`` (dialect "norse"): recognise Norse 1.1's ``to_nir`` output and correct it, with a warning
    (`evsim.io.norse_fix`); False loads the file as written.

    ``mode="exact"`` runs the graph by NIR's own continuous-time equations (`evsim.io.nir_exact`): `evsim.exact`
    neurons, Delay nodes as real-valued delays in seconds, no dialect and no rounding; ``dt`` is then optional: the
    engine's calendar step, and the delay of a recurrent back edge with no Delay node (without ``dt`` such an edge
    has zero delay, and a cycle of them is refused).
    """
    from .native import is_native, load_native

    if is_native(path):  # evsim's own file (`evsim compile`): the network as it was built, settings included
        return load_native(path)
    if mode == "exact":
        return _load_exact(path, dt, strict, dialect)
    if mode != "discrete":
        raise ModelFileError(f"mode must be 'discrete' or 'exact', got {mode!r}")
    if config is not None or str(path).endswith((".pt", ".pth")):
        if config is None:
            raise ModelFileError(f"{path}: a PyTorch checkpoint; pass its SNN-delays config (config=..., CLI --config)")
        from .snn_delays import load_snn_delays

        return load_snn_delays(path, config)
    d = get_dialect(dialect)
    if _is_netx(path):  # lava-dl's own HDF5 format: its neurons carry their fixed-point semantics
        if dialect not in ("nir", "lava-dl"):
            raise ModelFileError(
                f"{path}: a lava-dl netx network; it loads with its own semantics, not dialect {dialect!r}"
            )
        from .lava import load_netx

        return load_netx(path)
    dt = d.dt if dt is None else dt
    if dialect == "norse" and exporter_fixes and isinstance(dt, (int, float)) and dt > 0:
        graph = _read_norse(path, strict, float(dt))
    else:
        graph = read_graph(path, strict=strict)
    if dt is None:
        from .conventions import suggest

        hint = suggest(graph)
        raise ModelFileError(
            f"dialect {dialect!r} has no default time step: pass dt=... seconds per step (CLI: "
            "--dt), or a framework's dialect"
            + (
                f"; this file looks like {hint.dialect}'s export ({hint.reason}): dialect={hint.dialect!r}"
                if hint
                else ""
            )
        )
    if not (isinstance(dt, (int, float)) and np.isfinite(dt) and dt > 0):
        raise ModelFileError(f"dt must be a positive number of seconds, got {dt!r}")
    s = Settings(
        dialect,
        float(dt),
        discretisation or d.discretisation,
        reset or d.reset,
        d.reset_delay if reset_delay is None else bool(reset_delay),
        threshold_op or d.threshold_op,
        d.multi_spike if multi_spike is None else bool(multi_spike),
        implicit=bool(implicit),
        v_min=None if v_min is None else float(v_min),
        v_min_rel=dict(d.v_min),
        if_gain=if_gain or d.if_gain,
        synapse_delay=d.synapse_delay if synapse_delay is None else synapse_delay,
        start_at_reset=d.start_at_reset,
        overshoot_rule=d.overshoot_rule,
        late_zero_refractory=d.late_zero_refractory,
    )
    if int(s.synapse_delay) != s.synapse_delay or s.synapse_delay < 0:
        raise ModelFileError(f"synapse_delay must be a whole number of steps >= 0, got {s.synapse_delay!r}")
    try:
        return _with_latency(from_graph(graph, s, source=str(path), overrides=nodes), int(s.synapse_delay))
    except EvsimError as e:
        raise type(e)(f"{path}: {e}") from None


def _read_norse(path: str | Path, strict: bool, dt: float) -> Any:
    """`read_graph`, then Norse 1.1's exporter output corrected (`evsim.io.norse_fix`), with a warning. A graph that
    fails NIR's type check is read without it when it is Norse's (whose Input keeps the batch dimension)."""
    from .norse_fix import fix

    try:
        graph = read_graph(path, strict=strict)
    except ModelFileError as e:
        if "type check" not in str(e):
            raise
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = read_graph(path, strict=False)
        note = fix(graph, dt, path)
        if note is None:
            raise
    else:
        note = fix(graph, dt, path)
    if note:
        warnings.warn(note, stacklevel=3)
    return graph


def _load_exact(path: str | Path, dt: float | None, strict: bool, dialect: str) -> Network:
    if dialect != "nir":
        raise ModelFileError(f"mode='exact' runs NIR's own equations: a dialect ({dialect!r}) does not apply")
    if dt is not None and not (isinstance(dt, (int, float)) and np.isfinite(dt) and dt > 0):
        raise ModelFileError(f"dt must be a positive number of seconds, got {dt!r}")
    graph = read_graph(path, strict=strict)
    s = Settings("nir", float(dt or 0.0), "exact", "zero", False, ">=", False, implicit=False)
    try:
        return from_graph(graph, s, source=str(path), exact=True)
    except EvsimError as e:
        raise type(e)(f"{path}: {e}") from None


def _with_latency(net: Network, k: int) -> Network:
    """Every projection ``k`` steps later, except a population's projection onto itself (its one-step feedback is
    already the latency of a recurrent layer): Loihi/Lava and lava-dl's ``delay_shift`` take one step per layer."""
    if k == 0:
        return net
    projs = tuple(
        p
        if p.source == p.target
        else dataclasses.replace(p, delay=p.delay + k)
        if isinstance(p, ConvProjection)
        else dataclasses.replace(p, delays=p.delays.astype(np.int64) + k)
        for p in net.projections
    )
    return dataclasses.replace(net, projections=projs)


def _is_netx(path: str | Path) -> bool:
    import h5py

    p = Path(path)
    if not (p.is_file() and h5py.is_hdf5(p)):
        return False
    check_hdf5(p)  # structure and declared sizes, before anything is read
    return read_checked(p, lambda: _has_layers(h5py.File(p, "r")), "cannot read this HDF5 file")


def _has_layers(f: Any) -> bool:
    with f:
        return "layer" in f and "node" not in f


def read_graph(path: str | Path, strict: bool = True) -> Any:
    """``nir.read`` with clear errors: missing file, not HDF5, malformed graph."""
    import h5py
    import nir

    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"{p}: no such file")
    if p.is_dir():
        raise ModelFileError(f"{p}: is a directory, expected a .nir file")
    if not h5py.is_hdf5(p):
        raise ModelFileError(
            f"{p}: not an HDF5 file (a .nir model is HDF5, written by nir.write or a framework's NIR exporter)"
        )
    check_hdf5(p)  # link structure, declared shapes, chunking: before nir.read loads every dataset
    try:
        return nir.read(p)
    except Exception as e:  # noqa: BLE001 - nir raises ValueError, KeyError, TypeError on bad files
        first = f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
    if strict:
        raise ModelFileError(
            f"{p}: NIR cannot read this graph ({first}); if it only fails NIR's type check, "
            "strict=False (CLI: --no-strict) loads it anyway"
        )
    try:
        g = nir.read(p, type_check=False)
    except Exception as e:  # noqa: BLE001
        raise ModelFileError(
            f"{p}: NIR cannot read this graph ({type(e).__name__}: {' '.join(str(e).split())[:300]})"
        ) from None
    warnings.warn(f"{p}: loaded without NIR's type check ({first})", stacklevel=3)
    return g
