"""Which framework wrote a NIR graph, read from the file: its metadata, or the exporter's own conventions.

A ``.nir`` file stores neither the time step nor the framework that trained the model, yet both decide how it runs
(README, "Dialects"). Some exporters leave fingerprints that settle it:

* the settings evsim's own `save_nir` records (graph metadata ``evsim_load``: every argument that loads it back);
* metadata (graph or node ``metadata``) that names a framework;
* snnTorch (``snntorch/export_nir.py``) assumes ``dt = 1e-4`` and writes ``tau = dt / (1 - beta)``,
  ``r = tau / dt``, ``v_leak = 0`` for every ``Leaky`` (LIF), and ``w_in = tau_syn / dt`` for ``Synaptic``
  (CubaLIF): ``r * 1e-4 / tau == 1`` with ``tau != 1e-4`` is its signature;
* SpikingJelly (``activation_based/nir_exchange``) writes an IF's ``r = 1 / dt`` (``1e4`` at its ``dt = 1e-4``).

`suggest` returns the dialect such a fingerprint names, with the reason, or ``None``; `candidates` lists the
frameworks whose exporters write what the file holds when nothing settles it (e.g. ``r = 1`` LIF or IF neurons:
Norse, Sinabs and plain NIR all do), for an error message that says what to pass.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterator

import numpy as np

from ..dialects import DIALECTS

SNNTORCH_DT = 1e-4  # the time step snnTorch's and SpikingJelly's exporters assume
FRAMEWORKS = {  # name in metadata -> dialect
    "snntorch": "snntorch",
    "norse": "norse",
    "sinabs": "sinabs",
    "spikingjelly": "spikingjelly",
    "lava": "lava-dl",
}


@dataclasses.dataclass(frozen=True)
class Suggestion:
    """A dialect the file points to, and what in the file points to it (one line)."""

    dialect: str
    reason: str
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)  # further `evsim.load` arguments (evsim's)


# the `evsim.load` arguments save_nir records (anything else in the metadata is ignored)
LOAD_ARGS = ("dt", "discretisation", "reset", "reset_delay", "threshold_op", "multi_spike", "if_gain", "synapse_delay")


def _from_evsim(graph: Any) -> Suggestion | None:
    meta = getattr(graph, "metadata", None) or {}
    text = meta.get("evsim_load") if isinstance(meta, dict) else None
    if not isinstance(text, (str, bytes)):
        return None
    try:
        kw = json.loads(text)
    except ValueError:
        return None
    if not isinstance(kw, dict) or kw.get("dialect") not in DIALECTS:
        return None  # not evsim's (or damaged): the other rules decide
    settings = {k: kw[k] for k in LOAD_ARGS if k in kw}
    return Suggestion(kw["dialect"], f"written by evsim's save_nir, which recorded how to load it: {kw}", settings)


def _nodes(graph: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, node in getattr(graph, "nodes", {}).items():
        if hasattr(node, "nodes"):  # a nested graph
            yield from _nodes(node, f"{prefix}{name}.")
        else:
            yield prefix + name, node


def _arr(node: Any, field: str) -> np.ndarray | None:
    v = getattr(node, field, None)
    try:
        a = None if v is None else np.asarray(v, dtype=np.float64).reshape(-1)
    except (ValueError, TypeError, OverflowError):  # not numbers: no fingerprint (the loader says what is wrong)
        return None
    return a


def _close(a: np.ndarray | None, b: Any) -> bool:
    with np.errstate(all="ignore"):
        return a is not None and a.size > 0 and bool(np.allclose(a, b, rtol=1e-4, atol=0))


def _from_metadata(graph: Any) -> Suggestion | None:
    sources = [("graph", getattr(graph, "metadata", None))] + [
        (f"node {n!r}", getattr(node, "metadata", None)) for n, node in _nodes(graph)
    ]
    for where, meta in sources:
        if not meta:
            continue
        for key, value in dict(meta).items():
            if key in ("evsim_load", "evsim_layered", "generator"):  # evsim's own (`_from_evsim`)
                continue
            text = f"{key} {value}".lower()
            for fw, dialect in FRAMEWORKS.items():
                if fw in text:
                    return Suggestion(dialect, f"the {where} metadata says {key}={value!r}")
    return None


def _snntorch(nodes: list[tuple[str, Any]]) -> Suggestion | None:
    lif = [(n, x) for n, x in nodes if type(x).__name__ in ("LIF", "CubaLIF")]
    if not lif:
        return None
    for _, x in lif:
        tau = _arr(x, "tau") if type(x).__name__ == "LIF" else _arr(x, "tau_mem")
        r = _arr(x, "r")
        if tau is None or r is None or not _close(r * SNNTORCH_DT / tau, 1.0) or _close(tau, SNNTORCH_DT):
            return None
        if not _close(_arr(x, "v_leak"), 0.0):
            return None
        if type(x).__name__ == "CubaLIF":
            tau_syn = _arr(x, "tau_syn")
            if tau_syn is None or not _close(_arr(x, "w_in"), tau_syn / SNNTORCH_DT):
                return None
    kinds = sorted({type(x).__name__ for _, x in lif})
    return Suggestion(
        "snntorch",
        f"every {'/'.join(kinds)} has r = tau / 1e-4 and v_leak = 0, as snnTorch's exporter writes them (dt = 1e-4)",
    )


def _spikingjelly(nodes: list[tuple[str, Any]]) -> Suggestion | None:
    spiking = [x for _, x in nodes if type(x).__name__ in ("LIF", "CubaLIF", "IF")]
    if not spiking or any(type(x).__name__ != "IF" for x in spiking):
        return None
    if all(_close(_arr(x, "r"), 1.0 / SNNTORCH_DT) for x in spiking):
        return Suggestion("spikingjelly", "every IF has r = 1e4 = 1 / dt, as SpikingJelly's exporter writes it")
    return None


def suggest(graph: Any) -> Suggestion | None:
    """The dialect the file itself names (metadata) or an exporter's fingerprint identifies; None if none does."""
    nodes = list(_nodes(graph))
    try:
        with np.errstate(all="ignore"):
            return _from_evsim(graph) or _from_metadata(graph) or _snntorch(nodes) or _spikingjelly(nodes)
    except (ValueError, TypeError, OverflowError):  # malformed parameters: no fingerprint (load says what is wrong)
        return None


def candidates(graph: Any) -> list[str]:
    """Dialects whose exporters write neurons like this file's (for a message; not a decision)."""
    types = {type(x).__name__ for _, x in _nodes(graph)}
    if "IF" in types and not types & {"LIF", "CubaLIF"}:
        return ["sinabs", "norse", "spikingjelly", "nir"]
    if types & {"LIF", "CubaLIF"}:
        return ["norse", "snntorch", "sinabs", "lava-dl", "spikingjelly", "nir"]
    return ["nir"]
