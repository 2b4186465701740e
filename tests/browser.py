"""Debian's Chromium for the browser tests: installed on demand, launched headless with the network chatter off.

Playwright drives it through ``executable_path``; Playwright's own browser downloads are never used (they
need a network the test machines do not have), so the browser comes from apt like any other system package.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Optional

CHROMIUM = Path("/usr/bin/chromium")

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # tests run as root in containers, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""Headless, software-rendered, and silent: no update checks, sync or field trials calling home."""


def _last_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"exit status {result.returncode}"


def _apt_get(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env_prefix = ["env", "DEBIAN_FRONTEND=noninteractive"]
    return subprocess.run([*env_prefix, "apt-get", *args], capture_output=True, text=True, timeout=timeout)


def ensure_chromium() -> Optional[str]:
    """Make sure ``/usr/bin/chromium`` exists, installing Debian's ``chromium`` package if needed.

    Returns None when Chromium is there, else why it could not be installed (the last line apt printed), so
    the caller can skip with that reason. ``apt-get update`` runs only when the first install fails, since
    package lists are usually present and refreshing them is slow.
    """
    if CHROMIUM.exists():
        return None
    if shutil.which("apt-get") is None:
        return "Chromium is missing and apt-get is not available to install it"
    try:
        result = _apt_get("install", "-y", "--no-install-recommends", "chromium")
        if result.returncode != 0:
            update = _apt_get("update")
            if update.returncode != 0:
                return f"apt-get update failed: {_last_line(update)}"
            result = _apt_get("install", "-y", "--no-install-recommends", "chromium")
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"apt-get could not run: {error}"
    if result.returncode != 0 or not CHROMIUM.exists():
        return f"apt-get install chromium failed: {_last_line(result)}"
    return None
