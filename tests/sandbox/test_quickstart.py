"""The README's quickstart, run as written against the sandbox as the hub: the role of
step 2 applied under its shipped names, step 3's runner context standing for a token of
its ServiceAccount, then the pytest commands of steps 4 and 5 taken from the README."""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import FakeTools
from kubernetes import client

from pytest_experiment.sandbox import Sandbox

from .rbac import RunnerAccess, shipped_runner
from .runs import SESSION_TIMEOUT
from .test_examples import scorecards

README = Path(__file__).resolve().parents[2] / "README.md"


def quickstart_commands() -> list[list[str]]:
    """The pytest commands of the README's quickstart, in order."""
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Quickstart on your own hub\n")
    section = text[start : text.index("\n## ", start + 1)]
    blocks = re.findall(r"^ *```\n(.*?)^ *```$", section, re.MULTILINE | re.DOTALL)
    commands = []
    for block in blocks:
        joined = re.sub(r"\\\n\s*", "", block).strip()
        if joined.startswith("pytest "):
            commands.append(shlex.split(joined))
    return commands


def as_runner(argv: list[str], runner: RunnerAccess, sandbox: Sandbox) -> list[str]:
    """The command with the runner's context pointed at the sandbox: the context named in
    the README becomes the runner's kubeconfig (step 3 made it with kubectl)."""
    out = []
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
            continue
        if arg == "--experiment-context":
            skip = True
            continue
        out.append(arg)
    return [
        *out,
        f"--experiment-kubeconfig={runner.kubeconfig}",
        f"--experiment-s3-endpoint={sandbox.s3_endpoint}",
        "-p", "no:cacheprovider",
    ]  # fmt: skip


@pytest.fixture
def runner(k8s: client.ApiClient, sandbox: Sandbox, tmp_path: Path) -> Iterator[RunnerAccess]:
    with shipped_runner(k8s, sandbox, tmp_path / "runner") as access:
        yield access


def test_the_quickstart_runs_as_written(
    pytester: pytest.Pytester, sandbox: Sandbox, examples: Path, runner: RunnerAccess,
    fake_tools: FakeTools, s3_credentials: None,
) -> None:  # fmt: skip
    shutil.copytree(examples, pytester.path / "experiments")
    check, run = quickstart_commands()
    assert "--experiment-context" in check
    assert "--experiment-context" in run

    # Step 4: validation and pre-flight, nothing created; only lint-demo fails, and a
    # WorkflowTemplate not on the cluster yet (step 5 applies it) says how to apply it.
    checked = pytester.runpytest_subprocess(
        *as_runner(check, runner, sandbox), "--junitxml=check.xml", timeout=SESSION_TIMEOUT
    )
    out = checked.stdout.str()
    assert "Applied experiment" not in out
    cards = scorecards(pytester.path / "check.xml")
    for name, card in cards.items():
        failed = {item for item, outcome in card.outcomes.items() if outcome == "failure"}
        if name == "lint-demo":
            assert "preflight[namespace]" in failed, card.outcomes
            continue
        assert failed <= {"preflight[workflow-template]"}, (name, failed)
        if failed:
            message = card.messages["preflight[workflow-template]"]
            assert "(or pass --experiment-apply-templates)" in message, message
    assert checked.ret == pytest.ExitCode.TESTS_FAILED, out

    # Step 5: one experiment, applied, followed, scored and cleaned up.
    ran = pytester.runpytest_subprocess(*as_runner(run, runner, sandbox), timeout=SESSION_TIMEOUT)
    assert ran.ret == pytest.ExitCode.OK, ran.stdout.str()
    web = scorecards(pytester.path / "report.xml")["web-latency"]
    assert web.outcomes["lifecycle"] == "passed"
    assert web.gates() == {"pass"}
    assert (pytester.path / "experiment-report.json").is_file()
