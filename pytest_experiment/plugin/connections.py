"""What a session connects to: the sandbox, the cluster and its watch, the results
store, GitHub and the toil tracker.

The plugin's own answers to the cluster, results-store, GitHub and toil-log hooks
run last, so a conftest.py or another plugin can supply any of them (an
in-memory fake in fast tests); the live run is built from those answers only
when an item needs it, and is handed them as ``run.ports.Connections``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from pytest_experiment.core.options import Options
from pytest_experiment.plugin.state import STATE, PluginState
from pytest_experiment.plugin.xdist import RUN_ID, distributing, is_worker

if TYPE_CHECKING:
    from pytest_experiment.run.ports import (
        Cluster,
        Connections,
        GitHub,
        Listed,
        NamespaceWatch,
        ResultsStore,
        ToilLog,
    )


def missing_s3_credentials(needing: set[str]) -> str | None:
    """Why the experiments in ``needing`` (those with live ``quality`` items selected)
    cannot run without S3 credentials, or None when they can.

    Every live ``quality`` item scores the summary.json the operator wrote to S3; without
    credentials each would end unverified, which a CI gate must never read as green.
    """
    if not needing:
        return None
    import boto3
    import botocore.exceptions

    try:
        if boto3.session.Session().get_credentials() is not None:
            return None
    except botocore.exceptions.BotoCoreError as exc:
        # A broken profile or credentials file: as unusable as none, and said in one line.
        return f"S3 credentials cannot be loaded: {exc}"
    names = sorted(needing)
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (
        f"no S3 credentials: the quality items of {shown} read summary.json from S3; "
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or any boto3 credential source), "
        "or deselect them with -k 'not quality'"
    )


def check_s3_credentials(config: pytest.Config, needing: set[str]) -> None:
    if store_supplied(config):
        return  # summaries come from where a conftest or plugin said, not from S3
    problem = missing_s3_credentials(needing)
    if problem is not None:
        # A usage error, like any other bad setting: one line, exit 4, nothing applied.
        raise pytest.UsageError(problem)


def prepare_live(config: pytest.Config, state: PluginState) -> None:
    """How to build the live run; it is built (and connects) only when an item needs it."""

    def build() -> Any:
        from pytest_experiment.plugin.progress import session_output
        from pytest_experiment.run.live_run import LiveRun
        from pytest_experiment.run.role import Role

        options = state.options
        return LiveRun(
            options=options,
            connections=connections(config, options),
            validation_failure=state.validation_reason,
            cost_verdict=state.cost_verdict,
            output=session_output(config),
            verbose=config.get_verbosity() > 0,
            role=Role(
                run_id=config.stash[RUN_ID],
                controller=distributing(config),
                ends_leases=not is_worker(config),
            ),
            reads_results=state.reads_results,
        )

    state.live_factory = build


def connections(config: pytest.Config, options: Options) -> Connections:
    """What the live run takes from outside, from the hooks (the toil log at once: it is
    read at the session's end even when no record came)."""
    from pytest_experiment.run.ports import Connections

    hook = config.hook
    return Connections(
        cluster=lambda: hook.pytest_experiment_make_cluster(config=config, options=options),
        results_store=lambda notify: hook.pytest_experiment_make_results_store(
            config=config, options=options, notify=notify
        ),
        watch=start_watch,
        github=lambda: hook.pytest_experiment_make_github(config=config, options=options),
        toil=hook.pytest_experiment_make_toil_log(config=config, options=options),
        on_toil=lambda record: hook.pytest_experiment_toil(config=config, record=record),
    )


def start_watch(
    cluster: Listed, *, namespace: str, poll_interval: float, notify: Callable[[str], None]
) -> NamespaceWatch:
    """The shared watch of ``namespace``, once its first list is in."""
    from pytest_experiment.edges.watch import ExperimentWatcher

    return ExperimentWatcher(
        cluster, namespace=namespace, poll_interval=poll_interval, notify=notify
    ).start()


@pytest.hookimpl(trylast=True)
def pytest_experiment_make_github() -> GitHub | None:
    from pytest_experiment.edges.github import GitHub

    return GitHub.find()


@pytest.hookimpl(trylast=True)
def pytest_experiment_make_toil_log(config: pytest.Config, options: Options) -> ToilLog:
    from pytest_experiment.edges.tracker import ToilLog

    toil_file = options.toil_file
    if not toil_file.is_absolute():
        toil_file = config.rootpath / toil_file
    return ToilLog(file=toil_file, enabled=options.toil)


@pytest.hookimpl(trylast=True)
def pytest_experiment_make_cluster(options: Options) -> Cluster:
    from pytest_experiment.edges.kubeconfig import connect

    return connect(kubeconfig=options.kubeconfig, context=options.context)


@pytest.hookimpl(trylast=True)
def pytest_experiment_make_results_store(
    options: Options, notify: Callable[[str], None]
) -> ResultsStore:
    from pytest_experiment.edges.results import ResultsStore

    wait = options.results_wait
    return ResultsStore(
        endpoint=options.s3_endpoint,
        wait=wait if wait is not None else float("inf"),
        notify=notify,
    )


def store_supplied(config: pytest.Config) -> bool:
    """A conftest.py or plugin other than this one supplies the results store."""
    hook = config.pluginmanager.hook.pytest_experiment_make_results_store
    return any(
        impl.function is not pytest_experiment_make_results_store for impl in hook.get_hookimpls()
    )


def start_sandbox(config: pytest.Config) -> None:
    """One sandbox for the session; xdist workers inherit its environment."""
    from pytest_experiment.base.errors import SandboxError
    from pytest_experiment.sandbox import SandboxConfig, start_sandbox

    try:
        sandbox = start_sandbox(SandboxConfig(crd=config.stash[STATE].options.sandbox_crd))
    except SandboxError as err:
        raise pytest.UsageError(f"--experiment-sandbox: {err}") from err
    config.add_cleanup(sandbox.stop)
    saved = {key: os.environ.get(key) for key in sandbox.env()}
    os.environ.update(sandbox.env())
    # The sandbox is the cluster and the results store of this session, whatever
    # kubeconfig or endpoint the environment named before it started.
    state = config.stash[STATE]
    state.options = dataclasses.replace(
        state.options, kubeconfig=sandbox.kubeconfig, s3_endpoint=sandbox.s3_endpoint
    )

    def restore() -> None:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    config.add_cleanup(restore)
