"""The browser the console tests and bench/console.py drive: the system's Chromium (Debian's
``chromium`` package), never a downloaded one, through Python Playwright's async API.

Also where the built console is (``console/dist``, or ``PLANSYNC_CONSOLE_DIR`` — the node
reads the same variable, and the nodes a test starts inherit the environment).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM = os.environ.get("PLANSYNC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-extensions", "--disable-sync",
                 "--no-first-run"]
# not Asia/Shanghai: the console must show Beijing time whatever the computer's zone
TIMEZONE = "Europe/Berlin"
LOCALE = "zh-CN"


def console_dist() -> Path:
    return Path(os.environ.get("PLANSYNC_CONSOLE_DIR") or ROOT / "console" / "dist")


def what_is_missing() -> str | None:
    """Why the console can't be driven here (no Chromium, no Playwright, no build), or None."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)) \
            and shutil.which(CHROMIUM) is None:
        return (f"Chromium not found at {CHROMIUM} (apt install chromium, or set "
                "PLANSYNC_CHROMIUM); browsers are never downloaded")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Python Playwright is not installed (pip install -e '.[dev]')"
    dist = console_dist()
    if not (dist / "index.html").is_file():
        return (f"the console is not built: {dist / 'index.html'} is missing "
                "(run: bash scripts/build-console)")
    return None


async def launch(pw: Any) -> Any:
    """The system Chromium, headless."""
    return await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                    headless=True)
