"""Series and tags as pytest markers, named so they can never act as pytest's own.

An experiment's ``spec.series`` and ``spec.tags`` become markers so ``-m
<series>`` and ``-m <tag>`` select experiments. Tags are free text from a file
anyone may edit, so the marker name is derived with one rule:

* characters other than letters, digits, ``_`` and ``-`` become ``_``;
* the result is prefixed with ``experiment-`` when it would otherwise be
  taken: a marker pytest or a plugin gives meaning to (``skip``, ``xfail``,
  ``timeout``, ``parametrize``, … anything registered other than in the ini
  file), a word of the ``-m`` grammar (``and``, ``or``, ``not``), or a name
  pytest refuses (empty, or starting with ``_``).

So ``tags: [networking]`` is ``-m networking``, ``tags: [skip]`` is ``-m
experiment-skip`` and changes no outcome, and ``tags: ["$(x)"]`` is ``-m
experiment-__x_``. Markers the user declared in the ini file are not taken:
tagging an experiment with one of them is how a user opts it into that marker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_experiment.plugin.compat import ini_file_lines
from pytest_experiment.plugin.state import STATE

if TYPE_CHECKING:
    from pytest_experiment.core.spec import Experiment

PREFIX = "experiment-"
# Markers with behaviour whether or not their plugin registered them yet when a
# name is first derived (plugins register in pytest_configure, in any order).
BUILTIN = frozenset(
    {
        "skip",
        "skipif",
        "xfail",
        "parametrize",
        "usefixtures",
        "filterwarnings",
        "tryfirst",
        "trylast",
        "timeout",
        "xdist_group",
    }
)
_GRAMMAR = frozenset({"and", "or", "not"})
_UNSAFE = re.compile(r"[^\w-]")
_TAKEN = pytest.StashKey[frozenset[str]]()
_MAX_DISCOVERED = 10_000


def sanitise(label: str) -> str:
    return _UNSAFE.sub("_", label)


def marker_name(label: str, *, taken: Iterable[str] = BUILTIN) -> str:
    """The marker for series or tag ``label`` (see the module docstring for the rule)."""
    name = sanitise(label)
    if not name or name.startswith("_") or name in _GRAMMAR or name in taken:
        return PREFIX + name
    return name


def _declared_name(line: str) -> str:
    # How pytest itself reads a ``markers`` line: ``name(args): description``.
    return line.split(":")[0].split("(")[0].strip()


_INI_DECLARED = pytest.StashKey[frozenset[str]]()


def remember_ini_markers(config: pytest.Config) -> None:
    """Note the markers the ini file declares before any plugin's ``pytest_configure``
    adds its own: ``addinivalue_line`` extends a ``pyproject.toml`` list in place, after
    which the file's lines and the plugins' cannot be told apart."""
    config.stash[_INI_DECLARED] = frozenset(
        _declared_name(line) for line in ini_file_lines(config, "markers")
    )


def _ini_markers(config: pytest.Config) -> frozenset[str]:
    """Markers declared in the ini file itself (not added by plugins at configure time)."""
    declared = config.stash.get(_INI_DECLARED, None)
    if declared is None:  # the plugin was registered after start-up (pytester's plugins=)
        remember_ini_markers(config)
        declared = config.stash[_INI_DECLARED]
    return declared


def taken_names(config: pytest.Config, *, ours: Iterable[str]) -> frozenset[str]:
    """Marker names that belong to pytest or a plugin this session (computed once)."""
    taken = config.stash.get(_TAKEN, None)
    if taken is None:
        registered = {_declared_name(line) for line in config.getini("markers")}
        taken = frozenset((registered - set(ours) - _ini_markers(config)) | BUILTIN)
        config.stash[_TAKEN] = taken
    return taken


def register(
    config: pytest.Config, labels: Iterable[tuple[str, str]], *, ours: set[str]
) -> list[str]:
    """Marker names for ``(kind, label)`` pairs, each registered once (``--strict-markers``).

    ``ours`` is the session's set of names registered so far; it is updated.

    Linear in the number of labels: a file within the limits holds about 200,000
    tags, and a tag aliased many times (``[*t, *t, …]``) is one label, named once.
    """
    taken = taken_names(config, ours=ours)
    names: dict[str, None] = {}  # ordered, with a constant-time "seen"
    for kind, label in dict.fromkeys(labels):
        if not label:
            continue
        name = marker_name(label, taken=taken)
        if name not in ours:
            config.addinivalue_line("markers", f"{name}: experiment {kind} {label!r}")
            ours.add(name)
        names[name] = None
    return list(names)


def experiment_markers(config: pytest.Config, experiment: Experiment) -> list[str]:
    """The series and tag marker names of ``experiment``, registered so
    ``--strict-markers`` accepts them."""
    state = config.stash[STATE]
    labels = [("tag", tag) for tag in experiment.tags]
    series = state.intent(experiment).series
    if series:
        labels.append(("series", series))
    return register(config, labels, ours=state.markers)


def register_from_files(config: pytest.Config) -> None:
    """``pytest --markers`` lists no collected items: name the series and tags of the
    experiment files under the given paths instead."""
    from pytest_experiment.base.errors import SpecError
    from pytest_experiment.core.spec import load_experiment

    for path in experiment_files(config):
        try:
            experiment = load_experiment(path)
        except SpecError:
            continue  # reported as a collection error by a run that collects it
        if experiment is not None:
            experiment_markers(config, experiment)


def experiment_files(config: pytest.Config) -> Iterator[Path]:
    """``experiment.yaml`` files under the paths pytest was given (for ``--markers``)."""
    skip = [str(p) for p in config.getini("norecursedirs")]
    found = 0
    for arg in config.args:
        base = Path(str(arg).split("::")[0])
        if not base.is_absolute():
            base = Path(config.invocation_params.dir) / base
        candidates = [base] if base.is_file() else sorted(base.rglob("experiment.yaml"))
        for path in candidates:
            relative = path.relative_to(base).parts[:-1] if path != base else ()
            if path.name != "experiment.yaml" or any(_ignored(p, skip) for p in relative):
                continue
            found += 1
            if found > _MAX_DISCOVERED:
                return
            yield path


def _ignored(part: str, patterns: list[str]) -> bool:
    from fnmatch import fnmatch

    return any(fnmatch(part, pattern) for pattern in patterns)
