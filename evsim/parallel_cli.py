"""``evsim run --workers N | --scheduler ADDRESS | --out DIR [--resume]``: a dataset run on worker processes or a
Dask cluster (`evsim.parallel.run_dataset`), its results kept in a folder as they finish.

`evsim.cli` adds these options to ``evsim run`` (`add_args`) and hands the run here when one of them is given
(`wanted`); ``--out`` is checked before anything is loaded or run (`check_out`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError

FILE_SUFFIXES = (".npz", ".json")


def add_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("whole datasets on many cores or a Dask cluster (README, 'Whole datasets')")
    g.add_argument(
        "--workers",
        metavar="N",
        help="run the samples in N worker processes ('auto': one per core); results are identical for any N",
    )
    g.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask cluster, e.g. tcp://head:8786")
    g.add_argument("--chunk", type=int, default=32, metavar="K", help="samples sent to a worker at a time (32)")
    g.add_argument(
        "--resume",
        action="store_true",
        help="complete the run whose results are in --out DIR (only the missing and failed samples run)",
    )


def is_folder(out: str | None) -> bool:
    return out is not None and (Path(out).is_dir() or Path(out).suffix.lower() not in FILE_SUFFIXES)


def wanted(args: argparse.Namespace) -> bool:
    return bool(args.workers is not None or args.scheduler or args.resume or is_folder(args.out))


def check_out(args: argparse.Namespace) -> None:
    """``--out`` checked before the run: a results folder (its parent must exist) or a .npz/.json file."""
    from .results import check_out_dir, check_out_file

    if args.resume and not is_folder(args.out):
        raise InputError("--resume needs --out DIR, the results folder of the run to complete")
    if wanted(args):  # what only the in-process batch runner does
        for flag, on in (("--pad batch", getattr(args, "pad", None) == "batch"),
                         ("--record all", getattr(args, "record", None) == "all"),
                         ("--max-seconds", getattr(args, "max_seconds", None) is not None),
                         ("--max-events", getattr(args, "max_events", None) is not None)):  # fmt: skip
            if on:
                raise InputError(
                    f"{flag} is not available with --workers, --scheduler or --out DIR (each sample runs on its own, "
                    "its figures kept per sample); leave it out, or run in this process with --out FILE.npz"
                )
    if args.out is not None:
        (check_out_dir if is_folder(args.out) else check_out_file)(args.out)


def _workers(v: str | None) -> int | None:
    if v is None or v == "auto":
        return None
    try:
        n = int(v)
    except ValueError:
        n = 0
    if n < 1:
        raise InputError(f"--workers must be a positive integer or 'auto', got {v!r}")
    return n


def run_command(args: argparse.Namespace, net: Any, t_load: float, print_model: Any) -> int:
    from .data.cli import _open, _pipeline
    from .io.files import write_json, write_npz
    from .parallel import run_dataset

    folder = args.out if is_folder(args.out) else None
    r = run_dataset(
        net,
        _open(args),
        pipeline=_pipeline(args, net),
        workers=_workers(args.workers) if args.workers is not None or args.scheduler else None,
        scheduler=args.scheduler,
        chunk=args.chunk,
        out=folder,
        resume=args.resume,
        limit=args.samples,
        progress=args.progress and sys.stderr.isatty(),
    )
    B = max(r.n, 1)
    print_model(args, net)
    steps = f"{r.steps.min()}" if r.n and r.steps.min() == r.steps.max() else "various"
    print(f"input    {args.input}: {r.n} sample(s) done" + (f" of {r.total}" if r.total else "") + f" x {steps} steps")
    per = r.wall_seconds / B * 1e3
    print(f"run      {r.wall_seconds:.3f} s on {r.backend} ({per:.2f} ms/sample), load {t_load:.3f} s")
    if r.n:
        c = r.output_counts
        print(
            f"output   {net.outputs[0]}: {int(c.sum())} spikes, {c.sum() / B:.1f} per sample; "
            f"mean per neuron {np.round(c.mean(axis=0), 2).tolist()}"
        )
        if r.labels is not None:
            ok = int(np.sum(r.predictions == r.labels))
            print(f"accuracy {ok / B:.4f} ({ok}/{r.n}, argmax of output spike counts)")
        print(f"SOPs     {int(r.sops.sum())} total, {r.sops.mean():.0f} per sample")
        for q, v in r.sops_by_projection.items():
            print(f"         {q}: {int(v.sum())}")
    for i, e in list(sorted(r.failed.items()))[:10]:
        print(f"failed   sample {i}: {e}")
    if len(r.failed) > 10:
        print(f"failed   ... {len(r.failed)} samples in all (manifest.json lists every one)")
    if folder is not None:
        print(f"results  {folder} ({r.status}; manifest.json, parts/, results.npz)")
    elif args.out:
        fields = {
            "index": r.index,
            "predictions": r.predictions,
            "output_counts": r.output_counts,
            "steps": r.steps,
            **({} if r.labels is None else {"labels": r.labels}),
            **{f"c/{k}": v for k, v in r.counters.items()},
        }
        if str(args.out).endswith(".json"):
            write_json(args.out, fields)
        else:
            write_npz(args.out, **fields)
        print(f"wrote    {args.out}")
    if r.status == "interrupted":
        hint = f"; evsim run ... --out {folder} --resume completes it" if folder else ""
        print(f"evsim: interrupted after {r.n} samples{hint}", file=sys.stderr)
        return 130
    return 1 if r.failed else 0
