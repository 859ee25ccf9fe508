"""The CI recipes (``docs/ci/``) run as written: each pytest command is accepted by a
pytest with exactly the packages its recipe installs, the workflow passes actionlint, the
Job's parts fit together, and the README shows each file as it is.

The recipes on the sandbox's API server: ``tests/sandbox/test_ci_recipes.py``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from recipes import (
    JOB,
    JOB_SETUP,
    RBAC,
    ROOT,
    RUNNER_TOKEN,
    WORKFLOW,
    collect_as_installed,
    command,
    documents,
    installed_with,
    load_workflow,
    pip_requirements,
    readme_blocks,
    secret_from_setup_comment,
    step,
    substitute,
)

README = ROOT / "README.md"


@pytest.fixture
def lab(tmp_path: Path, examples: Path) -> Path:
    """A lab's repository: its experiments/ (the examples)."""
    shutil.copytree(examples, tmp_path / "experiments")
    return tmp_path


def workflow_commands(text: str | None = None) -> tuple[list[str], list[str]]:
    """The workflow's pip line and its pytest command, as their words."""
    workflow = load_workflow(text)
    pip = command(step(workflow, "Install pytest-experiment")["run"], "pip")
    pytest_argv = command(step(workflow, "Run the experiments")["run"], "pytest")
    return pip, pytest_argv


def assert_collected_the_examples(stdout: str) -> None:
    """Every example's items were collected (five experiments, about 25 items each)."""
    found = re.search(r"^(\d+) tests collected", stdout, re.MULTILINE)
    assert found is not None, stdout
    assert int(found[1]) > 100, stdout


# -- GitHub Actions ----------------------------------------------------------------------


