"""The event-driven engine: flattens a `Network` into arrays once, then runs samples through the event loop.

See `evsim.engine.queue` for the queue and its invariants and `evsim.engine.loop` for the loop itself.
"""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np

from ..errors import NetworkError, NumericalError
from ..network import ConvProjection, Network
from ..neurons import RESET_MODES
from . import first_run
from .conv import KMAX
from .conv import channel_last
from .conv import conv_arrays as _conv_arrays
from .loop import new_state, run_discrete
from .poisson import GUIDE

# Populations up to this size are *stepped*: at a step where any of their neurons has input, every one of their
# neurons is updated (a delivery is then one add, and the update loop has no search); populations that can act
# with no input (bias, synaptic current, recorded membranes) are stepped at every step. Larger populations keep a
# list of the neurons reached (a delivery also checks and sets a mark) and update only those, in closed form from
# their last update, which pays off when a step reaches few of their neurons.
SCAN_MAX = 32768

_PARAM_FIELDS = ("alpha", "beta", "in_gain", "g_i", "g_x", "i_bias", "v_bias", "v_th", "v_reset", "v_min")


@dataclasses.dataclass(frozen=True, eq=False)
class CompiledNetwork:
    """A `Network` flattened over a global neuron index (population ``p`` owns ``pop_off[p]:pop_off[p+1]``).

    The explicit synapses are the network's own arrays (`Network._pack`: ``targets`` local to the target
    population, uint16 or int32, ``weights`` float64, ``delays`` uint8 when they fit), not a copy (unless zero
    weights must be dropped: they change nothing and would cost a delivery). Row ``j`` of projection ``q`` is the
    synapses ``rowptr[ip_off[q] + j] : rowptr[ip_off[q] + j + 1]``, sorted by delay, so a spike's deliveries run
    through one contiguous stretch of each array and those past the end of the run are a tail that is cut off.
    With ~11 bytes per synapse in all, reading a synapse's own delay costs less than the 8 bytes per group of
    delay-grouped rows (measured faster too: one slot computation per synapse beats a loop per delay group of
    ~10 synapses).
    """

    net: Network
    names: tuple[str, ...]
    pop_off: np.ndarray
    arrays: dict  # keyword arguments of `run_discrete` that do not depend on the sample
    proj_names: tuple[str, ...]
    rec_pops: tuple[str, ...]  # densely recorded populations (non-spiking outputs), in trace column order
    v_init: np.ndarray  # initial membrane of every neuron (the populations' v_init, else 0)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def nbytes(self) -> int:
        """Memory of the engine's own arrays (row pointers, per-neuron rows, ...), not counting the network's
        synapse arrays it uses as they are."""
        shared = list(self.net._synapses.values())
        return int(
            sum(
                a.nbytes
                for a in self.arrays.values()
                if isinstance(a, np.ndarray) and not any(a is b or np.shares_memory(a, b) for b in shared)
            )
        )

    def bytes_per_synapse(self) -> float:
        """Synapse memory of the network and the engine together per explicit synapse: targets, weights,
        delays and row pointers (what a run needs in memory beyond the per-neuron state)."""
        expl = [q for q in self.net.projections if not isinstance(q, ConvProjection)]
        n = sum(q.n_synapses for q in expl)
        a = self.arrays
        total = sum(q.nbytes() for q in expl) + a["rowptr"].nbytes
        if not np.shares_memory(a["targets"], self.net._synapses["targets"]):
            total += a["targets"].nbytes + a["weights"].nbytes + a["delays"].nbytes  # zero weights dropped: a copy
        return total / max(n, 1)


