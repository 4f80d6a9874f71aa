"""NIR export: `save_nir` writes an `evsim.Network` as a NIR 1.0 graph that `evsim.load` reads back as the same
network (same populations, parameters to float tolerance, same synapses and delays) and so the same spikes.

A NIR graph does not say how it is stepped (dt, discretisation, reset and threshold conventions, multi-spike,
membrane clamps: see `evsim.dialects`), so `save_nir` returns the settings to pass back to `evsim.load`, and
records them for people in the graph's metadata (``evsim_load``, a JSON string; `evsim.load` does not read it)::

    kw = evsim.save_nir(net, "model.nir")   # {'dialect': 'snntorch', 'dt': 0.0001, 'reset': 'subtract', ...}
    same = evsim.load("model.nir", **kw)

The mapping is the inverse of `evsim.io.nir.from_graph`:

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
  (`evsim.io.nir._back_edges`) on the graph it writes and shortens those edges' ``Delay`` to match: a recurrent
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
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..conv import ConvSpec
from ..dialects import get_dialect
from ..errors import EvsimError, NetworkError
from ..network import ConvProjection, Network, Population, Projection
from ..neurons import NeuronParams, discretise
from .files import atomic_path
from .nir_data import read_nir_data, write_nir_data  # NIR interchange in one place: graphs here, data there

__all__ = ["save_nir", "to_nir", "write_graph", "read_nir_data", "write_nir_data"]

# Time constant from the decay per step, per discretisation (the inverse of `discretise`'s decay).
_TAU_OF_DECAY: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "exact": lambda a, dt: -dt / np.log(a),
    "exp-unit": lambda a, dt: -dt / np.log(a),
    "euler": lambda a, dt: dt / (1.0 - a),
    "euler-new-i": lambda a, dt: dt / (1.0 - a),
}
_RTOL, _ATOL = 1e-9, 1e-12  # tolerance of the re-discretisation check


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


# ----------------------------------------------------------------------------------------------------- settings
@dataclasses.dataclass
class _Target:
    """How the written file is meant to be loaded."""

    dialect: str
    dt: float
    method: str
    if_gain: str
    synapse_delay: int


def _target(net: Network, dialect: str | None, dt: float | None, discretisation: str | None) -> _Target:
    meta = dict((net.meta or {}).get("settings") or {})
    name = dialect or meta.get("dialect") or "nir"
    d = get_dialect(name)
    loaded = meta if name == meta.get("dialect") else {}  # the load's own settings apply to the same dialect only
    if dt is not None and net.dt is not None and not np.isclose(dt, net.dt, rtol=1e-12, atol=0.0):
        raise NetworkError(
            f"save_nir: the network runs at dt = {net.dt} s, not dt = {dt} s (its coefficients are per "
            "step of its own dt); leave dt out"
        )
    step = dt if dt is not None else net.dt if net.dt is not None else loaded.get("dt", d.dt)
    if step is None:
        raise NetworkError(
            "save_nir: the network has no time step (Network.dt is None) and dialect "
            f"{name!r} has no default: pass dt=... seconds per step"
        )
    if not (np.isfinite(step) and step > 0):
        raise NetworkError(f"save_nir: dt must be a positive number of seconds, got {step!r}")
    method = discretisation or loaded.get("discretisation") or d.discretisation
    if method not in _TAU_OF_DECAY:
        raise NetworkError(f"save_nir: cannot invert discretisation {method!r}; known: {sorted(_TAU_OF_DECAY)}")
    if_gain = loaded.get("if_gain") or getattr(d, "if_gain", "r")
    k = loaded.get("synapse_delay", getattr(d, "synapse_delay", 0))
    return _Target(name, float(step), method, str(if_gain), int(k or 0))


# ----------------------------------------------------------------------------------------------------- neurons
@dataclasses.dataclass
class _NeuronOut:
    """A population's NIR node type, its parameters (flat arrays) and the constant input it still needs."""

    nir_type: str
    params: dict[str, np.ndarray]
    bias: np.ndarray  # per neuron, to be carried by an Affine / Conv bias into the population


