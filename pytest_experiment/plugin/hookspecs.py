"""Hooks a conftest.py or plugin implements to extend pytest-experiment."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_experiment.core.checks import Check
    from pytest_experiment.core.toil import ToilRecord


@pytest.hookspec
def pytest_experiment_checks(config: pytest.Config) -> list[Check]:  # type: ignore[empty-body]
    """Return extra quality checks, run after the built-in seven.

    Each becomes its own ``quality[<name>]`` item, scored and gated like the
    built-in ones. A check is a pure function of the same ``CheckInput``.
    """


@pytest.hookspec
def pytest_experiment_toil(config: pytest.Config, record: ToilRecord) -> None:
    """Called for every toil record as it is logged (after bd or the JSON-lines file took it).

    ``record`` has ``title``, ``priority``, ``experiment`` and ``labels``; use it
    to forward friction to another tracker or to a chat channel.
    """
