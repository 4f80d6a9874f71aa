"""One sample of one network across threads (`evsim.run(net, threads=N)` with a single sample): the neurons of
each population split into one contiguous range per thread, the synapses split by the thread that owns their
target (NEST's scheme), each thread running its neurons and delivering every spike into its own targets; the
threads meet once per block of `block_steps` steps (brunel: 4 steps of 0.1 ms) to exchange the block's spikes.
Results are bit for bit those of one thread (the order of every sum is kept: `evsim.engine.partitioned_kernel`).

Taken (`fits`) for what brunel-like networks need, else the run goes the usual way (`evsim.engine.batch`): one
sample with no input events (Poisson sources or none); neuron populations stepped (`SCAN_MAX`), of the plain
kinds, threshold ``>=`` and a reset to ``v_reset < v_th`` (no neuron can end a step at threshold without firing:
the steps at which a quiet population is stepped then depend only on its input, which every thread sees); only
explicit projections; no recorded membranes; spikes sent with a delay of at least the external delay + 1 step.

The split synapse arrays (one more copy of ``targets``, ``weights``, ``delays``: ~11 bytes per synapse) are made
on the first such run of a network and kept with its compiled form (`CompiledNetwork`).
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

import numpy as np

from ..control import EVENTS, RUNNING, SPIKES, execute_chunks, new_ctls
from ..errors import NumericalError
from ..neurons import RESET_ZERO
from . import CompiledNetwork, SampleRun
from .gap import V_RESET, V_TH, _settle
from .partitioned_kernel import run_block

# smaller networks run on one thread: a block costs each thread ~50 us (the call, the barrier), more than its share
# of the work (brunel at 2 threads, est. speed-up from CPU time: 25 k synapses 0.93x, 100 k 1.3x, 400 k 1.6x)
MIN_SYNAPSES = 65536
BLOCK_MAX = 64  # steps per block at most (shorter blocks are exact too; the shared buffers hold two blocks)
_plans: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # CompiledNetwork -> {threads: plan}
last_stats: dict = {}  # of the last partitioned run: per thread CPU and barrier wait seconds, blocks (benchmarks)


def block_steps(cn: CompiledNetwork) -> int:
    """Steps per block, or 0 when the network does not fit (`fits`): the smallest delay of a neuron population's
    synapses less the largest delay of a Poisson source's (whose events are delivered at the step they are drawn:
    a target's spikes must all be summed before them, as one thread sums them)."""
    a = cn.arrays
    P = a["P"]
    if (
        a["recorded"] is not None
        or a["reordered"] is not None
        or a["undriven"] is not None
        or a["rules"] is not None
        or a["plain_late"] is not None
        or np.any(a["conv_of"] >= 0)
        or int(a["rowptr"][0]) != 0
        or int(a["rowptr"][-1]) != a["targets"].shape[0]
    ):
        return 0
    for p in range(P):
        if a["is_input"][p]:
            continue
        lo, hi = a["pop_off"][p], a["pop_off"][p + 1]
        if not (a["scan"][p] and a["plain"] is not None and a["plain"][p] in (1, 2) and a["ge"][p]):
            return 0
        if (
            a["reset_mode"][p] != RESET_ZERO
            or a["rdelay"][p]
            or np.any(a["prm"][lo:hi, V_RESET] >= a["prm"][lo:hi, V_TH])
        ):
            return 0
    d_rec, d_ext = 1 << 30, 0
    for q in range(a["ip_off"].shape[0]):
        src = int(np.searchsorted(a["out_ptr"], np.flatnonzero(a["out_proj"] == q)[0], side="right") - 1)
        if a["is_input"][a["tgt_pop"][q]]:
            return 0
        r0 = a["ip_off"][q]
        e0, e1 = a["rowptr"][r0], a["rowptr"][r0 + a["pop_off"][src + 1] - a["pop_off"][src]]
        if e1 == e0:
            continue
        d = a["delays"][e0:e1]
        if a["is_input"][src]:  # (an input population other than a Poisson source sends nothing: no events)
            d_ext = max(d_ext, int(d.max())) if a["poisson"][src] > 0 else d_ext
        else:
            d_rec = min(d_rec, int(d.min()))
    return max(0, min(d_rec - d_ext, BLOCK_MAX))


def fits(cn: CompiledNetwork, ev: Any, B: int, threads: int) -> bool:
    """Whether `run_partitioned` takes this run: several threads, one sample without input events, a network of
    at least `MIN_SYNAPSES` synapses that `block_steps` accepts."""
    if threads < 2 or B != 1 or not isinstance(ev, tuple) or ev[0].shape[0] != 0:
        return False
    if cn.arrays["targets"].shape[0] < MIN_SYNAPSES:
        return False
    plans = _plans.setdefault(cn, {})
    if "d_blk" not in plans:
        plans["d_blk"] = block_steps(cn)
    return plans["d_blk"] > 0


