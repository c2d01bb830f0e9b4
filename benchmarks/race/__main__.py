"""Entry point of ``python -m benchmarks.race``."""

from __future__ import annotations

import sys

from benchmarks.race.cli import main

sys.exit(main())