def _family(pop: Population) -> str:
    """The NIR node type of a population, from its coefficients (raises if the population mixes kinds)."""
    p = pop.neuron
    assert p is not None
    where = f"population {pop.name!r}"
    spiking = np.isfinite(p.v_th)
    if spiking.any() and not spiking.all():
        raise NetworkError(
            f"{where}: some neurons have a threshold and others none; a NIR node is either spiking "
            "or not: split the population"
        )
    spk = bool(spiking.all())
    if p.model == "Threshold":
        return "Threshold"
    if p.model in ("CubaLIF", "CubaLI") or np.any(p.g_i != 0):
        return "CubaLIF" if spk else "CubaLI"
    if np.all(p.beta == 1.0):
        return "IF" if spk else "I"
    if np.any(p.beta == 1.0):
        raise NetworkError(
            f"{where}: some neurons leak and some do not (beta = 1); NIR's LIF needs a finite tau and "
            "IF has no leak: split the population"
        )
    return "LIF" if spk else "LI"


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1.0), 0.0)


def _tau(where: str, field: str, decay: np.ndarray, s: _Target) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = _TAU_OF_DECAY[s.method](decay, s.dt)
    if s.method in ("exact", "exp-unit"):  # exp(-dt/tau) is 0.0 for every tau < dt/745: any such tau will do
        tau = np.where(decay == 0.0, s.dt / 800.0, tau)
    bad = ~(np.isfinite(tau) & (tau > 0))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise NetworkError(
            f"{where}: decay {field} = {decay[j]} (neuron {j}) has no positive finite time constant "
            f"under discretisation {s.method!r}"
        )
    return tau


