"""Shared fixtures for the project's own tests (the plugin itself needs no conftest)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# pytester's in-process runs drop the modules a run imported; PyYAML's C extension keeps
# pointing at the first copy of its Python half, so a second in-process run that imports
# yaml afresh loads every document with untagged nodes. Imported here, it stays put.
import yaml  # noqa: F401

ROOT = Path(__file__).resolve().parent

pytest_plugins = ("pytester",)
# Fixture experiments for unit tests, not experiments to run.
collect_ignore = ["tests/data"]


def upstream_dir() -> Path | None:
    """The real-world corpus (shared/upstream), from EXPERIMENT_UPSTREAM or beside the checkout."""
    configured = os.environ.get("EXPERIMENT_UPSTREAM")
    path = Path(configured) if configured else ROOT.parent / "shared" / "upstream"
    return path if (path / "experiments").is_dir() else None


@pytest.fixture(scope="session")
def upstream() -> Path:
    path = upstream_dir()
    if path is None:
        pytest.skip("real corpus not found: set EXPERIMENT_UPSTREAM to shared/upstream")
    return path


@pytest.fixture(scope="session")
def examples() -> Path:
    return ROOT / "experiments"
