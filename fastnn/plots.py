"""Entry point of ``python -m fastnn.plots``; the command lives in :mod:`fastnn.cli.plots`."""

import sys

from fastnn.cli.plots import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
