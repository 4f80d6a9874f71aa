#!/usr/bin/env bash
# Creates the peer simulators' virtual environments for the benchmark harness, from scratch:
#   $BENCH_VENV  (default /work/venv-bench):  numpy scipy nest-simulator==3.10.0 psutil   (NEST; PyPI wheel)
#   $BRIAN2_VENV (default /work/venv-brian2): brian2==2.9.0 'numpy<2' psutil             (Brian2 fails with numpy 2.4)
# Brian2's cpp_standalone device and cython target need a C++ compiler (g++; Debian: apt-get install g++).
# Usage: bash benchmarks/setup_peers.sh   (PYTHON=python3.11 to choose the base interpreter; --force to rebuild)
set -euo pipefail
PYTHON=${PYTHON:-python3}
BENCH_VENV=${BENCH_VENV:-/work/venv-bench}
BRIAN2_VENV=${BRIAN2_VENV:-/work/venv-brian2}
FORCE=${1:-}

make_venv() {  # make_venv DIR PACKAGES...
  local dir=$1; shift
  if [[ "$FORCE" == "--force" ]]; then rm -rf "$dir"; fi
  [[ -x "$dir/bin/python" ]] || "$PYTHON" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --upgrade pip
  "$dir/bin/python" -m pip install -q "$@"
}

make_venv "$BENCH_VENV" numpy scipy nest-simulator==3.10.0 psutil
make_venv "$BRIAN2_VENV" brian2==2.9.0 'numpy<2' psutil

PYNEST_QUIET=1 "$BENCH_VENV/bin/python" -c "import nest; print('NEST', nest.__version__)"
"$BRIAN2_VENV/bin/python" -c "import brian2, numpy; print('Brian2', brian2.__version__, 'numpy', numpy.__version__)"
command -v g++ >/dev/null || echo "warning: no g++: Brian2 cpp_standalone and cython will not build" >&2
