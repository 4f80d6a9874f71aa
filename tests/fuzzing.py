"""Structured mutations of real model and input files, the readers they go through, and a driver that tallies
outcomes (used by tests/test_fuzz_*.py with Hypothesis, and on its own for long hunts).

Seeds are real files: the bundled NIR graphs (snnTorch MLP, Sinabs CNN), the lava-dl netx network of NIR's docs
(tests/data/models/lava_oxford), and input files written from the bundled digits (npz, npy, h5, NIR data).
A mutation is data (`Mutation`): an HDF5 edit (replace a dataset's value, type or shape; delete it; add a soft,
external or cyclic link; declare a huge or finely chunked dataset), a zip member edit (wrong name, lying header,
a zip bomb) or a byte edit (truncate, flip). Every case must end in success or an `evsim.EvsimError`; anything
else is a finding.

    python tests/fuzzing.py --cases 2000 --seed 1    # every reader, each case in a subprocess with a timeout:
                                                     # counts crashes, hangs, tracebacks, clean errors, successes
"""

from __future__ import annotations

import dataclasses
import io
import shutil
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "examples" / "data"
SEEDS = {
    "nir-mlp": (DATA / "digits_snntorch.nir", "snntorch"),
    "nir-cnn": (DATA / "cnn_sinabs.nir", "sinabs"),
    "netx": (REPO / "tests" / "data" / "models" / "lava_oxford" / "network.net", "lava-dl"),
}

# values substituted for a dataset (HDF5 can hold each of them)
VALUES: list[Any] = [
    "same",
    np.bytes_(b"\xff\xfe garbage"),
    np.array(["a", "b"], dtype="S1"),
    np.float64(np.nan),
    np.float64(np.inf),
    np.float64(-np.inf),
    np.float64(-0.0),
    np.float64(0.0),
    np.int64(-1),
    np.int64(0),
    np.float64(1e308),
    np.float64(-1e308),
    np.int64(2**62),
    np.uint64(2**64 - 1),
    np.array([], dtype=np.float64),
    np.array([[1.0, np.nan], [np.inf, 2.0]]),
    np.array([2**40, 2**40], dtype=np.int64),
    np.array([-3, 4], dtype=np.int64),
    np.array([True, False]),
    np.complex128(1 + 2j),
    np.float32(3.5),
    np.zeros((3, 0)),
    np.full((2, 2, 2), 7.0),
]
VALUE_NAMES = [repr(v)[:40] for v in VALUES]


@dataclasses.dataclass(frozen=True)
class Mutation:
    """One edit. ``kind``: value | retype | reshape | delete | softlink | extlink | cycle | huge | chunks |
    truncate | flip | zip-name | zip-header | zip-bomb; ``target``: index into the file's objects (modulo their
    number); ``arg``: the value index, a byte position (fraction of the size) or a count."""

    kind: str
    target: int = 0
    arg: float = 0.0
    arg2: int = 0

    def __str__(self) -> str:
        extra = f" {VALUE_NAMES[int(self.arg) % len(VALUES)]}" if self.kind == "value" else f" {self.arg:g}"
        return f"{self.kind}[{self.target}]{extra}"


HDF5_KINDS = ("value", "value", "value", "retype", "reshape", "delete", "softlink", "extlink", "cycle", "huge",
              "chunks", "truncate", "flip", "flip")  # fmt: skip
ZIP_KINDS = ("value", "value", "reshape", "retype", "delete", "zip-name", "zip-header", "zip-bomb", "truncate", "flip")


def _objects(f: Any) -> list[str]:
    import h5py

    names: list[str] = []
    f.visititems(lambda n, o: names.append(n) if isinstance(o, (h5py.Dataset, h5py.Group)) else None)
    return sorted(names)


