"""How the report is opened in headless Chromium, by its browser test and its benchmark."""

from __future__ import annotations

import os
import shutil

# Without the background-networking flags Chromium keeps calling Google's hosts, which a closed
# network refuses many times at each start.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """The system Chromium (``HEALTH_MONITOR_CHROMIUM`` first), or None."""
    for candidate in (os.environ.get("HEALTH_MONITOR_CHROMIUM"), "chromium", "chromium-headless-shell"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None
