"""Shared fixtures for the project's own tests (the plugin itself needs no conftest)."""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Generator
from pathlib import Path

import numpy  # noqa: F401
import pytest
import scipy.special  # noqa: F401
import yaml  # noqa: F401

import pytest_experiment

# numpy, scipy.special and yaml are imported above, before any in-process pytester
# run: pytester drops the modules a run imported once it ends, but PyYAML's C extension
# is not initialised again on the next import and keeps the first run's classes, so the
# next run fails every file ("could not determine a constructor for the tag None").
# Imported here, yaml is never dropped. (A test file run alone hit this.) The same for
# what the reproducibility check imports when it runs: NumPy's C core refuses to load a
# second time in one process ("cannot load module more than once per process").
#
# The same for the plugin's own modules, for another reason: a package that outlives a
# run keeps the submodule the run imported as an attribute, so the next run's
# `from pytest_experiment.core import lifecycle` gets that dropped module while
# `from pytest_experiment.core.watch_state import WatchTimeout` imports afresh, and an
# exception raised by one copy passes the other's `except` (a live run's wait timeout
# failed its lifecycle once an earlier run in the same process had imported them).
# Loaded here, they are never dropped; the tests that check what a session imports run
# in a fresh interpreter.
for _module in pkgutil.walk_packages(pytest_experiment.__path__, "pytest_experiment."):
    if not _module.name.endswith(".__main__"):
        importlib.import_module(_module.name)

ROOT = Path(__file__).resolve().parent

pytest_plugins = ("pytester",)
# Fixture experiments for unit tests, not experiments to run.
collect_ignore = ["tests/data"]


def _where() -> Path:
    """Where the real-world corpus (shared/upstream) is looked for: EXPERIMENT_UPSTREAM, or
    beside the checkout."""
    configured = os.environ.get("EXPERIMENT_UPSTREAM")
    return Path(configured) if configured else ROOT.parent / "shared" / "upstream"


def upstream_dir() -> Path | None:
    """The real-world corpus, when it is there."""
    path = _where()
    return path if (path / "experiments").is_dir() else None


def under_ci() -> bool:
    """Whether a CI service runs us: they set CI (GitHub, GitLab and most others to "true")."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


MISSING_CORPUS = "real corpus not found at {where}: set EXPERIMENT_UPSTREAM to shared/upstream"


def pytest_configure(config: pytest.Config) -> None:
    # On a developer's machine the corpus tests skip when it is absent; under CI a green
    # run with some 70 of them skipped would claim what it never checked, so it fails at once.
    if under_ci() and upstream_dir() is None:
        raise pytest.UsageError(
            MISSING_CORPUS.format(where=_where())
            + " (CI is set, so a missing corpus fails the run)"
        )


@pytest.hookimpl(wrapper=True)
def pytest_collection_finish(session: pytest.Session) -> Generator[None, None, None]:
    """Keep each ``xdist_group`` of this suite on one worker under ``--dist loadgroup``.

    xdist groups by an ``@<group>`` suffix it writes into the ids a worker reports,
    which pytest 9.2 no longer reads (pytest-xdist issue 1386): the sandbox modules
    whose tests share one module-scoped sandbox would each start one per worker. The
    plugin already does this for experiment items; the same helper does it here.
    """
    from pytest_experiment.plugin.compat import grouped_for_scheduling

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or not getattr(session.config.option, "loadgroup", False):
        return (yield)
    grouped = []
    for item in session.items:
        names = {str(m.kwargs.get("name", *m.args[:1])) for m in item.iter_markers("xdist_group")}
        # Below pytest 9.2 xdist's own suffix is in the id already.
        if names and "@" not in item.nodeid.rpartition("::")[2]:
            grouped.append((item, item.nodeid, "_".join(sorted(names))))
    with grouped_for_scheduling(grouped):
        return (yield)


@pytest.fixture(scope="session")
def upstream() -> Path:
    path = upstream_dir()
    if path is None:
        pytest.skip(MISSING_CORPUS.format(where=_where()))
    return path


@pytest.fixture(scope="session")
def examples() -> Path:
    return ROOT / "experiments"
