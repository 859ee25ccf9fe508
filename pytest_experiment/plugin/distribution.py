"""Under pytest-xdist, each experiment on one worker, so it is applied once.

The controller hands xdist the plugin's scheduler for ``--dist load`` (the
mode ``-n N`` alone gives) and, once every worker has collected and before any
item is scheduled, stops the session (exit 4, one line, the fix) when live
items would run under a mode that cannot keep an experiment's items together
(``core.distribution`` says which).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import pytest

from pytest_experiment.core.distribution import refusal
from pytest_experiment.core.spec import experiment_name
from pytest_experiment.plugin.compat import xdist_worker_count
from pytest_experiment.plugin.scheduling import load_keeping_files_together
from pytest_experiment.plugin.state import STATE

_LOAD_KEPT = pytest.StashKey[bool]()
"""The plugin's scheduler serves ``--dist load`` in this session."""
_SEEN = pytest.StashKey[dict[str, set[str]]]()
"""Per worker that reported its collection, the experiments with live items in it."""


def experiment_item(nodeid: str) -> bool:
    """An item of an experiment file (its id is ``<dir>/experiment.yaml::<item>``)."""
    return PurePosixPath(nodeid.split("::", 1)[0]).name == "experiment.yaml"


def make_scheduler(config: pytest.Config, log: Any) -> Any | None:
    """The plugin's scheduler for ``--dist load`` in a live session; None otherwise
    (xdist's own is used)."""
    state = config.stash.get(STATE, None)
    if config.getvalue("dist") != "load" or state is None or state.live_factory is None:
        return None  # offline scoring applies nothing: xdist's own load is right
    scheduler = load_keeping_files_together(config, log, together=experiment_item)
    config.stash[_LOAD_KEPT] = scheduler is not None
    return scheduler


def live_files(ids: list[str]) -> set[str]:
    """The experiment files (as the ids name them) with a live item among ``ids``."""
    from pytest_experiment.plugin.items import LIVE_STEPS, step_of

    found = set()
    for nodeid in ids:
        if step_of(nodeid) in LIVE_STEPS:
            found.add(nodeid.partition("::")[0])
    return found


def live_experiments(ids: list[str]) -> set[str]:
    """The experiments with a live item among ``ids``."""
    return {experiment_name(PurePosixPath(path)) for path in live_files(ids)}


def check_once_all_collected(node: Any, ids: list[str]) -> set[str] | None:
    """Once every worker has reported its collection: the experiment files with live
    items, after stopping the session (before anything is scheduled) when they cannot
    each be kept on one worker under this ``--dist``. None until then."""
    config: pytest.Config = node.config
    seen = config.stash.setdefault(_SEEN, {})
    seen[str(getattr(node, "gateway", node))] = live_files(ids)
    if len(seen) < xdist_worker_count(config):
        return None
    files: set[str] = set().union(*seen.values())
    experiments = {experiment_name(PurePosixPath(path)) for path in files}
    problem = refusal(
        str(config.getvalue("dist")), experiments, load_kept=config.stash.get(_LOAD_KEPT, False)
    )
    if problem is not None:
        raise pytest.UsageError(problem)
    return files
