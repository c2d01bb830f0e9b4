"""Entry point of ``python -m fastnn.evaluate``; the command lives in :mod:`fastnn.cli.evaluate`."""

import sys

from fastnn.cli.evaluate import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