def mutate_hdf5(src: Path, dst: Path, m: Mutation) -> None:
    """Copy ``src`` to ``dst`` with mutation ``m`` applied (h5py for structural edits, bytes for the others)."""
    import h5py

    if m.kind in ("truncate", "flip"):
        _mutate_bytes(src, dst, m)
        return
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        names = _objects(f)
        datasets = [n for n in names if isinstance(f[n], h5py.Dataset)]
        groups = [n for n in names if isinstance(f[n], h5py.Group)] or ["/"]
        name = datasets[m.target % len(datasets)]
        parent, leaf = name.rsplit("/", 1) if "/" in name else ("/", name)
        if m.kind == "value":
            del f[name]
            f[parent].create_dataset(leaf, data=VALUES[int(m.arg) % len(VALUES)])
        elif m.kind == "retype":
            old = f[name][()]
            del f[name]
            kinds = [np.float16, np.int8, np.uint8, np.bool_, np.complex64, "S3"]
            f[parent].create_dataset(leaf, data=np.asarray(old).astype(kinds[int(m.arg) % len(kinds)]))
        elif m.kind == "reshape":
            old = np.asarray(f[name][()])
            del f[name]
            shapes = [old.reshape(-1), old.reshape(1, -1), old.reshape(-1)[:1], old.T, np.zeros((0,) + old.shape)]
            f[parent].create_dataset(leaf, data=shapes[int(m.arg) % len(shapes)])
        elif m.kind == "delete":
            victim = names[m.target % len(names)]
            del f[victim]
        elif m.kind == "softlink":
            del f[name]
            f[parent][leaf] = h5py.SoftLink("/" + groups[int(m.arg) % len(groups)])
        elif m.kind == "extlink":
            del f[name]
            f[parent][leaf] = h5py.ExternalLink("/etc/passwd", "/x")
        elif m.kind == "cycle":
            g = groups[m.target % len(groups)]
            f[g]["loop"] = f[g] if g != "/" else f
        elif m.kind == "huge":
            del f[name]
            n = int(10 ** (4 + m.arg % 9))  # 1e4 .. 1e12 elements declared, nothing written
            f[parent].create_dataset(leaf, shape=(n,), dtype="f4", chunks=(min(n, 2**20),))
        elif m.kind == "chunks":
            del f[name]
            n = 10 ** (3 + int(m.arg) % 4)
            f[parent].create_dataset(leaf, shape=(n,), dtype="f4", chunks=(1,))
        else:
            raise ValueError(m.kind)


def _mutate_bytes(src: Path, dst: Path, m: Mutation) -> None:
    data = bytearray(src.read_bytes())
    pos = int((m.arg % 1.0) * len(data))
    if m.kind == "truncate":
        data = data[:pos]
    else:
        rng = np.random.default_rng(m.target)
        for k in range(1 + m.arg2 % 8):
            p = (pos + int(rng.integers(0, 4096)) * k) % len(data)
            data[p] ^= int(rng.integers(1, 256))
    dst.write_bytes(bytes(data))


def mutate_npz(src: Path, dst: Path, m: Mutation) -> None:
    """``.npz`` edits: members replaced, renamed, given lying headers, or a member that is a zip bomb."""
    if m.kind in ("truncate", "flip"):
        _mutate_bytes(src, dst, m)
        return
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    keys = sorted(arrays)
    key = keys[m.target % len(keys)]
    if m.kind == "value":
        arrays[key] = np.asarray(VALUES[int(m.arg) % len(VALUES)])
    elif m.kind == "retype":
        arrays[key] = arrays[key].astype([np.float16, np.int8, np.bool_, np.complex64, "U3"][int(m.arg) % 5])
    elif m.kind == "reshape":
        a = arrays[key]
        arrays[key] = [a.reshape(-1), a[..., :0], a[:0], a.reshape(-1)[:1].reshape(()), a[None]][int(m.arg) % 5]
    elif m.kind == "delete":
        del arrays[key]
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    if m.kind in ("zip-name", "zip-header", "zip-bomb"):
        members = {}
        with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
            for info in z.infolist():
                members[info.filename] = z.read(info)
        name = sorted(members)[m.target % len(members)]
        if m.kind == "zip-name":
            members[name.replace(".npy", ".txt")] = members.pop(name)
        elif m.kind == "zip-header":  # a header declaring a huge shape over the same few bytes
            hdr = b"{'descr': '<f8', 'fortran_order': False, 'shape': (%d, 1000, 64), }" % (10 ** (3 + m.arg2 % 7))
            members[name] = b"\x93NUMPY\x01\x00" + len(hdr).to_bytes(2, "little") + hdr + members[name][128:]
        else:  # zeros that compress ~1000:1
            n = 10 ** (6 + m.arg2 % 3)  # up to 800 MB inflated (tests run with evsim.limits.memory = 256 MiB)
            hdr = b"{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), }" % n
            members[name] = (b"\x93NUMPY\x01\x00" + len(hdr).to_bytes(2, "little") + hdr, n * 8)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for k, v in members.items():
                if isinstance(v, tuple):
                    with z.open(k, "w", force_zip64=True) as w:
                        w.write(v[0])
                        chunk = bytes(2**23)
                        left = v[1]
                        while left > 0 and left < 2**31:  # (a real bomb: written in full, stays small compressed)
                            w.write(chunk[: min(left, len(chunk))])
                            left -= len(chunk)
                else:
                    z.writestr(k, v)
        dst.write_bytes(out.getvalue())
    else:
        dst.write_bytes(buf.getvalue())


