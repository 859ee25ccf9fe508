"""Browser tests: the HTML scorecard loaded in the system's headless Chromium.

They skip, with the one-line reason, where Chromium, its driver or Selenium is
missing. The live one runs the examples on a sandbox of its own, built by the
sandbox tests' fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

# The sandbox tests' fixtures, shared rather than copied: a sandbox for this directory's
# session, the fake gh/bd and the sandbox's S3 keys.
from sandbox.conftest import fake_tools, s3_credentials, sandbox  # noqa: F401

from .chrome import chrome, unavailable

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # One worker drives the browsers (and starts at most one extra sandbox) under xdist.
    for item in items:
        if "/browser/" in item.nodeid:
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    reason = unavailable()
    if reason is not None:
        pytest.skip(f"no browser: {reason}")
    with chrome() as driver:
        driver.set_window_size(1200, 900)
        yield driver
