"""Exact mode, the Python side: a `Network` of `evsim.exact` neurons flattened for `evsim.engine.exact.run_exact`,
times and delays put on the calendar grid, one sample run.

The grid step ``h`` is the network's ``dt`` (default `DEFAULT_RESOLUTION`). It does not change the dynamics: it is
the width of the queue's buckets, and the unit in which times are split into ``(step, offset)``; a time or delay
that lies on the grid up to rounding (``|t / h - round(t / h)| <= 16 eps max(1, t / h)``) is snapped onto it, so
sums of on-grid delays are exact (see `evsim.engine.queue`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._jit import njit
from ..errors import EvsimError, NetworkError
from ..exact.dynamics import coefficients, psp_peak
from ..exact.inputs import nondecreasing
from ..exact.neurons import ExactNeuron
from ..network import Network, Projection
from .exact import run_exact
from .exact_neuron import grid_point
from .exact_open import direct_input
from .exact_steps import run_exact_steps

DEFAULT_RESOLUTION = 1e-4  # seconds: NEST's default resolution (0.1 ms)


def to_grid(t: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Times ``t >= 0`` (seconds) as ``(step, offset)`` with ``0 <= offset < h``; on-grid times get offset 0."""
    t = np.ascontiguousarray(t, dtype=np.float64)
    k, off = np.empty(t.shape, np.int64), np.empty(t.shape)
    _to_grid(t.ravel(), float(h), k.ravel(), off.ravel())
    return k, off


@njit
def _to_grid(t: np.ndarray, h: float, k_out: np.ndarray, off_out: np.ndarray) -> bool:
    """`to_grid` in one pass (`grid_point`); returns whether the pairs came sorted."""
    ordered = True
    for j in range(t.shape[0]):
        k, off = grid_point(t[j], h)
        k_out[j], off_out[j] = k, off
        if j > 0 and (k < k_out[j - 1] or (k == k_out[j - 1] and off < off_out[j - 1])):
            ordered = False
    return ordered


def resolution(net: Network) -> float:
    return float(net.dt) if net.dt is not None else DEFAULT_RESOLUTION


@dataclasses.dataclass(frozen=True, eq=False)
class CompiledExact:
    """An exact-time `Network` flattened over a global neuron index (as `evsim.engine.CompiledNetwork`)."""

    net: Network
    names: tuple[str, ...]
    pop_off: np.ndarray
    arrays: dict  # keyword arguments of `run_exact` that do not depend on the sample
    proj_names: tuple[str, ...]
    rec_pops: tuple[str, ...]  # (none: exact mode records no dense traces)
    v_init: np.ndarray
    h: float
    steps: bool = False  # every delay at least h: the step-by-step loop (`evsim.engine.exact_steps`)
    direct: tuple[int, float] = (-1, 0.0)  # the step loop's input arrivals without the calendar (`exact_open`)


def compile_exact(net: Network) -> CompiledExact:
    pops = net.populations
    names = tuple(p.name for p in pops)
    P = len(pops)
    pop_off = np.zeros(P + 1, dtype=np.int64)
    np.cumsum([p.size for p in pops], out=pop_off[1:])
    N = int(pop_off[-1])
    h = resolution(net)
    prm = np.zeros((N, 11))
    prm[:, 5] = np.inf  # v_th
    ref_k = np.zeros(N, dtype=np.int64)
    once = np.zeros(N, dtype=np.bool_)
    delta = np.ones(N, dtype=np.bool_)
    is_input = np.zeros(N, dtype=np.bool_)
    v_init = np.zeros(N)
    for k, p in enumerate(pops):
        sl = slice(pop_off[k], pop_off[k + 1])
        if p.neuron is None:
            is_input[sl] = True
            continue
        nrn = p.neuron
        assert isinstance(nrn, ExactNeuron)
        co = coefficients(nrn)
        rk, ro = to_grid(nrn.refractory, h)
        cols = (co["lam"], co["ls"], co["b"], co["c"], nrn.i_inf, nrn.v_th, nrn.v_reset, nrn.jump_v, nrn.jump_i, ro,
                psp_peak(co["lam"], co["ls"]))  # fmt: skip
        prm[sl] = np.stack(cols, axis=1)
        ref_k[sl] = rk
        once[sl] = nrn.once
        delta[sl] = nrn.tau_syn == 0
        v_init[sl] = nrn.v_rest if nrn.v_init is None else nrn.v_init
    syn = net._synapses
    rowptr, ip_off, tgt_pop = [], np.zeros(len(net.projections), np.int64), np.zeros(len(net.projections), np.int64)
    pos = 0
    explicit = [q for q in net.projections if isinstance(q, Projection)]  # (Network refuses convolutions here)
    for k, q in enumerate(explicit):
        ip_off[k] = pos
        tgt_pop[k] = names.index(q.target)
        rowptr.append(q.indptr + syn["offsets"][k])
        pos += q.indptr.shape[0]
    src_of = np.array([names.index(q.source) for q in net.projections], dtype=np.int64)
    out_ptr = np.zeros(P + 1, dtype=np.int64)
    np.cumsum(np.bincount(src_of, minlength=P), out=out_ptr[1:])
    dk, doff = to_grid(syn["delays"], h)
    max_dk = int(dk.max(initial=0)) + 1
    if max_dk > 2**26:
        raise NetworkError(f"a delay of {max_dk * h:g} s is over 2**26 steps of dt = {h:g} s: choose a larger dt")
    D = 2
    while D <= max_dk + 1:
        D *= 2
    out_deg = np.zeros(N, dtype=np.int64)
    for q in explicit:
        src = names.index(q.source)
        out_deg[pop_off[src] : pop_off[src + 1]] += np.diff(q.indptr)
    arrays = dict(
        h=h,
        D=D,
        N=N,
        pop_off=pop_off,
        is_input_n=is_input,
        out_ptr=out_ptr,
        out_proj=np.argsort(src_of, kind="stable").astype(np.int64),
        ip_off=ip_off,
        tgt_pop=tgt_pop,
        rowptr=np.concatenate(rowptr).astype(np.int64) if rowptr else np.zeros(1, np.int64),
        targets=syn["targets"],
        weights=syn["weights"],
        dk=dk,
        doff=doff,
        max_out=int(out_deg.max(initial=0)),
        prm=prm,
        ref_k=ref_k,
        once=once,
        delta=delta,
    )
    steps = bool(dk.min(initial=1) >= 1)
    from_input = np.zeros(dk.shape[0], dtype=np.bool_)
    for k, q in enumerate(explicit):
        from_input[syn["offsets"][k] : syn["offsets"][k + 1]] = net.population(q.source).is_input
    direct = direct_input(dk, doff, from_input)
    proj_names = tuple(q.name for q in net.projections)
    return CompiledExact(net, names, pop_off, arrays, proj_names, (), v_init, h, steps, direct)


