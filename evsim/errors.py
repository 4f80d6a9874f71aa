"""The exceptions evsim raises for anything a user can get wrong (files, inputs, parameters, limits).

Every message is one line that names what was wrong (file, node, population, projection, sample, field) and
what was expected, so the CLI prints it as it is and exits with status 2. The hierarchy::

    EvsimError                      base class: catch this to catch every user-facing evsim error
    ├── NetworkError (ValueError)   a Network, population, projection or neuron parameter is invalid
    ├── InputError (ValueError)     inputs (arrays, event streams, input files, labels) do not fit the network
    ├── ModelFileError (ValueError) a model file is missing, unreadable, malformed, hostile or unsupported
    ├── ResourceLimitError          a run or a file would need more memory, time or events than allowed
    │   └── BudgetExceeded          a run stopped at its wall-clock or event budget (``.partial``: what finished)
    └── NumericalError (ArithmeticError)  values overflow what the kernels compute exactly (NaN/Inf state, counts)

    RunInterrupted (KeyboardInterrupt)  Ctrl-C during `evsim.run`: not an error of the input, so not an
                                        EvsimError; ``.partial`` holds the samples that finished

Limits (memory, file sizes) are settings: see `evsim.limits`.
"""

from __future__ import annotations

from typing import Any


class EvsimError(Exception):
    """Base class: a clear, user-facing error (the CLI prints it without a traceback and exits 2)."""


class NetworkError(EvsimError, ValueError):
    """A `Network`, population, projection or neuron parameter is invalid."""


class InputError(EvsimError, ValueError):
    """Inputs given to `evsim.run`, or read from an input file, do not fit the network (shape, width, values)."""


class ModelFileError(EvsimError, ValueError):
    """A model file is missing, unreadable, malformed, hostile or uses something evsim does not support."""


class ResourceLimitError(EvsimError):
    """Something would need more memory (or time, events) than `evsim.limits` allows; the message says how much,
    and which setting raises the limit."""


class _Partial:
    """``partial``: the `evsim.Result` of the samples that finished (None if none did), gathered when first read;
    ``samples_done``: how many finished."""

    _partial: Any = None
    samples_done: int = 0

    @property
    def partial(self) -> Any:
        if callable(self._partial):
            self._partial = self._partial()
        return self._partial

    @partial.setter
    def partial(self, value: Any) -> None:
        self._partial = value


class BudgetExceeded(_Partial, ResourceLimitError):
    """A run stopped at its wall-clock (``max_seconds``) or event (``max_events``) budget. ``partial`` is the
    `evsim.Result` of the samples that finished before it (None if none did), ``samples_done`` their number."""


class NumericalError(EvsimError, ArithmeticError):
    """Values outside what the kernels compute exactly: a state that became NaN or infinite, a multi-spike count
    beyond the integer range. Never wrapped silently."""


class RunInterrupted(_Partial, KeyboardInterrupt):
    """Ctrl-C during `evsim.run` (a KeyboardInterrupt, so scripts stop as usual). ``partial`` is the
    `evsim.Result` of the samples that finished before it (None if none did), ``samples_done`` their number."""
