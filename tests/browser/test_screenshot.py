"""``scripts/screenshot.py`` (what ``make demo`` and ``make score`` run) shoots the whole
page, however tall, not what fits in a window."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "screenshot.py"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG's header (its IHDR chunk)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_the_screenshot_of_the_examples_scorecard_is_as_tall_as_the_page(
    browser: WebDriver, pytester: pytest.Pytester, examples: Path
) -> None:
    # The page `make score` shoots: the examples' published results, scored offline.
    shutil.copytree(examples, pytester.path / "experiments")
    page = pytester.path / "report.html"
    result = pytester.runpytest_subprocess(
        "experiments", "-p", "no:cacheprovider",
        "--experiment-results=experiments/site/data", f"--experiment-html={page}",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    png = pytester.path / "report.png"
    shot = subprocess.run(
        [sys.executable, str(SCRIPT), str(page), str(png), "--width", "1100"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert (shot.returncode, shot.stdout) == (0, f"wrote {png}\n"), shot.stderr

    # The page as the same browser lays it out at that width.
    browser.set_window_size(1100, 800)
    browser.get(page.resolve().as_uri())
    scroll_height = int(browser.execute_script("return document.documentElement.scrollHeight"))
    sections = browser.execute_script(
        "return [...document.querySelectorAll('section[data-experiment]')]"
        ".map(s => s.getBoundingClientRect().bottom + window.scrollY)"
    )
    assert scroll_height > 4000, "the page must be taller than any window to test this"
    width, height = png_size(png)
    assert width == 1100
    assert height == scroll_height
    # Every experiment's section ends inside the image: the last one is not cut off.
    assert len(sections) == 5
    assert max(sections) <= height
