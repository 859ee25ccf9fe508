"""pytest-html integration: each experiment's scorecard once, on its first item's entry,
linked from its other items' entries; and a Verdict column that tells WARN from N/A.

pytest-html shows a WARN item as an expected failure and an N/A item as a skip;
the column names the verdict itself, in its own colour. Registered by the
plugin only when pytest-html is active, so nothing here is imported otherwise.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from pytest_html import extras

from pytest_experiment.reporting import html_report, html_view
from pytest_experiment.reporting.report import Scoreboard, carries_verdict

# Inline: the cell sits in pytest-html's own page, outside the scorecard's stylesheet.
_CHIP = {
    "v-pass": "background:#dafbe1;color:#116329;border:1px solid #4ac26b",
    "v-fail": "background:#ffebe9;color:#a40e26;border:1px solid #ff8182",
    "v-warn": "background:#fff1c2;color:#7a4700;border:1px solid #d4a72c",
    "v-n-a": "background:#f6f8fa;color:#57606a;border:1px dashed #8c959f",
    "v-error": "background:#fbefff;color:#6e40c9;border:1px solid #c297ff",
    "v-none": "color:#8c959f",
}


def _properties(report: pytest.TestReport) -> dict[str, Any]:
    return dict(report.user_properties)


def row_id(report: pytest.TestReport) -> str:
    """The id pytest-html gives the entry of ``report``: its node id, with the phase
    appended when the entry comes from a setup (a skip) rather than the call."""
    return report.nodeid if report.when == "call" else f"{report.nodeid}::{report.when}"


@dataclass
class _Anchor:
    """The entry that carries an experiment's scorecard."""

    row: str
    extra: dict[str, Any]


class PytestHtmlExtras:
    def __init__(self, board: Scoreboard) -> None:
        self.board = board
        self._anchors: dict[str, _Anchor] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """On the report that carries the item's verdict, after the scoreboard took it
        (its listener runs first) and before pytest-html (last) reads the report's extras:
        pytest-html 4.1 shows only that report's, 4.2 gathers all of the item's.

        The experiment's first item to report carries its scorecard; the others link to
        that entry. One scorecard per experiment, not one per item: the report stays
        about the size of the scorecards themselves, whatever the number of checks.
        """
        if not carries_verdict(when=report.when, passed=report.passed):
            return
        name = _properties(report).get("experiment")
        if not isinstance(name, str):
            return
        anchor = self._anchors.get(name)
        if anchor is None:
            # As the experiment stands now; the whole scorecard replaces it at the end.
            page = html_report.render_experiment(self.board.as_json(), name)
            anchor = self._anchors[name] = _Anchor(row=row_id(report), extra=extras.html(page))
            extra = anchor.extra
        else:
            extra = extras.html(_link(name, anchor.row))
        # pytest-html reads this attribute; pytest's report type does not declare it.
        setattr(report, "extras", [*getattr(report, "extras", []), extra])  # noqa: B010

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        """Every experiment's complete scorecard into the entry that carries it, before
        pytest-html (last) writes its page: pytest-html keeps the extras it was given
        and renders them only then. Under xdist this is the controller, which has every
        item's report."""
        doc = self.board.as_json()
        for name, anchor in self._anchors.items():
            page = html_report.render_experiment(doc, name)
            if page:
                anchor.extra["content"] = page

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(1, '<th class="sortable" data-column-type="verdict">Verdict</th>')

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        word = _properties(report).get("verdict")
        shown = html_view.verdict(word)
        style = _CHIP[shown.css] + ";padding:1px 6px;border-radius:4px;font-weight:600"
        label = ("⚠ " if shown.css == "v-warn" else "") + shown.label
        cells.insert(
            1,
            f'<td class="col-verdict"><span class="xr-verdict {shown.css}" '
            f'style="{style}">{label}</span></td>',
        )


def _link(name: str, row: str) -> str:
    """A line pointing at the entry that carries the experiment's scorecard."""
    item = row.split("::", 1)[-1]
    return (
        f'<p class="xr-scorecard-link" data-experiment="{html.escape(name)}">'
        f"The scorecard of <b>{html.escape(name)}</b> (timelines, checks, review) is on "
        f'<a href="#{html.escape(quote(row, safe="/:@"))}">{html.escape(item)}</a>.</p>'
    )
