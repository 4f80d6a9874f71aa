"""The options of ``evsim run --workers N | --scheduler ADDRESS | --out DIR [--resume]``: a dataset run on worker
processes or a Dask cluster, its results kept in a folder as they finish (the run itself: `evsim.data.cli`).

`evsim.cli` adds these options to ``evsim run`` (`add_args`); `wanted` says when one of them is given; ``--out`` is
checked before anything is loaded or run (`check_out`).
"""

from __future__ import annotations

import argparse
from pathlib import Path


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
    g.add_argument("--chunk", dest="batch", type=int, default=32, metavar="K", help="samples sent to a worker at a "
                   "time: --batch's other name (32)")  # fmt: skip
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
    if wanted(args):  # what a results folder does not keep, and budgets that stop the run in this process only
        for flag, on in (("--record all", getattr(args, "record", None) == "all"),
                         ("--max-seconds", getattr(args, "max_seconds", None) is not None),
                         ("--max-events", getattr(args, "max_events", None) is not None)):  # fmt: skip
            if on:
                raise InputError(
                    f"{flag} is not available with --workers, --scheduler or --out DIR (a results folder keeps the "
                    "figures per sample; budgets stop a run in this process); leave it out, or run in this process "
                    "with --out FILE.npz"
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
