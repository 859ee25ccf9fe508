"""The session's options: command line over ini over environment, resolved once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_experiment.base.errors import OptionError
from pytest_experiment.core.option_table import OPTION_SPECS, resolve
from pytest_experiment.core.options import Options


def session_options(config: pytest.Config) -> Options:
    """The resolved options; a bad value, or a kube context the kubeconfig lacks, is a
    usage error (one line, exit 4, nothing applied)."""

    def ini(name: str) -> str | None:
        value = config.getini(name)
        return str(value) if value else None

    try:
        options = resolve(
            cli={s.dest: _cli_value(config, s.dest) for s in OPTION_SPECS},
            ini={s.dest: ini(s.ini) for s in OPTION_SPECS},
            cwd=Path(config.invocation_params.dir),
            inidir=config.inipath.parent if config.inipath else config.rootpath,
        )
    except OptionError as err:
        raise pytest.UsageError(str(err)) from err
    if options.context and not options.sandbox and options.results is None:
        _check_context(options.kubeconfig, options.context)
    return options


def _cli_value(config: pytest.Config, dest: str) -> str | None:
    value = config.getoption(f"experiment_{dest}")
    return ",".join(value) if isinstance(value, list) else value


def _check_context(kubeconfig: Path | None, context: str) -> None:
    """A context the kubeconfig lacks stops the session now, listing the ones it has."""
    from pytest_experiment.base.errors import ClusterError
    from pytest_experiment.edges.kubeconfig import check_context

    try:
        check_context(kubeconfig=kubeconfig, context=context)
    except ClusterError as err:
        raise pytest.UsageError(f"--experiment-context: {err}") from err


def check_output_files(config: pytest.Config) -> None:
    """pytest's ``--junitxml`` and the GitHub step summary are written at the end of the
    session too: one that cannot be written there stops the session now, naming it,
    instead of failing once every item has run."""
    from pytest_experiment.core.option_parsers import unwritable

    junit = config.getoption("xmlpath", None)
    if junit:
        # Where pytest's junitxml plugin puts it.
        target = os.path.normpath(os.path.abspath(os.path.expanduser(os.path.expandvars(junit))))
        problem = unwritable(Path(target))
        if problem is not None:
            raise pytest.UsageError(f"--junitxml: cannot write {junit}: {problem}")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        # Other steps of the job append to it too: it is appended to, in place.
        problem = unwritable(Path(summary).absolute(), appended=True)
        if problem is not None:
            raise pytest.UsageError(f"GITHUB_STEP_SUMMARY: cannot write {summary}: {problem}")
