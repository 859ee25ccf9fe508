"""Options: one table of every ``--experiment-*`` flag, resolved once into a frozen dataclass.

Each option has a CLI flag, an ini twin and an environment variable; the
value is taken from the first that is set, in that order (R140), then parsed.
A bad value fails start-up with the option *and where it came from* named,
the way pytest-timeout does, rather than surfacing later as a confusing item
failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pytest_experiment.errors import OptionError


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


@dataclass(frozen=True, slots=True)
class OptionSpec:
    dest: str
    help: str
    parse: Callable[[str, Path], Any]
    """Parses the raw text; relative paths are anchored at the given directory."""
    metavar: str | None = None

    @property
    def is_flag(self) -> bool:
        """A switch on the command line (``--experiment-sandbox``), a boolean in ini/env."""
        return self.parse is _boolean

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
)

SPECS_BY_DEST: Mapping[str, OptionSpec] = {spec.dest: spec for spec in OPTION_SPECS}

Source = Literal["cli", "ini", "env"]


@dataclass(frozen=True, slots=True)
class Options:
    """Every experiment option after precedence and parsing."""

    sandbox: bool = False
    results: Path | None = None
    site_data: Path | None = None
    components_dir: Path | None = None
    report: Path | None = None


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
