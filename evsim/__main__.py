"""``python -m evsim ...``: the same command line as ``evsim ...`` (`evsim.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
