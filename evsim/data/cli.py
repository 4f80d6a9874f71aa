"""The input side of the command line (`evsim run/verify/report --input`): arguments, reading, printing.

`evsim.cli` calls `add_input_args` for its sub-commands, `run_command` for ``evsim run`` and `read_for_model` for
``verify`` and ``report``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .binning import RULES, InputPipeline

FORMATS = ("shd", "folder", "nir-data", "dense", "aedat4", "evt2", "evt3", "dat", "npy", "npz")


def add_input_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--input",
        "-i",
        required=True,
        metavar="FILE",
        help="input: an SHD/SSC .h5, an event file (AEDAT4 .aedat4, Prophesee .raw/.dat, tonic-style .npy/.npz with "
        "fields x, y, t, p), a folder of event files (sub-folders = classes), a NIR data file, or a dense "
        ".npz/.h5 with an array 'x' [B, T, n_in] (and 'labels'); the format is recognised from the content",
    )
    p.add_argument("--format", choices=FORMATS, help="the input's format, when detection is not wanted")
    p.add_argument("--samples", "--limit", dest="samples", type=int, metavar="N", help="only the first N samples")
    p.add_argument("--batch", type=int, default=32, metavar="N", help="samples read and run together (default 32)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    g = p.add_argument_group(
        "binning events onto the model's time grid (default: the model's own input pipeline, else 'grid' at its dt)"
    )
    g.add_argument(
        "--bin-rule",
        dest="rule",
        choices=RULES,
        help="grid: floor(t / step); spikingjelly: frames by fixed duration from the first event (SNN-delays' SHD); "
        "tonic: ToFrame(time_window) windows from the first event",
    )
    g.add_argument("--time-step", type=float, metavar="S", help="seconds per frame (default: the model's dt)")
    g.add_argument("--n-bins", type=int, metavar="K", help="sum K adjacent channels of a 1-D sensor (SHD's n_bins)")
    g.add_argument("--steps", type=int, metavar="T", help="pad or crop every sample to T frames")
    g.add_argument("--window", nargs=2, type=float, metavar=("START", "STOP"), help="keep events in [START, STOP) s")
    g.add_argument("--crop", nargs=4, type=int, metavar=("X0", "Y0", "W", "H"), help="keep a W x H box of the sensor")
    g.add_argument("--downsample", type=float, metavar="F", help="multiply x, y by F (tonic's Downsample)")
    g.add_argument(
        "--polarity",
        choices=["channels", "swap", "merge"],
        help="channel = polarity (default; tonic's layout), swapped (ON in channel 0), or one summed channel",
    )
    g.add_argument(
        "--pad",
        choices=["none", "batch"],
        help="batch: run each batch as long as its longest sample (SpikingJelly's pad_sequence_collate; same --batch)",
    )
    g.add_argument("--origin", choices=["zero", "first"], help="grid rule: frame 0 starts at time 0 or the first event")
    g.add_argument("--binary", action="store_true", default=None, help="clip counts per frame to 1")


def _pipeline(args: argparse.Namespace, net: Any) -> InputPipeline:
    from .runner import pipeline_for

    w = args.window or (None, None)
    return pipeline_for(
        net,
        rule=args.rule,
        time_step=args.time_step,
        n_bins=args.n_bins,
        steps=args.steps,
        t_start=w[0],
        t_stop=w[1],
        crop=tuple(args.crop) if args.crop else None,
        downsample=args.downsample,
        polarity=args.polarity,
        binary=args.binary,
        origin=args.origin,
        pad=args.pad,
    )


def _open(args: argparse.Namespace) -> Any:
    from .dataset import open as open_dataset

    if not Path(args.input).exists():
        raise InputError(f"{args.input}: no such input file")
    if args.samples is not None and args.samples < 1:
        raise InputError(f"--samples must be at least 1, got {args.samples}")
    return open_dataset(args.input, args.format)


def _describe(ds: Any, pipe: InputPipeline, net: Any) -> str:
    from .runner import _seconds

    if ds.on_grid:
        return ds.kind
    step = pipe.time_step if pipe.time_step is not None else _seconds(net)
    bits = [f"{pipe.rule} binning, {step:g} s frames"]
    bits += [f"n_bins {pipe.n_bins}"] if pipe.n_bins > 1 else []
    bits += [f"{pipe.steps} steps"] if pipe.steps else []
    return f"{ds.kind}; " + ", ".join(bits)


def read_for_model(args: argparse.Namespace, net: Any) -> tuple[Any, Any]:
    """The whole input (at most ``--samples``) as one batch and its labels, for ``verify`` and ``report``."""
    from .runner import materialise

    ds = _open(args)
    return materialise(net, ds, _pipeline(args, net), args.samples)


def run_command(args: argparse.Namespace, net: Any, t_load: float, print_model: Any) -> int:
    """``evsim run``: stream the input through the model (`evsim.run_dataset`: in this process, or on worker
    processes / a Dask cluster with ``--workers``, ``--scheduler``, ``--out DIR``), print accuracy and SOPs, write
    ``--out``. Ctrl-C: what finished is printed and kept (``--out FILE`` or DIR), exit 130; exit 1 when samples
    failed."""
    from ..parallel_cli import is_folder, wanted

    many = wanted(args)  # worker processes, a Dask cluster or a results folder: failed samples kept, not raised
    folder = args.out if is_folder(args.out) else None
    t0 = time.perf_counter()
    ds = _open(args)
    pipe = _pipeline(args, net)
    try:
        r = _run(args, net, ds, pipe, many, folder)
    except KeyboardInterrupt as e:  # --out FILE: the finished chunks are written, as a results folder keeps them
        r = getattr(e, "run", None)
        if r is None or not args.out or not r.n:
            raise
    wall = time.perf_counter() - t0
    _print_run(args, net, ds, pipe, r, wall, t_load, many, folder, print_model)
    if folder is None and args.out:
        _write_out(args.out, r)
    if r.status == "interrupted":
        hint = f"; evsim run ... --out {folder} --resume completes it" if folder else ""
        kept = f"; {args.out} holds them" if folder is None and args.out else ""
        print(f"evsim: interrupted after {r.n} samples{kept}{hint}", file=sys.stderr)
        return 130
    return 1 if r.failed else 0


def _run(args: argparse.Namespace, net: Any, ds: Any, pipe: Any, many: bool, folder: Any) -> Any:
    from ..parallel import run_dataset
    from ..parallel_cli import _workers

    return run_dataset(
        net,
        ds,
        pipe,
        workers=_workers(args.workers) if args.workers is not None or args.scheduler else (None if many else 1),
        scheduler=args.scheduler,
        chunk=args.batch,
        out=folder,
        resume=args.resume,
        limit=args.samples,
        progress=args.progress and sys.stderr.isatty(),
        threads=args.threads,
        record=args.record == "all",
        keep_output=bool(args.out) and folder is None,
        max_seconds=getattr(args, "max_seconds", None),
        max_events=getattr(args, "max_events", None),
        errors="keep" if many else "raise",
        warmup=not many,
    )


def _print_run(
    args: argparse.Namespace,
    net: Any,
    ds: Any,
    pipe: Any,
    r: Any,
    wall: float,
    t_load: float,
    many: bool,
    folder: Any,
    print_model: Any,
) -> None:
    """The summary ``evsim run`` prints: input, run time, output spikes, accuracy, SOPs, failed samples."""
    B = max(r.n, 1)
    T = (
        "no"
        if not r.n
        else f"{r.steps.min()}"
        if r.steps.min() == r.steps.max()
        else f"{r.steps.min()}-{r.steps.max()}"
    )
    print_model(args, net)
    done = f" done of {r.total}" if folder and r.total else ""
    print(f"input    {args.input} ({_describe(ds, pipe, net)}): {r.n} sample(s){done} x {T} steps")
    first = 1 if not many else min(args.batch, r.n)
    per = r.run_seconds / max(r.n - first, 1)
    print(
        f"run      {wall:.3f} s on {r.backend}; {per * 1e3:.2f} ms/sample after the first chunk of {first} (warm-up "
        f"incl. compilation {r.warmup_seconds:.3f} s), load {t_load:.3f} s"
    )
    c = r.output_counts
    pop = net.population(net.outputs[0])
    spiking = pop.neuron is None or pop.neuron.spiking
    if r.n and spiking:
        print(
            f"output   {net.outputs[0]}: {int(c.sum())} spikes, {c.sum() / B:.1f} per sample; "
            f"mean per neuron {np.round(c.mean(axis=0), 2).tolist()}"
        )
    elif r.n:
        print(f"output   {net.outputs[0]}: a non-spiking readout (membrane)")
    if r.labels is not None:
        ok = int(np.sum(r.predictions == r.labels))
        rule = "argmax of output spike counts" if spiking else "the model's decoding of the output membrane"
        print(f"accuracy {ok / B:.4f} ({ok}/{r.n}, {rule})")
    if r.n:
        print(f"SOPs     {int(r.sops.sum())} total, {r.sops.mean():.0f} per sample")
    for q, v in r.sops_by_projection.items():
        print(f"         {q}: {int(np.sum(v))}")
    for i, e in list(sorted(r.failed.items()))[:10]:
        print(f"failed   sample {i}: {e}")
    if len(r.failed) > 10:
        print(f"failed   ... {len(r.failed)} samples in all (manifest.json lists every one)")
    if folder is not None:
        print(f"results  {folder} ({r.status}; manifest.json, parts/, results.npz)")


def _write_out(out: str, r: Any) -> None:
    """``--out FILE`` (.npz or .json), written atomically: every finished sample's figures."""
    from ..io.files import write_json, write_npz

    fields: dict[str, Any] = dict(
        index=r.index,
        predictions=r.predictions,
        sops=r.sops,
        output_counts=r.output_counts,
        steps=r.steps,
        **{f"sops/{q}": v for q, v in r.sops_by_projection.items()},
        **{f"c/{k}": v for k, v in r.counters.items()},
    )
    if r.output and len({o.shape for o in r.output}) == 1:
        fields["output"] = np.stack(r.output)
    if r.labels is not None:
        fields["labels"] = r.labels
    for name, sp in (r.spikes or {}).items():
        for f in ("times", "indices", "counts", "samples"):
            fields[f"spikes/{name}/{f}"] = getattr(sp, f)
    if str(out).endswith(".json"):
        write_json(out, {k: np.asarray(v) for k, v in fields.items()})
    else:
        write_npz(out, **fields)
    print(f"wrote    {out}" + (f" (spikes of {len(r.spikes or {})} populations)" if r.spikes else ""))
