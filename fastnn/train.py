"""Entry point of ``python -m fastnn.train``; the command lives in :mod:`fastnn.cli.train`."""

from fastnn.cli.train import main, script_main

__all__ = ["main"]

if __name__ == "__main__":
    script_main()