def compile_network(net: Network, scan_max: int | None = None) -> CompiledNetwork:
    """Flatten ``net``; populations up to ``scan_max`` neurons (default `SCAN_MAX`) are stepped, larger ones
    listed (``scan_max=0``: every population listed, as tests do to cover both modes)."""
    pops = net.populations
    names = tuple(p.name for p in pops)
    P = len(pops)
    sizes = np.array([p.size for p in pops], dtype=np.int64)
    pop_off = np.zeros(P + 1, dtype=np.int64)
    np.cumsum(sizes, out=pop_off[1:])
    N = int(pop_off[-1])
    par = {f: np.zeros(N) for f in _PARAM_FIELDS}
    par["v_th"][:] = np.inf
    par["v_min"][:] = -np.inf
    refractory = np.zeros(N, dtype=np.int64)
    v_init = np.zeros(N)
    flags = {
        k: np.zeros(P, dtype=np.bool_) for k in ("is_input", "ge", "multi", "rdelay", "record_v", "overshoot", "keep_i")
    }
    reset_mode = np.zeros(P, dtype=np.int64)
    poisson = np.zeros(P)
    rec_off = np.zeros(P, dtype=np.int64)
    rec_pops = []
    n_rec = 0
    for k, p in enumerate(pops):
        sl = slice(pop_off[k], pop_off[k + 1])
        if p.neuron is None:
            flags["is_input"][k] = True
            poisson[k] = p.poisson_rate or 0.0
            continue
        for f in _PARAM_FIELDS:
            par[f][sl] = getattr(p.neuron, f)
        refractory[sl] = p.neuron.refractory
        if p.neuron.v_init is not None:
            v_init[sl] = p.neuron.v_init
        flags["ge"][k] = p.neuron.threshold_op == ">="
        flags["multi"][k] = p.neuron.multi_spike
        flags["rdelay"][k] = p.neuron.reset_delay
        flags["overshoot"][k] = p.neuron.overshoot_rule
        flags["keep_i"][k] = p.neuron.refractory_keeps_current
        reset_mode[k] = RESET_MODES[p.neuron.reset]
        if p.name in net.outputs and not p.neuron.spiking:
            flags["record_v"][k] = True
            rec_off[k] = n_rec
            n_rec += p.size
            rec_pops.append(p.name)

    projs = net.projections
    perm, user_of, hwc = channel_last(pops, projs, pop_off, flags["record_v"])  # the engine's order of the neurons
    for f in _PARAM_FIELDS:
        par[f] = par[f][user_of]
    refractory = refractory[user_of]
    syn = net._synapses  # every explicit projection's synapses, one array each (`Network._pack`): used as they are
    targets, weights, delays = syn["targets"], syn["weights"], syn["delays"]
    if np.any(weights == 0):  # zero weights change nothing and would cost a delivery: a filtered copy
        keep = weights != 0
        targets, weights, delays = targets[keep], weights[keep], delays[keep]
        # kept synapses before each position
        kept_before: np.ndarray | None = np.concatenate(([0], np.cumsum(keep)))
    else:
        kept_before = None
    ip_parts = []
    ip_off = np.zeros(len(projs), dtype=np.int64)
    tgt_pop = np.zeros(len(projs), dtype=np.int64)
    q_maxd = np.zeros(len(projs), dtype=np.int64)
    q_mind = np.zeros(len(projs), dtype=np.int64)  # (q_mind == q_maxd: every synapse of q has one delay)
    q_full = np.zeros(len(projs), dtype=np.bool_)  # every row: each target in order, one delay (`_full_rows`)
    ip_pos = 0
    conv_of = np.full(len(projs), -1, dtype=np.int64)
    convs: list[ConvProjection] = []
    k_expl = 0
    for q_i, q in enumerate(projs):
        tgt_pop[q_i] = names.index(q.target)
        ip_off[q_i] = ip_pos
        if isinstance(q, ConvProjection):
            if max(q.spec.weight.shape[2:]) > KMAX:
                raise NetworkError(f"projection {q.name!r}: kernels wider than {KMAX} are not supported")
            conv_of[q_i] = len(convs)
            convs.append(q)
            continue
        lo = int(syn["offsets"][k_expl])
        k_expl += 1
        rowptr = q.indptr + lo
        if kept_before is not None:
            rowptr = kept_before[rowptr]
        ip_parts.append(rowptr)
        q_maxd[q_i] = q.max_delay
        q_mind[q_i] = q.min_delay
        q_full[q_i] = _full_rows(rowptr, targets, delays, pops[tgt_pop[q_i]].size)
        ip_pos += rowptr.shape[0]
    src_of = [names.index(q.source) for q in projs]
    out_order = np.argsort(np.array(src_of, dtype=np.int64), kind="stable")
    out_ptr = np.zeros(P + 1, dtype=np.int64)
    np.cumsum(np.bincount(np.array(src_of, dtype=np.int64), minlength=P), out=out_ptr[1:])
    scan = sizes <= (SCAN_MAX if scan_max is None else scan_max)
    always = scan & ~flags["is_input"] & (flags["record_v"] | ~np.array([_quiet(p.neuron) for p in pops], bool))
    # stepped populations without overshoot rule or multi-spike: the short, branch-free loop (1), ...
    plain = scan & ~flags["is_input"] & ~(flags["overshoot"] | flags["multi"])
    rules = scan & ~flags["is_input"] & ~plain  # the other stepped populations (overshoot rule, multi-spike)
    late = plain & flags["rdelay"] & (reset_mode == RESET_MODES["subtract"])  # ... 3: with a late reset
    # ... 2: uniform (every neuron the same coefficients, no refractory period): `evsim.engine.step`
    uniform = plain & ~flags["rdelay"] & _uniform(par, refractory, pop_off)
    plain = plain.astype(np.int8) + uniform.astype(np.int8) + 2 * late.astype(np.int8)
    D = 2
    while D <= net.max_delay + 1:
        D *= 2

    def cat(parts, dtype):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    conv_arrays = dict(
        conv_of=conv_of,
        **_conv_arrays([c.spec for c in convs], [c.target in hwc for c in convs]),
        conv_delay=np.array([c.delay for c in convs], dtype=np.int64),
    )
    cdfs = [_poisson_cdf(r) if r > 0 else np.zeros(0) for r in poisson]
    pcdf_off = np.zeros(P + 1, dtype=np.int64)
    np.cumsum([c.size for c in cdfs], out=pcdf_off[1:])
    # guide tables: for u in [k/GUIDE, (k+1)/GUIDE) the count is at least guide[k] (the first c with cdf[c] > k/GUIDE)
    pguide = (
        np.concatenate([np.searchsorted(c, np.arange(GUIDE) / GUIDE, side="right") for c in cdfs]).astype(np.int64)
        if P
        else np.zeros(0, np.int64)
    )
    arrays = dict(
        N=N,
        P=P,
        pop_off=pop_off,
        order=np.array([names.index(n) for n in net.order], dtype=np.int64),
        is_input=flags["is_input"],
        poisson=poisson,
        pcdf=cat(cdfs, np.float64) if np.any(poisson > 0) else None,  # (None: the loop's variant without)
        pcdf_off=pcdf_off,
        pguide=pguide,
        reset_mode=reset_mode,
        ge=flags["ge"],
        multi=flags["multi"],
        rdelay=flags["rdelay"],
        overshoot=flags["overshoot"],
        keep_i=flags["keep_i"],
        record_v=flags["record_v"],
        recorded=flags["record_v"] if flags["record_v"].any() else None,  # (None: `run_discrete` compiles less)
        rec_off=rec_off,
        n_rec=n_rec,
        prm=np.ascontiguousarray(np.stack([par[f] for f in _PARAM_FIELDS], axis=1)),
        prmc=np.ascontiguousarray(np.stack([par[f] for f in _PARAM_FIELDS], axis=0)),
        refractory=refractory,
        out_ptr=out_ptr,
        out_proj=out_order.astype(np.int64),
        ip_off=ip_off,
        tgt_pop=tgt_pop,
        rowptr=cat(ip_parts, np.int64),
        delays=delays,
        q_mind=q_mind,
        q_maxd=q_maxd,
        q_full=q_full,
        q_sparse=~q_full if np.any(~q_full & (conv_of < 0)) else None,  # (None: `run_discrete` compiles less)
        perm=perm,
        reordered=perm if np.any(perm != np.arange(N)) else None,  # (None: `run_discrete` compiles less)
        user_of=user_of,
        targets=targets,
        weights=weights,
        D=D,
        scan=scan,
        always=always,
        # stepped populations of each kind (`evsim.engine.stepped`); None: none (the loop's variant without)
        plain=plain if plain.any() else None,
        # None: no plain population of kind 1, 2, 3 (not compiled; `run_discrete`)
        **{f"plain_{k}": plain if np.any(plain == c) else None for c, k in ((1, "each"), (2, "uniform"), (3, "late"))},
        rules=rules if rules.any() else None,
        # no constant drive: below threshold, such a neuron can only decay towards 0 (no crossing to predict);
        # None: no listed population (the loop's variant without the listed path)
        undriven=(
            (par["v_bias"] == 0.0) & (par["i_bias"] == 0.0) & (par["v_th"] > 0.0)
            if np.any(~scan & ~flags["is_input"])
            else None
        ),
        **conv_arrays,
    )
    return CompiledNetwork(net, names, pop_off, arrays, tuple(q.name for q in projs), tuple(rec_pops), v_init)


