"""The compiled batch path: many samples in one compiled call (`run_chunk`), and `Runs`, their results stacked.

`evsim.run` hands the loop (`evsim.engine.loop.run_discrete`) chunks of samples: `_run_batch` (Numba, GIL
released) takes the inputs of the whole batch as one concatenated event array (sample ``b``'s events are
``ev_*[ev_off[b]:ev_off[b + 1]]``), makes each sample's fresh state, runs it, and writes its results into arrays
preallocated for the batch (final state, counters, traces, spike counts) and its spikes onto one growing record.
Per sample that costs a few allocations and a direct call instead of a Python call of the loop (~20 us of
argument marshalling), the Python bookkeeping of a `SampleRun` and the gathering of hundreds of small arrays:
what dominated a batch of short samples (the digits model: 300 samples of 25 steps).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import threading
import weakref
from typing import Any, Sequence

import numba
import numpy as np

from .._jit import njit
from ..control import EVENTS, RUNNING, in_worker
from ..errors import NumericalError
from . import first_run, lockstep
from .loop import new_state, run_discrete

_HEAD = ("T", "t_begin", "t_end", "state", "finish")  # run_discrete's per-call arguments, then the network's
_TAIL = ("ev_t", "ev_n", "ev_val", "ctl", "rec_mode", "cnt")  # ... then the sample's
_PARAMS = tuple(inspect.signature(run_discrete.py_func).parameters)
if _PARAMS[: len(_HEAD)] != _HEAD or _PARAMS[-len(_TAIL) :] != _TAIL:  # (a changed loop must change this module)
    raise ImportError(f"evsim.engine.batch: run_discrete's parameters changed: {_PARAMS}")
NET_ARGS = _PARAMS[len(_HEAD) : -len(_TAIL)]  # the network's arrays (`CompiledNetwork.arrays`), in order


@dataclasses.dataclass
class Runs:
    """Several samples' runs, stacked (global neuron indices). Sample ``b``'s spikes are
    ``spike_*[off[b]:off[b + 1]]``; the other fields have a leading sample axis (see `evsim.engine.SampleRun`)."""

    spike_t: np.ndarray
    spike_n: np.ndarray
    spike_c: np.ndarray
    off: np.ndarray  # [B + 1]
    vtrace: np.ndarray  # [B, T, n_rec]
    i: np.ndarray  # [B, N]
    v: np.ndarray  # [B, N]
    n_updates: np.ndarray  # [B]
    sops: np.ndarray  # [B, projections]
    counts: np.ndarray  # [B, N] spike counts of the populations recorded as counts only ([B, 1] if none)

    def __len__(self) -> int:
        return int(self.off.shape[0] - 1)


def as_runs(runs: Any) -> Runs:
    """``runs`` as `Runs`: as it is, or a list of `SampleRun` stacked."""
    if isinstance(runs, Runs):
        return runs
    off = np.zeros(len(runs) + 1, dtype=np.int64)
    np.cumsum([r.spike_t.shape[0] for r in runs], out=off[1:])

    def cat(name: str, dtype: Any) -> np.ndarray:
        parts = [getattr(r, name) for r in runs]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    def stack(name: str, shape: tuple) -> np.ndarray:
        return np.stack([getattr(r, name) for r in runs]) if runs else np.zeros(shape)

    return Runs(
        cat("spike_t", np.int64),
        cat("spike_n", np.int32),
        cat("spike_c", np.int64),
        off,
        stack("vtrace", (0, 0, 0)),
        stack("i", (0, 0)),
        stack("v", (0, 0)),
        np.array([r.n_updates for r in runs], dtype=np.int64),
        stack("sops", (0, 0)).astype(np.int64),
        stack("counts", (0, 1)).astype(np.int64),
    )


def join_batch(bt: "Batch", parts: Sequence[Runs]) -> Runs:
    """The consecutive chunks of ``bt`` from its first sample: the per-sample arrays are the batch's own
    (``bt.out``, no copy), only the spikes are joined."""
    if len(parts) == 1:
        return parts[0]
    n = sum(len(p) for p in parts)
    sizes = [p.off[-1] for p in parts]
    off = np.concatenate([[0]] + [p.off[1:] + s for p, s in zip(parts, np.cumsum([0] + sizes[:-1]))])
    t, nn, c = (np.concatenate([getattr(p, f) for p in parts]) for f in ("spike_t", "spike_n", "spike_c"))
    i, v, upd, sops, vtrace, counts = (o[:n] for o in bt.out)
    return Runs(t, nn, c, off.astype(np.int64), vtrace, i, v, upd, sops, counts)


def net_args(cn: Any) -> tuple:
    """The network's arguments of `run_discrete`, in its order (made once per network: ~50 arrays, ~10 us)."""
    hit = _net_args.get(cn)
    if hit is None:
        hit = _net_args[cn] = tuple(cn.arrays[k] for k in NET_ARGS)
    return hit


