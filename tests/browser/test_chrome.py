"""Where no browser can be driven, the browser tests say why in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import chrome


def test_a_missing_driver_is_named_with_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(chrome, "DRIVER", tmp_path / "chromedriver")
    reason = chrome.unavailable()
    assert reason == (
        f"{tmp_path / 'chromedriver'} not found (apt-get install chromium chromium-driver)"
    )
    with pytest.raises(chrome.ChromeUnavailable, match="not found"), chrome.chrome():
        pass


def test_a_missing_browser_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(chrome, "DRIVER", Path(__file__))  # any file that exists
    monkeypatch.setattr(chrome, "BROWSERS", (tmp_path / "chromium",))
    assert chrome.unavailable() == "chromium not found (apt-get install chromium chromium-driver)"