def run_sample_exact(
    cn: CompiledExact,
    duration: float,
    ev_t: np.ndarray,
    ev_n: np.ndarray,
    ev_val: np.ndarray,
    v0: np.ndarray | None = None,
    ctl: np.ndarray | None = None,
    rec_mode: np.ndarray | None = None,
    ordered: bool = False,
):  # type: ignore[no-untyped-def]
    """Run one sample over ``[0, duration)`` seconds; ``ev_t`` input times in seconds (``ordered``: known to be
    sorted; else they are checked, and sorted stably when they are not), ``ev_n`` global
    neuron indices. ``ctl``, ``rec_mode``: run control and recording as in `evsim.engine.run_sample` (steps are
    the ``n_steps(cn, duration)`` grid steps). Returns a `evsim.engine.SampleRun` with spike times in seconds."""
    from . import SampleRun

    end_s, end_o = to_grid(np.array([duration]), cn.h)
    h = float(cn.h)
    ev_t = np.ascontiguousarray(ev_t, dtype=np.float64)
    ev_n = np.asarray(ev_n, np.int64)
    ev_val = np.asarray(ev_val, np.float64)
    if ev_val.ndim == 1 and ev_val.shape[0] > 1 and ev_val.strides[0] == 0:  # one value for every event
        ev_val = ev_val[:1]
    ev_val = np.ascontiguousarray(ev_val)
    ev_s, ev_o = np.empty(0, np.int64), np.empty(0)
    if not cn.steps:  # the general loop takes the events on the grid
        ev_s, ev_o = np.empty(ev_t.shape[0], np.int64), np.empty(ev_t.shape[0])
        ordered = _to_grid(ev_t, h, ev_s, ev_o)
    elif not ordered:
        ordered = nondecreasing(ev_t)
    if not ordered:
        s_, o_ = to_grid(ev_t, h)
        order = np.lexsort((o_, s_))  # (stable: equal times keep their order)
        ev_t, ev_n, ev_s, ev_o = ev_t[order], ev_n[order], s_[order], o_[order]
        ev_val = ev_val if ev_val.shape[0] == 1 else ev_val[order]
    v0 = cn.v_init if v0 is None else v0
    ctl = np.array([0, -1, -1, 0], dtype=np.int64) if ctl is None else ctl
    rec_mode = np.full(len(cn.names), 2, dtype=np.int8) if rec_mode is None else rec_mode
    counts = np.zeros(cn.v_init.shape[0] if np.any(rec_mode == 1) else 1, dtype=np.int64)
    common = dict(v0=v0, ev_n=_frozen(ev_n), ctl=ctl, rec_mode=rec_mode, counts=counts, **cn.arrays)
    try:
        if cn.steps:
            rs, ro, rn, v, i, upd, sops = run_exact_steps(
                int(end_s[0]), float(end_o[0]), ev_t=_frozen(ev_t), ev_val=_frozen(ev_val), in_dk=cn.direct[0],
                in_doff=cn.direct[1], **common,
            )  # fmt: skip
        else:
            if ev_val.shape[0] == 1 and ev_t.shape[0] != 1:
                ev_val = np.full(ev_t.shape[0], ev_val[0])
            rs, ro, rn, v, i, upd, sops = run_exact(
                int(end_s[0]), float(end_o[0]), ev_s=ev_s, ev_o=ev_o, ev_val=_frozen(ev_val), **common
            )  # fmt: skip
    except (OverflowError, ZeroDivisionError) as e:
        raise EvsimError(str(e)) from None
    t = rs * cn.h + ro
    ones = np.ones(t.shape[0], dtype=np.int64)
    return SampleRun(t, rn, ones, np.zeros((0, 0)), i, v, int(upd), sops, counts, int(ctl[3]))


def _frozen(a: np.ndarray) -> np.ndarray:
    """A read-only view: the loops always see the inputs as read-only arrays (Numba compiles a loop once per
    argument type, and read-only is a type: a user's read-only array, or one value shown for every event, must not
    cost a second compilation)."""
    v = a.view()
    v.flags.writeable = False
    return v


def n_steps(cn: CompiledExact, duration: float) -> int:
    """The grid steps of a run over ``[0, duration)``: its ``steps_done`` when it finishes."""
    return int(to_grid(np.array([duration]), cn.h)[0][0]) + 1
