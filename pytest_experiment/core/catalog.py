"""The component catalogue: what ``spec.targets[].components[].app`` names refer to.

A lab keeps one ``component.yaml`` (``kind: Component``) per deployable app
under ``components/<category>/<name>/``. ``load_catalogue`` is the only I/O
here; a file that cannot be read is recorded as a problem under its directory
name, so a reference to it is reported as "unreadable" rather than "missing"
and one broken file never hides the rest of the catalogue.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_experiment.base.errors import SpecError
from pytest_experiment.core.limits import strings
from pytest_experiment.core.yaml_source import read_source

COMPONENT_FILE = "component.yaml"
COMPONENT_KIND = "Component"


@dataclass(frozen=True, slots=True)
class ComponentEntry:
    name: str
    path: Path
    data: Mapping[str, Any]
    """The whole ``component.yaml`` document."""


@dataclass(frozen=True, slots=True)
class Catalogue:
    directory: Path
    entries: Mapping[str, ComponentEntry] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)
    """Directory name of an unreadable component.yaml → why (``file:line: message``)."""

    def __contains__(self, app: object) -> bool:
        return app in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, app: str) -> ComponentEntry | None:
        return self.entries.get(app)

    def problem(self, app: str) -> str | None:
        """Why ``app``'s component.yaml could not be read, when it exists but is broken."""
        return self.problems.get(app)

    def suggest(self, app: str) -> str | None:
        """The closest known name, for a did-you-mean on a typo."""
        close = difflib.get_close_matches(app, list(self.entries), n=1, cutoff=0.75)
        return close[0] if close else None

    def mentions(self, app: str, word: str) -> str | None:
        """The first text in ``app``'s component document containing ``word`` (any case)."""
        entry = self.entries.get(app)
        if entry is None:
            return None
        needle = word.lower()
        return next((text for text in strings(entry.data) if needle in text.lower()), None)


def load_catalogue(directory: Path) -> Catalogue:
    """Every ``kind: Component`` document in a ``component.yaml`` under ``directory``.

    Keyed by ``metadata.name`` (the directory name when that is missing). Files
    of another kind are skipped; unreadable ones and duplicate names become
    ``problems``. A missing directory gives an empty catalogue with a problem.
    """
    if not directory.is_dir():
        return Catalogue(directory, problems={"": f"{directory}: not a directory"})
    entries: dict[str, ComponentEntry] = {}
    problems: dict[str, str] = {}
    try:
        paths = sorted(directory.rglob(COMPONENT_FILE))
    except OSError as err:
        return Catalogue(directory, problems={"": f"{directory}: cannot list: {err.strerror}"})
    for path in paths:
        fallback = path.parent.name
        try:
            data = read_source(path).data
        except SpecError as err:
            problems[fallback] = str(err)
            continue
        if data.get("kind") != COMPONENT_KIND:
            continue
        metadata = data.get("metadata")
        name = metadata.get("name") if isinstance(metadata, Mapping) else None
        name = name if isinstance(name, str) and name else fallback
        if name in entries:
            problems[name] = f"{path}: duplicate component {name!r} (first: {entries[name].path})"
            continue
        entries[name] = ComponentEntry(name=name, path=path, data=data)
    return Catalogue(directory, entries=entries, problems=problems)
