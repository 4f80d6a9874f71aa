"""Train the small SNN-delays model shipped in examples/data/ (needs torch, spikingjelly, DCLS and a clone of
github.com/Thvnvtos/SNN-delays; evsim itself needs none of them).

    SNN_DELAYS_REPO=/path/to/SNN-delays python examples/train_snn_delays.py   # a Python with torch, DCLS, spikingjelly

Source: the model, training loop and evaluation are SNN-delays' own (`snn_delays.SnnDelays`, `Model.train_model`,
`Model.eval_model`; commit d169b4e), imported from the clone; its wandb/torchaudio imports are stubbed (unused).
Data: a synthetic task in SHD's HDF5 layout (spikes/times, spikes/units, labels) where spike *timing* decides the
class: two groups of channels each fire one burst; the class is the order and gap of the bursts (A then B after
60 ms, B then A after 60 ms, both together, A then B after 150 ms). Every class has the same spike counts, so a
model without delays cannot tell them apart from rates. Samples last 0.5 s, anchored by a spike at 0 and at
495 ms so that SpikingJelly's frames (time_step 10 ms) are 50 per sample.

Writes examples/data/: snn_delays_model.pt (state_dict, as SNN-delays saves it), snn_delays_test.h5 (the test set),
snn_delays_reference.npz (PyTorch's binned inputs, hidden spikes, output membranes and predictions on the test set,
evaluated as SNN-delays evaluates: SIG = 0, version 'max', round_pos()).
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import types
from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
N_TRAIN, N_TEST, N_UNITS = 600, 200, 700


def make_samples(n: int, seed: int) -> tuple[list, list, np.ndarray]:
    rng = np.random.default_rng(seed)
    times, units, labels = [], [], rng.integers(0, 4, n)
    for c in labels:
        a0 = rng.uniform(0.05, 0.2)
        gap = {0: 0.06, 1: -0.06, 2: 0.0, 3: 0.15}[int(c)]
        ta, tb = (a0, a0 + gap) if gap >= 0 else (a0 - gap, a0)
        t, u = [0.0, 0.495], [699, 699]
        for t0, lo in ((ta, 100), (tb, 300)):
            k = 60
            t += list(t0 + rng.uniform(0, 0.008, k))
            u += list(rng.integers(lo, lo + 100, k))
        k = rng.poisson(40)  # background noise over the whole sample
        t += list(rng.uniform(0, 0.49, k))
        u += list(rng.integers(0, 699, k))
        order = np.argsort(t, kind="stable")
        times.append(np.asarray(t)[order].astype(np.float32))
        units.append(np.asarray(u)[order].astype(np.uint16))
    return times, units, labels.astype(np.uint8)


def write_shd(path: Path, times: list, units: list, labels: np.ndarray) -> None:
    with h5py.File(path, "w") as f:
        g = f.create_group("spikes")
        g.create_dataset("times", data=np.array(times, dtype=object), dtype=h5py.vlen_dtype(np.float32))
        g.create_dataset("units", data=np.array(units, dtype=object), dtype=h5py.vlen_dtype(np.uint16))
        f.create_dataset("labels", data=labels)


def _integrate_events_by_fixed_duration(events: dict, duration: int, W: int) -> np.ndarray:
    """Copied from spikingjelly 2.0.0, spikingjelly/datasets/shd.py (its package imports torchvision)."""
    x = events["x"]
    t = 1000 * events["t"]
    t = t - t[0]
    N = t.size
    frames_num = math.ceil(t[-1] / duration)
    frames = np.zeros([frames_num, W])
    frame_index = t // duration
    left = 0
    for i in range(frames_num - 1):
        right = np.searchsorted(frame_index, i + 1, side="left")
        frames[i] = _segment(x, W, left, right)
        left = right
    frames[-1] = _segment(x, W, left, N)
    return frames


def _segment(x: np.ndarray, W: int, j_l: int = 0, j_r: int = -1) -> np.ndarray:
    """spikingjelly's _integrate_events_segment_to_frame."""
    frame = np.zeros(shape=[W])
    x = x[j_l:j_r].astype(int)
    events_number_per_pos = np.bincount(x)
    frame[np.arange(events_number_per_pos.size)] += events_number_per_pos
    return frame


