"""NEST 3.10 runner for the SPEC workloads: builds the network from the workload arrays, simulates, prints a JSON line.

    /work/venv-bench/bin/python benchmarks/peers/nest_runner.py --workload feedforward --samples 10 [--threads 2]

build_s: ResetKernel .. Create/Connect .. nest.Prepare(); wall_s: nest.Run() alone (simulation only);
bytes_per_synapse: growth of the resident set over the build, per synapse.

feedforward (dt = 1 ms): spike_generator -> parrot_neuron (delay 1 ms) -> iaf_psc_delta layers, delays d + 1 ms.
  iaf_psc_delta adds a delta weight to V_m directly in mV, whatever C_m, so weight w jumps V by w. E_L = 0,
  V_reset = 0, V_th = 1, tau_m = 20, t_ref = 0 (NEST accepts 0: no step is refractory), V_min = -inf (default).
  NEST fires on V >= V_th where the SPEC reference fires on V > V_th; with continuous random weights an exact
  tie has probability ~0, so the counts are the same.
  Timing: an input spike of canonical step s is a generator spike at (s + 1) ms (NEST cannot emit at 0), relayed
  by the parrot with stamp s + 2 ms; so canonical step t is NEST stamp t + 2 ms throughout, and simulating
  T + 1 ms covers exactly canonical steps 0..T-1 (the first network spike can come at canonical step 1).
feedforward-precise: spike_generator (precise_times, off-grid input times t) -> parrot_neuron_ps (1 ms) ->
  iaf_psc_delta_ps layers with t_ref = 0.1 ms (the least NEST's _ps models accept) at resolution 0.1 ms; input
  time t reaches the network at t + 1 ms, and T + 1 ms is simulated.
conv: the same layered build (every delay 1 step, tau_m = 1e9 ms: no leak).
brunel (dt = 0.1 ms): iaf_psc_delta (E_L = 0, V_th = 20, V_reset = 10, t_ref = 2 ms, V0 from the workload),
  array connections with the workload's weights and delays, one poisson_generator (20 kHz, weight J, delay
  0.1 ms) connected to all neurons, which gives each neuron an independent train.
brunel-*-precise: iaf_psc_delta_ps and poisson_generator_ps (off-grid drive), T = 0.2 s.
"""

from __future__ import annotations

import os
import time

import numpy as np
from common import emit, load, parser, rss_mb, workloads

os.environ.setdefault("PYNEST_QUIET", "1")  # no banner on stdout
import nest  # noqa: E402


def _kernel(args, resolution: float) -> None:
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.ResetKernel()
    nest.set(resolution=resolution, local_num_threads=args.threads, rng_seed=args.seed + 1, print_time=False)


def _counts(rec) -> np.ndarray:
    return np.asarray(rec.get("events", "senders"))


