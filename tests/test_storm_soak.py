"""Event storms and a soak: memory stays bounded by `evsim.limits`, counts are exact, nothing leaks.

The storm is a population that, once kicked, fires every step onto every neuron (all-to-all, delay 1): its spike
count has a closed form, and past the spike cap the run stops with `ResourceLimitError` instead of growing. The
subprocess runs measure the peak resident memory (``ru_maxrss``) of the whole process."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import evsim

from conftest import EXAMPLES, REPO

STORM = """
import json, resource, sys, time
import numpy as np
import evsim
n, T, max_spikes = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
w = np.ones((n, n))
net = evsim.Network(
    (evsim.Population("in", 1), evsim.Population("storm", n, evsim.LIF(n, beta=0.5, threshold=0.5))),
    (evsim.Projection.from_dense("kick", "in", "storm", np.ones((n, 1))),
     evsim.Projection.from_dense("all", "storm", "storm", w, 1)),
    ("in",), ("storm",),
)
t0 = time.perf_counter()
try:
    res = evsim.run(net, (np.array([0]), np.array([0])), steps=T, record="all",
                    max_spikes=None if max_spikes == "none" else int(max_spikes))
    out = dict(spikes=int(res.spike_counts("storm").sum()), sops=int(res.sops))
except evsim.EvsimError as e:
    out = dict(error=type(e).__name__, message=str(e))
out["seconds"] = time.perf_counter() - t0
out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def storm(n, T, max_spikes="none", memory=None):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if memory:
        env["EVSIM_MAX_MEMORY"] = memory
    p = subprocess.run(
        [sys.executable, "-c", STORM, str(n), str(T), str(max_spikes)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_storm_counts_are_exact_and_memory_bounded_by_the_spike_cap():
    n, T = 500, 400
    full = storm(n, T)
    # the kick (weight 1 > 0.5, no delay) fires every neuron at step 0; from then on each receives n each step
    assert full["spikes"] == n * T
    assert full["sops"] == n + n * n * (T - 1)  # the kick, then every spike but the last step's reaches all n
    capped = storm(n, 20 * T, max_spikes=50_000)
    assert capped["error"] == "ResourceLimitError" and "more than 50000 recorded spikes" in capped["message"]
    # the default cap follows the memory limit: 16 MiB allows 262144 spikes, the storm would make 4 million
    limited = storm(n, 20 * T, memory="16M")
    assert limited["error"] == "ResourceLimitError", limited
    assert limited["maxrss_mb"] < full["maxrss_mb"] + 200


@pytest.mark.slow
def test_soak_memory_stays_flat():
    net = evsim.load(EXAMPLES / "data" / "digits_snntorch.nir", dialect="snntorch")
    x = np.load(EXAMPLES / "data" / "digits_test.npz")["x"][:100]

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    if not os.path.exists("/proc/self/statm"):
        pytest.skip("needs /proc (Linux) to read the resident memory")
    first = None
    for k in range(150):  # 15,000 samples in batches of 100
        res = evsim.run(net, x, record="outputs")
        if k == 20:
            first = rss_mb()
    growth = rss_mb() - first
    assert growth < 30, f"resident memory grew by {growth:.1f} MiB over 129 batches"
    assert res.counts["1"].shape == (100, 128)
