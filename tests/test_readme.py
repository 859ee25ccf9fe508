"""The README as a new user reads it: its first command selects something, its first
experiment validates, and its permission table is the shipped role."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from sandbox.rbac import granted, role_documents

README = Path(__file__).resolve().parents[1] / "README.md"


def section(heading: str) -> str:
    """The README's text from ``heading`` to the next heading of the same or higher level."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n") + 1
    level = heading.split(" ")[0]
    following = re.compile(rf"^#{{1,{len(level)}}} ", re.MULTILINE)
    found = following.search(text, start + len(heading))
    return text[start : found.start() if found else len(text)]


def code_blocks(text: str, language: str = "") -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


def test_the_first_example_selects_items_of_the_examples(
    pytester: pytest.Pytester, examples: Path
) -> None:
    first = code_blocks(README.read_text(encoding="utf-8"))[0].strip()
    argv = shlex.split(first)
    assert argv[:2] == ["pytest", "experiments/"], first
    keyword = argv[argv.index("-k") + 1]
    shutil.copytree(examples, pytester.path / "experiments")
    result = pytester.runpytest("experiments/", "-k", keyword, "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    selected = [line for line in result.outlines if "::" in line]
    assert selected, f"-k {keyword} selects nothing in experiments/"
    # Everything of one experiment, its lifecycle included.
    assert {line.split("/")[1] for line in selected} == {keyword}
    assert f"experiments/{keyword}/experiment.yaml::lifecycle" in selected


def test_the_first_experiment_passes_every_validation_rule(
    pytester: pytest.Pytester, examples: Path
) -> None:
    [yaml_text] = code_blocks(section("## Writing your first experiment"), "yaml")
    folder = pytester.path / "experiments" / "my-first"
    folder.mkdir(parents=True)
    (folder / "experiment.yaml").write_text(yaml_text)
    shutil.copytree(examples / "components", pytester.path / "experiments" / "components")
    # The first of the README's commands: the file alone, no cluster needed.
    result = pytester.runpytest("experiments/my-first", "-k", "validate", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert outcomes == {"passed": 13, "deselected": outcomes["deselected"]}, outcomes


def permission_rows() -> set[tuple[str | None, str, str, str]]:
    """(namespace or None, group, resource, verb) for every verb of the README's table."""
    table = [
        line
        for line in section("### Least privilege").splitlines()
        if line.startswith("| ") and not line.startswith("| namespace ")
    ]
    found = set()
    for row in table:
        namespace, resource, group, verbs = (c.strip() for c in row.strip("|").split("|")[:4])
        for verb in verbs.split(", "):
            found.add(
                (
                    None if namespace == "cluster-wide" else namespace.strip("`"),
                    "" if group == "core" else group.strip("`"),
                    resource.strip("`"),
                    verb,
                )
            )
    return found


def test_the_permission_table_is_the_shipped_role() -> None:
    shipped = {(p.namespace, p.group, p.resource, p.verb) for p in granted(role_documents())}
    documented = permission_rows()
    assert documented - shipped == set(), "in the README, not granted by deploy/rbac.yaml"
    assert shipped - documented == set(), "granted by deploy/rbac.yaml, not in the README"
