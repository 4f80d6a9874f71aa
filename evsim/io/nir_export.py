"""NIR export: `save_nir` writes an `evsim.Network` as a NIR 1.0 graph that `evsim.load` reads back as the same
network (same populations, parameters to float tolerance, same synapses and delays) and so the same spikes.

A NIR graph does not say how it is stepped (dt, discretisation, reset and threshold conventions, multi-spike,
membrane clamps: see `evsim.dialects`), so `save_nir` returns the settings to pass back to `evsim.load`, and
records them for people in the graph's metadata (``evsim_load``, a JSON string; `evsim.load` does not read it)::

    kw = evsim.save_nir(net, "model.nir")   # {'dialect': 'snntorch', 'dt': 0.0001, 'reset': 'subtract', ...}
    same = evsim.load("model.nir", **kw)

The mapping is the inverse of `evsim.io.nir_graph.from_graph`:

* input population -> ``Input`` of its shape; output port ``p`` -> an ``Output`` node fed by ``p``;
* neuron population -> ``LIF`` / ``IF`` (no leak) / ``LI`` / ``CubaLIF`` / ``CubaLI`` / ``I`` (no threshold), or
  ``Threshold`` (a population evsim read from one). The
  continuous-time parameters (``tau``, ``r``, ``v_leak``, ``tau_syn``, ``w_in``) come from inverting
  `evsim.neurons.discretise` for the target discretisation and ``dt`` (the settings the network was loaded with,
  ``net.meta['settings']``; for a hand-built network the ``nir`` dialect's exact discretisation), and are checked by
  discretising them again: coefficients that no NIR parameters reproduce raise `NetworkError` naming the population;
* explicit projection -> one chain per distinct delay ``d``: ``[Flatten ->] Linear(W_d) [-> Delay(d dt)]`` into
  the target population (learned delays as NIR carries them, merged again by the loader);
* implicit convolution (`ConvProjection`) -> ``[SumPool2d | AvgPool2d ->] Conv2d | Conv1d [-> Flatten]
  [-> Delay]``. A convolution NIR cannot state is written as its explicit synapses (a ``Linear``): grouped
  convolutions (NIR 1.0's ``Conv2d`` declares ``weight.shape[1]`` input channels, ``C_in / groups``, so the graph
  fails NIR's own type check) and padding that is neither symmetric nor ``'same'``;
* constant input (``i_bias``, ``v_bias``) -> the ``bias`` of one ``Affine`` into the population, or per channel of
  a ``Conv2d``; a LIF/LI population fed only by convolutions keeps it as ``v_leak``; failing both, a zero-weight
  ``Affine`` loop on the population carries it;
* recurrence: evsim's loader gives the edge that closes a cycle (a back edge of its depth-first walk from the
  inputs, in file order) one step of delay, as snnTorch and Norse feed back the previous step's spikes, and a
  dialect may add a latency to every projection (lava-dl: one step). The exporter runs the loader's own rule
  (`evsim.io.nir_graph._back_edges`) on the graph it writes and shortens those edges' ``Delay`` to match: a recurrent
  projection with delay 1 is a plain edge, delay ``d`` a ``Delay`` of ``d - 1`` steps. If the walk would enter a
  loop through a delayed projection and so close it with a zero-delay one, a zero-weight link from the first
  input to that projection's source, walked first, makes it enter elsewhere; when no order of the walk works
  (see ``test_loop_no_walk_can_read_is_refused``) `NetworkError` names the projection. The file keeps the node
  order it was written in (`write_graph`); HDF5 would otherwise list nodes by name.

NIR's type check wants every node reachable from an Input and leading to an Output (it would add ports itself
otherwise): a population with no incoming or no outgoing edge gets a zero ``Scale`` loop onto itself, which the
loader drops (zero weights make no synapses). A population keeps its ``(C, H, W)`` shape only if everything it
receives arrives through convolutions (NIR has no reshape after a ``Linear``); otherwise it comes back flat.

Not expressible (`NetworkError` naming the population or projection): refractory periods, Poisson sources,
membrane clamps ``v_min`` other than one `evsim.load` can be told (one value, or the dialect's rule), spiking
populations that differ in reset / reset timing / threshold comparison / multi-spike (the loader applies one
setting to all), a population mixing leaky and non-leaky or spiking and non-spiking neurons, coefficients that no
NIR parameters reproduce under the chosen discretisation.

Where the parts live: this module builds the chains of nodes per projection, places biases and adds the links NIR's
graph rules need (`to_nir`); `nir_export_neurons` inverts the neuron coefficients; `nir_export_conv` writes
convolutions; `nir_export_delays` assembles the chains into the graph (delay groups, loops); `nir_data` reads and
writes NIR data files; `nir_info` is `evsim info`'s node table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..dialects import get_dialect
from ..errors import NetworkError
from ..network import ConvProjection, Network
from .files import atomic_path
from .nir_data import read_nir_data, write_nir_data  # NIR interchange in one place: graphs here, data there
from .nir_export_conv import _conv_nodes, _ConvOut, _per_channel
from .nir_export_delays import _Chain, _explicit_groups, _flatten_node, _solve
from .nir_export_neurons import _family, _invert, _NeuronOut, _spike_settings, _target

__all__ = ["save_nir", "to_nir", "write_graph", "read_nir_data", "write_nir_data"]


def save_nir(
    network: Network,
    path: str | Path,
    dialect: str | None = None,
    *,
    dt: float | None = None,
    discretisation: str | None = None,
) -> dict[str, Any]:
    """Write ``network`` as a NIR graph at ``path`` (atomically: a temporary file beside it, then renamed).

    The parameters are written for ``dialect`` (default: the one the network was loaded with, else ``"nir"``) and
    its discretisation (``discretisation`` overrides it); ``dt`` is the network's (give ``dt`` for a network built
    without one). Returns the keyword arguments that make `evsim.load` rebuild the network::

        evsim.load(path, **evsim.save_nir(net, path))

    Raises `NetworkError` naming the population or projection when something cannot be expressed in NIR.
    """
    if isinstance(network, Network) and network.exact:
        raise NetworkError(
            "save_nir: an exact-time network cannot be written as NIR yet (its refractory periods, fire-once neurons "
            "and NEST weight units have no NIR node); save it with evsim.io.native.save_native (evsim compile)"
        )
    graph, load_kwargs = to_nir(network, dialect, dt=dt, discretisation=discretisation)
    with atomic_path(path) as tmp:
        write_graph(tmp, graph)
    return load_kwargs


def write_graph(path: str | Path, graph: Any) -> None:
    """``nir.write`` keeping the order of the nodes: HDF5 lists a group's members by name unless it tracks their
    creation order, and the order matters to a reader (evsim's loader walks the graph in file order to find the
    edges that close loops, and orders input and output ports so)."""
    import h5py
    import nir

    cfg = h5py.get_config()
    old = cfg.track_order
    cfg.track_order = True
    try:
        nir.write(path, graph)
    finally:
        cfg.track_order = old


def to_nir(
    network: Network, dialect: str | None = None, *, dt: float | None = None, discretisation: str | None = None
) -> tuple[Any, dict[str, Any]]:
    """The `nir.NIRGraph` of ``network`` and the `evsim.load` keyword arguments (see `save_nir`). Write it with
    `write_graph` (``nir.write`` keeping the node order, which the loader's reading of recurrence relies on)."""
    import nir

    net = network
    if not isinstance(net, Network):
        raise NetworkError(f"save_nir needs an evsim.Network, got {type(net).__name__}")
    s = _target(net, dialect, dt, discretisation)
    pops = {p.name: p for p in net.populations}
    for p in net.populations:
        if getattr(p, "poisson_rate", None) is not None:
            raise NetworkError(
                f"population {p.name!r}: a Poisson source cannot be expressed in NIR (no NIR node draws "
                "random events); make it an input population and feed it Poisson input"
            )
        if not p.name or "/" in p.name or p.name in (".", ".."):
            raise NetworkError(
                f"population {p.name!r}: NIR node names are HDF5 names and cannot contain '/' or be "
                "empty; rename the population"
            )
    neurons = [p for p in net.populations if p.neuron is not None]
    families = {p.name: _family(p) for p in neurons}
    load_kw: dict[str, Any] = dict(dialect=s.dialect, dt=s.dt, discretisation=s.method)
    load_kw.update(_spike_settings(net, s, families))
    if "IF" in families.values() and s.if_gain != getattr(get_dialect(s.dialect), "if_gain", "r"):
        load_kw["if_gain"] = s.if_gain
    incoming: dict[str, list[Any]] = {p.name: [] for p in net.populations}
    for q in net.projections:
        incoming[q.target].append(q)
    for p in neurons:  # the loader gives snnTorch's late zero reset its refractory step only where snnTorch has it
        if (
            p.neuron is not None
            and p.neuron.refractory.any()
            and p.neuron.model == "LIF"
            and not any(q.source == p.name for q in incoming[p.name])
        ):
            raise NetworkError(
                f"population {p.name!r} (LIF): refractory periods cannot be expressed in NIR (no NIR neuron has one)"
            )

    # NIR shapes: a population keeps its (C, H, W) / (C, W) shape only if every input reaches it as a convolution
    # of that output shape (NIR has no reshape into a multi-dimensional node); else it is flat
    nshape = {p.name: tuple(p.shape) if p.shape and len(p.shape) > 1 else (p.size,) for p in net.populations}
    carrier_bias = {p.name: _invert(p, s, "bias").bias for p in neurons if families[p.name] not in ("LIF", "LI")}

    def conv_of(q: Any) -> _ConvOut | None:
        return _conv_nodes(q.spec, nshape[q.source], None) if isinstance(q, ConvProjection) else None

    changed = True
    while changed:
        changed = False
        for p in neurons:
            if len(nshape[p.name]) == 1:
                continue
            outs = [conv_of(q) for q in incoming[p.name]]
            keep = all(o is not None and o.out_shape == nshape[p.name] for o in outs)
            b = carrier_bias.get(p.name)
            if keep and b is not None and np.any(b != 0):
                keep = bool(outs) and _per_channel(b, nshape[p.name]) is not None
            if not keep:
                nshape[p.name] = (p.size,)
                changed = True

    # chains of nodes per projection (and per delay)
    chains: list[_Chain] = []
    explicit_into: set[str] = set()
    for q in net.projections:
        ns, nt = pops[q.source].size, pops[q.target].size
        stem = q.name.replace("/", "_")
        what = f"projection {q.name!r} ({q.source} -> {q.target})"
        if isinstance(q, ConvProjection):
            co = conv_of(q)
            if co is not None:
                nodes = list(co.nodes)
                out_shape = co.out_shape
                if out_shape != nshape[q.target]:
                    nodes.append((".flatten", _flatten_node(out_shape)))
                    out_shape = nshape[q.target]
                chains.append(_Chain(q.source, q.target, stem, nodes, out_shape, int(q.delay), what=what))
                continue
            q = q.to_explicit()
        groups = _explicit_groups(q, ns, nt)
        for d, w in groups:
            nodes = []
            if len(nshape[q.source]) > 1:
                nodes.append((".flatten", _flatten_node(nshape[q.source])))
            nodes.append(("", ("linear", w)))
            chains.append(
                _Chain(q.source, q.target, stem + (f"@{d}" if len(groups) > 1 else ""), nodes, (nt,), d, what=what)
            )
            explicit_into.add(q.target)

    # neuron nodes, and where their constant input goes
    neuron_out: dict[str, _NeuronOut] = {}
    for p in neurons:
        f = families[p.name]
        route = "bias" if (p.name in explicit_into or f not in ("LIF", "LI")) else "leak"
        neuron_out[p.name] = no = _invert(p, s, route)
        b = no.bias
        if not np.any(b != 0):
            continue
        mine = [c for c in chains if c.target == p.name]
        lin = next((c for c in mine if any(isinstance(n, tuple) for _, n in c.nodes)), None)
        if lin is not None:
            k = next(i for i, (_, n) in enumerate(lin.nodes) if isinstance(n, tuple))
            lin.nodes[k] = ("", ("affine", lin.nodes[k][1][1], b))
            continue
        placed = False
        for c in mine:
            conv = next((n for _, n in c.nodes if isinstance(n, (nir.Conv2d, nir.Conv1d))), None)
            if conv is None:
                continue
            out_shape = (conv.weight.shape[0],) + tuple(int(x) for x in conv.output_type["output"][1:])
            ch = _per_channel(b, out_shape)
            if ch is not None:
                conv.bias = ch
                placed = True
                break
        if not placed:  # a zero-weight Affine loop onto the population carries the bias (no synapses)
            if len(nshape[p.name]) > 1:
                raise NetworkError(f"population {p.name!r}: internal error: no bias carrier for shape {nshape[p.name]}")
            chains.append(
                _Chain(
                    p.name,
                    p.name,
                    f"{p.name}.bias",
                    [("", ("affine", np.zeros((p.size, p.size)), b))],
                    (p.size,),
                    0,
                    real=False,
                    what=f"bias of {p.name!r}",
                )
            )

    # NIR's graph rules: every node reachable from an Input and leading to an Output
    has_out = {c.source for c in chains} | set(net.outputs)
    has_in = {c.target for c in chains}
    for p in neurons:
        if p.name not in has_in or p.name not in has_out:
            chains.append(
                _Chain(
                    p.name,
                    p.name,
                    f"{p.name}.link",
                    [("", nir.Scale(np.zeros(nshape[p.name])))],
                    nshape[p.name],
                    0,
                    real=False,
                    what=f"link of {p.name!r}",
                )
            )
    for name in net.inputs:
        if name not in has_out:
            flat = next(
                (p for p in (pops[n] for n in net.order) if p.neuron is not None and len(nshape[p.name]) == 1), None
            )
            if flat is None:
                raise NetworkError(
                    f"input population {name!r} feeds nothing and there is no flat population to "
                    "link it to; NIR needs every input to lead somewhere"
                )
            nodes = [(".flatten", _flatten_node(nshape[name]))] if len(nshape[name]) > 1 else []
            nodes.append(("", ("linear", np.zeros((flat.size, pops[name].size)))))
            chains.append(
                _Chain(name, flat.name, f"{name}.link", nodes, (flat.size,), 0, real=False, what=f"link of {name!r}")
            )

    graph, k = _solve(net, s, chains, neuron_out, nshape)
    if k != getattr(get_dialect(s.dialect), "synapse_delay", 0):
        load_kw["synapse_delay"] = k
    from .. import __version__

    graph.metadata = {"generator": f"evsim {__version__}", "evsim_load": json.dumps(load_kw)}
    if "layered" in network.meta:  # a padded-convolution model (evsim.layered): evsim.load reads it back
        graph.metadata["evsim_layered"] = json.dumps(dict(network.meta["layered"]))
    return graph, load_kw
