#!/usr/bin/env bash
# Make the Python environment the cross-framework validation runs in (EVSIM_TORCH_PYTHON):
#   bash validation/setup_torch_env.sh [DIR]        (default DIR: ../venv-torch beside the repository)
# torch first, the CPU build (pip takes 2.13.0 from this machine's disk; a plain `torch` would pull a CUDA build).
# norse, sinabs, spikingjelly and neurobench pin versions of torch/nir that conflict with these, so they are
# installed without their dependencies; what they need at import time is listed explicitly.
set -euo pipefail
dir="${1:-$(cd "$(dirname "$0")/../.." && pwd)/venv-torch}"
python3 -m venv "$dir"
"$dir/bin/pip" install -q torch==2.13.0
"$dir/bin/pip" install -q snntorch==1.0.0 nir==1.0.8 nirtorch==2.6 scikit-learn h5py numpy scipy matplotlib tqdm pbr loguru
"$dir/bin/pip" install -q --no-deps norse==1.1.0 sinabs==3.1.3 spikingjelly==2.0.0 neurobench==2.3.0 dcls==0.1.1
"$dir/bin/python" -c "import torch, snntorch, norse, sinabs, spikingjelly, neurobench, DCLS; print('ok', torch.__version__)"
echo "export EVSIM_TORCH_PYTHON=$dir/bin/python"
