"""Writes spikingjelly_frames.npz: SpikingJelly's own frames of fixed duration for seeded SHD-like and camera-like
events (the reference `tests/test_data_binning.py` checks evsim's 'spikingjelly' rule against, also without
SpikingJelly). Made with spikingjelly 2.0.0 (`/work/venv-torch/bin/python tests/data/make_spikingjelly_frames.py`).

The functions are taken from SpikingJelly's installed source files (``datasets/shd.py``, ``datasets/utils.py``)
as they are: importing ``spikingjelly.datasets`` needs torchvision, which the functions themselves do not use.
"""

import ast
import importlib.util
import math
import sys
from pathlib import Path
from typing import Optional

import numpy as np


def sj_functions(module, names):
    root = Path(importlib.util.find_spec("spikingjelly").origin).parent / "datasets"
    tree = ast.parse((root / f"{module}.py").read_text())
    body = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    ns = {"np": np, "math": math, "Optional": Optional}
    exec(compile(ast.Module(body=body, type_ignores=[]), str(root / f"{module}.py"), "exec"), ns)
    return ns


shd = type(
    "shd", (), sj_functions("shd", {"_integrate_events_segment_to_frame", "_integrate_events_by_fixed_duration"})
)
utils = type(
    "utils", (), sj_functions("utils", {"integrate_events_segment_to_frame", "integrate_events_by_fixed_duration"})
)


def events(seed):
    rng = np.random.default_rng(seed)
    n = 3000
    t_shd = np.sort(rng.uniform(0.013, 0.987, n)).astype(np.float32)  # seconds, as SHD's files
    t_shd[100:110] = t_shd[100]  # ties
    units = rng.integers(0, 700, n).astype(np.uint16)
    t_cam = np.sort(rng.integers(5_000, 305_000, n)).astype(np.int64)  # microseconds
    x, y, p = rng.integers(0, 34, n), rng.integers(0, 34, n), rng.integers(0, 2, n)
    return t_shd, units, t_cam, x, y, p


if __name__ == "__main__":
    out = {}
    for seed in (0, 1):
        t_shd, units, t_cam, x, y, p = events(seed)
        out[f"shd_frames_{seed}"] = shd._integrate_events_by_fixed_duration({"t": t_shd, "x": units}, 10, 700)
        out[f"cam_frames_{seed}"] = utils.integrate_events_by_fixed_duration(
            {"t": t_cam, "x": x, "y": y, "p": p}, 1000, 34, 34
        )
        for k, v in zip(("t_shd", "units", "t_cam", "x", "y", "p"), (t_shd, units, t_cam, x, y, p)):
            out[f"{k}_{seed}"] = v
    np.savez_compressed(
        Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "spikingjelly_frames.npz"), **out
    )
