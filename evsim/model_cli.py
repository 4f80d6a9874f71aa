"""The command line's model options and loading: what every sub-command that takes a MODEL shares.

`add_model_args` adds MODEL, --config, the time-semantics group (--mode, --dialect, --dt, --reset, ...) and
--max-memory; `load_model` loads the model with them (`choose_dialect`: --dialect as given, else the one the file
shows, else an error saying what to pass; exact mode goes to `evsim.exact.cli.load_exact`); `print_model` is the
``model ...`` line the commands print. `evsim.cli` wires them into its sub-commands.
"""

from __future__ import annotations

import argparse
import sys

from .dialects import DIALECTS
from .errors import EvsimError
from .neurons import DISCRETISATIONS


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (.nir; or an SNN-delays checkpoint .pt with --config)")
    p.add_argument(
        "--config", metavar="FILE", help="SNN-delays config (config.py, read without running it, or .json) for a .pt"
    )
    g = p.add_argument_group("time semantics (default: the dialect's; see README, 'Dialects')")
    g.add_argument(
        "--mode",
        choices=["discrete", "exact"],
        help="discrete: on a time grid of --dt (default); exact: continuous time, NIR's own equations, spike times "
        "in seconds (README, 'Exact time'; --dt is then the engine's calendar step)",
    )
    g.add_argument(
        "--dialect",
        choices=sorted(DIALECTS),
        help="framework conventions the model was trained with (default: the one the file shows, e.g. snnTorch's "
        "exporter writes r = tau/1e-4; with --dt alone: nir)",
    )
    g.add_argument("--dt", type=float, help="seconds per time step (default: the dialect's)")
    g.add_argument("--reset", choices=["zero", "subtract"], help="reset to v_reset, or subtract the threshold")
    g.add_argument(
        "--reset-delay",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="apply a subtractive reset one step late (snnTorch's default)",
    )
    g.add_argument("--threshold-op", choices=[">", ">="], help="spike when v > threshold, or v >= threshold")
    g.add_argument(
        "--multi-spike",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="floor(v/threshold) spikes per step (Sinabs)",
    )
    g.add_argument("--discretisation", choices=DISCRETISATIONS, help="how continuous-time equations are stepped")
    g.add_argument(
        "--no-exporter-fixes",
        dest="exporter_fixes",
        action="store_false",
        help="load a Norse 1.1 export as written (default with --dialect norse: detect and correct it)",
    )
    g.add_argument(
        "--no-strict",
        dest="strict",
        action="store_false",
        help="load a file that fails NIR's type check, with a warning",
    )
    p.add_argument(
        "--max-memory",
        metavar="SIZE",
        help="memory one allocation may take before evsim refuses (e.g. 16G; default 4G or $EVSIM_MAX_MEMORY)",
    )


def print_model(args: argparse.Namespace, net) -> None:
    from .summary import time_step

    print(f"model    {args.model}  (dialect {net.meta.get('dialect', args.dialect)}, {time_step(net)})")


def choose_dialect(args: argparse.Namespace) -> str:
    """--dialect as given; else the one the file shows (said on stderr); else an error saying what to pass."""
    if args.dialect is not None:
        return args.dialect
    if getattr(args, "config", None) or str(args.model).endswith((".pt", ".pth")):
        return "nir"  # an SNN-delays checkpoint: its config states the semantics
    from .io.conventions import candidates, suggest
    from .io.nir import _is_netx, read_graph

    from .io.native import is_native

    if _is_netx(args.model) or is_native(args.model):  # lava-dl's, evsim's own format: semantics in the file
        return "nir"
    graph = read_graph(args.model, strict=args.strict)
    hint = suggest(graph)
    if args.dt is not None:  # plain NIR semantics at that step: say so, and what the file suggests instead
        also = (
            f"this file looks like {hint.dialect}'s export ({hint.reason}): --dialect {hint.dialect} runs it as "
            f"{hint.dialect} does"
            if hint
            else f"pass --dialect ({', '.join(candidates(graph))}) for a framework's conventions"
        )
        print(
            "note: --dt without --dialect runs NIR's own semantics (exact discretisation, immediate reset to "
            f"v_reset, spike when v > threshold); {also}",
            file=sys.stderr,
        )
        return "nir"
    if hint is None:
        raise EvsimError(
            f"{args.model}: the file does not say which framework trained it (no metadata, no exporter's "
            "fingerprint), and its time step and reset depend on that: pass --dialect "
            f"({', '.join(candidates(graph))}; README, 'Dialects'), or --dt SECONDS for plain NIR semantics"
        )
    print(f"note: dialect {hint.dialect}: {hint.reason} (--dialect chooses another)", file=sys.stderr)
    args.file_settings = hint.settings  # settings the file records (evsim's save_nir); explicit options win
    return hint.dialect


def load_model(args: argparse.Namespace):
    from .io import load

    if getattr(args, "mode", None) == "exact":
        from .exact.cli import load_exact

        return load_exact(args)
    args.file_settings = {}
    args.dialect = choose_dialect(args)
    given = dict(
        dt=args.dt,
        reset=args.reset,
        reset_delay=args.reset_delay,
        threshold_op=args.threshold_op,
        multi_spike=args.multi_spike,
        discretisation=args.discretisation,
    )
    kw = {**args.file_settings, **{k: v for k, v in given.items() if v is not None}}
    return load(
        args.model,
        dialect=args.dialect,
        **kw,
        strict=args.strict,
        config=getattr(args, "config", None),
        exporter_fixes=getattr(args, "exporter_fixes", True),
    )