# ------------------------------------------------------------------------------------------------ readers
def seed_inputs(folder: Path) -> dict[str, Path]:
    """Small real input files in every format, written from the bundled digits (3 samples)."""
    import h5py

    import evsim

    folder.mkdir(parents=True, exist_ok=True)
    z = np.load(DATA / "digits_test.npz")
    x, y = z["x"][:3], z["labels"][:3]
    out = {"npz": folder / "in.npz", "npy": folder / "in.npy", "h5": folder / "in.h5", "nird": folder / "in_nir.h5"}
    np.savez(out["npz"], x=x, labels=y)
    np.save(out["npy"], x)
    with h5py.File(out["h5"], "w") as f:
        f["x"] = x
        f["labels"] = y
    net = evsim.load(SEEDS["nir-mlp"][0], dialect="snntorch")
    evsim.write_nir_data(out["nird"], evsim.run(net, x), populations=["input"])
    return out


_NETS: dict[str, Any] = {}


def _mlp() -> Any:
    import evsim

    if "mlp" not in _NETS:
        _NETS["mlp"] = evsim.load(SEEDS["nir-mlp"][0], dialect="snntorch")
    return _NETS["mlp"]


def read_model(path: Path, dialect: str) -> str:
    import evsim

    net = evsim.load(path, dialect=dialect)
    return f"{net.n_neurons} neurons"


def read_and_run_input(path: Path, fmt: str) -> str:
    """Read an input file as `evsim run` does and run the digits MLP on (at most 2 of) its samples."""
    import evsim
    from evsim.io.files import read_inputs

    net = _mlp()
    if fmt == "nird":
        x = evsim.read_nir_data(path, dt=net.dt)
        xs = x[:2] if isinstance(x, list) else x[:2]
        res = evsim.run(net, xs, steps=getattr(x, "steps", None) if isinstance(x, list) else None)
    else:
        x, labels = read_inputs(path)
        res = evsim.run(net, x[:2] if x.ndim >= 3 else x)
    return f"{res.steps} steps"


def classify(fn: Callable[[], Any]) -> tuple[str, str]:
    """('success' | 'clean' | 'traceback', detail): an evsim.EvsimError is a clean error, anything else a finding."""
    import evsim

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (the CLI prints warnings as one line; not a failure)
            detail = fn()
        return "success", str(detail)
    except evsim.EvsimError as e:
        text = str(e)
        return ("clean" if "\n" not in text and text else "traceback"), text
    except Exception as e:  # noqa: BLE001 - a finding
        return "traceback", f"{type(e).__name__}: {e}"


