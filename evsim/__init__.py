"""evsim: an event-driven spiking neural network simulator for the CPU.

Public API::

    net = evsim.load("model.nir", dt=None, dialect="nir", ...)   # or build an evsim.Network by hand
    res = evsim.run(net, x)                                      # x: [T, n_in], [B, T, n_in] or events
    res.output, res.spikes[name], res.sops
"""

import os as _os
import signal as _signal
import sys as _sys

if _sys.argv[:1] == ["-m"] or _os.path.basename(_sys.argv[0] if _sys.argv else "") == "evsim":
    # the command line is starting (`evsim ...`, `python -m evsim`): Ctrl-C during the imports below (NumPy, Numba:
    # ~1 s) ends the process quietly with the status of SIGINT (130) instead of a traceback; `evsim.cli.main`
    # restores Python's KeyboardInterrupt before it does anything
    _signal.signal(_signal.SIGINT, _signal.SIG_DFL)

from .errors import (
    BudgetExceeded,
    EvsimError,
    InputError,
    ModelFileError,
    NetworkError,
    NumericalError,
    ResourceLimitError,
    RunInterrupted,
)
from . import limits
from .network import Network, Population, Projection, feedforward
from .neurons import IF, LI, LIF, CubaLI, CubaLIF, NeuronParams, discretise, make_params
from .simulation import EventStream, Result, Spikes, run
from . import exact
from .io import load
from .io.nir_export import read_nir_data, save_nir, write_nir_data
from .parallel import DatasetRun, run_dataset
from .streaming import Stream, stream

__version__ = "0.1.0"

__all__ = [
    "load",
    "exact",
    "run",
    "Network",
    "Population",
    "Projection",
    "feedforward",
    "NeuronParams",
    "IF",
    "LIF",
    "LI",
    "CubaLIF",
    "CubaLI",
    "discretise",
    "make_params",
    "EventStream",
    "Result",
    "Spikes",
    "EvsimError",
    "InputError",
    "ModelFileError",
    "NetworkError",
    "ResourceLimitError",
    "BudgetExceeded",
    "NumericalError",
    "RunInterrupted",
    "limits",
    "__version__",
    "save_nir",
    "read_nir_data",
    "write_nir_data",
    "run_dataset",
    "DatasetRun",
    "stream",
    "Stream",
]
