#!/usr/bin/env python3
"""evsim's exact mode against NEST's precise-timing neurons (`iaf_psc_delta_ps`, `iaf_psc_exp_ps`), spike by spike.

    python validation/nest_precise.py                      # every case, both models, T = 500 ms: prints the table
    python validation/nest_precise.py --cases chain --models iaf_psc_exp_ps --T 200
    python validation/nest_precise.py --vendor tests/data/nest_precise_small.npz   # rewrite the CI reference

Cases (all arrays from fixed seeds, built here in NumPy so that both simulators get identical ones):
  chain      input 100 -> 100 -> 100 -> 50, random weights (mostly excitatory), grid delays 1.0-3.0 ms;
  recurrent  200 neurons (160 E, 40 I), 10% random recurrent connections with weak weights (driven by the
             input, not chaotic), each neuron with its own input train, grid delays 1.0-5.0 ms, bias I_e;
  tonic      input 20 -> 40 neurons whose bias I_e alone drives them above threshold: spike times between input
             events are predicted crossings;
  equal      the chain with tau_syn = tau_m = 10 ms (iaf_psc_exp_ps only: the degenerate case of the PSP's closed
             form), weights scaled by 0.2;
  small      input 20 -> 10 -> 5 (the case vendored for CI, `--vendor`).
Input: Poisson trains (about 20 Hz) with off-grid times (uniform float64 in ms), NEST `spike_generator` with
`precise_times=True` connected straight to the neurons with the projection's weight and delay. Delays lie on
NEST's grid (h = 0.1 ms; NEST needs that, evsim does not). Neurons: NEST-style parameters (E_L = -65 mV,
V_reset = -70 mV, V_th = -50 mV, C_m = 250 pF, tau_m = 10 ms, t_ref = 2 ms; iaf_psc_exp_ps: tau_syn = 2 ms),
translated for evsim by `evsim.exact.from_nest`; weights keep NEST's meaning (mV jump / pA step).

How: this script (in evsim's Python) writes each case to an .npz, runs itself with `--nest-side IN OUT` in NEST's
Python ($NEST_PYTHON, default /work/venv-bench/bin/python; NEST 3.10 from PyPI), reads NEST's spikes back and runs
evsim on the same arrays. Every NEST spike must be matched by an evsim spike of the same neuron (and vice versa);
matched pairs give the time difference. Spikes in the last millisecond are left out on both sides (edge).
Exit status 1 when a case has an unmatched spike or a difference above --tol (default 1e-6 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

H_MS = 0.1  # NEST resolution (ms)
MODELS = ("iaf_psc_delta_ps", "iaf_psc_exp_ps")
CASES = ("chain", "recurrent", "tonic", "equal")
NEST_PYTHON = os.environ.get("NEST_PYTHON", "/work/venv-bench/bin/python")
BASE = dict(E_L=-65.0, V_reset=-70.0, V_th=-50.0, V_m=-65.0, C_m=250.0, tau_m=10.0, t_ref=2.0, I_e=0.0)
# weight scale per model: mV jump (delta) or pA step (exp; a 100 pA step gives a PSP of about 0.54 mV here)
W_SCALE = {"iaf_psc_delta_ps": 1.0, "iaf_psc_exp_ps": 160.0}


# ---------------------------------------------------------------- the cases (pure NumPy; both sides read them)
def _poisson(rng: np.random.Generator, n: int, rate_hz: float, T_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """Off-grid Poisson trains: times (ms, float64, in (0.2, T-0.2)), sorted by time, and input indices."""
    k = rng.poisson(rate_hz * T_ms * 1e-3, size=n)
    idx = np.repeat(np.arange(n), k)
    t = rng.uniform(0.2, T_ms - 0.2, size=idx.size)
    order = np.argsort(t, kind="stable")
    return t[order], idx[order]


def _proj(rng, source, target, n_src, n_tgt, p, w_mean, w_sd, d_lo, d_hi, w_scale, inhibitory_from=None) -> dict:
    conn = rng.random((n_src, n_tgt)) < p
    pre, post = np.nonzero(conn)
    w = rng.normal(w_mean, w_sd, size=pre.size) * w_scale
    if inhibitory_from is not None:
        w = np.where(pre >= inhibitory_from, -4.0 * np.abs(w), np.abs(w))
    delay = rng.integers(round(d_lo / H_MS), round(d_hi / H_MS) + 1, size=pre.size) * H_MS
    return dict(source=source, target=target, pre=pre, post=post, weight=w, delay_ms=delay)


def build_case(name: str, model: str, T_ms: float, seed: int = 1) -> dict:
    """One case as plain data: NEST model and parameters, population sizes, projections, input events (ms)."""
    rng = np.random.default_rng([seed, {"equal": 0}.get(name, CASES.index(name) if name in CASES else 9)])
    ws = W_SCALE[model]
    params = dict(BASE)
    if model == "iaf_psc_exp_ps":
        params.update(tau_syn_ex=2.0, tau_syn_in=2.0)
    if name == "equal":
        params.update(tau_syn_ex=params["tau_m"], tau_syn_in=params["tau_m"])
        ws *= 0.2
    if name in ("chain", "small", "equal"):
        sizes = [20, 10, 5] if name == "small" else [100, 100, 100, 50]
        p_conn, w_mean = (0.6, 5.0) if name == "small" else (0.3, 1.6)
        names = ["in"] + [f"L{k}" for k in range(1, len(sizes))]
        projs = [
            _proj(rng, names[k], names[k + 1], sizes[k], sizes[k + 1], p_conn, w_mean, 1.2, 1.0, 3.0, ws)
            for k in range(len(sizes) - 1)
        ]
        pops = dict(zip(names, sizes))
        rate = 40.0 if name == "small" else 20.0
    elif name == "recurrent":
        n = 200
        pops = {"in": n, "E": n}  # one population: the first 160 excitatory, the last 40 inhibitory
        params["I_e"] = 150.0  # 6 mV of the 15 mV to threshold
        inp = dict(source="in", target="E", pre=np.arange(n), post=np.arange(n), delay_ms=np.full(n, 1.0))
        inp["weight"] = np.full(n, 4.0) * ws
        rec = _proj(rng, "E", "E", n, n, 0.1, 0.3, 0.1, 1.0, 5.0, ws, inhibitory_from=160)
        projs = [inp, rec]
        rate = 80.0
    elif name == "tonic":
        pops = {"in": 20, "T": 40}
        params["I_e"] = 420.0  # R I = 16.8 mV > 15 mV: fires without input (period about 28 ms)
        projs = [_proj(rng, "in", "T", 20, 40, 0.3, 1.0, 1.5, 1.0, 2.0, ws)]
        rate = 20.0
    else:
        raise SystemExit(f"unknown case {name!r}")
    t, idx = _poisson(rng, pops["in"], rate, T_ms)
    return dict(name=name, model=model, params=params, T_ms=T_ms, pops=pops, projs=projs, in_t=t, in_idx=idx)


def save_case(case: dict, path: Path, extra: dict | None = None) -> None:
    meta = {k: case[k] for k in ("name", "model", "params", "T_ms", "pops")}
    meta["projs"] = [dict(source=p["source"], target=p["target"]) for p in case["projs"]]
    arrays = {"meta": np.asarray(json.dumps(meta)), "in_t": case["in_t"], "in_idx": case["in_idx"]}
    for k, p in enumerate(case["projs"]):
        arrays.update({f"p{k}_{key}": p[key] for key in ("pre", "post", "weight", "delay_ms")})
    arrays.update(extra or {})
    np.savez_compressed(path, **arrays)


def load_case(path: Path | str) -> tuple[dict, dict]:
    """(case, the remaining arrays of the file, e.g. NEST's spikes ``nest_<pop>_t`` / ``nest_<pop>_i``)."""
    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    meta = json.loads(str(d.pop("meta")))
    projs = []
    for k, p in enumerate(meta.pop("projs")):
        projs.append(dict(p, **{key: d.pop(f"p{k}_{key}") for key in ("pre", "post", "weight", "delay_ms")}))
    case = dict(meta, projs=projs, in_t=d.pop("in_t"), in_idx=d.pop("in_idx"))
    return case, d


# ---------------------------------------------------------------- NEST side (runs in NEST's Python; no evsim here)
def nest_side(src: str, dst: str) -> None:
    os.environ.setdefault("PYNEST_QUIET", "1")
    import nest

    case, _ = load_case(src)
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.ResetKernel()
    nest.set(resolution=H_MS, local_num_threads=1, print_time=False)
    n_in = case["pops"]["in"]
    order = np.argsort(case["in_idx"], kind="stable")
    bounds = np.searchsorted(case["in_idx"][order], np.arange(n_in + 1))
    t_sorted = case["in_t"][order]
    gens = nest.Create(
        "spike_generator",
        n_in,
        params=[
            {"spike_times": np.sort(t_sorted[bounds[i] : bounds[i + 1]]), "precise_times": True} for i in range(n_in)
        ],
    )
    ids = {"in": np.asarray(gens.tolist())}
    nodes = {}
    for name, n in case["pops"].items():
        if name != "in":
            nodes[name] = nest.Create(case["model"], n, params=case["params"])
            ids[name] = np.asarray(nodes[name].tolist())
    for p in case["projs"]:
        if p["pre"].size:
            nest.Connect(
                ids[p["source"]][p["pre"]],
                ids[p["target"]][p["post"]],
                "one_to_one",
                {"weight": p["weight"], "delay": p["delay_ms"]},
            )
    recs = {name: nest.Create("spike_recorder") for name in nodes}
    for name in nodes:
        nest.Connect(nodes[name], recs[name])
    nest.Simulate(case["T_ms"])
    out = {"nest_version": np.asarray(nest.__version__)}
    for name, r in recs.items():
        ev = r.get("events")
        out[f"nest_{name}_t"] = np.asarray(ev["times"], dtype=np.float64)
        out[f"nest_{name}_i"] = np.asarray(ev["senders"], dtype=np.int64) - ids[name][0]
    np.savez_compressed(dst, **out)


def run_nest(case: dict, python: str = NEST_PYTHON) -> dict:
    """NEST's spikes of ``case``: {pop: (times_ms, indices)} and the NEST version, via a subprocess."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "case.npz", Path(tmp) / "nest.npz"
        save_case(case, src)
        proc = subprocess.run(
            [python, str(Path(__file__).resolve()), "--nest-side", str(src), str(dst)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise RuntimeError(f"NEST side failed ({python}):\n{proc.stderr[-3000:]}")
        with np.load(dst, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    return d


def nest_spikes(d: dict, pop: str) -> tuple[np.ndarray, np.ndarray]:
    return d[f"nest_{pop}_t"], d[f"nest_{pop}_i"]


# ---------------------------------------------------------------- evsim side
def evsim_network(case: dict):
    """The case as an exact-mode evsim Network (neurons from NEST's parameter dict, delays in seconds)."""
    import evsim

    pops = [evsim.Population("in", case["pops"]["in"])]
    for name, n in case["pops"].items():
        if name != "in":
            pops.append(evsim.Population(name, n, evsim.exact.from_nest(case["model"], n, case["params"])))
    projs = [
        evsim.Projection.from_synapses(
            f"{p['source']}->{p['target']}",
            p["source"],
            p["target"],
            p["pre"],
            p["post"],
            p["weight"],
            p["delay_ms"] * 1e-3,
            n_source=case["pops"][p["source"]],
        )
        for p in case["projs"]
    ]
    return evsim.Network(tuple(pops), tuple(projs), ("in",), (pops[-1].name,))


def run_evsim(case: dict) -> dict:
    """evsim's spikes of ``case``: {pop: (times_ms, indices)}."""
    import evsim

    net = evsim_network(case)
    res = evsim.run(net, evsim.EventStream(case["in_t"] * 1e-3, case["in_idx"]), duration=case["T_ms"] * 1e-3)
    return {
        name: (np.asarray(res.spikes[name].times, dtype=np.float64) * 1e3, np.asarray(res.spikes[name].indices))
        for name in case["pops"]
        if name != "in"
    }


# ---------------------------------------------------------------- matching
def pair_differences(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], t_end: float = np.inf, window: float = 0.5
) -> tuple[np.ndarray, int]:
    """Pair the spikes ``a`` and ``b``, each ``(times_ms, indices)``, neuron by neuron in time order: a pair is
    two spikes of one neuron less than ``window`` ms apart. Spikes after ``t_end`` are left out. Returns the
    time differences b - a of the pairs and the number of spikes (of either side) left without a partner."""
    ka, kb = a[0] <= t_end, b[0] <= t_end
    ta, ia, tb, ib = a[0][ka], a[1][ka], b[0][kb], b[1][kb]
    diffs: list[float] = []
    unmatched = 0
    for n in np.union1d(ia, ib):
        x, y = np.sort(ta[ia == n]), np.sort(tb[ib == n])
        i = j = 0
        while i < x.size and j < y.size:
            d = y[j] - x[i]
            if abs(d) < window:
                diffs.append(d)
                i, j = i + 1, j + 1
            elif d < 0:
                j, unmatched = j + 1, unmatched + 1
            else:
                i, unmatched = i + 1, unmatched + 1
        unmatched += (x.size - i) + (y.size - j)
    return np.asarray(diffs, dtype=np.float64), unmatched


def match(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], t_end: float, window: float = 0.5
) -> tuple[int, int, int, float]:
    """`pair_differences` summed up: (spikes in a (NEST), spikes in b (evsim), unmatched spikes of either side,
    largest |difference| of a pair in ms), counting spikes up to ``t_end``."""
    d, unmatched = pair_differences(a, b, t_end, window)
    return int(np.sum(a[0] <= t_end)), int(np.sum(b[0] <= t_end)), unmatched, float(np.abs(d).max(initial=0.0))