def run_case(reader: str, m: Mutation, tmp: Path) -> tuple[str, str]:
    """Mutate the seed of ``reader`` with ``m`` into ``tmp`` and read it; returns (outcome, detail)."""
    tmp.mkdir(parents=True, exist_ok=True)
    if reader in SEEDS:
        src, dialect = SEEDS[reader]
        dst = tmp / ("case" + src.suffix)
        if not _made(lambda: mutate_hdf5(src, dst, m)):
            return "skipped", "the mutation does not apply to this file"
        return classify(lambda: read_model(dst, dialect))
    if reader == "shd":
        dst = tmp / "case.h5"
        if not _made(lambda: mutate_hdf5(SHD, dst, m)):
            return "skipped", "the mutation does not apply to this file"
        return classify(lambda: read_shd(dst))
    if reader in ("snn-delays", "snn-config"):
        model, config = SNN_DELAYS
        src = model if reader == "snn-delays" else config
        dst = tmp / ("case" + src.suffix)
        mutate = mutate_pt_member if m.kind == "pt-member" else _mutate_bytes
        if not _made(lambda: mutate(src, dst, m)):
            return "skipped", "the mutation does not apply to this file"
        return classify(lambda: read_snn_delays(dst, config) if reader == "snn-delays" else read_snn_delays(model, dst))
    inputs = seed_inputs(tmp / "seed") if not (tmp / "seed" / "in.npz").exists() else _seed_paths(tmp / "seed")
    src = inputs[reader]
    dst = tmp / ("case" + src.suffix)
    mutate = {"npz": mutate_npz, "npy": _mutate_npy}.get(reader, mutate_hdf5)
    if not _made(lambda: mutate(src, dst, m)):
        return "skipped", "the mutation does not apply to this file"
    return classify(lambda: read_and_run_input(dst, reader))


def _made(make: Callable[[], None]) -> bool:
    """Whether the mutated file could be written (h5py refuses some edits, e.g. a string cast to float)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            make()
        return True
    except Exception:  # noqa: BLE001 - the mutation, not evsim
        return False


def _seed_paths(folder: Path) -> dict[str, Path]:
    return {"npz": folder / "in.npz", "npy": folder / "in.npy", "h5": folder / "in.h5", "nird": folder / "in_nir.h5"}


def _mutate_npy(src: Path, dst: Path, m: Mutation) -> None:
    if m.kind in ("truncate", "flip"):
        _mutate_bytes(src, dst, m)
    elif m.kind == "value":
        np.save(dst, np.asarray(VALUES[int(m.arg) % len(VALUES)]))
    elif m.kind == "zip-header":
        hdr = b"{'descr': '<f8', 'fortran_order': False, 'shape': (%d, 25, 64), }" % (10 ** (3 + m.arg2 % 9))
        dst.write_bytes(b"\x93NUMPY\x01\x00" + len(hdr).to_bytes(2, "little") + hdr + b"\x00" * 64)
    else:
        a = np.load(src)
        np.save(dst, [a.reshape(-1), a[:, :0], a.astype(np.float16), a.astype("U2"), a[0, 0]][m.target % 5])


READERS = ("nir-mlp", "nir-cnn", "netx", "npz", "npy", "h5", "nird", "shd", "snn-delays", "snn-config")
BYTE_KINDS = ("truncate", "flip", "flip")
KINDS = {"npz": ZIP_KINDS, "npy": ("value", "truncate", "flip", "zip-header", "reshape"), "snn-delays": BYTE_KINDS + (
    "pt-member", "pt-member"), "snn-config": BYTE_KINDS}  # fmt: skip
SHD = DATA / "digits_shd.h5"
SNN_DELAYS = (DATA / "snn_delays_model.pt", DATA / "snn_delays_config.py")


def read_shd(path: Path) -> str:
    """Open an SHD-layout file as `evsim run` does and read its first 3 samples."""
    import evsim.data

    ds = evsim.data.open(path)
    n = 0
    for _ in zip(range(3), ds):
        n += 1
    return f"{len(ds)} samples"


def read_snn_delays(model: Path, config: Path) -> str:
    import evsim

    net = evsim.load(model, config=config)
    return f"{net.n_neurons} neurons"


def mutate_pt_member(src: Path, dst: Path, m: Mutation) -> None:
    """A torch checkpoint is a zip: flip bytes inside one member (the pickle or a tensor's storage) or cut it."""
    with zipfile.ZipFile(src) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    name = sorted(members)[m.target % len(members)]
    data = bytearray(members[name])
    if data:
        pos = int((m.arg % 1.0) * len(data))
        if m.arg2 % 2:
            data = data[:pos]
        else:
            data[pos % len(data)] ^= 1 + m.arg2 % 255
    members[name] = bytes(data)
    with zipfile.ZipFile(dst, "w") as z:
        for k, v in members.items():
            z.writestr(k, v)


def random_mutation(rng: np.random.Generator, reader: str) -> Mutation:
    kinds = KINDS.get(reader, HDF5_KINDS)
    return Mutation(
        str(kinds[int(rng.integers(len(kinds)))]),
        int(rng.integers(0, 10_000)),
        float(rng.integers(0, 64)) if rng.random() < 0.6 else float(rng.random()),
        int(rng.integers(0, 64)),
    )


# ------------------------------------------------------------------------------------------------ driver
def _child(reader: str, cases: list[tuple[str, int, float, int]], tmp: str) -> None:
    for k, (kind, target, arg, arg2) in enumerate(cases):
        outcome, detail = run_case(reader, Mutation(kind, target, arg, arg2), Path(tmp))
        print(f"OUTCOME {k} {outcome} {detail[:300]!r}", flush=True)


def _spawn(reader: str, cases: list[Mutation], tmp: str, timeout: float, env: dict) -> tuple[dict, Any]:
    """Run ``cases`` in one child; returns ({case index: (outcome, detail)}, None or 'crash'/'hang' info)."""
    import subprocess

    spec = [(m.kind, m.target, m.arg, m.arg2) for m in cases]
    code = "import sys; sys.path.insert(0, %r); import fuzzing; fuzzing._child(%r, %r, %r)" % (
        str(REPO / "tests"), reader, spec, tmp)  # fmt: skip
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
        out, status = p.stdout, p.returncode
    except subprocess.TimeoutExpired as e:
        out, status = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), "hang"
        p = None
    done = {}
    for line in out.splitlines():
        if line.startswith("OUTCOME "):
            _, k, outcome, detail = line.split(" ", 3)
            done[int(k)] = (outcome, detail)
    if status == "hang":
        return done, "hang"
    if isinstance(status, int) and status < 0:
        return done, f"signal {-status}"
    if len(done) < len(cases):
        return done, "died: " + " ".join((p.stderr if p else "").strip().splitlines()[-1:])
    return done, None


