"""One figure measured in this tree and in another checkout of evsim (an older commit), alternately: CPU-time ratios.

    git worktree add --detach /tmp/old main                     # the tree to compare with
    .venv/bin/python benchmarks/against_tree.py account --old /tmp/old --rounds 5
    .venv/bin/python benchmarks/against_tree.py nir-load --old /tmp/old --rounds 5

Each round runs the figure in a fresh process per tree (``PYTHONPATH`` = the tree), old then new, and takes the
process CPU time (`time.process_time`, steadier than wall time on a shared machine) as the best of a few
repetitions inside the process, after a warm-up (kernels compiled or loaded from Numba's cache). Prints one JSON
line: per part, each tree's median over rounds and the median of the per-round ratios new/old; and whether both
trees computed the same results (a digest of the dataset totals, or of every loaded network's arrays).

* ``account``: the bundled digits model (README quick start, 300 samples x 25 steps): `evsim.run` +
  `evsim.accounting.account(...).counters()` in chunks of 32 samples (what the dataset runner's in-process path does
  per chunk), ``account`` alone on the same results, and `evsim.run_dataset(..., workers=1)` on the whole file.
* ``nir-load``: `evsim.load` of every bundled ``.nir`` model (examples/data, tests/data), each with its dialect.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ACCOUNT = r"""
import hashlib, json, time, numpy as np, evsim
from evsim.accounting import account
net = evsim.load("examples/data/digits_snntorch.nir", dialect="snntorch")
x = np.load("examples/data/digits_test.npz")["x"]
chunks = [x[i:i + 32] for i in range(0, len(x), 32)]
def run_account():
    for c in chunks:
        account(evsim.run(net, c)).counters()
results = [evsim.run(net, c) for c in chunks]
def account_only():
    for r in results:
        account(r).counters()
def dataset():
    return evsim.run_dataset(net, "examples/data/digits_test.npz", workers=1)
parts = {"run_account": run_account, "account": account_only, "dataset": dataset}
for f in parts.values():
    f()
out = {}
for name, f in parts.items():
    ts = []
    for _ in range(5):
        t = time.process_time(); f(); ts.append(time.process_time() - t)
    out[name] = min(ts)
totals = {k: float(v) for k, v in dataset().totals().items()}
out["digest"] = hashlib.sha256(json.dumps(totals, sort_keys=True).encode()).hexdigest()[:16]
print(json.dumps(out))
"""

NIR_LOAD = r"""
import hashlib, json, time, warnings, numpy as np, evsim
MODELS = [("examples/data/digits_snntorch.nir", "snntorch"), ("examples/data/cnn_sinabs.nir", "sinabs"),
          ("tests/data/norse_lifcell.nir", "norse"), ("tests/data/norse_lifbox.nir", "norse"),
          ("tests/data/models/nir_paper/03_rnn/braille_noDelay_bias_zero.nir", "snntorch"),
          ("tests/data/models/nir_paper/03_rnn/braille_noDelay_noBias_subtract.nir", "snntorch"),
          ("tests/data/models/nir_paper/01_lif/lif_norse.nir", "norse")]
warnings.simplefilter("ignore")
def load_all():
    return [evsim.load(p, dialect=d) for p, d in MODELS]
nets = load_all()
out = {}
for (p, d) in MODELS:
    ts = []
    for _ in range(7):
        t = time.process_time(); evsim.load(p, dialect=d); ts.append(time.process_time() - t)
    out[p.rsplit("/", 1)[1]] = min(ts)
h = hashlib.sha256()
for net in nets:
    for pop in net.populations:
        h.update(repr((pop.name, pop.size, pop.shape)).encode())
    for q in net.projections:
        for f in ("indptr", "targets", "weights", "delays"):
            a = getattr(q, f, None)
            h.update(np.ascontiguousarray(a).tobytes() if a is not None else repr(q).encode())
out["digest"] = h.hexdigest()[:16]
print(json.dumps(out))
"""

FIGURES = {"account": ACCOUNT, "nir-load": NIR_LOAD}


def measure(tree: Path, code: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    p = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True, timeout=1200)
    if p.returncode:
        raise SystemExit(f"{tree}: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("figure", choices=sorted(FIGURES))
    ap.add_argument("--old", type=Path, required=True, help="the other checkout of evsim (e.g. a git worktree of main)")
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for _ in range(a.rounds):
        runs["old"].append(measure(a.old.resolve(), FIGURES[a.figure]))
        runs["new"].append(measure(ROOT, FIGURES[a.figure]))
    parts = [k for k in runs["new"][0] if k != "digest"]
    out: dict = {"figure": a.figure, "rounds": a.rounds, "cpu_seconds": {}, "ratio_new_over_old": {}}
    for k in parts:
        old, new = [r[k] for r in runs["old"]], [r[k] for r in runs["new"]]
        out["cpu_seconds"][k] = {"old": round(statistics.median(old), 5), "new": round(statistics.median(new), 5)}
        out["ratio_new_over_old"][k] = round(statistics.median(n / o for n, o in zip(new, old)), 3)
    out["same_results"] = len({r["digest"] for r in runs["old"] + runs["new"]}) == 1
    print(json.dumps(out))


if __name__ == "__main__":
    main()
