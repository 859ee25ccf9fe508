"""pytest-html's page as a person uses it: each experiment's scorecard is on one entry,
and the link on every other entry of the experiment leads to that entry."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver


def test_every_scorecard_link_leads_to_the_entry_that_carries_the_scorecard(
    browser: WebDriver, pytester: pytest.Pytester, examples: Path
) -> None:
    shutil.copytree(examples, pytester.path / "experiments")
    # A published summary cut short: its run's items error in their setup, and pytest-html
    # names such an entry "<node id>::setup". With only the quality items selected, one
    # of them is the first entry of echo-scaling, which carries its scorecard.
    (pytester.path / "experiments" / "site" / "data" / "echo-scale-cut01.json").write_text(
        '{"experimentName": "echo-scale-cut01", "phase": "Compl'
    )
    page = pytester.path / "ph.html"
    result = pytester.runpytest_subprocess(
        "experiments", "-p", "no:cacheprovider", "-k", "quality",
        "--experiment-results=experiments/site/data", f"--html={page}",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    browser.get(page.resolve().as_uri())
    # Every entry rendered, whatever pytest-html filters by default.
    browser.execute_script(
        "document.querySelectorAll('input.filter:not(:checked)').forEach(c => c.click())"
    )
    found = browser.execute_script(
        """
        const out = [];
        for (const a of document.querySelectorAll('p.xr-scorecard-link a')) {
          const from = a.closest('tbody').id;
          const target = document.getElementById(decodeURIComponent(a.hash.slice(1)));
          out.push([from, a.closest('p').dataset.experiment, target && target.id,
                    target ? target.querySelectorAll('.xr-extra').length : 0,
                    target ? (target.querySelector('.xr-extra') || {}).dataset?.experiment : null]);
        }
        return out;
        """
    )
    assert len(found) > 30, found
    anchors = {target for _, _, target, _, _ in found}
    for source, experiment, target, scorecards, carried in found:
        assert target is not None, f"the link on {source} leads nowhere"
        assert (scorecards, carried) == (1, experiment), (source, target)
        assert target.split("/")[1] == source.split("/")[1] == experiment
    assert any(a.endswith("::setup") for a in anchors), anchors
    assert len(anchors) == 5
