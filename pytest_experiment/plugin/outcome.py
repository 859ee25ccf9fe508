"""Where verdicts become pytest outcomes, the one place.

PASS passes, WARN is an xfail whose reason starts with ``[WARN]``, FAIL fails
with the scorecard line as the message, N/A is a skip starting with ``[N/A]``.
The verdict and the check's figures are attached as ``user_properties``, so
JUnit, the JSON report and the terminal scorecard are all built from test
reports (and so work the same under xdist, where the controller only sees
reports).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NoReturn

import pytest

from pytest_experiment.base.errors import EnvironmentFailure, ExperimentError
from pytest_experiment.core.verdict import CheckResult, Status
from pytest_experiment.plugin.compat import TerminalRepr, TerminalWriter, skip_at_item
from pytest_experiment.reporting.report import RESERVED_PROPERTIES, property_name


class CheckFailed(Exception):
    """Raised by an item whose verdict is FAIL; rendered as its scorecard line."""

    def __init__(self, result: CheckResult) -> None:
        self.result = result
        super().__init__(result.line)


@dataclass(frozen=True, slots=True)
class _Crash:
    """What JUnit and the short summary read as the failure message."""

    path: str
    lineno: int
    message: str


@dataclass(eq=False)
class VerdictRepr(TerminalRepr):
    """A failure shown as the scorecard line and the lines a user acts on."""

    line: str
    details: tuple[str, ...]
    reprcrash: _Crash

    def toterminal(self, tw: TerminalWriter) -> None:
        tw.line(self.line, red=True, bold=True)
        for detail in self.details:
            tw.line(f"  {detail}")


def failure_repr(
    item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]
) -> str | TerminalRepr | None:
    """How a verdict or an environment failure is shown instead of a traceback; None
    for anything else (a bug: pytest's own traceback)."""
    if isinstance(excinfo.value, CheckFailed):
        result = excinfo.value.result
        return VerdictRepr(
            line=result.line,
            details=result.details,
            reprcrash=_Crash(str(item.path), 0, result.line),
        )
    if isinstance(excinfo.value, pytest.xfail.Exception):
        # A WARN: the skipping plugin only needs the reason, and formatting
        # the traceback pytest would otherwise build costs ~100 ms per item.
        return str(excinfo.value)
    if isinstance(excinfo.value, EnvironmentFailure):
        line = f"{Status.ERROR.tag} {excinfo.value}"
        return VerdictRepr(line=line, details=(), reprcrash=_Crash(str(item.path), 0, line))
    if isinstance(excinfo.value, ExperimentError):
        return f"[FAIL] {excinfo.value}"
    return None


def record(item: pytest.Item, **properties: Any) -> None:
    """Attach ``properties`` to the item's reports; structures travel as JSON text."""
    for key, value in properties.items():
        if isinstance(value, (dict, list, tuple)):
            value = json.dumps(value, sort_keys=True, default=str)
        item.user_properties.append((key, value))


def conclude(item: pytest.Item, *, identity: dict[str, str], result: CheckResult) -> None:
    """Record ``result`` under the item's ``identity`` (experiment, instance, step,
    check) and end the item with the pytest outcome of its verdict."""
    __tracebackhide__ = True
    record(item, **identity, verdict=result.status.value, summary=result.line)
    if result.blocked:
        record(item, blocked=True)
    if result.details:
        record(item, details=list(result.details))
    # A figure may share a name with a property above (machine-verdict's
    # "verdict"); it is then written as "figure.<name>" so neither is lost.
    record(
        item,
        **{
            (f"figure.{k}" if k in RESERVED_PROPERTIES else property_name(k)): v
            for k, v in result.figures.items()
        },
    )
    if result.status is Status.WARN:
        pytest.xfail(result.line)
    if result.status is Status.NA:
        skip_at_item(result.line)
    if result.status is Status.FAIL:
        raise CheckFailed(result)


def environment_failure(item: pytest.Item, *, identity: dict[str, str], message: str) -> NoReturn:
    """Raise from ``setup``: pytest reports an error (JUnit ``<error>``), and the
    scorecard, built from the report's properties, says what could not be had."""
    __tracebackhide__ = True
    record(
        item,
        **identity,
        verdict=Status.ERROR.value,
        summary=f"{Status.ERROR.tag} {message}",
    )
    raise EnvironmentFailure(message)


def not_applicable(reason: str) -> CheckResult:
    return CheckResult(Status.NA, reason)