def test_the_workflow_installs_every_plugin_its_pytest_command_uses(lab: Path) -> None:
    pip, argv = workflow_commands()
    requirements = pip_requirements(pip)
    assert [(r.name, r.extras) for r in requirements] == [("pytest-experiment", {"ci"})]
    assert {"-n", "--dist"} <= set(argv)
    done = collect_as_installed(
        substitute(argv, {"S3_ENDPOINT": "http://127.0.0.1:9"}), requirements, cwd=lab
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert_collected_the_examples(done.stdout)


def test_the_check_catches_a_pip_line_that_leaves_out_xdist(lab: Path) -> None:
    # The recipe as it was: `pip install .` installs no pytest-xdist, yet the command
    # used `-n 2 --dist loadgroup`.
    text = WORKFLOW.read_text()
    line = next(line for line in text.splitlines() if "pip install " in line)
    pip, argv = workflow_commands(text.replace(line, "          pip install ."))
    done = collect_as_installed(
        substitute(argv, {"S3_ENDPOINT": "http://127.0.0.1:9"}), pip_requirements(pip), cwd=lab
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: -n 2 --dist loadgroup" in done.stderr


def test_the_ci_extra_brings_xdist_and_pytest_html() -> None:
    with_ci = installed_with([Requirement("pytest-experiment[ci]")])
    without = installed_with([Requirement("pytest-experiment")])
    assert {"pytest-xdist", "pytest-html"} <= with_ci
    assert not {"pytest-xdist", "pytest-html"} & without


def actionlint() -> Path:
    binary = Path(sys.executable).parent / "actionlint"
    if not binary.exists():
        pytest.skip("actionlint is not installed (pip install -e '.[dev]')")
    return binary


def test_actionlint_accepts_the_workflow_and_refuses_the_old_recipe(tmp_path: Path) -> None:
    # What `make lint` runs.
    shellcheck = Path(sys.executable).parent / "shellcheck"
    lint = [str(actionlint()), f"-shellcheck={shellcheck}", "-no-color"]
    done = subprocess.run([*lint, str(WORKFLOW)], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout) == (0, "")
    # The README's recipe before: no `on:`, and actions on a runtime GitHub removes.
    old = tmp_path / "old.yml"
    old.write_text(
        "jobs:\n  experiments:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n      - run: pip install .\n"
    )
    done = subprocess.run([*lint, str(old)], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert '"on" section is missing in workflow' in done.stdout
    assert 'update the version of action "actions/checkout@v4"' in done.stdout


def test_the_workflow_writes_the_kubeconfig_and_says_which_setting_is_missing(
    tmp_path: Path,
) -> None:
    # The step run as written by bash, with one setting left out: it stops naming it.
    script = step(load_workflow(), "Write the kubeconfig")["run"]
    env = {"PATH": "/usr/bin:/bin", "RUNNER_TEMP": str(tmp_path), "HUB_SERVER": "https://x"}
    env["GITHUB_ENV"] = str(tmp_path / "github-env")
    done = subprocess.run(
        ["bash", "-e", "-c", script], env={**env, "HUB_CA": "Y2E="},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "HUB_TOKEN: set the secret HUB_TOKEN" in done.stderr
    assert not (tmp_path / "kubeconfig").exists()


# -- the in-cluster Job ------------------------------------------------------------------


def job_container() -> tuple[dict[str, Any], dict[str, Any]]:
    [job] = documents(JOB)
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    return pod, container


def test_the_job_installs_every_plugin_its_pytest_command_uses(lab: Path) -> None:
    _, container = job_container()
    assert container["image"] == "python:3.11-slim"  # no plugin in it: the Job installs it
    script = str(container["args"][0])
    env = {e["name"]: e.get("value") for e in container["env"]}
    pip = substitute(command(script, "pip"), {"PLUGIN": str(env["PLUGIN"])})
    assert pip[:2] == ["pip", "install"]
    requirements = pip_requirements(pip)
    assert [r.name for r in requirements] == ["pytest-experiment"]
    argv = substitute(
        command(script, "pytest"),
        {"S3_ENDPOINT": str(env["S3_ENDPOINT"]), "reports": str(lab / "reports")},
    )
    done = collect_as_installed(argv, requirements, cwd=lab)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_collected_the_examples(done.stdout)


def test_the_job_mounts_what_it_reads_and_writes() -> None:
    pod, container = job_container()
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    # The experiments: git-sync's checkout, on a volume the pytest container mounts.
    [sync] = pod["initContainers"]
    sync_env = {e["name"]: e["value"] for e in sync["env"]}
    checkout = f"{sync_env['GITSYNC_ROOT']}/{sync_env['GITSYNC_LINK']}"
    assert container["workingDir"] == checkout
    [sync_mount] = sync["volumeMounts"]
    assert mounts[sync_mount["mountPath"]] == sync_mount["name"]
    assert checkout.startswith(sync_mount["mountPath"] + "/")
    # The reports: every file the command writes lies on the claim job-setup.yaml creates.
    script = str(container["args"][0])
    written = [
        word.split("=", 1)[1]
        for word in command(script, "pytest")
        if word.split("=", 1)[0]
        in ("--junitxml", "--experiment-report", "--experiment-html", "--experiment-toil-file")
    ]
    assert len(written) == 4
    assert re.search(r'^reports="/reports/\$JOB_NAME"$', script, re.MULTILINE)
    assert all(path.startswith("$reports/") for path in written), written
    claim = volumes[mounts["/reports"]]["persistentVolumeClaim"]["claimName"]
    [pvc] = documents(JOB_SETUP)
    assert (pvc["kind"], pvc["metadata"]["name"]) == ("PersistentVolumeClaim", claim)
    # The S3 keys: the Secret the setup's documented command creates, with those keys.
    refs = {
        (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    created = secret_from_setup_comment()
    assert refs == {(created["name"], key) for key in created["keys"]}
    # Its ServiceAccount and namespace: the shipped role's.
    rbac = {(d["kind"], d["metadata"]["name"]): d for d in documents(RBAC)}
    account = rbac[("ServiceAccount", pod["serviceAccountName"])]
    [job] = documents(JOB)
    assert job["metadata"]["namespace"] == account["metadata"]["namespace"]
    assert pvc["metadata"]["namespace"] == account["metadata"]["namespace"]


# -- the README shows them as they are ---------------------------------------------------


@pytest.mark.parametrize("path", [WORKFLOW, JOB, JOB_SETUP, RUNNER_TOKEN], ids=lambda p: p.name)
def test_the_readme_shows_each_ci_file_as_it_is(path: Path) -> None:
    text = README.read_text()
    assert path.read_text() in readme_blocks(text), f"README's copy of {path.name} differs"
    assert f"`docs/ci/{path.name}`" in text