_net_args: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@njit
def _run_batch(
    b_lo: int,
    b_hi: int,
    T: int,
    ev_t: np.ndarray,
    ev_n: np.ndarray,
    ev_val: np.ndarray,
    ev_off: np.ndarray,
    i0: np.ndarray,
    v0: np.ndarray,
    seed: int,
    ctls: np.ndarray,
    rec_mode: np.ndarray,
    N: int,
    P: int,
    D: int,
    net: tuple,
    out_i: np.ndarray,
    out_v: np.ndarray,
    out_upd: np.ndarray,
    out_sops: np.ndarray,
    out_vtrace: np.ndarray,
    out_cnt: np.ndarray,
) -> tuple:
    """Run samples ``b_lo .. b_hi - 1`` one after the other, each with its row ``ctls[b]`` of run control (see
    `run_discrete`); stop after the first that does not finish (stopped, or past its event budget ``ctls[b, 1]``,
    which then reads EVENTS). Row ``b`` of each ``out_*`` array receives sample ``b``'s results; returns the
    samples finished and their spikes ``(t, n, c)`` one after the other with ``counts[k]`` spikes of the k-th."""
    cap = 1024
    sp_t = np.empty(cap, dtype=np.int64)
    sp_n = np.empty(cap, dtype=np.int32)
    sp_c = np.empty(cap, dtype=np.int64)
    n_sp = np.zeros(b_hi - b_lo, dtype=np.int64)
    total = 0
    done = 0
    for b in range(b_lo, b_hi):
        state = new_state(N, P, D, i0, v0, seed + b)
        a, z = ev_off[b], ev_off[b + 1]
        head = (T, 0, T, state, True)
        tail = (ev_t[a:z], ev_n[a:z], ev_val[a:z], ctls[b], rec_mode, out_cnt[b])
        rt, rn, rc, vt, i, v, upd, sops, _ = run_discrete(*(head + net + tail))
        out_i[b] = i
        out_v[b] = v
        out_upd[b] = upd
        out_sops[b] = sops
        out_vtrace[b] = vt
        if ctls[b, 1] >= 0 and sops.sum() > ctls[b, 1]:  # (the loop checks before each step, not after the last)
            ctls[b, 0] = EVENTS
        if ctls[b, 3] < T or ctls[b, 0] != RUNNING:
            break
        k = rt.shape[0]
        if total + k > cap:
            cap = max(2 * cap, total + k)
            t2, n2, c2 = np.empty(cap, dtype=np.int64), np.empty(cap, dtype=np.int32), np.empty(cap, dtype=np.int64)
            t2[:total] = sp_t[:total]
            n2[:total] = sp_n[:total]
            c2[:total] = sp_c[:total]
            sp_t, sp_n, sp_c = t2, n2, c2
        sp_t[total : total + k] = rt
        sp_n[total : total + k] = rn
        sp_c[total : total + k] = rc
        total += k
        n_sp[b - b_lo] = k
        done += 1
    return done, sp_t[:total], sp_n[:total], sp_c[:total], n_sp[:done]


def _sample_args(bt: Batch, b: int, dims: tuple, net: tuple) -> tuple:
    """`run_discrete`'s arguments for sample ``b`` of ``bt`` (as `_run_batch` passes them; ``dims``: N, P, D)."""
    a, z = bt.ev[3][b], bt.ev[3][b + 1]
    N, P, D = dims
    state = _new_state(N, P, D, bt.i0, bt.v0, bt.seed + b)
    tail = (bt.ev[0][a:z], bt.ev[1][a:z], bt.ev[2][a:z], bt.ctls[b], bt.rec_mode, bt.out[5][b])
    return (bt.T, 0, bt.T, state, True) + net + tail


def _run_each(bt: Batch, lo: int, hi: int, dims: tuple, net: tuple) -> tuple:
    """`_run_batch` for samples ``lo .. hi - 1`` of ``bt``, each one call of `run_discrete` from Python (same
    results)."""
    out_i, out_v, out_upd, out_sops, out_vtrace, _ = bt.out
    ctls, T = bt.ctls, bt.T
    spikes: list = []
    n_sp = []
    for b in range(lo, hi):
        rt, rn, rc, vt, i, v, upd, sops, _ = run_discrete(*_sample_args(bt, b, dims, net))
        out_i[b], out_v[b], out_upd[b], out_sops[b], out_vtrace[b] = i, v, upd, sops, vt
        if ctls[b, 1] >= 0 and sops.sum() > ctls[b, 1]:  # (the loop checks before each step, not after the last)
            ctls[b, 0] = EVENTS
        if ctls[b, 3] < T or ctls[b, 0] != RUNNING:
            break
        spikes.append((rt, rn, rc))
        n_sp.append(rt.shape[0])
    if spikes:
        t, n, c = (np.concatenate(x) for x in zip(*spikes))
    else:
        t, n, c = np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int64)
    return len(n_sp), t, n, c, np.array(n_sp, dtype=np.int64)


