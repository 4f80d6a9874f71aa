"""evsim on an edge CPU: the streaming path, a loaded model's memory, start-up to the first decision, load times of
the compiled file, and dataset throughput against the number of worker processes.

    .venv/bin/python benchmarks/edge.py [--quick]        # prints one JSON line per figure group

* ``stream``: `evsim.stream` fed step by step, as a live sensor would (the events of step t pushed, then
  ``advance(t)``, the decision read): latency per step p50/p99 (what an event waits once its step closes) and
  sustained input events/s over whole samples. Two models: the bundled digits classifier (64-128-10, 25 steps) and
  the SPEC feedforward classifier (700-256-256-20, delays, 1000-step samples, `benchmarks.latency.spec_classifier`).
* ``memory``: resident memory (VmRSS) of a fresh process after ``import evsim``, after loading the model, and after
  the first run (compiled kernels loaded from the on-disk cache).
* ``first_decision``: a fresh process from its start to the first stream decision of the digits model (import,
  load, one sample streamed), wall clock from outside, best of 3, loading the .nir file and the compiled .evsim.
* ``load``: `evsim.load` of the .nir file against the compiled .evsim (`evsim compile`), in process, best of 5:
  the digits model and the NIR paper's N-MNIST CNN.
* ``throughput``: the chunks of `evsim.run_dataset` (64 samples each) over the digits test set repeated 8x (2,400
  samples), in this process (1) and on 2 worker processes: the time to the first result (the workers' start-up:
  spawned interpreters importing evsim and loading the cached kernels) and the steady rate after it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DIGITS = ROOT / "examples" / "data" / "digits_snntorch.nir"
DIGITS_X = ROOT / "examples" / "data" / "digits_test.npz"
CNN = ROOT / "examples" / "data" / "cnn_sinabs.nir"

FIRST = """
import time, numpy as np, evsim
net = evsim.load({model!r}, dialect="snntorch")
x = np.load({data!r})["x"][0]
s = evsim.stream(net)
for t in range(x.shape[0]):
    idx = np.flatnonzero(x[t])
    s.push(np.full(idx.size, t), idx, x[t, idx])
    s.advance(t)