def feedforward(args, wl) -> tuple[float, float, dict, int, float]:
    rss0 = rss_mb()
    t0 = time.perf_counter()
    ps = bool(wl.get("precise"))
    _kernel(args, 0.1 if ps else wl["dt_ms"])
    n_in = wl["populations"]["in"]
    order = np.argsort(wl["input_index"], kind="stable")
    bounds = np.searchsorted(wl["input_index"][order], np.arange(n_in + 1))
    times = wl["input_times_ms"][order] if ps else (wl["input_steps"][order] + 1).astype(float)
    gens = nest.Create(
        "spike_generator",
        n_in,
        params=[{"spike_times": np.sort(times[bounds[i] : bounds[i + 1]]), "precise_times": ps} for i in range(n_in)],
    )
    pops = {"in": nest.Create("parrot_neuron_ps" if ps else "parrot_neuron", n_in)}
    nest.Connect(gens, pops["in"], "one_to_one", {"delay": 1.0})
    nu = wl["neuron"]
    t_ref = nu.get("t_ref_ms", 0.0)
    params = dict(
        E_L=nu["e_l"], V_m=0.0, V_reset=nu["v_reset"], V_th=nu["v_th"], tau_m=nu["tau_m"], t_ref=t_ref, I_e=0.0
    )
    for name, n in wl["populations"].items():
        if name != "in":
            pops[name] = nest.Create("iaf_psc_delta_ps" if ps else "iaf_psc_delta", n, params=params)
    for p in wl["projections"]:
        src, tgt = np.asarray(pops[p["source"]].tolist()), np.asarray(pops[p["target"]].tolist())
        nest.Connect(
            src[p["pre"]],
            tgt[p["post"]],
            "one_to_one",
            {"weight": p["weight"], "delay": p["delay_steps"] * wl["dt_ms"]},
        )
    recs = {name: nest.Create("spike_recorder") for name in pops}
    for name in pops:
        nest.Connect(pops[name], recs[name])
    nest.Prepare()
    build_s = time.perf_counter() - t0
    build_mb = rss_mb() - rss0
    t0 = time.perf_counter()
    nest.Run(wl["sim_time_ms"] + (1.0 if ps else wl["dt_ms"]))  # canonical steps 0..T-1 (see docstring)
    wall_s = time.perf_counter() - t0
    nest.Cleanup()
    per_neuron = {
        name: np.bincount(_counts(r) - pops[name][0].global_id, minlength=len(pops[name])) for name, r in recs.items()
    }
    counts = {name: int(c.sum()) for name, c in per_neuron.items()}
    events = workloads.synaptic_events(wl, per_neuron if wl["name"] == "conv" else counts)
    return build_s, wall_s, counts, events, build_mb


def brunel(args, wl) -> tuple[float, float, dict, int, float]:
    rss0 = rss_mb()
    t0 = time.perf_counter()
    _kernel(args, wl["dt_ms"])
    nu, N = wl["neuron"], wl["N"]
    ps = bool(wl.get("precise"))
    nodes = nest.Create(
        "iaf_psc_delta_ps" if ps else "iaf_psc_delta",
        N,
        params=dict(
            E_L=nu["e_l"],
            V_reset=nu["v_reset"],
            V_th=nu["v_th"],
            tau_m=nu["tau_m"],
            t_ref=nu["t_ref_steps"] * wl["dt_ms"],
            I_e=0.0,
        ),
    )
    nodes.set(V_m=wl["v0"])
    ids = np.asarray(nodes.tolist())
    p = wl["projections"][0]
    nest.Connect(
        ids[p["pre"]], ids[p["post"]], "one_to_one", {"weight": p["weight"], "delay": p["delay_steps"] * wl["dt_ms"]}
    )
    noise = nest.Create("poisson_generator_ps" if ps else "poisson_generator", params={"rate": wl["ext_rate_hz"]})
    nest.Connect(noise, nodes, syn_spec={"weight": wl["J"], "delay": wl["dt_ms"]})
    rec = nest.Create("spike_recorder")
    nest.Connect(nodes, rec)
    nest.Prepare()
    build_s = time.perf_counter() - t0
    build_mb = rss_mb() - rss0
    t0 = time.perf_counter()
    nest.Run(wl["sim_time_ms"])
    wall_s = time.perf_counter() - t0
    nest.Cleanup()
    per_neuron = np.bincount(_counts(rec) - ids[0], minlength=N)
    counts = {"E": int(per_neuron[: wl["NE"]].sum()), "I": int(per_neuron[wl["NE"] :].sum())}
    return build_s, wall_s, counts, workloads.synaptic_events(wl, {"per_neuron": per_neuron}), build_mb


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    wl = load(args)
    run = feedforward if wl["name"].startswith(("feedforward", "conv")) else brunel
    build_s, wall_s, counts, events, build_mb = run(args, wl)
    emit("nest", args, wl, build_s, wall_s, counts, events, args.threads, build_rss_mb=build_mb)


if __name__ == "__main__":
    main()
