"""The user's cache folder for what Patrol can always make again (a compiled kernel,
compiled report templates): ``$XDG_CACHE_HOME/patrol`` or ``~/.cache/patrol``."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache(name: str) -> Path:
    """``<cache>/patrol/<name>``; not created here (whoever writes creates it)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "patrol" / name
