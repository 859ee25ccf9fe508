"""Screenshot an HTML report with the system's headless Chromium, so a person can look.

    python scripts/screenshot.py report.html report.png [--width 1100]

Uses Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromedriver``) through
Selenium. The whole page is captured, however tall: the browser renders it beyond the
window (DevTools' ``captureBeyondViewport``), since a window as tall as the page is cut
at what the screen allows.
"""

from __future__ import annotations

import argparse
import base64
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

# The browser helper lives with the browser tests, which drive the same Chromium.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from browser.chrome import ChromeUnavailable, chrome

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver


def full_page_png(driver: WebDriver) -> bytes:
    """The page the driver shows, top to bottom and as wide as it is laid out, as PNG."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {
        "x": 0,
        "y": 0,
        "width": math.ceil(size["width"]),
        "height": math.ceil(size["height"]),
        "scale": 1,
    }
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    return base64.b64decode(shot["data"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1100)
    args = parser.parse_args(argv)
    try:
        with chrome() as driver:
            driver.set_window_size(args.width, 800)
            driver.get(args.html.resolve().as_uri())
            args.png.write_bytes(full_page_png(driver))
    except ChromeUnavailable as exc:
        print(f"screenshot skipped: {exc}", file=sys.stderr)
        return 0
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
