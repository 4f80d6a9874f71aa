"""The exceptions evsim raises for bad input.

Every message names what was wrong (file, node, population, projection, field) and what was expected, so the
CLI can print it as it is and exit non-zero.
"""


class EvsimError(Exception):
    """Base class: a clear, user-facing error (the CLI prints it without a traceback)."""


class NetworkError(EvsimError, ValueError):
    """A `Network`, population, projection or neuron parameter is invalid."""


class InputError(EvsimError, ValueError):
    """Inputs given to `evsim.run` do not fit the network (shape, width, values)."""


class ModelFileError(EvsimError, ValueError):
    """A model file is missing, unreadable, malformed or uses something evsim does not support."""
