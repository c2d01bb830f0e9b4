"""Entry point of ``python -m fastnn.compare``; the command lives in :mod:`fastnn.cli.compare`."""

import sys

from fastnn.cli.compare import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