def extra_bytes(cn: CompiledNetwork) -> int:
    """Memory of the thread splits made for ``cn`` (the split synapse arrays, row pointers per thread)."""
    plans = _plans.get(cn, {})
    return sum(
        x.nbytes
        for pl in plans.values()
        if isinstance(pl, dict)
        for v in pl.values()
        for x in (v if isinstance(v, tuple) else (v,))
        if isinstance(x, np.ndarray)
    )


def _plan(cn: CompiledNetwork, nt: int) -> dict:
    """The thread split of ``cn`` for ``nt`` threads (made once): neuron ranges, split synapse rows."""
    plans = _plans.setdefault(cn, {})
    if nt in plans:
        return plans[nt]
    a = cn.arrays
    P, N = a["P"], a["N"]
    pop_off = a["pop_off"]
    sizes = np.diff(pop_off)
    bounds = pop_off[:-1, None] + (np.arange(nt + 1)[None, :] * sizes[:, None]) // nt  # [P, nt + 1]
    owner = np.zeros(N, dtype=np.int8)
    for p in range(P):
        for k in range(nt):
            owner[bounds[p, k] : bounds[p, k + 1]] = k
    rowptr, targets = a["rowptr"], a["targets"]
    n_rows = rowptr.shape[0] - 1
    row_len = np.diff(rowptr)
    row_toff = np.zeros(n_rows, dtype=np.int64)  # the global index of each row's target population's first neuron
    for q in range(a["ip_off"].shape[0]):
        nxt = a["ip_off"][q + 1] if q + 1 < a["ip_off"].shape[0] else n_rows
        row_toff[a["ip_off"][q] : nxt] = pop_off[a["tgt_pop"][q]]
    thr = owner[np.repeat(row_toff, row_len) + targets]  # each synapse's thread
    key = np.repeat(np.arange(n_rows, dtype=np.int64), row_len) + thr.astype(np.int64) * n_rows
    per = np.bincount(key, minlength=nt * n_rows).reshape(nt, n_rows)
    del key
    order = np.argsort(thr, kind="stable")  # thread by thread; within a thread, the rows' order
    del thr
    rp = np.zeros((nt, n_rows + 1), dtype=np.int64)
    np.cumsum(per, axis=1, out=rp[:, 1:])
    rp += np.concatenate(([0], np.cumsum(per.sum(axis=1))[:-1]))[:, None]
    d = a["delays"]
    nonempty = row_len > 0
    first = np.where(nonempty, d[np.minimum(rowptr[:-1], d.shape[0] - 1)], 1 << 40).astype(np.int64)
    last = np.where(nonempty, d[np.maximum(rowptr[1:] - 1, 0)], -1).astype(np.int64)
    wtab, codes = _weight_codes(a["weights"])
    syn = (rp, targets[order], codes[order], d[order], first, last)
    del order
    psrc, psrc_off, q_mind = _poisson_sources(a, rp, nt)
    plain2 = np.repeat(a["plain"], nt)
    pm_sizes = np.where(a["poisson"] > 0, sizes, 0)
    pm_off = np.concatenate(([0], np.cumsum(pm_sizes))).astype(np.int64)
    M = int(pm_off[-1])
    d_blk = plans["d_blk"] if "d_blk" in plans else block_steps(cn)
    plan = dict(
        bounds=bounds,
        pop_off2=np.concatenate((bounds[:, :nt].ravel(), [N])).astype(np.int64),
        scan2=np.repeat(a["scan"], nt),
        keep_i2=np.repeat(a["keep_i"], nt),
        each2=plain2 if np.any(plain2 == 1) else None,
        uniform2=plain2 if np.any(plain2 == 2) else None,
        syn=syn,
        wtab=wtab,
        pm_off=pm_off,
        psrc=psrc,
        psrc_off=psrc_off,
        q_mind=q_mind,
        pm_share=(np.arange(nt + 1) * M) // nt,
        M=M,
        d_blk=d_blk,
    )
    plans[nt] = plan
    return plan


def _weight_codes(w: np.ndarray) -> tuple:
    """``(table, codes)`` with ``table[codes] == w`` (the same floats) when ``w`` has at most 256 distinct values
    (brunel: 2): the split copy then costs 1 byte per weight, not 8; else ``(None, w)``."""
    tab = np.unique(w[: 1 << 16])  # (a sample first: most networks have many distinct weights)
    if tab.shape[0] <= 256:
        tab = np.unique(w)
    if tab.shape[0] > 256:
        return None, w
    codes = np.searchsorted(tab, w).astype(np.uint8)
    return tab, codes


