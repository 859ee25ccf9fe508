"""The HTML scorecard (``--experiment-html``): one self-contained file, and the extras
each experiment item carries in a pytest-html report.

Rendered with Jinja2 templates shipped in the package, from the JSON report
document only. Imported only when HTML is asked for, so a run without it never
loads Jinja2.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Any

import jinja2

from pytest_experiment.base.types import ObjView as Doc
from pytest_experiment.core.durations import format_duration
from pytest_experiment.reporting import html_findings, html_series, html_view


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pytest_experiment.reporting", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # Report fields are optional by schema: a missing one renders as nothing.
        undefined=jinja2.ChainableUndefined,
    )
    env.filters["verdict"] = html_view.verdict
    env.filters["duration"] = functools.partial(format_duration, absent="—")
    env.filters["cost"] = _cost
    env.filters["slug"] = slug
    env.globals["view"] = html_view
    env.globals["series"] = html_series
    env.globals["run_view"] = html_findings
    return env


def slug(text: Any) -> str:
    """An id usable in an HTML anchor."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-") or "x"


def _cost(usd: Any) -> str:
    if not isinstance(usd, int | float) or isinstance(usd, bool):
        return "—"
    return f"${usd:.3f}"


def render(doc: Doc, *, title: str = "Experiment scorecard") -> str:
    """The whole page for one report document."""
    template = _environment().get_template("report.html.j2")
    return template.render(
        doc=doc,
        title=title,
        offline=html_view.offline(doc),
        rows=html_view.overview(doc),
        budgets=doc.get("budgets") or {},
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def render_experiment(doc: Doc, name: str, *, instance: str | None = None) -> str:
    """One experiment's timelines and scorecard, with its own styles, for a pytest-html
    entry; only ``instance``'s run when given (an item of one run), none of the runs
    when not (a validation or pre-flight item). Empty when the document does not have
    that experiment (yet)."""
    experiment = next((e for e in doc.get("experiments") or () if e.get("name") == name), None)
    if experiment is None:
        return ""
    runs = [i for i in experiment.get("instances") or () if i.get("instance") == instance]
    experiment = {**experiment, "instances": runs}
    template = _environment().get_template("extra.html.j2")
    return template.render(experiment=experiment, budgets=doc.get("budgets") or {})
