"""PLACEHOLDER: the evsim side of the benchmark harness, to be written by the evsim author.

Contract (the same as benchmarks/peers/*_runner.py, see peers/common.py):
    python benchmarks/evsim_runner.py --workload {feedforward,brunel-small,brunel-large} [--npz FILE]
        [--samples N] [--seed S] [--threads T]
must build the network from the workload arrays (benchmarks.workloads.load_npz(FILE), or build(...) without
--npz), simulate, and print ONE JSON line with the keys of peers/common.KEYS (peers/common.emit does it).
Until then it exits non-zero, and the harness reports the failure and goes on with the other simulators.
"""

import sys

if __name__ == "__main__":
    print("evsim runner not wired yet", file=sys.stderr)
    sys.exit(2)