def _invert(pop: Population, s: _Target, route: str) -> _NeuronOut:
    """NIR parameters of ``pop`` under ``s``; ``route`` = "leak" puts a LIF/LI's constant drive into ``v_leak``,
    "bias" into an input bias. Checked by discretising again."""
    p = pop.neuron
    assert p is not None
    n, dt, where = p.size, s.dt, f"population {pop.name!r} ({p.model})"
    # snnTorch's late reset to zero is one refractory step keeping the current: its dialect makes it again
    late_zero = (
        get_dialect(s.dialect).late_zero_refractory
        and p.refractory_keeps_current
        and p.reset == "zero"
        and p.reset_delay
        and np.all(p.refractory == 1)
    )
    if np.any(p.refractory != 0) and not late_zero:
        raise NetworkError(f"{where}: refractory periods cannot be expressed in NIR (no NIR neuron has one)")
    if p.v_init is not None and np.any(p.v_init != 0):
        at_reset = get_dialect(s.dialect).start_at_reset and np.array_equal(p.v_init, p.v_reset)
        if not at_reset:
            raise NetworkError(
                f"{where}: initial membranes (v_init) cannot be expressed in NIR; only dialect "
                "'spikingjelly' starts neurons at v_reset"
            )
    t = _family(pop)
    spiking = t in ("LIF", "IF", "CubaLIF")
    kw: dict[str, Any] = {}
    if t == "Threshold":  # the loader's: v_t = x_t + bias, spike above threshold, reset to zero
        fixed = dict(beta=0.0, g_x=1.0, v_reset=0.0, g_i=0.0)
        for f, v in fixed.items():
            if np.any(getattr(p, f) != v):
                raise NetworkError(
                    f"{where}: NIR Threshold is memoryless with unit gain ({f} = {v}), this "
                    f"population has {f} = {getattr(p, f)[getattr(p, f) != v][0]}"
                )
        if p.reset != "zero" or p.multi_spike or p.reset_delay:
            raise NetworkError(
                f"{where}: evsim.load reads a NIR Threshold with reset 'zero', one spike per step and "
                "no late reset; this population differs"
            )
        return _NeuronOut(t, dict(threshold=p.v_th.copy()), p.v_bias.copy())
    if t in ("IF", "I"):
        g1 = discretise("IF", n, dt, r=1.0, if_gain=s.if_gain, threshold=1.0).g_x
        r = p.g_x / g1
        bias = _div(p.v_bias, p.g_x)
        params = dict(r=r)
        kw.update(if_gain=s.if_gain)
    elif t in ("LIF", "LI"):
        tau = _tau(where, "beta", p.beta, s)
        unit = discretise(t, n, dt, method=s.method, tau=tau, r=1.0, v_leak=1.0)
        r = p.g_x / unit.g_x
        if route == "bias":
            bias = _div(p.v_bias, p.g_x)
            v_leak = np.where(p.g_x != 0, 0.0, p.v_bias / unit.v_bias)
        else:
            bias = np.zeros(n)
            v_leak = p.v_bias / unit.v_bias
        params = dict(tau=tau, r=r, v_leak=v_leak)
    else:
        ts = _tau(where, "alpha", p.alpha, s)
        tau = _tau(where, "beta", p.beta, s)
        unit = discretise(t, n, dt, method=s.method, tau=tau, tau_syn=ts, r=1.0, w_in=1.0, v_leak=1.0)
        w_in = _div(p.in_gain, unit.in_gain)
        r = np.where(unit.g_i != 0, _div(p.g_i, unit.g_i), _div(p.g_x, w_in * unit.g_x))
        bias = _div(p.i_bias, p.in_gain)
        v_leak = (p.v_bias - p.g_x * bias) / unit.v_bias
        params = dict(tau_syn=ts, tau_mem=tau, r=r, v_leak=v_leak, w_in=w_in)
    if spiking:
        # a reset by subtraction never reads v_reset (refractory periods are refused above), and the loader
        # refuses a non-zero one with it: write 0
        v_reset = np.zeros_like(p.v_reset) if p.reset == "subtract" else p.v_reset.copy()
        params.update(v_threshold=p.v_th.copy(), v_reset=v_reset)
    for k_, v in params.items():
        if not np.all(np.isfinite(v)):
            j = int(np.flatnonzero(~np.isfinite(v))[0])
            raise NetworkError(
                f"{where}: its coefficients give NIR {t} parameter {k_!r} = {v[j]} at neuron {j} under "
                f"discretisation {s.method!r}, dt = {dt} s"
            )
    _check(where, t, p, params, bias, s, kw)
    return _NeuronOut(t, params, bias)


def _check(
    where: str, t: str, p: NeuronParams, params: dict[str, np.ndarray], bias: np.ndarray, s: _Target, kw: dict[str, Any]
) -> None:
    """Discretise the NIR parameters again, as the loader will, and compare with the population's coefficients."""
    args: dict[str, Any] = dict(params)
    if "tau_mem" in args:
        args["tau"] = args.pop("tau_mem")
    thr = args.pop("v_threshold", np.inf)
    v_reset = args.pop("v_reset", 0.0)
    try:
        q = discretise(
            "IF" if t == "I" else t,
            p.size,
            s.dt,
            method=s.method,
            bias=bias,
            threshold=thr,
            v_reset=v_reset,
            **args,
            **kw,
        )
    except EvsimError as e:
        raise NetworkError(
            f"{where}: cannot be written as NIR {t} under discretisation {s.method!r} at dt = {s.dt} s: {e}"
        ) from None
    fields = ["beta", "g_x", "v_bias"] + (["alpha", "in_gain", "g_i", "i_bias"] if t.startswith("Cuba") else [])
    for f in fields:
        got, want = getattr(q, f), getattr(p, f)
        ok = np.isclose(got, want, rtol=_RTOL, atol=_ATOL)
        if not ok.all():
            j = int(np.flatnonzero(~ok)[0])
            raise NetworkError(
                f"{where}: its coefficients are not those of a NIR {t} under discretisation {s.method!r} at dt = "
                f"{s.dt} s ({f} would be {got[j]!r}, not {want[j]!r}, at neuron {j}); save it with the dialect or "
                "discretisation it was built for (save_nir(..., dialect=..., discretisation=...))"
            )