def _poisson_sources(a: dict, rp: np.ndarray, nt: int) -> tuple:
    """Per projection ``q`` from a Poisson source and thread ``k``: the sources (local index) with synapses into
    thread ``k``'s neurons, ``psrc[psrc_off[q, k] : psrc_off[q, k + 1]]``; and every projection's smallest delay."""
    Q = a["ip_off"].shape[0]
    src_pop = np.empty(Q, np.int64)
    src_pop[a["out_proj"]] = np.repeat(np.arange(a["P"]), np.diff(a["out_ptr"]))
    parts, off = [], np.zeros((Q, nt + 1), np.int64)
    q_mind = np.zeros(Q, np.int64)
    pos = 0
    for q in range(Q):
        n_src = int(a["pop_off"][src_pop[q] + 1] - a["pop_off"][src_pop[q]])
        r0 = int(a["ip_off"][q])
        e0, e1 = a["rowptr"][r0], a["rowptr"][r0 + n_src]
        q_mind[q] = int(a["delays"][e0:e1].min()) if e1 > e0 else 0
        off[q, :] = pos
        for k in range(nt if a["poisson"][src_pop[q]] > 0 else 0):
            s = np.flatnonzero(np.diff(rp[k, r0 : r0 + n_src + 1]) > 0)
            parts.append(s)
            pos += s.shape[0]
            off[q, k + 1] = pos
    return (np.concatenate(parts) if parts else np.zeros(0, np.int64)).astype(np.int64), off, q_mind