@njit
def dense_events(a: np.ndarray) -> tuple:
    """The non-zero entries of a dense input ``a[B, T, n]`` as events ``(t, j, value, off)``, sample by sample
    and step by step (sample b's from ``off[b]``): what ``np.nonzero`` finds, in one pass (~10x faster)."""
    B, T, n = a.shape
    off = np.zeros(B + 1, dtype=np.int64)
    for b in range(B):
        c = 0
        for k in range(T):
            for j in range(n):
                c += a[b, k, j] != 0
        off[b + 1] = off[b] + c
    t = np.empty(off[B] + 1, dtype=np.int64)  # (+ 1: room for the entries written and not kept)
    jj = np.empty(off[B] + 1, dtype=np.int64)
    v = np.empty(off[B] + 1, dtype=np.float64)
    e = 0
    if 8 * off[B] > a.size:  # dense (> 1/8 non-zero): written always, kept if x != 0 (no branch to mispredict)
        for b in range(B):
            for k in range(T):
                for j in range(n):
                    x = a[b, k, j]
                    t[e] = k
                    jj[e] = j
                    v[e] = x
                    e += x != 0
    else:  # sparse: a well-predicted branch (3 stores per entry cost more)
        for b in range(B):
            for k in range(T):
                for j in range(n):
                    x = a[b, k, j]
                    if x != 0:
                        t[e] = k
                        jj[e] = j
                        v[e] = x
                        e += 1
    return t[: off[B]], jj[: off[B]], v[: off[B]], off


def events_of_dense(a: np.ndarray) -> tuple:
    """`dense_events` of ``a`` (C-contiguous), by the function `dense_converter` picks."""
    return dense_converter(a)(a)


def dense_converter(a: np.ndarray) -> Any:
    """What converts ``a`` (or its slices along the sample axis): `dense_events` when compiled or in Numba's disk
    cache, or when ``a`` is big enough to pay for compiling it (its first call in a process runs in a worker thread,
    as the loop's do: `evsim.control.in_worker`, Ctrl-C during a compilation); else NumPy (`_nonzero_events`)."""
    sig = (numba.typeof(a),)
    if sig in dense_events.overloads:
        return dense_events
    if a.size < DENSE_KERNEL_MIN and (sig in _not_cached or not first_run.available(dense_events, (a,), {})):
        _not_cached.add(sig)  # (a disk lookup costs ~0.5 ms: once per process)
        return _nonzero_events
    in_worker(dense_events, a[:1])
    return dense_events


_not_cached: set = set()  # signatures of `dense_events` found neither compiled nor cached
DENSE_KERNEL_MIN = 1 << 26  # entries of a dense input from which `dense_events` is compiled if not cached


def _nonzero_events(a: np.ndarray) -> tuple:
    """`dense_events` by NumPy, in the same sample, step, neuron order: the flat indices of ``a != 0`` (NumPy's
    fast path for booleans: ~10x faster than ``np.nonzero(a)`` on a sparse integer input), split by division."""
    B, T, n = a.shape
    flat = np.flatnonzero(a != 0)
    off = np.searchsorted(flat, np.arange(B + 1, dtype=np.int64) * (T * n))
    tj = flat % (T * n) if B > 1 else flat
    t = tj // n
    return t, tj - t * n, a.reshape(-1)[flat].astype(np.float64), off.astype(np.int64)


def _new_state(N: int, P: int, D: int, i0: np.ndarray, v0: np.ndarray, seed: int) -> tuple:
    """`new_state` run by Python for `_run_each` (the same arrays; a first run compiles one kernel less)."""
    with np.errstate(over="ignore"):  # (the generator's seed wraps modulo 2**64, as in the kernel)
        return new_state.py_func(N, P, D, i0, v0, seed)


_choosing = threading.Lock()


@dataclasses.dataclass
class Batch:
    """What `run_chunk` needs of a whole batch: the inputs (sample ``b``: ``ev_*[ev_off[b]:ev_off[b + 1]]``), the
    preallocated per-sample outputs (`Runs` fields), run control ``ctls`` ``[B, 4]`` (`run_discrete`'s ``ctl``)."""

    cn: Any  # CompiledNetwork
    T: int
    ev: tuple  # (ev_t, ev_n, ev_val, ev_off)
    i0: np.ndarray
    v0: np.ndarray
    seed: int
    rec_mode: np.ndarray
    ctls: np.ndarray
    out: tuple  # (i, v, n_updates, sops, vtrace, counts)
    dense: Any = None  # (a, first): a dense input that `evsim.engine.lockstep` reads in place of ``ev`` (or None)


