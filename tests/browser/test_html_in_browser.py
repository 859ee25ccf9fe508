"""The HTML scorecard as a person sees it: loaded from disk in headless Chromium, from
the examples' sandbox run and from an offline scoring of the real published results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fakes import FakeTools
from sandbox.runs import run_live

from pytest_experiment.sandbox import Sandbox

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver


def load(driver: WebDriver, page: Path) -> None:
    driver.get(page.resolve().as_uri())
    assert driver.title == "Experiment scorecard"


def console_errors(driver: WebDriver) -> list[dict[str, Any]]:
    logged: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [entry for entry in logged if entry.get("level") == "SEVERE"]


def texts(driver: WebDriver, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]


def bar_widths(driver: WebDriver) -> dict[str, list[tuple[str, float, float]]]:
    """Per drawn timeline: (phase, seconds, width in CSS pixels) of every phase bar, as
    the browser laid them out."""
    found: dict[str, list[tuple[str, float, float]]] = driver.execute_script(
        """
        const out = {};
        for (const svg of document.querySelectorAll('svg.timeline')) {
          out[svg.dataset.instance] = [...svg.querySelectorAll('g.phase rect.bar')].map(r =>
            [r.parentNode.dataset.phase, parseFloat(r.dataset.seconds),
             r.getBoundingClientRect().width]);
        }
        return out;
        """
    )
    return found


def chip_colours(driver: WebDriver) -> dict[str, tuple[str, str]]:
    """Background and border colour of each verdict label, as rendered."""
    found: dict[str, tuple[str, str]] = driver.execute_script(
        """
        const out = {};
        for (const el of document.querySelectorAll('.legend .v')) {
          const s = getComputedStyle(el);
          out[el.dataset.verdict] = [s.backgroundColor, s.borderTopStyle + ' ' + s.borderTopColor];
        }
        return out;
        """
    )
    return found


def assert_verdicts_look_different(driver: WebDriver) -> None:
    colours = chip_colours(driver)
    assert set(colours) >= {"PASS", "WARN", "FAIL", "N/A", "—"}
    assert colours["WARN"] != colours["N/A"]
    assert colours["WARN"] != colours["—"]
    assert colours["N/A"] != colours["—"]


# -- the examples through the sandbox ------------------------------------------------------


@pytest.fixture
def live_page(
    pytester: pytest.Pytester,
    sandbox: Sandbox,
    examples: Path,
    fake_tools: FakeTools,
    s3_credentials: None,
) -> tuple[Path, dict[str, Any]]:
    shutil.copytree(examples, pytester.path / "experiments")
    page = pytester.path / "report.html"
    session = run_live(
        pytester, sandbox,
        "--experiment-apply-templates", "--experiment-review=auto",
        "--experiment-cleanup=always", f"--experiment-html={page}",
    )  # fmt: skip
    assert session.result.ret == pytest.ExitCode.TESTS_FAILED, session.stdout
    return page, session.report


def test_the_examples_scorecard_in_a_browser(
    browser: WebDriver, live_page: tuple[Path, dict[str, Any]]
) -> None:
    page, report = live_page
    load(browser, page)
    assert texts(browser, "main")[0].startswith("Experiment scorecard")
    assert browser.find_element("css selector", "main").get_attribute("data-kind") == "live"

    # The overview: one row per experiment, with its gate as a coloured label.
    rows = {
        r.get_attribute("data-experiment"): r.text
        for r in browser.find_elements("css selector", "table.overview tr[data-experiment]")
    }
    assert set(rows) == {"web-latency", "echo-scaling", "kv-baseline", "kv-hyperdisk", "lint-demo"}
    assert "not applied (validation FAIL)" in rows["lint-demo"]
    echo = browser.find_element("css selector", 'table.overview tr[data-experiment="echo-scaling"]')
    assert echo.find_element("css selector", "td.gate .v").text == "FAIL"
    assert "WARN" in echo.find_element("css selector", "td.review .v").text
    assert_verdicts_look_different(browser)

    # Each run that was followed has its timeline; each bar is as wide as its phase lasted
    # (one pixel scale per timeline, measured from what the browser laid out).
    instances = {
        i["instance"]: i for e in report["experiments"] for i in e["instances"] if i["timeline"]
    }
    widths = bar_widths(browser)
    assert set(widths) == set(instances)
    for name, bars in widths.items():
        assert [p for p, _, _ in bars] == [
            p for p in instances[name]["timeline"] if p != "Complete"
        ], name
        measured = [(s, w) for _, s, w in bars if s >= 0.2]
        assert measured, f"{name}: no phase long enough to measure"
        scale = max(w / s for s, w in measured)
        for seconds, width in measured:
            assert width == pytest.approx(seconds * scale, abs=1.0), (name, bars)
    # The analyzer and the review are shown after Complete.
    web = browser.find_element("css selector", 'section[data-experiment="web-latency"]')
    stages = {
        g.get_attribute("data-stage"): g.text.replace("\n", " ")
        for g in web.find_elements("css selector", "svg.timeline g.stage")
    }
    run = next(
        i for e in report["experiments"] if e["name"] == "web-latency" for i in e["instances"]
    )
    ai = next(c for c in run["checks"] if c["check"] == "ai-verdict")
    assert stages == {
        "analyzer": f"analyzer after Complete: PASS · {ai['summary'].removeprefix('[PASS] ')}",
        "review": f"review after Complete: PASS · {run['review']['summary'][len('[PASS] ') :]}",
    }
    assert stages["review"].startswith("review after Complete: PASS · Review: approved; PR #")

    # echo-scaling: its metrics never arrived, its root causes and the suggested fix.
    section = browser.find_element("css selector", 'section[data-experiment="echo-scaling"]')
    metrics = {
        r.get_attribute("data-metric"): (r.get_attribute("data-state"), r.text.split(" ", 2)[2])
        for r in section.find_elements("css selector", "table.metrics tr[data-metric]")
    }
    echo_run = next(
        i for e in report["experiments"] if e["name"] == "echo-scaling" for i in e["instances"]
    )
    custom = next(c for c in echo_run["checks"] if c["check"] == "custom-metrics")
    # Neither arrived; each row says why, in the check's own words.
    assert set(metrics) == {"request_p99", "server_cpu"}
    for metric, (state, why) in metrics.items():
        assert state in ("missing", "empty"), metrics
        assert f"{metric}: {why}" in custom["details"], (metrics, custom["details"])
    causes = [c.text for c in section.find_elements("css selector", "ul.causes li")]
    assert any("experiment lacks kube-prometheus-stack" in c for c in causes), causes
    added = [d.text for d in section.find_elements("css selector", ".diff .d-add")]
    assert any("kube-prometheus-stack" in line for line in added), added
    assert console_errors(browser) == []


# -- the published results, scored offline ------------------------------------------------


def test_the_published_results_scored_offline_in_a_browser(
    browser: WebDriver, pytester: pytest.Pytester, upstream: Path
) -> None:
    page = pytester.path / "offline.html"
    site = upstream / "site-data"
    result = pytester.runpytest_subprocess(
        str(upstream / "experiments"), "-p", "no:cacheprovider",
        f"--experiment-results={site}", f"--experiment-site-data={site}",
        f"--experiment-components-dir={upstream / 'components'}",
        f"--experiment-html={page}", f"--experiment-report={pytester.path / 'r.json'}",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    report = json.loads((pytester.path / "r.json").read_text())
    load(browser, page)
    assert browser.find_element("css selector", "main").get_attribute("data-kind") == "offline"

    # Every published summary is a row of the overview, and of its series' history.
    published = sorted(p.stem for p in site.glob("*.json") if not p.name.startswith("_"))
    shown = sorted(
        t for t in texts(browser, "table.overview tr[data-experiment] td:nth-child(2)") if t != "—"
    )
    scored = sorted(i["instance"] for e in report["experiments"] for i in e["instances"])
    assert shown == sorted(s for s in scored if s)
    assert set(shown) <= set(published) | {s for s in scored if s}
    logging = browser.find_element(
        "css selector", 'div.series[data-series="logging-comparison"] table.history'
    )
    history = [
        r.get_attribute("data-instance")
        for r in logging.find_elements("css selector", "tr[data-instance]")
    ]
    expected = next(e for e in report["experiments"] if e["name"] == "logging-comparison")
    runs = [i for i in expected["instances"] if i["instance"]]
    assert len(runs) == 11  # the published logging-comparison results
    assert history == [i["instance"] for i in runs]  # newest first
    completed = [i["completedAt"] for i in runs]
    assert completed == sorted(completed, reverse=True)
    header = texts(browser, 'div.series[data-series="logging-comparison"] table.history th')
    assert header[:3] == ["Instance", "Completed", "Gate"]
    assert "custom-metrics" in header
    # Experiments naming one series read as one history, newest first, each row naming
    # its experiment.
    cloud = browser.find_element(
        "css selector", 'div.series[data-series="cloud-database-internals"] table.history'
    )
    rows = [r.text.split()[:2] for r in cloud.find_elements("css selector", "tr[data-instance]")]
    assert rows == [
        ["db-disk-comparison", "db-dsc-s2gqx"],
        ["db-fsync-vs-memory", "db-fvm-tsl9m"],
        ["db-fsync-vs-memory", "db-fvm-mpcnl"],
        ["db-fsync-vs-memory", "db-fvm-zz7jt"],
    ]
    # The real corpus publishes no measured criterion values, so no criterion charts are
    # drawn, and no run was followed, so no timelines either. Its repeated experiments
    # are compared with their earlier runs: those are the reproducibility charts.
    assert texts(browser, "div.chart:not(.repro)") == []
    outcomes = {
        c.get_attribute("data-outcome")
        for c in browser.find_elements("css selector", "div.chart.repro")
    }
    assert outcomes, "no reproducibility chart"
    assert outcomes <= {"agrees", "differs", "inconclusive"}, outcomes
    assert bar_widths(browser) == {}
    assert_verdicts_look_different(browser)
    assert console_errors(browser) == []
