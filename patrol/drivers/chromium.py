"""Finding the machine's Chromium. Patrol never downloads a browser."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import BrowserNotFound

CANDIDATES = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
    "/snap/bin/chromium",
)
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

# Headless Chromium as root needs --no-sandbox; without the networking switches it
# keeps trying to reach Google's services and stalls on a closed network.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--font-render-hinting=none",
]

INSTALL_HINT = (
    "install Debian's Chromium (apt-get install chromium chromium-driver) "
    "or point PATROL_CHROMIUM / patrol.yaml browser.executable at a Chromium binary"
)


def find_chromium(configured: str | None = None) -> str:
    """Env PATROL_CHROMIUM wins, then patrol.yaml, then the usual places."""
    for source, value in (("PATROL_CHROMIUM", os.environ.get("PATROL_CHROMIUM")), ("browser.executable", configured)):
        if value:
            path = Path(value)
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
            raise BrowserNotFound(f"no Chromium at {value} (set by {source}); {INSTALL_HINT}")
    for candidate in CANDIDATES:
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserNotFound(f"no Chromium found on this machine; {INSTALL_HINT}")
