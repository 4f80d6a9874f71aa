"""The benchmark harness and its workloads (`python -m benchmarks`; see benchmarks/harness.py)."""