def _spike_settings(net: Network, s: _Target, families: dict[str, str]) -> dict[str, Any]:
    """The reset / threshold / multi-spike / clamp settings `evsim.load` must be given (one for all populations)."""
    out: dict[str, Any] = {}
    first: Population | None = None
    d = get_dialect(s.dialect)
    clamps: dict[str, np.ndarray] = {}
    threshold_ops: dict[str, str] = {}  # of Threshold populations, which take only this setting
    for pop in net.populations:
        if pop.neuron is None:
            continue
        p = pop.neuron
        if families[pop.name] not in ("LIF", "IF", "CubaLIF"):
            if np.any(np.isfinite(p.v_min)):
                raise NetworkError(
                    f"population {pop.name!r} ({p.model}): a membrane clamp v_min on a "
                    f"{families[pop.name]} population cannot be expressed in NIR (evsim.load clamps "
                    "LIF, IF and CubaLIF nodes only)"
                )
            if families[pop.name] == "Threshold":
                threshold_ops[pop.name] = p.threshold_op
            continue
        mine = dict(
            reset=p.reset, reset_delay=bool(p.reset_delay), threshold_op=p.threshold_op, multi_spike=bool(p.multi_spike)
        )
        if first is None:
            first, out = pop, mine
        elif mine != out:
            diff = {k: (out[k], mine[k]) for k in mine if mine[k] != out[k]}
            raise NetworkError(
                f"population {pop.name!r}: spiking populations disagree on {diff} (vs "
                f"{first.name!r}); NIR does not store these and evsim.load applies one setting to "
                "every population"
            )
        clamps[pop.name] = p.v_min
    for name, op in threshold_ops.items():
        if out.setdefault("threshold_op", op) != op:
            raise NetworkError(
                f"population {name!r}: threshold comparison {op!r} differs from the other "
                f"populations' {out['threshold_op']!r}; evsim.load applies one to all"
            )
    if not clamps:
        return out
    # membrane clamps: the dialect's rule (v_min_rel x threshold) or one value for every spiking population
    rel = dict(getattr(d, "v_min", {}) or {})

    def rule(name: str) -> np.ndarray:
        pop = net.population(name)
        f = families[name]
        assert pop.neuron is not None
        return rel[f] * pop.neuron.v_th if f in rel else np.full(pop.size, -np.inf)

    if all(np.allclose(v, rule(k), rtol=1e-12, atol=0.0) for k, v in clamps.items()):
        return out
    values = np.concatenate(list(clamps.values()))
    if np.all(values == values[0]):
        out["v_min"] = float(values[0])
        return out
    bad = next(k for k, v in clamps.items() if not np.all(v == v[0]) or v[0] != values[0])
    raise NetworkError(
        f"population {bad!r}: its membrane clamp v_min is neither one value for all spiking "
        f"populations nor dialect {s.dialect!r}'s rule; NIR cannot store a clamp and evsim.load "
        "cannot be told this one"
    )


# ----------------------------------------------------------------------------------------------------- convolutions
@dataclasses.dataclass
class _ConvOut:
    nodes: list[tuple[str, Any]]  # (suffix, NIR node) in order; the conv node has suffix ""
    out_shape: tuple[int, ...]  # NIR shape at the conv output


