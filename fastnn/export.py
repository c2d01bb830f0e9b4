"""Entry point of ``python -m fastnn.export``; the command lives in :mod:`fastnn.cli.export`."""

import sys

from fastnn.cli.export import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
