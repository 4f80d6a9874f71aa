"""Benchmark harness: runs evsim and its peers (NEST, Brian2) on the SPEC workloads, alternating, and summarises.

    python -m benchmarks --workload feedforward --runs 3 --samples 10 --simulators evsim,nest,brian2 [--write]

Each workload's arrays are built once here (benchmarks/workloads.py, fixed seed) and saved to an .npz that every
runner reads, so all simulators see identical arrays. Every run is a fresh subprocess printing one JSON line;
simulators alternate run by run (A B C A B C ...). A simulator that fails (non-zero exit, no JSON line, time-out)
is reported and the others go on. The summary gives medians per simulator and, from the same run, evsim's
events/s over the peer's and the peer's whole job (process start to exit) over evsim's. Memory: growth of the
resident set over the build per synapse (evsim and NEST) and evsim's synapse arrays per synapse.

`--workload all` adds dense PyTorch on the trained models (benchmarks/dense_torch.py: snnTorch's forward and a
plain matmul loop on the digits and feedforward models, Sinabs' forward on the CNN, batched and one sample at a
time, in $TORCH_VENV), thread scaling (benchmarks/threads.py) and
the evsim-only workloads (the CNN as trained, multi-spike neurons and implicit convolutions, which no peer has; the
limit microbenchmark; latency and start-up), run once each by their own scripts; evsim's feedforward speed is
reported as a fraction of the limit.

Simulator names: evsim, evsim:nir (the same network saved with evsim.save_nir and loaded back), evsim:implicit
(conv: the convolutions as kernels, not synapse tables), nest, nest:T
(T threads), brian2 (cpp_standalone), brian2:cython, brian2:numpy.
Interpreters: $EVSIM_PYTHON (default: the repo's .venv if any, else this one); $BENCH_VENV/bin/python for NEST
(default /work/venv-bench); $BRIAN2_VENV/bin/python for Brian2 (default /work/venv-brian2). Make the peer venvs
with benchmarks/setup_peers.sh.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import workloads

HERE = Path(__file__).resolve().parent
KEPT = "<!-- sections below are written by other scripts; the harness keeps them -->"
WORKLOADS = ("feedforward", "conv", "brunel-small", "brunel-large")  # evsim and the peers
PRECISE = ("feedforward-precise", "brunel-small-precise", "brunel-large-precise")  # evsim exact vs NEST *_ps
# `--workload all`
ALL = ("feedforward", "conv", "brunel-small", "conv-multispike", "limit", "latency", "torch", "threads")
LOAD_AT_START = None
VERSIONS = (
    "import json,importlib.metadata as m,sys\nout={'python':sys.version.split()[0]}\n"
    "for p in ('numpy','nest-simulator','brian2','cython','numba','evsim'):\n"
    "    try: out[p]=m.version(p)\n    except Exception: pass\nprint(json.dumps(out))"
)


def interpreters() -> dict:
    repo_venv = HERE.parent / ".venv" / "bin" / "python"
    return dict(
        evsim=os.environ.get("EVSIM_PYTHON", str(repo_venv) if repo_venv.exists() else sys.executable),
        nest=str(Path(os.environ.get("BENCH_VENV", "/work/venv-bench")) / "bin" / "python"),
        brian2=str(Path(os.environ.get("BRIAN2_VENV", "/work/venv-brian2")) / "bin" / "python"),
    )


def command(sim: str, workload: str, npz: str, args) -> list[str]:
    """The subprocess command line of one run of `sim` (see module docstring for the names)."""
    base, _, opt = sim.partition(":")
    common = ["--workload", workload, "--npz", npz, "--samples", str(args.samples), "--seed", str(args.seed)]
    py = interpreters()[base]
    if base == "evsim":
        via_nir = ["--from-nir", str(Path(args.workdir) / f"{workload}.nir")] if opt == "nir" else []
        implicit = ["--implicit"] if opt == "implicit" else []
        return [py, str(HERE / "evsim_runner.py"), *common, "--threads", str(args.threads), *via_nir, *implicit]
    if base == "nest":
        return [py, str(HERE / "peers" / "nest_runner.py"), *common, "--threads", opt or str(args.threads)]
    if base == "brian2":
        return [
            py,
            str(HERE / "peers" / "brian2_runner.py"),
            *common,
            "--threads",
            str(args.threads),
            "--target",
            opt or "cpp_standalone",
            "--build-dir",
            str(Path(args.workdir) / f"brian2-{workload}"),
        ]
    raise SystemExit(f"unknown simulator {sim!r}")


def run_once(sim: str, workload: str, npz: str, args) -> dict:
    """One subprocess run; returns its JSON record, or {"error": ...}. Every Brian2 run builds afresh."""
    build_dir = Path(args.workdir) / f"brian2-{workload}"
    shutil.rmtree(build_dir, ignore_errors=True)
    try:
        return _run_once(sim, workload, npz, args)
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)


def _run_once(sim: str, workload: str, npz: str, args) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONUNBUFFERED="1")
    # own session, so that a time-out also ends the runner's children (Brian2 standalone's ./main)
    t0 = time.perf_counter()
    p = subprocess.Popen(
        command(sim, workload, npz, args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=HERE.parent,
        start_new_session=True,
    )
    try:
        out, err = p.communicate(timeout=args.timeout)
        process_s = time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        return dict(error=f"timed out after {args.timeout} s")
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        tail = (err.strip() or out.strip()).splitlines()[-3:]
        return dict(error=f"exit {p.returncode}: " + " | ".join(tail))
    return dict(json.loads(lines[-1]), process_s=round(process_s, 3))


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summary(workload: str, sims: list[str], runs: list[dict], reference: dict | None) -> str:
    """Markdown table for one workload: medians per simulator and evsim/peer ratios (same run) of events/s, of
    the simulation's CPU seconds (``sim_cpu_s``, where the runner reports it: the fairer figure on a loaded
    machine) and of the whole job (``process_s``: the runner process from start to exit: interpreter, imports,
    build or compilation, simulation)."""
    rows = [
        "| simulator | ok runs | build_s | wall_s | events/s | evsim / this: events/s | this / evsim: sim CPU "
        "| job s (process) | this / evsim: job | bytes/synapse (RSS; arrays) | peak RSS MB | n_spikes | checksum |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for sim in sims:
        ok = [r[sim] for r in runs if "error" not in r[sim]]
        both = [
            r for r in runs if sim != "evsim" and "error" not in r.get("evsim", {"error": 1}) and "error" not in r[sim]
        ]
        speed = [r["evsim"]["events_per_s"] / r[sim]["events_per_s"] for r in both]
        job = [r[sim]["process_s"] / r["evsim"]["process_s"] for r in both]
        cpu = [
            r[sim]["sim_cpu_s"] / r["evsim"]["sim_cpu_s"]
            for r in both
            if r[sim].get("sim_cpu_s") and r["evsim"].get("sim_cpu_s")
        ]
        if not ok:
            err = runs[-1][sim]["error"][:120].replace("|", "/")
            rows.append(f"| {sim} | 0/{len(runs)} | | | | | | | | | | | {err} |")
            continue
        sums = sorted({json.dumps(r["checksum"]) for r in ok})
        check = " / ".join(sums) + (
            "" if reference is None else (" = reference" if sums == [json.dumps(reference)] else " != reference")
        )
        name = ok[0]["simulator"] + (f" ({ok[0]['threads']} thr)" if ok[0]["threads"] != 1 else "")
        mem = median([r.get("bytes_per_synapse") for r in ok])
        arr = median([r.get("array_bytes_per_synapse") for r in ok])
        mem_s = ("n/a" if mem is None else f"{mem:.1f}") + ("" if arr is None else f"; {arr:.2f}")

        def med(key: str, ok: list = ok) -> float:
            return median([r[key] for r in ok])

        rows.append(
            f"| {name} | {len(ok)}/{len(runs)} | {med('build_s'):.3f} | {med('wall_s'):.4f} "
            f"| {med('events_per_s') / 1e6:.1f} M | {'' if not speed else f'{median(speed):.2f}'} "
            f"| {'' if not cpu else f'{median(cpu):.2f}'} "
            f"| {med('process_s'):.2f} | {'' if not job else f'{median(job):.1f}'} | {mem_s} "
            f"| {med('peak_rss_mb'):.0f} | {med('n_spikes'):.0f} | {check} |"
        )
    head = f"### {workload}\n\n"
    if reference is not None:
        head += f"Dense NumPy reference (SPEC) spike counts: {json.dumps(reference)}\n\n"
    return head + "\n".join(rows) + "\n"


EXTRAS = {
    "conv-multispike": ["benchmarks/conv.py"],
    "conv-multispike-explicit": ["benchmarks/conv.py", "--explicit"],
    "limit": ["benchmarks/limit.py"],
    "latency": ["benchmarks/latency.py"],
    "torch": ["benchmarks/dense_torch.py"],  # dense PyTorch on the trained models (if its venv exists)
    "threads": ["benchmarks/threads.py"],  # evsim.run(threads=N) speed-up
}


def run_extra(name: str, args) -> list[dict]:
    """An evsim-only workload script (its JSON lines): conv (the peers have no implicit convolution and no
    multi-spike neuron), the limit microbenchmark, latency / start-up."""
    cmd = [interpreters()["evsim"], *EXTRAS[name]]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent, timeout=args.timeout)
    recs = [json.loads(ln) for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not recs:
        return [dict(simulator="evsim", workload=name, error=f"exit {p.returncode}: {p.stderr.strip()[-300:]}")]
    return recs


def torch_table(rs: list[dict]) -> list[str]:
    """Dense PyTorch's records (benchmarks/dense_torch.py) as a table: per model, setting and peer mode, the wall
    seconds of both and evsim's speed over the peer's (> 1: evsim faster), and whether the spikes agree."""
    out = ["### Dense PyTorch on the CPU (benchmarks/dense_torch.py)", "",
           "| model | setting | samples x steps | threads | peer | evsim wall s | peer wall s | evsim / peer | "
           "spikes equal |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rs:
        if "error" in r:
            out.append(f"| {r.get('model', '?')} | error: {r['error'][:80]} | | | | | | | |")
            continue
        for mode in [k[: -len("_wall_s")] for k in r if k.endswith("_wall_s") and not k.startswith("evsim")]:
            peer = f"{mode} {r.get(mode, '')}".strip()  # (with the framework's version)
            out.append(
                f"| {r['workload'].removeprefix('torch-')} | {r['setting']} | {r['samples']} x {r['steps']} | "
                f"{r['threads']} | {peer} | {r['evsim_wall_s']} | {r[f'{mode}_wall_s']} | "
                f"{r[f'evsim/{mode}']} | {r[f'{mode}_spikes_equal']} |"
            )
    return out + [""]


def extras_summary(recs: dict[str, list[dict]], feedforward_evsim: float | None) -> str:
    out = ["### Extra workloads (evsim alone, threads)", ""]
    for name, rs in recs.items():
        if name == "torch":
            out = torch_table(rs) + out
            continue
        for r in rs:
            r = {k: v for k, v in r.items() if k not in ("checksum",)}
            label = f" {r['model']}" if "model" in r else ""
            fields = ", ".join(f"{k} {v}" for k, v in r.items() if k not in ("workload", "model"))
            out.append(f"- **{name}**{label}: {fields}")
    limit = next((r["events_per_s"] for r in recs.get("limit", []) if r.get("simulator") == "limit"), None)
    if limit and feedforward_evsim:
        out += [
            "",
            f"evsim feedforward {feedforward_evsim / 1e6:.0f} M events/s = **{feedforward_evsim / limit:.0%} "
            f"of the limit** ({limit / 1e6:.0f} M events/s, fastest layout of benchmarks/limit.py)",
        ]
    return "\n".join(out) + "\n"


def machine() -> str:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        (ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")), "0"
    )
    gxx = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    lines = [
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- CPU: {cpu}; {os.cpu_count()} logical cores; {int(mem) / 2**20:.1f} GiB RAM",
        f"- OS: {platform.platform()}; g++: {gxx[0] if gxx else 'none'}",
        f"- load average (1, 5, 15 min) at the start: {LOAD_AT_START}; at the end: "
        f"{tuple(round(x, 2) for x in os.getloadavg())}"
        " (well above 0 means other work shared the cores and timings are noisy)",
    ]
    for name, py in interpreters().items():
        try:
            v = subprocess.run(
                [py, "-c", VERSIONS], capture_output=True, text=True, timeout=120, cwd="/"
            ).stdout.strip()
        except OSError as e:
            v = f"unavailable ({e})"
        lines.append(f"- {name} interpreter `{py}`: {v}")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="evsim vs NEST / Brian2 on shared/bench/SPEC.md workloads")
    ap.add_argument("--workload", default="feedforward", help=f"comma-separated, from {', '.join(WORKLOADS)}; or all")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--samples", type=int, default=10, help="feedforward: T = samples x 1 s")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--simulators", default="evsim,nest,brian2")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    ap.add_argument("--workdir", default="/tmp/evsim-bench", help="where the workload .npz files go")
    ap.add_argument(
        "--write",
        nargs="?",
        const=str(HERE / "RESULTS.md"),
        help="write a results file (default benchmarks/RESULTS.md)",
    )
    args = ap.parse_args(argv)
    global LOAD_AT_START
    LOAD_AT_START = tuple(round(x, 2) for x in os.getloadavg())
    if LOAD_AT_START[0] > 0.5 * (os.cpu_count() or 1):
        print(
            f"warning: load average {LOAD_AT_START[0]:.1f} on {os.cpu_count()} cores: timings will be noisy",
            file=sys.stderr,
        )
    sims = [s.strip() for s in args.simulators.split(",") if s.strip()]
    wls = ALL if args.workload == "all" else [w.strip() for w in args.workload.split(",") if w.strip()]
    if set(wls) - set(WORKLOADS) - set(PRECISE) - set(EXTRAS):
        ap.error(f"unknown workload(s): {sorted(set(wls) - set(WORKLOADS) - set(PRECISE) - set(EXTRAS))}")
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    tables, raw = [], []
    extras: dict[str, list[dict]] = {}
    ff_evsim = None
    for wname in wls:
        if wname in EXTRAS:
            extras[wname] = run_extra(wname, args)
            for rec in extras[wname]:
                raw.append(json.dumps(rec))
                print(raw[-1], flush=True)
            continue
        wl = workloads.build(wname, args.samples, args.seed)
        npz = str(Path(args.workdir) / f"{wname}-n{args.samples}-s{args.seed}.npz")
        workloads.save_npz(wl, npz)
        reference = workloads.dense_reference(wl) if wname == "feedforward" else None
        runs = []
        for i in range(args.runs):
            runs.append({})
            for sim in sims:  # alternate: every simulator once per round
                rec = run_once(sim, wname, npz, args)
                runs[-1][sim] = rec
                line = json.dumps(rec if "error" not in rec else dict(simulator=sim, workload=wname, run=i, **rec))
                raw.append(line)
                print(line, flush=True)
        tables.append(summary(wname, sims, runs, reference))
        print("\n" + tables[-1], flush=True)
        if wname == "feedforward":
            ff_evsim = median([r["evsim"]["events_per_s"] for r in runs if "error" not in r.get("evsim", {"error": 1})])
    if extras:
        tables.append(extras_summary(extras, ff_evsim))
        print("\n" + tables[-1], flush=True)
    if args.write:
        text = [
            "# evsim benchmark results",
            "",
            "Workloads: shared/bench/SPEC.md. Command: `python -m benchmarks "
            + " ".join(sys.argv[1:] if argv is None else argv)
            + "`",
            "",
            "## Machine",
            "",
            machine(),
            "",
            "## Summary (medians)",
            "",
            *tables,
            "## Raw JSON lines",
            "",
            "```",
            *raw,
            "```",
            "",
        ]
        old = Path(args.write).read_text() if Path(args.write).exists() else ""
        if KEPT in old:  # sections written by other scripts (benchmarks/edge.py, ...) stay
            text += [old[old.index(KEPT) :]]
        Path(args.write).write_text("\n".join(text))
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