def frames(times: list, units: list, cfg) -> np.ndarray:
    """SpikingJelly's SHD frames (fixed duration) then SNN-delays' channel binning, exactly their code."""
    out = []
    for t, u in zip(times, units):
        fr = _integrate_events_by_fixed_duration({"t": t, "x": u}, cfg.time_step, N_UNITS).astype(np.float32)
        binned_len = fr.shape[1] // cfg.n_bins  # datasets.BinnedSpikingHeidelbergDigits.__getitem__
        b = np.zeros((fr.shape[0], binned_len))
        for i in range(binned_len):
            b[:, i] = fr[:, cfg.n_bins * i : cfg.n_bins * (i + 1)].sum(axis=1)
        out.append(b)
    return np.stack(out).astype(np.float32)  # every sample has 50 frames (anchors at 0 and 495 ms)


def import_upstream(repo: Path):
    sys.modules["wandb"] = types.ModuleType("wandb")
    ds = types.ModuleType("datasets")
    ds.Augs = lambda config: None  # augment = False
    sys.modules["datasets"] = ds
    spec = importlib.util.spec_from_file_location("config", DATA / "snn_delays_config.py")
    cfg_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cfg_mod)  # our own config file (evsim parses it with ast instead)
    sys.modules["config"] = cfg_mod
    sys.path.insert(0, str(repo))
    from snn_delays import SnnDelays  # noqa: E402

    return SnnDelays, cfg_mod.Config


def main() -> None:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    repo = Path(os.environ.get("SNN_DELAYS_REPO", "SNN-delays"))
    if not (repo / "snn_delays.py").exists():
        raise SystemExit(f"set SNN_DELAYS_REPO to a clone of github.com/Thvnvtos/SNN-delays (not at {repo})")
    SnnDelays, Config = import_upstream(repo)
    torch.manual_seed(0)
    tr = make_samples(N_TRAIN, 1)
    va = make_samples(N_TEST, 3)  # validation set: picks the checkpoint (SNN-delays saves the best one)
    te = make_samples(N_TEST, 2)
    write_shd(DATA / "snn_delays_test.h5", *te)
    x_tr, x_va, x_te = (frames(s[0], s[1], Config) for s in (tr, va, te))

    def loader(x, y, shuffle):
        ds = TensorDataset(torch.tensor(x), torch.tensor(y, dtype=torch.long), torch.zeros(len(y)))
        return DataLoader(ds, batch_size=Config.batch_size, shuffle=shuffle)

    work = Path("/tmp/evsim-snn-delays")
    work.mkdir(exist_ok=True)
    os.chdir(work)  # their loop writes its checkpoints into the working directory
    model = SnnDelays(Config)
    model.train_model(loader(x_tr, tr[2], True), loader(x_va, va[2], False), None, "cpu")
    best = work / Config.save_model_path.replace("REPL", "Best_ACC")
    state = torch.load(best, weights_only=True)
    torch.save(state, DATA / "snn_delays_model.pt")

    # evaluation as SNN-delays' eval_model does it, recording every LIF layer's spikes
    model.load_state_dict(state)
    model.eval()
    rec: dict[int, list] = {}
    lifs = [b[1][0] for b in model.blocks]
    for k, m in enumerate(lifs[:-1]):
        m.register_forward_hook(lambda mod, inp, out, k=k: rec.setdefault(k, []).append(out.detach().numpy()))
    with torch.no_grad():
        for b in model.blocks:
            b[0][0].SIG *= 0
            b[0][0].version = "max"
            b[0][0].DCK.version = "max"
        model.round_pos()
        outs, preds = [], []
        for i in range(0, N_TEST, Config.batch_size):
            xb = torch.tensor(x_te[i : i + Config.batch_size]).permute(1, 0, 2)
            out = model(xb)  # (time, batch, classes): the output layer's membrane
            outs.append(out.numpy())
            preds.append(torch.max(torch.sum(torch.nn.Softmax(dim=2)(out), 0), 1)[1].numpy())  # Model.calc_metric
            model.reset_model(train=False)
    v = np.concatenate([o.transpose(1, 0, 2) for o in outs])
    spikes = {f"spikes{k}": np.concatenate([a.transpose(1, 0, 2) for a in rec[k]]).astype(bool) for k in rec}
    pred = np.concatenate(preds)
    acc = float((pred == te[2]).mean())
    np.savez_compressed(
        DATA / "snn_delays_reference.npz", frames=x_te, labels=te[2], v_out=v, pred=pred, accuracy=acc, **spikes
    )
    print(f"test accuracy {acc:.1%}; wrote {DATA}/snn_delays_model.pt, snn_delays_test.h5, snn_delays_reference.npz")


if __name__ == "__main__":
    main()
