"""``python -m evsim ...``: the same command line as ``evsim ...`` (`evsim.cli`)."""

from .cli import entry

if __name__ == "__main__":
    entry()