def compare(case: dict, nest_out: dict, ev: dict | None = None) -> list[tuple]:
    """Rows (case, model, population, n NEST, n evsim, unmatched, max |dt| ms) for every non-input population."""
    ev = run_evsim(case) if ev is None else ev
    t_end = case["T_ms"] - 1.0
    return [
        (case["name"], case["model"], pop, *match(nest_spikes(nest_out, pop), ev[pop], t_end))
        for pop in case["pops"]
        if pop != "in"
    ]


def table(rows: list[tuple]) -> str:
    out = [
        "| network | model | population | spikes NEST | spikes evsim | unmatched | max abs dt (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    out += [f"| {c} | {m} | {p} | {na} | {nb} | {u} | {w:.3g} |" for c, m, p, na, nb, u, w in rows]
    return "\n".join(out)


def vendor(path: Path, T_ms: float = 200.0) -> None:
    """Write the small case with NEST's spikes for both models and a provenance line (the CI reference)."""
    extra: dict = {}
    for model in MODELS:
        case = build_case("small", model, T_ms)
        d = run_nest(case)
        for k, p in enumerate(case["projs"]):
            extra[f"{model}_p{k}_weight"] = p["weight"]
        for pop in case["pops"]:
            if pop != "in":
                extra[f"{model}_{pop}_t"], extra[f"{model}_{pop}_i"] = nest_spikes(d, pop)
        version = str(d["nest_version"])
    extra["provenance"] = np.asarray(
        f"NEST {version} (nest-simulator from PyPI), 1 thread, h = {H_MS} ms; written by validation/nest_precise.py: "
        f"`python validation/nest_precise.py --vendor {path}`; case 'small', T = {T_ms} ms, seed 1"
    )
    tmp = path.with_name(path.stem + ".tmp.npz")
    save_case(case, tmp, extra)
    os.replace(tmp, path)
    print(f"wrote {path}")


def vendored_cases(path: Path | str) -> list[tuple[dict, dict]]:
    """The cases of a file written by `vendor`: [(case, NEST output as `run_nest` returns it)] per model."""
    base, d = load_case(path)
    out = []
    for model in MODELS:
        projs = [dict(p, weight=d[f"{model}_p{k}_weight"]) for k, p in enumerate(base["projs"])]
        params = dict(base["params"])
        if model == "iaf_psc_exp_ps":
            params.update(tau_syn_ex=2.0, tau_syn_in=2.0)
        else:
            params.pop("tau_syn_ex", None), params.pop("tau_syn_in", None)
        nest_out = {}
        for pop in base["pops"]:
            if pop != "in":
                nest_out[f"nest_{pop}_t"], nest_out[f"nest_{pop}_i"] = d[f"{model}_{pop}_t"], d[f"{model}_{pop}_i"]
        out.append((dict(base, model=model, params=params, projs=projs), nest_out))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}, small")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated NEST models")
    p.add_argument("--T", type=float, default=500.0, help="simulated time in ms (default 500)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tol", type=float, default=1e-6, help="largest allowed spike-time difference in ms")
    p.add_argument("--vendor", metavar="NPZ", help="write the small CI reference file and stop")
    p.add_argument("--nest-side", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.nest_side:
        return nest_side(*args.nest_side)
    if args.vendor:
        return vendor(Path(args.vendor))
    rows = []
    for name in args.cases.split(","):
        for model in args.models.split(","):
            if name == "equal" and model != "iaf_psc_exp_ps":
                continue  # tau_syn means nothing to iaf_psc_delta_ps
            case = build_case(name, model, args.T, args.seed)
            rows += compare(case, run_nest(case))
    print(table(rows))
    worst = max((r[6] for r in rows), default=0.0)
    bad = [r for r in rows if r[5] or r[6] > args.tol]
    print(f"\nlargest spike-time difference: {worst:.3g} ms (tolerance {args.tol:g} ms); {len(bad)} row(s) fail")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
