"""Short summaries of evsim's objects: the reprs of `Network`, `Population`, `Projection`, `Result` and `Spikes`
(sizes, names, dt, dialect, synapse counts; never arrays), the time step as text, and the graph order of the
populations (inputs first, then along the projections) that `evsim info` and the reprs list them in.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .network import ConvProjection, Network, Population, Projection
    from .simulation import Result, Spikes

MAX_LINES = 12  # populations / projections listed in a network's repr before "... and N more"


def time_step(net: Network) -> str:
    """``"dt 0.0001 s"``, or ``"dt 1 step"`` when time is counted in steps (no dt, or Sinabs' dt = 1)."""
    if net.exact:
        from .engine.exact_compile import resolution

        return f"exact time (calendar steps of {resolution(net):g} s)"
    if net.dt is None:
        return "dt 1 step (no time unit)"
    if net.time_unit == "step":
        return f"dt {net.dt:g} step (time constants in steps)"
    return f"dt {net.dt:g} s"


def topological(names: list[str], edges: list[tuple[str, str]], roots: list[str]) -> list[str]:
    """``names`` in a topological order of ``edges``, ``roots`` first, ties kept in the order of ``names``.

    Feedback edges (those closing a cycle, as found by a depth-first search from the roots, then from the rest)
    are left out first, so recurrent graphs get the order of their forward path."""
    succ: dict[str, list[str]] = {n: [] for n in names}
    for a, b in edges:
        if a != b and a in succ and b in succ and b not in succ[a]:
            succ[a].append(b)
    state: dict[str, int] = {}  # 1: on the search stack, 2: done
    back: set[tuple[str, str]] = set()
    for root in [r for r in roots if r in succ] + names:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            node, it = stack[-1]
            for t in it:
                if state.get(t) == 1:
                    back.add((node, t))
                elif t not in state:
                    state[t] = 1
                    stack.append((t, iter(succ[t])))
                    break
            else:
                state[node] = 2
                stack.pop()
    first = set(roots)
    key = {n: (n not in first, k) for k, n in enumerate(names)}
    indeg = {n: 0 for n in names}
    for a in names:
        for b in succ[a]:
            indeg[b] += (a, b) not in back
    ready = sorted((key[n], n) for n in names if indeg[n] == 0)
    out: list[str] = []
    while ready:
        _, n = heapq.heappop(ready)
        out.append(n)
        for t in succ[n]:
            if (n, t) not in back:
                indeg[t] -= 1
                if indeg[t] == 0:
                    heapq.heappush(ready, (key[t], t))
    return out


def graph_order(net: Network) -> tuple[str, ...]:
    """Population names in the order of the graph (`topological` from the inputs along the projections), not as
    strings sort ("1", "10", "12", "3", "6")."""
    names = [p.name for p in net.populations]
    return tuple(topological(names, [(q.source, q.target) for q in net.projections], list(net.inputs)))


def _delays(q: Projection | ConvProjection) -> str:
    if not q.n_synapses:
        return "no delay"
    lo, hi = q.min_delay, q.max_delay
    return f"delay {lo}" if lo == hi else f"delays {lo}..{hi}"


def population_repr(p: Population, exact: bool = False) -> str:
    """``exact``: in an exact-time network (a Poisson rate is then in Hz)."""
    shape = f", shape {p.shape}" if p.shape is not None and len(p.shape) > 1 else ""
    unit = "Hz" if exact else "per step"
    extra = f", Poisson {p.poisson_rate:g} {unit}" if p.poisson_rate is not None else ""
    return f"Population({p.name!r}, {p.kind}, {p.size} neurons{shape}{extra})"


def projection_repr(q: Projection | ConvProjection) -> str:
    from .network import ConvProjection

    conv = ""
    if isinstance(q, ConvProjection):
        w = q.spec.weight.shape
        conv = f", conv {w[0]}x{w[1]}x{w[2]}x{w[3]} stride {q.spec.stride}" + (
            f" after {q.spec.pool}x{q.spec.pool} pooling" if q.spec.pool > 1 else ""
        )
    return f"{type(q).__name__}({q.name!r}: {q.source} -> {q.target}{conv}, {q.n_synapses} synapses, {_delays(q)})"


def network_repr(net: Network) -> str:
    where = net.meta.get("source") or net.meta.get("model")
    dialect = net.meta.get("dialect")
    head = (
        f"Network({net.n_neurons} neurons in {sum(not p.is_input for p in net.populations)} populations, "
        f"{net.n_synapses} synapses, {time_step(net)}"
        + (f", dialect {dialect}" if dialect else "")
        + (f", from {where}" if where else "")
        + f"; inputs {list(net.inputs)}, outputs {list(net.outputs)})"
    )
    order = graph_order(net)
    rank = {n: k for k, n in enumerate(order)}
    pops = [population_repr(net.population(n), net.exact) for n in order]
    projs = [projection_repr(q) for q in sorted(net.projections, key=lambda q: (rank[q.source], rank[q.target]))]
    lines = [head]
    for group in (pops, projs):
        lines += ["  " + s for s in group[:MAX_LINES]]
        if len(group) > MAX_LINES:
            lines.append(f"  ... and {len(group) - MAX_LINES} more")
    return "\n".join(lines)


def spikes_repr(s: Spikes) -> str:
    n = len(s)
    if not n:
        return "Spikes(none)"
    total = s.counts.sum()
    counts = "" if np.all(s.counts == 1) else f" ({total:g} counted)"
    exact = s.times.dtype.kind == "f"  # exact mode: seconds
    when = f"times {s.times.min():g}..{s.times.max():g} s" if exact else f"steps {s.times.min()}..{s.times.max()}"
    return (
        f"Spikes({n} events{counts} in {np.unique(s.samples).size} sample(s), {when}, "
        f"neurons {s.indices.min()}..{s.indices.max()})"
    )


def _per_sample(x: Any) -> str:
    a = np.asarray(x, dtype=np.float64)
    return f"{a.mean():.6g} per sample" if a.ndim else f"{a:.6g}"


def result_repr(r: Result) -> str:
    samples = f"{r.batch} samples" if r.batch else "1 sample"
    out = r.net.outputs
    kind = "spikes" if r._spiking_output else "membrane"
    n_out = sum(len(r.spikes[o]) for o in out) if r._spiking_output else None
    return (
        f"Result({samples} x "
        + (f"{r.duration:g} s" if r.duration is not None else f"{r.steps} steps")
        + f", {time_step(r.net)}; output {list(out)} {kind} "
        f"{list(r.output_shape)}" + (f", {n_out} output spikes" if n_out is not None else "") + f"; SOPs "
        f"{_per_sample(r.sops)}; {len(r.spikes)} populations recorded)"
    )