def _conv_padding(spec: ConvSpec) -> Any:
    """NIR padding stating ``spec`` exactly: (ph, pw), 'same', or None if neither fits."""
    hp, wp = spec.pooled_hw
    kh, kw = spec.weight.shape[2:]
    sym = tuple(
        ((hw + 2 * p - d * (k - 1) - 1) // s + 1)
        for hw, p, d, k, s in zip((hp, wp), spec.pad, spec.dilation, (kh, kw), spec.stride)
    )
    if sym == tuple(spec.output_hw):
        return spec.pad
    same = tuple(d * (k - 1) // 2 for d, k in zip(spec.dilation, (kh, kw)))
    if spec.stride == (1, 1) and tuple(spec.output_hw) == (hp, wp) and tuple(spec.pad) == same:
        return "same"
    return None


def _conv_nodes(spec: ConvSpec, src_shape: tuple[int, ...], bias: np.ndarray | None) -> _ConvOut | None:
    """The NIR nodes of an implicit convolution from a source of NIR shape ``src_shape``, or None if NIR cannot
    state it (then it is written as explicit synapses)."""
    import nir

    if spec.groups != 1:
        return None  # NIR 1.0 Conv2d declares weight.shape[1] = C_in / groups input channels: fails its type check
    pad = _conv_padding(spec)
    if pad is None:
        return None
    c_out = spec.weight.shape[0]
    b = np.zeros(c_out) if bias is None else bias
    w = spec.weight
    nodes: list[tuple[str, Any]] = []
    if tuple(src_shape) == tuple(spec.in_shape):
        if spec.pool > 1:
            k = np.array([spec.pool, spec.pool])
            if np.isclose(spec.pool_scale, 1.0 / spec.pool**2, rtol=1e-12, atol=0.0):
                nodes.append((".pool", nir.AvgPool2d(kernel_size=k, stride=k.copy(), padding=np.zeros(2, int))))
            else:
                nodes.append((".pool", nir.SumPool2d(kernel_size=k, stride=k.copy(), padding=np.zeros(2, int))))
                w = w * spec.pool_scale
        conv = nir.Conv2d(
            input_shape=np.array(spec.pooled_hw),
            weight=w.copy(),
            stride=np.array(spec.stride),
            padding=pad if isinstance(pad, str) else np.array(pad),
            dilation=np.array(spec.dilation),
            groups=1,
            bias=np.asarray(b, dtype=np.float64),
        )
        nodes.append(("", conv))
        return _ConvOut(nodes, (c_out,) + tuple(spec.output_hw))
    c_in, h, wd = spec.in_shape
    if (
        len(src_shape) == 2
        and tuple(src_shape) == (c_in, wd)
        and h == 1
        and w.shape[2] == 1
        and spec.pool == 1
        and spec.stride[0] == 1
        and spec.dilation[0] == 1
        and spec.output_hw[0] == 1
        and (pad == "same" or pad[0] == 0)
    ):
        conv1 = nir.Conv1d(
            input_shape=int(wd),
            weight=w[:, :, 0, :].copy(),
            stride=int(spec.stride[1]),
            padding=pad if isinstance(pad, str) else int(pad[1]),
            dilation=int(spec.dilation[1]),
            groups=1,
            bias=np.asarray(b, dtype=np.float64),
        )
        return _ConvOut([("", conv1)], (c_out, int(spec.output_hw[1])))
    return None


def _per_channel(b: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """``b`` (flat, one value per neuron of ``shape``) as one value per channel, if it is constant per channel."""
    m = b.reshape(shape[0], -1)
    if np.allclose(m, m[:, :1], rtol=1e-12, atol=0.0):
        return m[:, 0].copy()
    return None


# ----------------------------------------------------------------------------------------------------- chains
@dataclasses.dataclass
class _Chain:
    """Nodes between two populations: ``source -> nodes... [-> Delay] -> target``."""

    source: str
    target: str
    stem: str  # name stem of its nodes
    nodes: list[tuple[str, Any]]  # (suffix, NIR node)
    out_shape: tuple[int, ...]  # NIR shape at the end of ``nodes`` (the Delay node's shape)
    delay: int = 0  # steps the loaded projection must have
    real: bool = True  # False: zero weights (a graph-shape link or a bias carrier); the loader makes no synapses
    what: str = ""  # for messages: the projection it writes
    back: bool = False  # the loader's walk takes its last edge as a back edge (+1 step)
    rank: int = -1  # edge order: 0 entry links, 1 projections, 2 other links (-1: 1 if real else 2)


def _flatten_node(shape: tuple[int, ...]) -> Any:
    import nir

    return nir.Flatten(input_type=np.array(shape), start_dim=0, end_dim=-1)


def _explicit_groups(q: Projection, ns: int, nt: int) -> list[tuple[int, np.ndarray]]:
    """Dense ``W_d [target, source]`` for each distinct delay ``d`` (duplicate synapses summed, zeros dropped)."""
    src = np.repeat(np.arange(ns), np.diff(q.indptr))
    out = []
    for d in np.unique(q.delays):
        sel = q.delays == d
        w = np.zeros((nt, ns))
        np.add.at(w, (q.targets[sel], src[sel]), q.weights[sel])
        if np.any(w != 0):
            out.append((int(d), w))
    return out


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
    return graph, load_kw


class _DelayConflict(Exception):
    def __init__(self, message: str, chain: _Chain) -> None:
        super().__init__(message)
        self.chain = chain


def _solve(
    net: Network,
    s: _Target,
    chains: list[_Chain],
    neuron_out: dict[str, _NeuronOut],
    nshape: dict[str, tuple[int, ...]],
) -> tuple[Any, int]:
    """The graph, and the per-projection latency ``k`` the loader is to add (the dialect's, else 0).

    The loader's walk decides which edges close loops; a zero-delay projection must not be one. The walk follows
    the edges in file order, so the exporter tries a few orders of each population's projections (by target in
    zero-delay order, which walks the zero-delay projections forward; by delay), and when the walk would still enter
    a loop through a delayed projection and close it with a zero-delay one, adds a zero-weight link from the first
    input to that projection's source, walked first, so that the walk enters the loop there."""
    last: _DelayConflict | None = None
    n_neurons = sum(p.neuron is not None for p in net.populations)
    for k in sorted({s.synapse_delay, 0}, reverse=True):
        for walk in ("targets", "zero-first", "delayed-first"):  # the order of each population's projections
            links: list[str] = []
            for _ in range(2 * n_neurons + 2):
                try:
                    graph = _assemble(net, s, chains + _links(net, links, nshape), neuron_out, nshape, k, walk)
                    return graph, k
                except _DelayConflict as e:
                    last, c = e, e.chain
                    if (
                        not c.back
                        or c.source in net.inputs
                        or len(nshape[c.source]) > 1
                        or not net.inputs
                        or (links and links[0] == c.source)
                    ):
                        break
                    if c.source in links:
                        links.remove(c.source)
                    links.insert(0, c.source)
    assert last is not None
    raise NetworkError(str(last))


def _links(net: Network, names: list[str], nshape: dict[str, tuple[int, ...]]) -> list[_Chain]:
    src = net.inputs[0] if net.inputs else ""
    n_in = net.population(src).size if src else 0
    out = []
    for name in names:
        nodes: list[tuple[str, Any]] = [(".flatten", _flatten_node(nshape[src]))] if len(nshape[src]) > 1 else []
        nodes.append(("", ("linear", np.zeros((net.population(name).size, n_in)))))
        out.append(
            _Chain(
                src,
                name,
                f"{name}.entry",
                nodes,
                (net.population(name).size,),
                0,
                real=False,
                what=f"entry link of {name!r}",
                rank=0,
            )
        )
    return out


def _assemble(
    net: Network,
    s: _Target,
    chains: list[_Chain],
    neuron_out: dict[str, _NeuronOut],
    nshape: dict[str, tuple[int, ...]],
    k: int,
    walk: str = "targets",
) -> Any:
    """Name the nodes, order the edges, find the loader's back edges, set the Delay nodes, build the graph."""
    import nir

    from .nir import _back_edges

    pops = {p.name: p for p in net.populations}
    taken: set[str] = set(pops)
    out_names = _output_names(net)
    taken |= set(out_names)

    def unique(name: str) -> str:
        base, i = name, 1
        while name in taken:
            name, i = f"{base}_{i}", i + 1
        taken.add(name)
        return name

    # edges: entry links first, then per population (in zero-delay order) its projections, by target in that order
    # ("targets") or by delay (increasing: "zero-first", decreasing: "delayed-first"); the other links last
    order = {n: i for i, n in enumerate(net.order)}

    def rank(i: int) -> tuple[int, int, int, int, int]:
        c = chains[i]
        second = order[c.target] if walk == "targets" else 0
        d = -c.delay if walk == "delayed-first" else c.delay
        return (c.rank if c.rank >= 0 else 1 if c.real else 2, order[c.source], second, d, i)

    ranked = sorted(range(len(chains)), key=rank)
    named: list[tuple[_Chain, list[str]]] = []
    for i in ranked:
        c = chains[i]
        named.append((c, [unique(c.stem + suffix) for suffix, _ in c.nodes]))
    edges: list[tuple[str, str]] = []
    for c, names in named:
        path = [c.source] + names + [c.target]
        edges.extend(zip(path[:-1], path[1:]))
    for port, oname in zip(net.outputs, out_names):
        edges.append((port, oname))
    node_keys: list[str] = list(net.inputs) + [p.name for p in net.populations if p.neuron is not None]
    node_keys += [n for _, names in named for n in names] + out_names
    back = _back_edges({n: None for n in node_keys}, edges, list(net.inputs))

    # delays: what the loader will add (a back edge: 1; the dialect's latency on non-self projections: k)
    delays: dict[int, int] = {}
    for idx, (c, names) in enumerate(named):
        c.back = (names[-1], c.target) in back
        if not c.real:
            continue
        extra = (1 if c.back else 0) + (k if c.source != c.target else 0)
        d = c.delay - extra
        if d < 0:
            why = []
            if c.back:
                why.append("it closes a loop, and evsim's loader gives the edge that closes a loop one step of delay")
            if k and c.source != c.target:
                why.append(f"dialect {s.dialect!r} adds {k} step(s) to every projection")
            raise _DelayConflict(
                f"{c.what}: delay {c.delay} step(s) cannot be written: {'; '.join(why)}; give "
                "the projections that close loops a delay of at least one step",
                c,
            )
        delays[idx] = d

    nodes: dict[str, Any] = {}
    for name in net.inputs:
        nodes[name] = nir.Input(input_type=np.array(nshape[name]))
    for p in net.populations:
        if p.neuron is not None:
            nodes[p.name] = _neuron_node(neuron_out[p.name], nshape[p.name])
    final_edges: list[tuple[str, str]] = []
    want_back: set[tuple[str, str]] = set()
    for idx, (c, names) in enumerate(named):
        chain_nodes = [_make(n) for _, n in c.nodes]
        names = list(names)
        d = delays.get(idx, 0)
        if d > 0:
            names.append(unique(c.stem + ".delay"))
            chain_nodes.append(nir.Delay(np.full(c.out_shape, d * s.dt)))
        nodes.update(zip(names, chain_nodes))
        path = [c.source] + names + [c.target]
        final_edges.extend(zip(path[:-1], path[1:]))
        if c.back:
            want_back.add((names[-1], c.target))
    for port, oname in zip(net.outputs, out_names):
        nodes[oname] = nir.Output(output_type=np.array(nshape[port]))
        final_edges.append((port, oname))
    # the loader's walk on the graph as written must find the same back edges (a Delay node changes no loop)
    if _back_edges(nodes, final_edges, list(net.inputs)) != want_back:
        raise NetworkError("save_nir: internal error: the loader would find other loops in the written graph")
    names = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=final_edges, type_check=True)
    if list(graph.nodes) != names:  # NIR adds Input/Output nodes for loose ends: the loader would see new ports
        raise NetworkError(f"save_nir: internal error: NIR added nodes {sorted(set(graph.nodes) - set(names))}")
    return graph


def _make(spec: Any) -> Any:
    import nir

    if isinstance(spec, tuple):
        if spec[0] == "linear":
            return nir.Linear(weight=np.asarray(spec[1], dtype=np.float64))
        return nir.Affine(weight=np.asarray(spec[1], dtype=np.float64), bias=np.asarray(spec[2], dtype=np.float64))
    return spec


def _neuron_node(no: _NeuronOut, shape: tuple[int, ...]) -> Any:
    import nir

    kw = {k: np.asarray(v, dtype=np.float64).reshape(shape) for k, v in no.params.items()}
    return getattr(nir, no.nir_type)(**kw)


def _output_names(net: Network) -> list[str]:
    """Names of the Output nodes: the original ones when the network came from a NIR file with as many."""
    known = (
        [n for n, t in (net.meta.get("nir_nodes") or {}).items() if t == "Output" and "." not in n] if net.meta else []
    )
    taken = {p.name for p in net.populations}
    if len(known) == len(net.outputs) and len(set(known)) == len(known) and not set(known) & taken:
        return list(known)
    names: list[str] = []
    for port in net.outputs:
        base = "output" if len(net.outputs) == 1 else f"output.{port}"
        name, i = base, 1
        while name in taken or name in names:
            name, i = f"{base}_{i}", i + 1
        names.append(name)
    return names


# ----------------------------------------------------------------------------------------------------- evsim info
def node_table(net: Network, graph: Any) -> list[tuple[str, str, str, str]]:
    """One row per node of ``graph`` (nested graphs flattened, names joined with '.'): name, NIR type, shape, and
    what evsim built from it (a population, an input or output port, or the projections a linear node was fused
    into). ``net`` is the network `evsim.load` made of that graph."""
    import nir

    from .nir import _flatten

    nodes, edges, top_in, top_out = _flatten(graph)
    node_map = dict((net.meta or {}).get("node_map") or {})
    pops = {p.name: p for p in net.populations}
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        if a in succ and b in preds:
            succ[a].append(b)
            preds[b].append(a)

    def reach(start: str, step: dict[str, list[str]]) -> set[str]:
        found: set[str] = set()
        seen = {start}
        stack = list(step[start])
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            if n in node_map:
                found.add(node_map[n])
            elif not isinstance(nodes[n], nir.Output) or n not in top_out:
                stack.extend(step[n])
        return found

    def shape(node: Any) -> str:
        def one(types: Any) -> tuple[int, ...] | None:
            v = next(iter(types.values()), None) if isinstance(types, dict) and types else None
            return None if v is None else tuple(int(x) for x in np.asarray(v).reshape(-1))

        i, o = one(getattr(node, "input_type", None)), one(getattr(node, "output_type", None))
        if i is None and o is None:
            return "?"
        if i is None or o is None or i == o:
            return str(o if o is not None else i)
        return f"{i} -> {o}"

    outputs = dict(zip(top_out, net.outputs))
    rows = []
    for name, node in nodes.items():
        t = type(node).__name__
        if name in node_map:
            p = pops[node_map[name]]
            built = f"input port {p.name!r}" if p.neuron is None else f"population {p.name!r} ({p.neuron.model})"
        elif name in outputs:
            built = f"output port: population {outputs[name]!r}"
        else:
            pairs = {(a, b) for a in reach(name, preds) for b in reach(name, succ)}
            names = [q.name for q in net.projections if (q.source, q.target) in pairs]
            if isinstance(node, (nir.Input, nir.Output)):
                t += " (subgraph)"
            built = ("fused into " + ", ".join(names)) if names else "fused (no synapses)"
        rows.append((name, t, shape(node), built))
    from ..summary import topological

    rank = {n: k for k, n in enumerate(topological(list(nodes), list(edges), [n for n in nodes if n in top_in]))}
    return sorted(rows, key=lambda r: rank[r[0]])
