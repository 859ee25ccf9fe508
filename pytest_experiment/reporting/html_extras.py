"""pytest-html integration: each experiment item's entry carries its experiment's
timeline and scorecard, and a Verdict column tells WARN from N/A.

pytest-html shows a WARN item as an expected failure and an N/A item as a skip;
the column names the verdict itself, in its own colour. Registered by the
plugin only when pytest-html is active, so nothing here is imported otherwise.
"""

from __future__ import annotations

from typing import Any

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


class PytestHtmlExtras:
    def __init__(self, board: Scoreboard) -> None:
        self.board = board

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """On the report that carries the item's verdict, after the scoreboard took it
        (its listener runs first) and before pytest-html (last) reads the report's extras:
        pytest-html 4.1 shows only that report's, 4.2 gathers all of the item's.

        The extra shows the experiment as it stood when the item's verdict arrived: its
        own finding and those of the experiment's items reported before it. Serially and
        under ``--dist loadgroup`` those are all the items before it in the file; under
        another xdist mode an item running at the same time on another worker may be
        missing (the ``--experiment-html`` scorecard, written at the end, has them all).
        """
        if not carries_verdict(when=report.when, passed=report.passed):
            return
        props = _properties(report)
        name = props.get("experiment")
        if not isinstance(name, str):
            return
        step = props.get("step")
        instance = props.get("instance") if step in ("lifecycle", "quality", "review") else None
        page = html_report.render_experiment(
            self.board.as_json(), name, instance=str(instance) if instance is not None else None
        )
        if page:
            # pytest-html reads this attribute; pytest's report type does not declare it.
            setattr(report, "extras", [*getattr(report, "extras", []), extras.html(page)])  # noqa: B010

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