print(s.decision)
"""

MEM = """
import json, numpy as np
def rss():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) * 1024
r0 = rss()
import evsim
r1 = rss()
net = evsim.load({model!r}, dialect="snntorch")
r2 = rss()
evsim.run(net, np.load({data!r})["x"][:1])
r3 = rss()
print(json.dumps(dict(python=r0, imported=r1, loaded=r2, first_run=r3, model_bytes=net.nbytes())))
"""


def stream_figures(net, samples) -> dict:
    """``samples``: list of (step times, input indices, values, steps)."""
    import evsim

    evsim.stream(net).advance(0)  # kernels loaded
    per_step, n_events, busy = [], 0, 0.0
    for tt, nn, vv, T in samples:
        s = evsim.stream(net)
        bounds = np.searchsorted(tt, np.arange(T + 1))
        for t in range(T):
            a, b = bounds[t], bounds[t + 1]
            t0 = time.perf_counter()
            if b > a:
                s.push(tt[a:b], nn[a:b], vv[a:b])
            s.advance(t)
            _ = s.decision
            dt = time.perf_counter() - t0
            per_step.append(dt)
            busy += dt
        n_events += tt.shape[0]
    lat = np.array(per_step) * 1e6
    return dict(
        samples=len(samples),
        steps=len(per_step),
        events=n_events,
        step_latency_p50_us=round(float(np.percentile(lat, 50)), 1),
        step_latency_p99_us=round(float(np.percentile(lat, 99)), 1),
        events_per_s=round(n_events / busy),
        events_per_step=round(n_events / len(per_step), 2),
    )


def stream_section(quick: bool) -> dict:
    import evsim
    from benchmarks.latency import spec_classifier

    net = evsim.load(DIGITS, dialect="snntorch")
    x = np.load(DIGITS_X)["x"][: 50 if quick else 300]
    digits = []
    for b in range(x.shape[0]):
        tt, nn = np.nonzero(x[b])
        digits.append((tt, nn, x[b][tt, nn].astype(np.float64), x.shape[1]))
    n = 3 if quick else 10
    spec, t_all, i_all = spec_classifier(n)
    ff = []
    for k in range(n):
        sel = (t_all >= 1000 * k) & (t_all < 1000 * (k + 1))
        ff.append((t_all[sel] - 1000 * k, i_all[sel], np.ones(int(sel.sum())), 1000))
    return {"digits": stream_figures(net, digits), "spec_feedforward": stream_figures(spec, ff)}


def _wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - t0


def main() -> None:
    import evsim
    from evsim.io.native import save_native
    from evsim.parallel import _run_chunk, iter_samples
    from evsim.workers import map_processes

    quick = "--quick" in sys.argv
    py = sys.executable
    out: dict = {"simulator": "evsim", "workload": "edge"}
    out["stream"] = stream_section(quick)

    mem = subprocess.run([py, "-c", MEM.format(model=str(DIGITS), data=str(DIGITS_X))], check=True,
                         capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    m = json.loads(mem.stdout)
    out["memory"] = {k: round(v / 2**20, 1) for k, v in m.items() if k != "model_bytes"} | {
        "unit": "MiB",
        "model_arrays_kib": round(m["model_bytes"] / 1024, 1),
    }

    with tempfile.TemporaryDirectory() as tmp:
        compiled = Path(tmp) / "digits.evsim"
        save_native(evsim.load(DIGITS, dialect="snntorch"), compiled)
        first = {}
        for name, model in (("nir", DIGITS), ("evsim", compiled)):
            cmd = [py, "-c", FIRST.format(model=str(model), data=str(DIGITS_X))]
            _wall(cmd)  # warm caches
            first[name] = round(min(_wall(cmd) for _ in range(3)), 3)
        imp = [py, "-c", "import evsim"]
        _wall(imp)
        first["import_evsim_only"] = round(min(_wall(imp) for _ in range(3)), 3)
        out["first_decision_s"] = first
        load = {}
        for label, model, dialect in (("digits", DIGITS, "snntorch"), ("cnn", CNN, "sinabs")):
            comp = Path(tmp) / f"{label}.evsim"
            save_native(evsim.load(model, dialect=dialect), comp)
            row: dict = {}
            for name, path in (("nir", model), ("evsim", comp)):
                ts = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    evsim.load(path, dialect=dialect)
                    ts.append(time.perf_counter() - t0)
                row[name + "_ms"] = round(min(ts) * 1e3, 2)
            row["ratio_nir_over_evsim"] = round(row["nir_ms"] / row["evsim_ms"], 1)
            row["evsim_file_kib"] = round(comp.stat().st_size / 1024, 1)
            row["nir_file_kib"] = round(model.stat().st_size / 1024, 1)
            load[label] = row
        out["load"] = load

    net = evsim.load(DIGITS, dialect="snntorch")
    z = np.load(DIGITS_X)
    reps = 2 if quick else 8
    x, y = np.concatenate([z["x"]] * reps), np.concatenate([z["labels"]] * reps)
    thr: dict = {"samples": int(x.shape[0]), "chunk": 64}
    for w in (1, 2):
        items, _, _ = iter_samples(net, (x, y))
        chunks = iter(lambda it=items: list(islice(it, 64)), [])
        t0 = time.perf_counter()
        gen = map_processes(net, w, chunks, 0) if w > 1 else (_run_chunk(c, net, 0) for c in chunks)
        ts = [time.perf_counter() - t0 for _ in gen]  # when each chunk's result is back
        thr[f"workers_{w}"] = dict(
            first_result_s=round(ts[0], 2),
            steady_samples_per_s=round(64 * (len(ts) - 1) / (ts[-1] - ts[0]), 1),
            wall_s=round(ts[-1], 2),
        )
    rates = [thr[f"workers_{w}"]["steady_samples_per_s"] for w in (1, 2)]
    thr["ratio_2_over_1"] = round(rates[1] / rates[0], 2)
    out["throughput"] = thr
    print(json.dumps(out))


if __name__ == "__main__":
    main()
