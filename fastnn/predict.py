"""Entry point of ``python -m fastnn.predict``; the command lives in :mod:`fastnn.cli.predict`."""

import sys

from fastnn.cli.predict import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
