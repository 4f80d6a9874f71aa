"""Exact mode, the Python side: a `Network` of `evsim.exact` neurons flattened for `evsim.engine.exact.run_exact`,
times and delays put on the calendar grid, one sample run.

The grid step ``h`` is the network's ``dt`` (default `DEFAULT_RESOLUTION`). It does not change the dynamics: it is
the width of the queue's buckets, and the unit in which times are split into ``(step, offset)``; a time or delay
that lies on the grid up to rounding (``|t / h - round(t / h)| <= 16 eps max(1, t / h)``) is snapped onto it, so
sums of on-grid delays are exact (see `evsim.engine.queue`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .._jit import njit
from ..errors import EvsimError, NetworkError
from ..exact.dynamics import coefficients, psp_peak
from ..exact.neurons import ExactNeuron
from ..network import Network, Projection
from .exact import run_exact
from .exact_steps import run_exact_steps

DEFAULT_RESOLUTION = 1e-4  # seconds: NEST's default resolution (0.1 ms)
_EPS = float(np.finfo(np.float64).eps)


def to_grid(t: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Times ``t >= 0`` (seconds) as ``(step, offset)`` with ``0 <= offset < h``; on-grid times get offset 0."""
    t = np.ascontiguousarray(t, dtype=np.float64)
    k, off = np.empty(t.shape, np.int64), np.empty(t.shape)
    _to_grid(t.ravel(), float(h), k.ravel(), off.ravel())
    return k, off


@njit
def _to_grid(t: np.ndarray, h: float, k_out: np.ndarray, off_out: np.ndarray) -> bool:
    """`to_grid` in one pass (a time is on the grid when ``|t / h - round(t / h)| <= 16 eps max(1, |t / h|)``);
    returns whether the times came sorted."""
    tol = 16 * _EPS
    ordered = True
    for j in range(t.shape[0]):
        q = t[j] / h
        r = np.rint(q)
        if abs(q - r) <= tol * max(1.0, abs(q)):
            k, off = r, 0.0
        else:
            k = math.floor(q)
            off = t[j] - k * h
        if off < 0:
            k, off = k - 1, off + h
        if off >= h:
            k, off = k + 1, off - h
        k_out[j], off_out[j] = int(k), off
        if j > 0 and (k_out[j] < k_out[j - 1] or (k_out[j] == k_out[j - 1] and off < off_out[j - 1])):
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
    return CompiledExact(net, names, pop_off, arrays, tuple(q.name for q in net.projections), (), v_init, h, steps)


def run_sample_exact(
    cn: CompiledExact,
    duration: float,
    ev_t: np.ndarray,
    ev_n: np.ndarray,
    ev_val: np.ndarray,
    v0: np.ndarray | None = None,
    ctl: np.ndarray | None = None,
    rec_mode: np.ndarray | None = None,
):  # type: ignore[no-untyped-def]
    """Run one sample over ``[0, duration)`` seconds; ``ev_t`` input times in seconds (sorted), ``ev_n`` global
    neuron indices. ``ctl``, ``rec_mode``: run control and recording as in `evsim.engine.run_sample` (steps are
    the ``n_steps(cn, duration)`` grid steps). Returns a `evsim.engine.SampleRun` with spike times in seconds."""
    from . import SampleRun

    end_s, end_o = to_grid(np.array([duration]), cn.h)
    ev_t = np.ascontiguousarray(ev_t, dtype=np.float64)
    ev_s, ev_o = np.empty(ev_t.shape[0], np.int64), np.empty(ev_t.shape[0])
    if not _to_grid(ev_t, float(cn.h), ev_s, ev_o):
        order = np.lexsort((ev_o, ev_s))  # (stable: equal times keep their order)
        ev_s, ev_o, ev_n, ev_val = ev_s[order], ev_o[order], ev_n[order], ev_val[order]
    v0 = cn.v_init if v0 is None else v0
    ctl = np.array([0, -1, -1, 0], dtype=np.int64) if ctl is None else ctl
    rec_mode = np.full(len(cn.names), 2, dtype=np.int8) if rec_mode is None else rec_mode
    counts = np.zeros(cn.v_init.shape[0] if np.any(rec_mode == 1) else 1, dtype=np.int64)
    try:
        loop = run_exact_steps if cn.steps else run_exact
        rs, ro, rn, v, i, upd, sops = loop(
            int(end_s[0]), float(end_o[0]), v0=v0, ev_s=ev_s, ev_o=ev_o, ev_n=np.asarray(ev_n, np.int64),
            ev_val=np.asarray(ev_val, np.float64), ctl=ctl, rec_mode=rec_mode, counts=counts, **cn.arrays,
        )  # fmt: skip
    except (OverflowError, ZeroDivisionError) as e:
        raise EvsimError(str(e)) from None
    t = rs * cn.h + ro
    ones = np.ones(t.shape[0], dtype=np.int64)
    return SampleRun(t, rn, ones, np.zeros((0, 0)), i, v, int(upd), sops, counts, int(ctl[3]))


def n_steps(cn: CompiledExact, duration: float) -> int:
    """The grid steps of a run over ``[0, duration)``: its ``steps_done`` when it finishes."""
    return int(to_grid(np.array([duration]), cn.h)[0][0]) + 1
