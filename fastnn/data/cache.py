"""Where downloaded data sets are cached: ``$FASTNN_DATA``, else the platform's user cache dir.

One directory for both directions: downloads go there and ``fastnn.data.load_dataset()``
with no source reads from it. Nothing here touches the network or creates a directory.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The environment variable that names the MNIST cache directory.
ENV_DATA_DIR = "FASTNN_DATA"


def default_cache_dir() -> Path:
    """Where MNIST is cached: ``$FASTNN_DATA`` if set, else the user cache dir + ``fastnn/mnist``.

    The user cache dir is ``$XDG_CACHE_HOME`` (when absolute) or ``~/.cache`` on Linux
    and other Unixes, ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows.
    Nothing is created.
    """
    env = os.environ.get(ENV_DATA_DIR, "")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA", "")
        base = Path(local) if local else Path.home() / "AppData" / "Local"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "fastnn" / "mnist"
