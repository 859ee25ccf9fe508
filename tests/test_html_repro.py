"""The reproducibility charts of the HTML scorecard, read back from the page a user opens.

The examples' published web-latency runs scored offline: the last one, ``web-lat-2797d``,
is compared with the three runs of its fingerprint before it, after two fingerprint
changes (components recorded, then the machine type). Its charts must show each metric
across every run, the run itself marked, the earlier runs' band over the comparable
runs, and a rule at each change.
"""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from shared_run import shared_run

from pytest_experiment.reporting.html_repro import HEIGHT, PAD


class Charts(HTMLParser):
    """Each reproducibility chart of each instance: its attributes and its SVG elements."""

    def __init__(self) -> None:
        super().__init__()
        self.instance = ""
        self.charts: dict[str, dict[str, dict[str, object]]] = {}
        self.current: dict[str, object] | None = None
        self.title_of: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        classes = found.get("class", "").split()
        if tag == "div" and "instance" in classes:
            self.instance = found["data-instance"]
        elif tag == "div" and {"chart", "repro"} <= set(classes):
            self.current = {"outcome": found["data-outcome"], "elements": []}
            self.charts.setdefault(self.instance, {})[found["data-metric"]] = self.current
        elif self.current is not None and tag in ("circle", "path", "rect", "line"):
            found["tag"] = tag
            elements = self.current["elements"]
            assert isinstance(elements, list)
            elements.append(found)
        elif self.current is not None and tag == "title":
            self.title_of = []

    def handle_data(self, data: str) -> None:
        if self.title_of is not None:
            self.title_of.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self.title_of is not None and self.current is not None:
            elements = self.current["elements"]
            assert isinstance(elements, list)
            elements[-1]["title"] = "".join(self.title_of)
            self.title_of = None
        elif tag == "svg":
            self.current = None


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, examples: Path) -> Charts:
    def prepare(path: Path) -> None:
        shutil.copytree(examples, path / "experiments")

    args = ["-p", "no:cacheprovider", "experiments/web-latency"]
    args += ["--experiment-results=experiments/site/data", "--experiment-html=report.html"]
    root, done = shared_run(tmp_path_factory, "html-repro", prepare, args)
    assert done.ret == pytest.ExitCode.TESTS_FAILED, done.stdout.str()[-2000:]
    parser = Charts()
    parser.feed((root / "report.html").read_text())
    return parser


def elements(chart: dict[str, object], kind: str) -> list[dict[str, str]]:
    found = chart["elements"]
    assert isinstance(found, list)
    return [e for e in found if kind in e.get("class", "").split()]


def test_each_metric_has_a_chart_with_its_verdict(page: Charts) -> None:
    charts = page.charts["web-lat-2797d"]
    assert {m: c["outcome"] for m, c in charts.items()} == {
        "request_p50": "differs",
        "request_p99": "agrees",
        "server_cpu": "inconclusive",
    }
    # A run not compared with any other draws none.
    assert "web-lat-2bc7d" not in page.charts


def test_every_run_is_a_dot_and_this_run_is_marked_last(page: Charts) -> None:
    chart = page.charts["web-lat-2797d"]["request_p50"]
    dots = elements(chart, "dot-none")
    [new] = elements(chart, "new-run")
    # The two oldest runs measured no request_p50: the other four earlier ones are drawn.
    assert [d["title"].split(":")[0] for d in dots] == [
        "web-lat-q5v7k",
        "web-lat-nn5s4",
        "web-lat-gtt2f",
        "web-lat-xgjgg",
    ]
    assert new["title"] == "web-lat-2797d (this run): 0.1609"
    xs = [float(d["cx"]) for d in dots]
    assert xs == sorted(xs)
    assert float(new["d"].split(",")[0].lstrip("M")) > xs[-1]
    # The highest value is drawn highest (smallest y).
    assert float(new["d"].split(",")[1].split()[0]) < min(float(d["cy"]) for d in dots)


def test_the_band_covers_the_comparable_runs_and_not_the_difference(page: Charts) -> None:
    chart = page.charts["web-lat-2797d"]["request_p50"]
    [band] = elements(chart, "band")
    top, bottom = float(band["y"]), float(band["y"]) + float(band["height"])
    comparable = [
        d for d in elements(chart, "dot-none") if d["title"].split(":")[0] != "web-lat-q5v7k"
    ]
    assert all(top <= float(d["cy"]) <= bottom for d in comparable)
    [new] = elements(chart, "new-run")
    new_y = float(new["d"].split(",")[1].split()[0]) + 6  # the diamond's centre
    assert not top <= new_y <= bottom
    # It starts at the last fingerprint change: the e2-medium run is outside it.
    [q5v7k] = [d for d in elements(chart, "dot-none") if d["title"].startswith("web-lat-q5v7k")]
    assert float(band["x"]) > float(q5v7k["cx"])
    assert 0 < top < bottom <= HEIGHT - PAD + 1


def test_fingerprint_changes_are_vertical_rules_naming_the_change(page: Charts) -> None:
    rules = elements(page.charts["web-lat-2797d"]["server_cpu"], "fingerprint")
    assert [r["title"] for r in rules] == [
        "fingerprint changed: app components not recorded → 10 components; "
        "app machineType e2-standard-4 → e2-medium",
        "fingerprint changed: app machineType e2-medium → e2-standard-4",
    ]
    assert all(r["x1"] == r["x2"] for r in rules)
    # The path restarts after a change: runs on either side were never compared.
    [line] = elements(page.charts["web-lat-2797d"]["server_cpu"], "line")
    assert line["d"].count("M") == 2
