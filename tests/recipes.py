"""The CI recipes under ``docs/ci/`` read as a machine runs them: the workflow's steps,
the shell commands in a step or a container, what a ``pip install`` line installs, and
a pytest with exactly those packages' plugins."""

from __future__ import annotations

import importlib.metadata
import shlex
import string
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
CI_DIR = ROOT / "docs" / "ci"
WORKFLOW = CI_DIR / "github-actions.yml"
JOB = CI_DIR / "job.yaml"
JOB_SETUP = CI_DIR / "job-setup.yaml"
RUNNER_TOKEN = CI_DIR / "runner-token.yaml"
RBAC = ROOT / "deploy" / "rbac.yaml"
PROJECT = "pytest-experiment"


def load_workflow(text: str | None = None) -> dict[str, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text() if text is None else text)
    # YAML 1.1 reads the key `on` as true.
    return {("on" if key is True else str(key)): value for key, value in loaded.items()}


def steps(workflow: Mapping[str, Any]) -> list[dict[str, Any]]:
    [job] = workflow["jobs"].values()
    found: list[dict[str, Any]] = job["steps"]
    return found


def step(workflow: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The one step whose name starts with ``name``."""
    [found] = [s for s in steps(workflow) if str(s.get("name", "")).startswith(name)]
    return found


def commands(script: str) -> list[list[str]]:
    """Each command line of a shell script as its words (continuations joined; quotes
    removed, variables left as written)."""
    joined = script.replace("\\\n", " ")
    lines = [line.strip() for line in joined.splitlines()]
    return [shlex.split(line) for line in lines if line and not line.startswith("#")]


def command(script: str, program: str) -> list[str]:
    """The one command of ``script`` that runs ``program`` (after an ``exec``)."""
    found = []
    for words in commands(script):
        if words[:1] == ["exec"]:
            words = words[1:]
        if words[:1] == [program]:
            found.append(words)
    [argv] = found
    return argv


def pip_requirements(argv: list[str]) -> list[Requirement]:
    """What ``pip install …`` installs: its requirement arguments (``.`` and ``.[x]`` are
    this project), options left out."""
    assert argv[:2] == ["pip", "install"], argv
    found = []
    for word in argv[2:]:
        if word.startswith("-"):
            continue
        if word == "." or word.startswith(".["):
            word = PROJECT + word[1:]
        found.append(Requirement(word))
    return found


def installed_with(requirements: Iterable[Requirement]) -> set[str]:
    """Every distribution pip installs for ``requirements``, as far as this environment
    (which has them all) tells: the requirements, their extras, and everything they need."""
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    pending = [(canonicalize_name(r.name), frozenset(r.extras)) for r in requirements]
    while pending:
        name, extras = pending.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        names.add(name)
        for text in importlib.metadata.distribution(name).requires or ():
            needed = Requirement(text)
            wanted = needed.marker is None or any(
                needed.marker.evaluate({"extra": extra}) for extra in (*extras, "")
            )
            if wanted:
                pending.append((canonicalize_name(needed.name), frozenset(needed.extras)))
    return names


def plugins_blocked_without(installed: set[str]) -> list[str]:
    """``-p no:<name>`` for every pytest plugin here that ``installed`` does not bring."""
    blocked = []
    for entry in importlib.metadata.entry_points(group="pytest11"):
        dist = entry.dist
        if dist is None or canonicalize_name(dist.name) not in installed:
            blocked += ["-p", f"no:{entry.name}"]
    return blocked


def substitute(argv: list[str], values: Mapping[str, str]) -> list[str]:
    """``$VAR`` and ``${VAR}`` replaced as the shell would; a variable not given fails."""
    return [string.Template(word).substitute(values) for word in argv]


def collect_as_installed(
    argv: list[str], requirements: list[Requirement], *, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """``argv`` (a pytest command line) run with ``--collect-only`` by a pytest that has
    only the plugins ``requirements`` install: pytest refuses an option none of them adds
    (exit 4, "unrecognized arguments") or a value it does not accept."""
    assert argv[0] == "pytest", argv
    blocked = plugins_blocked_without(installed_with(requirements))
    return subprocess.run(
        [sys.executable, "-m", "pytest", *argv[1:], *blocked, "--collect-only", "-q"],
        cwd=cwd, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def readme_blocks(readme: str) -> list[str]:
    """The text of every fenced code block of the README."""
    blocks = []
    inside: list[str] | None = None
    for line in readme.splitlines(keepends=True):
        if line.startswith("```"):
            if inside is None:
                inside = []
            else:
                blocks.append("".join(inside))
                inside = None
        elif inside is not None:
            inside.append(line)
    return blocks


def secret_from_setup_comment() -> dict[str, Any]:
    """The ``kubectl create secret generic`` command job-setup.yaml documents: the
    Secret's name, namespace and keys."""
    lines = [line.removeprefix("#").strip() for line in JOB_SETUP.read_text().splitlines()]
    text = " ".join(line for line in lines if line).replace("\\ ", "")
    words = text[text.index("kubectl create secret generic") :].split()
    return {
        "name": words[4],
        "namespace": words[words.index("-n") + 1],
        "keys": [w.split("=", 2)[1] for w in words if w.startswith("--from-literal=")],
    }