def _rng0(seed: int) -> np.uint64:
    """The Poisson generator's state before a sample's first draw (`evsim.engine.loop.new_state`)."""
    return np.uint64((seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % (1 << 64))


def run_partitioned(
    cn: CompiledNetwork,
    T: int,
    v0: np.ndarray | None,
    seed: int,
    rec_mode: np.ndarray,
    threads: int,
    max_events: int | None = None,
    max_spikes: int | None = None,
    max_seconds: float | None = None,
) -> tuple[list, BaseException | None]:
    """One sample of ``T`` steps in ``threads`` threads: ``([SampleRun], None)``, or ``([], reason)`` when it was
    stopped (Ctrl-C, ``max_seconds``; ``max_events`` / ``max_spikes`` checked once per block), as
    `evsim.control.execute_chunks` returns."""
    ctls = new_ctls(1, max_events, max_spikes)

    def chunk(lo: int, hi: int) -> list:
        r = _run(cn, T, cn.v_init if v0 is None else v0, seed, rec_mode, threads, ctls[0])
        return [] if r is None else [r]

    parts, stopped = execute_chunks(chunk, 1, ctls, threads=1, max_seconds=max_seconds)
    return (parts[0] if parts else []), stopped


def _run(
    cn: CompiledNetwork, T: int, v0: np.ndarray, seed: int, rec_mode: np.ndarray, nt: int, ctl: np.ndarray
) -> SampleRun | None:
    a = cn.arrays
    t_build = time.perf_counter()
    pl = _plan(cn, nt)
    t_build = time.perf_counter() - t_build
    N, P, D, d_blk = a["N"], a["P"], a["D"], pl["d_blk"]
    P2, R = P * nt, 2 * d_blk
    mask = D - 1
    bounds = pl["bounds"]
    has_p = a["pcdf"] is not None
    pois = (
        a["poisson"], pl["pm_off"], pl["pm_share"], a["pcdf"] if has_p else np.zeros(1), a["pcdf_off"], a["pguide"],
        _rng0(seed), pl["M"], pl["psrc"], pl["psrc_off"], pl["q_mind"],
    )  # fmt: skip
    net = (
        N, P, nt, d_blk, R, mask, a["pop_off"], pl["pop_off2"], bounds, a["order"], a["is_input"], a["always"],
        a["out_ptr"], a["out_proj"], a["ip_off"], a["tgt_pop"], a["q_maxd"], a["ge"], a["prm"], a["prmc"],
        a["refractory"], pl["keep_i2"], np.repeat(rec_mode, nt), a["user_of"],
        pois,
    )  # fmt: skip
    shared = (np.zeros((R, N), np.int32), np.zeros((R, P, nt), np.int64), np.zeros((R, max(pl["M"], 1)), np.int32))
    n_cnt = N if np.any(rec_mode == 1) else 1
    owns, recs = [], []
    for k in range(nt):
        tl_n = np.zeros(D * P2, dtype=np.int32)
        for p in range(P):  # a quiet population with a neuron at threshold from the start is due at the first step
            lo, hi = a["pop_off"][p], a["pop_off"][p + 1]
            if not a["is_input"][p] and not a["always"][p] and np.any(~(v0[lo:hi] < a["prm"][lo:hi, V_TH])):
                tl_n[p * nt + k] = 1
        fired = np.zeros((N + 7) // 8 * 8, dtype=np.bool_)
        owns.append((
            np.zeros(D * N), tl_n, np.zeros(N), np.asarray(v0, np.float64).copy(), np.full(N, -1, np.int64),
            np.full(N, -1, np.int64), np.zeros(N, np.int64), fired, np.empty(N, np.int64), np.empty(N),
            np.zeros(n_cnt, np.int64), np.zeros(a["ip_off"].shape[0], np.int64), np.zeros(2, np.int64),
        ))  # fmt: skip
        recs.append((np.empty(1024, np.int64), np.empty(1024, np.int32), np.empty(1024, np.int64)))
    starts = list(range(0, T, d_blk))
    kinds = (pl["each2"], pl["uniform2"], pl["wtab"])
    stop = [False]

    def check() -> None:  # the barrier's action, once per block, in one thread: Ctrl-C, a budget, the limits
        if ctl[0] == RUNNING and ctl[1] >= 0 and sum(int(o[11].sum()) for o in owns) > ctl[1]:
            ctl[0] = EVENTS
        if ctl[0] == RUNNING and ctl[2] >= 0 and sum(int(o[12][0]) for o in owns) > ctl[2]:
            ctl[0] = SPIKES
        stop[0] = ctl[0] != RUNNING

    barrier = threading.Barrier(nt, action=check)
    cpu, wait = [0.0] * nt, [0.0] * nt
    errors: list[BaseException | None] = [None] * nt

    def worker(k: int) -> None:
        c0 = time.thread_time()
        try:
            recs[k] = run_block(k, 0, 0, T, 0, T, net, pl["syn"], owns[k], recs[k], shared, *kinds)  # the first draws
            w = time.perf_counter()
            barrier.wait()
            wait[k] += time.perf_counter() - w
            for t0 in starts:
                if stop[0]:
                    break
                recs[k] = run_block(
                    k, t0, min(t0 + d_blk, T), T, 0, T, net, pl["syn"], owns[k], recs[k], shared, *kinds
                )
                w = time.perf_counter()
                barrier.wait()
                wait[k] += time.perf_counter() - w
            o = owns[k]
            _settle(T, True, N, P2, pl["pop_off2"], pl["scan2"], o[4], o[5], a["prm"], o[2], o[3])
        except threading.BrokenBarrierError:
            pass
        except BaseException as e:  # noqa: BLE001 - raised by the calling thread
            errors[k] = e
            barrier.abort()
        cpu[k] = time.thread_time() - c0

    others = [threading.Thread(target=worker, args=(k,), name=f"evsim-part-{k}", daemon=True) for k in range(1, nt)]
    for th in others:
        th.start()
    worker(0)
    for th in others:
        th.join()
    last_stats.clear()
    last_stats.update(cpu_s=cpu, wait_s=wait, blocks=len(starts), d_blk=d_blk, plan_s=t_build)
    for e in errors:
        if isinstance(e, OverflowError):  # (as `evsim.engine.run_sample`)
            raise NumericalError(str(e)) from None
        if e is not None:
            raise e
    if stop[0]:
        return None
    return _joined(cn, owns, recs, bounds, T, nt)


def _joined(cn: CompiledNetwork, owns: list, recs: list, bounds: np.ndarray, T: int, nt: int) -> SampleRun:
    """The threads' parts as one `SampleRun`: spikes in the one-thread order (by step, population in ``order``,
    neuron), each neuron's final state from the thread that owns it."""
    a = cn.arrays
    P = a["P"]
    n_spk = [int(o[12][0]) for o in owns]
    t = np.concatenate([r[0][:n] for r, n in zip(recs, n_spk)])
    n = np.concatenate([r[1][:n] for r, n in zip(recs, n_spk)])
    c = np.concatenate([r[2][:n] for r, n in zip(recs, n_spk)])
    rank = np.empty(P, np.int64)
    rank[a["order"]] = np.arange(P)
    pop = np.searchsorted(a["pop_off"], n, side="right") - 1
    o = np.argsort(t * P + rank[pop], kind="stable")  # (the threads' records of a step and population: in order)
    i, v = owns[0][2].copy(), owns[0][3].copy()
    for p in range(P):
        for k in range(1, nt):
            sl = slice(bounds[p, k], bounds[p, k + 1])
            i[sl], v[sl] = owns[k][2][sl], owns[k][3][sl]
    return SampleRun(
        t[o], n[o], c[o], np.zeros((T, 0)), i, v, sum(int(w[12][1]) for w in owns),
        sum(w[11] for w in owns), sum(w[10] for w in owns), T,
    )  # fmt: skip
