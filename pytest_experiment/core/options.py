"""Options: one table of every ``--experiment-*`` flag, resolved once into a frozen dataclass.

Each option has a CLI flag, an ini twin and an environment variable; the
value is taken from the first that is set, in that order, then parsed.
A bad value fails start-up with the option *and where it came from* named,
the way pytest-timeout does, rather than surfacing later as a confusing item
failure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pytest_experiment.base.errors import OptionError


def _path(text: str, base: Path) -> Path:
    return base / Path(text).expanduser()


def _boolean(text: str, base: Path) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean (true/false)")


def _existing(text: str, base: Path) -> Path:
    path = _path(text, base)
    if not path.exists():
        raise ValueError(f"{text!r} does not exist")
    return path


def _text(text: str, base: Path) -> str:
    return text.strip()


def _url(text: str, base: Path) -> str:
    """An http(s) URL with a host: anything else would only fail later, once per item,
    inside the S3 client."""
    from urllib.parse import urlsplit

    value = text.strip()
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ValueError(f"{text!r} is not a URL (like http://127.0.0.1:8333)")
    return value


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smh])")


def parse_duration(text: str) -> float | None:
    """Seconds in ``90s``, ``20m``, ``1h30m`` or a number; None for ``none`` or ``0`` (no limit)."""
    value = text.strip().lower()
    if value in ("none", "off", "never", "0", "inf"):
        return None
    try:
        seconds = float(value)
    except ValueError:
        parts = _DURATION.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise ValueError(
                f"{text!r} is not a duration (like 90s, 20m, 1h30m, or none)"
            ) from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r} must be positive (or none for no limit)")
    return seconds


def _duration(text: str, base: Path) -> float | None:
    return parse_duration(text)


def _count(text: str, base: Path) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise ValueError(f"{text!r} must not be negative")
    return value


def _choice(*allowed: str) -> Callable[[str, Path], str]:
    def parse(text: str, base: Path) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise ValueError(f"{text!r} is not one of {', '.join(allowed)}")
        return value

    parse.choices = allowed  # type: ignore[attr-defined]
    return parse


def _instances(text: str, base: Path) -> tuple[tuple[str, str], ...]:
    """``name=instance`` pairs, separated by commas or whitespace."""
    pairs: dict[str, str] = {}
    for entry in text.replace(",", " ").split():
        name, sep, instance = entry.partition("=")
        if not sep or not name or not instance:
            raise ValueError(f"{entry!r} is not <experiment>=<instance>")
        if name in pairs and pairs[name] != instance:
            raise ValueError(f"experiment {name!r} is given two instances")
        pairs[name] = instance
    return tuple(pairs.items())


@dataclass(frozen=True, slots=True)
class OptionSpec:
    dest: str
    help: str
    parse: Callable[[str, Path], Any]
    """Parses the raw text; relative paths are anchored at the given directory."""
    metavar: str | None = None
    repeatable: bool = False
    """On the command line the flag may be given several times; the values are joined."""

    @property
    def is_flag(self) -> bool:
        """A switch on the command line (``--experiment-sandbox``), a boolean in ini/env."""
        return self.parse is _boolean and self.metavar is None

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
        _boolean,
    ),
    OptionSpec(
        "sandbox_crd",
        "Experiment CRD the sandbox installs (e.g. the lab's real one, whose status schema "
        "prunes undeclared fields); default: the bundled CRD.",
        _existing,
        metavar="PATH",
    ),
    OptionSpec(
        "results",
        "Score published results offline: a summary JSON file or a directory of them "
        "(no cluster needed; lifecycle and review items are skipped).",
        _existing,
        metavar="PATH",
    ),
    OptionSpec(
        "site_data",
        "Published-results directory holding _series.json, used for series position and "
        "differentiating metric groups (default: the nearest site/data above the experiment).",
        _existing,
        metavar="DIR",
    ),
    OptionSpec(
        "components_dir",
        "Component catalogue that spec.targets[].components[].app must resolve in "
        "(default: the nearest components/ above the experiment).",
        _existing,
        metavar="DIR",
    ),
    OptionSpec(
        "report",
        "Write one JSON document with every experiment, check, gate and toil record.",
        _path,
        metavar="PATH",
    ),
    OptionSpec(
        "html",
        "Write one self-contained HTML scorecard: an overview, each instance's phase "
        "timeline, each experiment's checks, and for offline scoring the history of a series.",
        _path,
        metavar="PATH",
    ),
    OptionSpec(
        "s3_endpoint",
        "S3 endpoint summary.json is read from (default: boto3's; credentials from boto3's "
        "own chain, e.g. AWS_ACCESS_KEY_ID).",
        _url,
        metavar="URL",
    ),
    OptionSpec(
        "kubeconfig",
        "Kubeconfig of the hub cluster (default: $KUBECONFIG, ~/.kube/config, in-cluster).",
        _existing,
        metavar="PATH",
    ),
    OptionSpec(
        "context", "Kubeconfig context to use (default: the current one).", _text, metavar="NAME"
    ),
    OptionSpec("namespace", "Namespace the Experiments are created in.", _text, metavar="NS"),
    OptionSpec(
        "apply_templates",
        "Apply experiments/<name>/workflow/template.yaml when its WorkflowTemplate is missing.",
        _boolean,
    ),
    OptionSpec(
        "max_concurrent",
        "Run at most N experiments on the cluster at once; the rest start as others finish "
        "(0: no limit).",
        _count,
        metavar="N",
    ),
    *(
        OptionSpec(
            f"budget_{phase}",
            f"How long an experiment may stay {phase.capitalize()} (like 90s, 20m; none: "
            f"no limit; default {default}).",
            _duration,
            metavar="DURATION",
        )
        for phase, default in (
            ("pending", "20m"),
            ("provisioning", "20m"),
            ("ready", "10m"),
            ("running", "none"),
        )
    ),
    OptionSpec(
        "poll_interval",
        "How often to list Experiments when the API refuses to be watched (the fallback; "
        "with a watch nothing is polled; default 15s).",
        _duration,
        metavar="DURATION",
    ),
    OptionSpec(
        "on_timeout",
        "When a phase outlives its budget: fail (with diagnostics), extend (by the same "
        "budget, up to --experiment-max-extensions) or abort (delete the instance and fail).",
        _choice("fail", "extend", "abort"),
        metavar="ACTION",
    ),
    OptionSpec(
        "max_extensions", "How often on-timeout=extend may extend one phase.", _count, metavar="N"
    ),
    OptionSpec(
        "cleanup",
        "Which instances to delete at the end: on-success (those whose items all passed), "
        "always, never.",
        _choice("on-success", "always", "never"),
        metavar="POLICY",
    ),
    OptionSpec(
        "budget_delete",
        "How long a deleted instance may take to disappear (the operator's finalizer cleans "
        "up its cloud resources first) before it is reported as held by its finalizer "
        "(default 60s).",
        _duration,
        metavar="DURATION",
    ),
    OptionSpec(
        "results_wait",
        "How long to wait for status.resultsURL after Complete (each new quality-gate "
        "re-collection restarts the wait) and to retry reading a summary.json that is not "
        "in S3 yet (default 30s).",
        _duration,
        metavar="DURATION",
    ),
    OptionSpec(
        "budget_analyzer",
        "How long the AI analyzer may take once it has started (default 15m).",
        _duration,
        metavar="DURATION",
    ),
    OptionSpec(
        "budget_analyzer_start",
        "How long an empty status.analysisPhase after Complete is waited out before the "
        "analysis counts as skipped (default 2m).",
        _duration,
        metavar="DURATION",
    ),
    OptionSpec(
        "autofix",
        "When the quality gate fails with a fixable root cause: off, suggest (print the fix "
        "as a diff of experiment.yaml) or apply (edit the file, delete the instance, close "
        "its PR and re-run, at most 3 times).",
        _choice("off", "suggest", "apply"),
        metavar="MODE",
    ),
    OptionSpec(
        "review",
        "The review gate of a published run: skip (leave the PR open and print the commands), "
        "approve, reject, or auto (approve only when the quality gate passes).",
        _choice("skip", "approve", "reject", "auto"),
        metavar="ACTION",
    ),
    OptionSpec(
        "budget_review",
        "How long to wait for reviewPhase Pending, and for Approved or Rejected after the "
        "review annotation (default 2m).",
        _duration,
        metavar="DURATION",
    ),
    OptionSpec(
        "instance",
        "Follow an existing instance instead of creating one (attach mode); repeatable.",
        _instances,
        metavar="NAME=INSTANCE",
        repeatable=True,
    ),
    OptionSpec(
        "toil",
        "Log toil records when the happy path does not happen (on/off).",
        _boolean,
        metavar="on|off",
    ),
    OptionSpec(
        "toil_file",
        "JSON-lines file for toil records when bd is not on PATH.",
        _path,
        metavar="PATH",
    ),
)

SPECS_BY_DEST: Mapping[str, OptionSpec] = {spec.dest: spec for spec in OPTION_SPECS}

Source = Literal["cli", "ini", "env"]


@dataclass(frozen=True, slots=True)
class Options:
    """Every experiment option after precedence and parsing."""

    sandbox: bool = False
    sandbox_crd: Path | None = None
    results: Path | None = None
    site_data: Path | None = None
    components_dir: Path | None = None
    report: Path | None = None
    html: Path | None = None
    s3_endpoint: str | None = None
    kubeconfig: Path | None = None
    context: str | None = None
    namespace: str = "experiments"
    apply_templates: bool = False
    max_concurrent: int = 0
    budget_pending: float | None = 20 * 60.0
    budget_provisioning: float | None = 20 * 60.0
    budget_ready: float | None = 10 * 60.0
    budget_running: float | None = None
    poll_interval: float | None = 15.0
    on_timeout: str = "fail"
    max_extensions: int = 1
    cleanup: str = "on-success"
    results_wait: float | None = 30.0
    budget_analyzer: float | None = 15 * 60.0
    budget_analyzer_start: float | None = 2 * 60.0
    autofix: str = "suggest"
    review: str = "skip"
    budget_review: float | None = 2 * 60.0
    budget_delete: float | None = 60.0
    instance: tuple[tuple[str, str], ...] = ()
    toil: bool = True
    toil_file: Path = Path(".experiment-toil.jsonl")

    def budget(self, phase: str) -> float | None:
        """Seconds an experiment may stay in ``phase`` (None: no limit)."""
        value: float | None = getattr(self, f"budget_{phase.lower()}", None)
        return value

    @property
    def attach(self) -> dict[str, str]:
        return dict(self.instance)


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