def _full_rows(rowptr: np.ndarray, targets: np.ndarray, delays: np.ndarray, n_target: int) -> bool:
    """Whether every row ``rowptr[j]:rowptr[j + 1]`` of the packed synapses is ``0, 1, ..., n_target - 1`` with
    one delay (a fully connected projection with a delay per source neuron): such rows are delivered as
    contiguous adds, without reading the targets."""
    lo, hi = int(rowptr[0]), int(rowptr[-1])
    if np.any(np.diff(rowptr) != n_target) or hi == lo:
        return False
    n_rows = (hi - lo) // n_target
    tg = targets[lo:hi].reshape(n_rows, n_target)
    dl = delays[lo:hi].reshape(n_rows, n_target)
    return bool(np.all(tg == np.arange(n_target)) and np.all(dl == dl[:, :1]))


def _uniform(par: dict, refractory: np.ndarray, pop_off: np.ndarray) -> np.ndarray:
    """Per population: every neuron has the same coefficients and no refractory period."""
    out = np.zeros(pop_off.size - 1, dtype=np.bool_)
    for p in range(out.size):
        lo, hi = pop_off[p], pop_off[p + 1]
        out[p] = hi > lo and not np.any(refractory[lo:hi]) and all(np.all(a[lo:hi] == a[lo]) for a in par.values())
    return out


