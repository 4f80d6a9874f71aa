"""`python -m benchmarks ...` runs the benchmark harness (benchmarks/harness.py)."""

from .harness import main

main()
