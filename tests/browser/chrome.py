"""Headless Chromium from the system packages, driven by Selenium.

Debian's ``chromium`` and ``chromium-driver`` only: no browser build is ever
downloaded (Selenium Manager is bypassed by naming the driver's path).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

DRIVER = Path("/usr/bin/chromedriver")
BROWSERS = (Path("/usr/bin/chromium"), Path("/usr/lib/chromium/chromium"))
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


class ChromeUnavailable(Exception):
    """No system Chromium, driver or Selenium here: the one-line reason why."""


def unavailable() -> str | None:
    """Why a browser cannot be driven here, or None when it can."""
    if not DRIVER.exists():
        return f"{DRIVER} not found (apt-get install chromium chromium-driver)"
    if not any(b.exists() for b in BROWSERS):
        return "chromium not found (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


@contextmanager
def chrome() -> Iterator[WebDriver]:
    """A fresh headless Chromium with its own profile, quit (and the profile removed) after."""
    reason = unavailable()
    if reason is not None:
        raise ChromeUnavailable(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="xr-chromium-")
    options = webdriver.ChromeOptions()
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    browser = next(b for b in BROWSERS if b.exists())
    options.binary_location = str(browser)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(DRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