def _quiet(nrn) -> bool:
    """Whether every neuron of a population can only decay towards 0 below threshold when no input arrives
    (no bias, no synaptic current, 0 <= beta <= 1, resets and clamps below a positive threshold): such a
    population needs stepping only at steps with input, and at the step after one that ended at threshold."""
    if nrn is None:
        return True
    p = {f: np.broadcast_to(np.asarray(getattr(nrn, f), dtype=float), (nrn.size,)) for f in _PARAM_FIELDS}
    return bool(
        np.all(
            (p["v_bias"] == 0)
            & (p["i_bias"] == 0)
            & (p["g_i"] == 0)
            & (p["beta"] >= 0)
            & (p["beta"] <= 1)
            & (p["v_th"] > 0)
            & (p["v_reset"] < p["v_th"])
            & (p["v_min"] < p["v_th"])
        )
    )


def _poisson_cdf(lam: float) -> np.ndarray:
    """P(count <= k) for k = 0, 1, ... while the tail is above 1e-16 (the engine samples by inversion)."""
    from scipy.stats import poisson

    k = np.arange(int(lam + 40 * np.sqrt(lam) + 40))
    cdf = poisson.cdf(k, lam)
    return cdf[: int(np.searchsorted(cdf, 1.0 - 1e-16)) + 1]


_prepared: weakref.WeakSet = weakref.WeakSet()  # networks whose kernel `first_run.prepare` has seen


@dataclasses.dataclass
class SampleRun:
    """What the loop returns for one sample (global neuron indices)."""

    spike_t: np.ndarray
    spike_n: np.ndarray
    spike_c: np.ndarray
    vtrace: np.ndarray
    i: np.ndarray
    v: np.ndarray
    n_updates: int
    sops: np.ndarray  # per projection
    counts: np.ndarray  # spike counts per neuron of the populations recorded as counts only (else unused)
    steps_done: int  # steps completed (T unless the run was stopped)


def run_sample(
    cn: CompiledNetwork,
    T: int,
    ev_t: np.ndarray,
    ev_n: np.ndarray,
    ev_val: np.ndarray,
    i0: np.ndarray | None = None,
    v0: np.ndarray | None = None,
    seed: int = 0,
    ctl: np.ndarray | None = None,
    rec_mode: np.ndarray | None = None,
) -> SampleRun:
    """Run one sample of ``T`` steps. ``ev_*``: input events sorted by step, global neuron index, value.
    ``seed`` seeds the Poisson sources. ``ctl``: the run control array of `run_discrete` (see `evsim.control`);
    ``rec_mode``: per population 2 (record every spike, the default) or 1 (count them only: `SampleRun.counts`)."""
    N = cn.arrays["N"]
    i0 = np.zeros(N) if i0 is None else i0
    v0 = cn.v_init if v0 is None else v0
    ctl = np.array([0, -1, -1, 0], dtype=np.int64) if ctl is None else ctl
    rec_mode = np.full(cn.arrays["P"], 2, dtype=np.int8) if rec_mode is None else rec_mode
    cnt = np.zeros(N if np.any(rec_mode == 1) else 1, dtype=np.int64)
    state = new_state(N, cn.arrays["P"], cn.arrays["D"], np.asarray(i0, np.float64), np.asarray(v0, np.float64), seed)
    args = (T, 0, T, state, True)
    kw = dict(ev_t=ev_t, ev_n=ev_n, ev_val=ev_val, ctl=ctl, rec_mode=rec_mode, cnt=cnt, **cn.arrays)
    if cn not in _prepared:  # the first run of this network: load the kernel, or say that it compiles
        first_run.prepare(run_discrete, args, kw)
        _prepared.add(cn)
    try:
        out = run_discrete(*args, **kw)
    except OverflowError as e:
        raise NumericalError(str(e)) from None
    spike_t, spike_n, spike_c, vtrace, i, v, n_updates, sops, _ = out
    return SampleRun(spike_t, spike_n, spike_c, vtrace, i, v, int(n_updates), sops, cnt, int(ctl[3]))
