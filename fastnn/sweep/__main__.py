"""``python -m fastnn.sweep``."""

import sys

from fastnn.sweep.command import main

sys.exit(main())
