"""Screenshot an HTML report with the system's headless Chromium, so a person can look.

    python scripts/screenshot.py report.html report.png [--width 1100] [--max-height 4000]

Uses Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromedriver``) through
Selenium; the page is captured as tall as it is, up to ``--max-height`` pixels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The browser helper lives with the browser tests, which drive the same Chromium.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from browser.chrome import ChromeUnavailable, chrome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1100)
    parser.add_argument("--max-height", type=int, default=4000)
    args = parser.parse_args(argv)
    try:
        with chrome() as driver:
            driver.set_window_size(args.width, 800)
            driver.get(args.html.resolve().as_uri())
            height = int(driver.execute_script("return document.documentElement.scrollHeight"))
            driver.set_window_size(args.width, min(height + 20, args.max_height))
            driver.save_screenshot(str(args.png))
    except ChromeUnavailable as exc:
        print(f"screenshot skipped: {exc}", file=sys.stderr)
        return 0
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
