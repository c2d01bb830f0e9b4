"""Entry point of ``python -m fastnn.data download``: the command lives in :mod:`fastnn.cli.download`.

The one import from the data package into the command line; the import contracts in
pyproject.toml allow exactly this edge.
"""

import sys

from fastnn.cli.download import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
