"""Options: one table of every ``--experiment-*`` flag, resolved once into ``Options``.

Each option has a CLI flag, an ini twin and an environment variable; the
value is taken from the first that is set, in that order, then parsed.
A bad value fails start-up with the option *and where it came from* named,
the way pytest-timeout does, rather than surfacing later as a confusing item
failure. Each option's help names its default as the ``Options`` dataclass
(``core.options``) has it, and a choice is checked against the ``Literal``
type of its field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pytest_experiment.base.errors import OptionError
from pytest_experiment.base.resources import EXPERIMENT_NAMESPACE
from pytest_experiment.core import option_parsers as values
from pytest_experiment.core.durations import format_duration
from pytest_experiment.core.options import (
    AutofixMode,
    CleanupPolicy,
    OnTimeout,
    Options,
    ReproducibilityMode,
    ReviewAction,
)


@dataclass(frozen=True, slots=True)
class OptionSpec:
    dest: str
    what: str
    """What the option does, in sentences; ``help`` adds a last one naming the default."""
    parse: values.Parse
    """Parses the raw text; relative paths are anchored at the given directory."""
    metavar: str | None = None
    repeatable: bool = False
    """On the command line the flag may be given several times; the values are joined."""
    unset: str | None = None
    """What happens when the option is not given, for a field whose default is empty."""

    @property
    def is_flag(self) -> bool:
        """A switch on the command line (``--experiment-sandbox``), a boolean in ini/env."""
        return self.parse is values.boolean and self.metavar is None

    @property
    def default(self) -> Any:
        return Options.__dataclass_fields__[self.dest].default

    @property
    def help(self) -> str:
        return f"{self.what} Default: {self.default_text}."

    @property
    def default_text(self) -> str:
        """The default as a user would write it, read off ``Options``."""
        default = self.default
        if self.parse in (values.duration, values.lease):
            return format_duration(default, absent="none")
        if default is None or default == ():
            if self.unset is None:
                raise ValueError(f"option {self.dest} has an empty default and no unset text")
            return self.unset
        if isinstance(default, bool):
            return "on" if default else "off"
        if self.parse is values.percent:
            return f"{default:.0%}"
        return str(default)

    @property
    def flag(self) -> str:
        return "--experiment-" + self.dest.replace("_", "-")

    @property
    def ini(self) -> str:
        return "experiment_" + self.dest

    @property
    def env(self) -> str:
        return "EXPERIMENT_" + self.dest.upper()


OPTION_SPECS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "sandbox",
        "Start the local sandbox (kube-apiserver, etcd, SeaweedFS, simulated operator) for "
        "this session and point the run at it; stopped when the session ends.",
        values.boolean,
    ),
    OptionSpec(
        "sandbox_crd",
        "Experiment CRD the sandbox installs (e.g. the lab's real one, whose status schema "
        "prunes undeclared fields).",
        values.existing,
        metavar="PATH",
        unset="the bundled CRD",
    ),
    OptionSpec(
        "results",
        "Score published results offline: a summary JSON file or a directory of them "
        "(no cluster needed; lifecycle and review items are skipped).",
        values.existing,
        metavar="PATH",
        unset="none, the run is live",
    ),
    OptionSpec(
        "site_data",
        "Published-results directory holding _series.json, used for series position and "
        "differentiating metric groups.",
        values.existing,
        metavar="DIR",
        unset="the nearest site/data above the experiment",
    ),
    OptionSpec(
        "components_dir",
        "Component catalogue that spec.targets[].components[].app must resolve in.",
        values.existing,
        metavar="DIR",
        unset="the nearest components/ above the experiment",
    ),
    OptionSpec(
        "report",
        "Write one JSON document with every experiment, check, gate and toil record.",
        values.output_file,
        metavar="PATH",
        unset="not written",
    ),
    OptionSpec(
        "html",
        "Write one self-contained HTML scorecard: an overview, each instance's phase "
        "timeline, each experiment's checks, and for offline scoring the history of a series.",
        values.output_file,
        metavar="PATH",
        unset="not written",
    ),
    OptionSpec(
        "reproducibility",
        "When a run's metrics differ from the earlier comparable runs of the same "
        "experiment: warn (an expected failure) or fail (for labs that gate on it).",
        values.Choice(ReproducibilityMode),
        metavar="MODE",
    ),
    OptionSpec(
        "reproducibility_floor",
        "The relative shift that matters to the reproducibility check (like 10% or 0.1): "
        "a smaller shift is never called a difference.",
        values.percent,
        metavar="PERCENT",
    ),
    OptionSpec(
        "s3_endpoint",
        "S3 endpoint summary.json is read from (credentials from boto3's own chain, e.g. "
        "AWS_ACCESS_KEY_ID).",
        values.url,
        metavar="URL",
        unset="boto3's",
    ),
    OptionSpec(
        "kubeconfig",
        "Kubeconfig of the hub cluster.",
        values.existing,
        metavar="PATH",
        unset="$KUBECONFIG, ~/.kube/config, in-cluster",
    ),
    OptionSpec(
        "context",
        "Kubeconfig context to use.",
        values.stripped,
        metavar="NAME",
        unset="the current one",
    ),
    OptionSpec(
        "namespace",
        "Namespace the Experiments are created in, unless the file sets metadata.namespace "
        "(pre-flight then warns that the option is not used for it).",
        values.stripped,
        metavar="NS",
        unset=EXPERIMENT_NAMESPACE,
    ),
    OptionSpec(
        "apply_templates",
        "Apply experiments/<name>/workflow/template.yaml when its WorkflowTemplate is missing.",
        values.boolean,
    ),
    OptionSpec(
        "max_concurrent",
        "Run at most N experiments on the cluster at once; the rest start as others finish "
        "(0: no limit).",
        values.count,
        metavar="N",
    ),
    *(
        OptionSpec(
            f"budget_{phase}",
            f"How long an experiment may stay {phase.capitalize()} (like 90s, 20m; none: "
            "no limit).",
            values.duration,
            metavar="DURATION",
        )
        for phase in ("pending", "provisioning", "ready", "running")
    ),
    OptionSpec(
        "budget_operator",
        "How long an instance may go without any status while the operator Deployment has "
        "no ready replica: then its lifecycle fails naming the Deployment, instead of "
        "waiting out the Pending budget.",
        values.duration,
        metavar="DURATION",
    ),
    OptionSpec(
        "max_cost",
        "Estimate each selected experiment's cloud cost before anything is applied (its "
        "targets' machines and nodes over the phase budgets, or its published runs' median "
        "duration); when the session's total is over USD, or cannot be estimated, nothing "
        "is applied and each experiment's preflight[cost] fails with its estimate.",
        values.dollars,
        metavar="USD",
        unset="no limit",
    ),
    OptionSpec(
        "price_table",
        "JSON file of on-demand USD per node-hour by machine type (source, hourlyUSD, "
        "preemptibleFactor, unsetMachineTypeHourlyUSD) to estimate costs with, replacing "
        "the shipped table.",
        values.price_table,
        metavar="FILE",
        unset="the shipped table (GCP on-demand prices, us-central1, as the operator prices)",
    ),
    OptionSpec(
        "poll_interval",
        "How often to list Experiments when the API refuses to be watched (the fallback; "
        "with a watch nothing is polled).",
        values.duration,
        metavar="DURATION",
    ),
    OptionSpec(
        "on_timeout",
        "When a phase outlives its budget: fail (with diagnostics), extend (by the same "
        "budget, up to --experiment-max-extensions) or abort (delete the instance and fail).",
        values.Choice(OnTimeout),
        metavar="ACTION",
    ),
    OptionSpec(
        "max_extensions",
        "How often on-timeout=extend may extend one phase.",
        values.count,
        metavar="N",
    ),
    OptionSpec(
        "cleanup",
        "Which instances to delete at the end: on-success (those whose items all passed), "
        "always, never.",
        values.Choice(CleanupPolicy),
        metavar="POLICY",
    ),
    OptionSpec(
        "budget_delete",
        "How long a deleted instance may take to disappear (the operator's finalizer cleans "
        "up its cloud resources first) before it is reported as held by its finalizer.",
        values.duration,
        metavar="DURATION",
    ),
    OptionSpec(
        "lease",
        "Length of the owner lease every created instance carries: the session renews it "
        "every third of this while it runs; once it has expired (the runner was killed) a "
        "later session lists the instance and applies its cleanup policy to it.",
        values.lease,
        metavar="DURATION",
    ),
    OptionSpec(
        "sweep",
        "Look for orphans (instances whose owner lease expired) at the start of this session "
        "even if it runs no live item; a live session always does.",
        values.boolean,
    ),
    OptionSpec(
        "results_wait",
        "How long to wait for status.resultsURL after Complete (each new quality-gate "
        "re-collection restarts the wait) and to retry reading a summary.json that is not "
        "in S3 yet.",
        values.duration,
        metavar="DURATION",
    ),
    OptionSpec(
        "budget_analyzer",
        "How long the AI analyzer may take once it has started.",
        values.duration,
        metavar="DURATION",
    ),
    OptionSpec(
        "budget_analyzer_start",
        "How long an empty status.analysisPhase after Complete is waited out before the "
        "analysis counts as skipped.",
        values.duration,
        metavar="DURATION",
    ),
    OptionSpec(
        "autofix",
        "When the quality gate fails with a fixable root cause: off, suggest (print the fix "
        "as a diff of experiment.yaml) or apply (edit the file, delete the instance, close "
        "its PR and re-run, at most 3 times).",
        values.Choice(AutofixMode),
        metavar="MODE",
    ),
    OptionSpec(
        "review",
        "The review gate of a published run: skip (leave the PR open and print the commands), "
        "approve, reject, or auto (approve only when the quality gate passes).",
        values.Choice(ReviewAction),
        metavar="ACTION",
    ),
    OptionSpec(
        "budget_review",
        "How long to wait for reviewPhase Pending, and for Approved or Rejected after the "
        "review annotation.",
        values.duration,
        metavar="DURATION",
    ),
    OptionSpec(
        "instance",
        "Follow an existing instance instead of creating one (attach mode); repeatable.",
        values.instances,
        metavar="NAME=INSTANCE",
        repeatable=True,
        unset="none, every experiment is created",
    ),
    OptionSpec(
        "toil",
        "Log toil records when the happy path does not happen (on/off).",
        values.boolean,
        metavar="on|off",
    ),
    OptionSpec(
        "toil_file",
        "JSON-lines file for toil records when bd is not on PATH.",
        values.path,
        metavar="PATH",
    ),
)

SPECS_BY_DEST: Mapping[str, OptionSpec] = {spec.dest: spec for spec in OPTION_SPECS}

Source = Literal["cli", "ini", "env"]


def resolve(
    *,
    cli: Mapping[str, str | None],
    ini: Mapping[str, str | None],
    env: Mapping[str, str] | None = None,
    cwd: Path,
    inidir: Path,
) -> Options:
    """Build ``Options`` from raw strings: CLI > ini > environment > default.

    Relative paths are anchored where the value was written: CLI and
    environment values at the invocation directory, ini values beside the ini
    file (as pytest does for its own path options).
    """
    environ = os.environ if env is None else env
    values: dict[str, Any] = {}
    for spec in OPTION_SPECS:
        raw, source = _pick(spec, cli=cli, ini=ini, env=environ)
        if raw is None:
            continue
        where = {"cli": spec.flag, "ini": f"ini option {spec.ini}", "env": spec.env}[source]
        try:
            values[spec.dest] = spec.parse(raw, inidir if source == "ini" else cwd)
        except ValueError as err:
            raise OptionError(f"{where}: {err}") from err
    return Options(**values)


def _pick(
    spec: OptionSpec,
    *,
    cli: Mapping[str, str | None],
    ini: Mapping[str, str | None],
    env: Mapping[str, str],
) -> tuple[str | None, Source]:
    if (value := cli.get(spec.dest)) not in (None, ""):
        return value, "cli"
    if (value := ini.get(spec.dest)) not in (None, ""):
        return value, "ini"
    if (value := env.get(spec.env)) not in (None, ""):
        return value, "env"
    return None, "cli"