def main(argv: list[str] | None = None) -> int:
    """Cases in child processes with a timeout: crash (killed by a signal), hang (timeout), traceback (an
    exception that is not an EvsimError, or a child that died otherwise), clean error, success."""
    import argparse
    import collections
    import os
    import tempfile
    import time

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=200, help="cases per reader")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--readers", default=",".join(READERS))
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per case")
    ap.add_argument("--batch", type=int, default=50, help="cases per child (a crash or hang re-runs them singly)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    totals: dict[str, collections.Counter] = {}
    findings: list[tuple[str, str, str]] = []
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for reader in args.readers.split(","):
            c = totals.setdefault(reader, collections.Counter())
            cases = [random_mutation(rng, reader) for _ in range(args.cases)]
            for b0 in range(0, len(cases), args.batch):
                batch = cases[b0 : b0 + args.batch]
                done, trouble = _spawn(reader, batch, tmp, 60 + args.timeout * len(batch), env)
                if trouble:  # re-run the unfinished cases one per child, to name the culprit
                    for k in range(len(batch)):
                        if k in done:
                            continue
                        one, why = _spawn(reader, [batch[k]], tmp, 60 + args.timeout, env)
                        if why:
                            kind = "hang" if why == "hang" else "crash" if why.startswith("signal") else "traceback"
                            done[k] = (kind, why)
                        else:
                            done[k] = one[0]
                for k, (outcome, detail) in sorted(done.items()):
                    c[outcome] += 1
                    if outcome not in ("success", "clean", "skipped"):
                        findings.append((reader, str(batch[k]), f"{outcome}: {detail}"))
            print(f"{reader:8s} {args.cases} cases: {dict(c)}  ({time.time() - t0:.0f} s)", flush=True)
    for f in findings[:50]:
        print("FINDING", *f)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