def new_batch(cn: Any, T: int, ev: tuple, v0: np.ndarray | None, seed: int, rec_mode: np.ndarray, ctls: np.ndarray):
    """A `Batch` with its outputs allocated (``ctls``: one row per sample)."""
    a = cn.arrays
    B, N = ev[3].shape[0] - 1, int(a["N"])
    out = (
        np.zeros((B, N)),
        np.zeros((B, N)),
        np.zeros(B, dtype=np.int64),
        np.zeros((B, len(cn.proj_names)), dtype=np.int64),
        np.zeros((B, T, int(a["n_rec"]))),
        np.zeros((B, N if np.any(rec_mode == 1) else 1), dtype=np.int64),
    )
    v0 = cn.v_init if v0 is None else v0
    return Batch(cn, T, ev, np.zeros(N), np.asarray(v0, dtype=np.float64), int(seed), rec_mode, ctls, out)


# Calling `run_discrete` from `_run_batch` makes Numba optimise the loop's code a second time inside the batch
# kernel (LLVM re-runs over the linked module): its first compilation took 15 s instead of 8 (the quick start's
# first run 23 s instead of ~10). So the batch kernel, which saves ~20 us of Python per sample, is used when it is
# already compiled or in Numba's disk cache, or when a batch is big enough to pay for compiling it
# (``BATCH_KERNEL_MIN`` samples); otherwise each sample is one call of `run_discrete` from Python (`_run_each`).
# ``EVSIM_BATCH_KERNEL=1`` (or 0) forces the choice (benchmarks measure the kernel a user's later runs get).
BATCH_KERNEL_MIN = 4096
_kernel: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # network -> whether its chunks use the kernel


def _use_kernel(bt: Batch, args: tuple) -> bool:
    force = os.environ.get("EVSIM_BATCH_KERNEL", "").strip()
    if force in ("0", "1"):
        return force == "1"
    if bt.ev[3].shape[0] - 1 >= BATCH_KERNEL_MIN:
        return True
    if lockstep.serves(bt.cn):  # (the kernel such a network's chunks use: `evsim.engine.lockstep`)
        return lockstep.available(bt, args[0], args[1])
    return first_run.available(_run_batch, args, {})


def run_chunk(bt: Batch, lo: int, hi: int) -> Runs | None:
    """Run samples ``lo .. hi - 1`` of ``bt`` (in one compiled call, or one call per sample: see `_use_kernel`);
    their `Runs` (fewer samples if one stopped). None when ``bt.dense`` is set and the lockstep kernel does not
    serve the chunk (`evsim.engine.chunked_input`: then run it with its events)."""
    a = bt.cn.arrays
    dims = (int(a["N"]), int(a["P"]), int(a["D"]))
    net = net_args(bt.cn)
    args = (lo, hi, bt.T, *bt.ev, bt.i0, bt.v0, bt.seed, bt.ctls, bt.rec_mode, *dims, net, *bt.out)
    if bt.cn not in _kernel:  # the first run of this network: choose, load the kernel, or say that it compiles
        with _choosing:
            if bt.cn not in _kernel:
                use = _use_kernel(bt, args)
                if use and lockstep.serves(bt.cn):  # every sample of a chunk stepped together
                    lockstep.prepare(bt, lo, hi)
                elif use:
                    first_run.prepare(_run_batch, args, {})
                else:
                    first_run.prepare(run_discrete, _sample_args(bt, lo, dims, net), {})
                _kernel[bt.cn] = use
    try:
        use_lockstep = _kernel[bt.cn] and lockstep.serves(bt.cn)
        r = lockstep.run_lockstep(bt, lo, hi) if use_lockstep else None
        if r is None and bt.dense is not None:  # (only lockstep reads a dense input: the caller makes the events)
            return None
        if r is None:  # (lockstep: a sample stops at a limit; the per-sample path stops it where it stops)
            r = _run_batch(*args) if _kernel[bt.cn] and not lockstep.serves(bt.cn) else _run_each(bt, lo, hi, dims, net)
        done, t, n, c, n_sp = r
    except OverflowError as e:  # raised by a kernel: the sample is the first of the chunk left unfinished
        b = lo + int(np.argmax(bt.ctls[lo:hi, 3] < bt.T))
        raise NumericalError(f"sample {b}: {e}") from None
    off = np.zeros(done + 1, dtype=np.int64)
    np.cumsum(n_sp, out=off[1:])
    i, v, upd, sops, vtrace, counts = (o[lo : lo + done] for o in bt.out)
    return Runs(t, n, c, off, vtrace, i, v, upd, sops, counts)
