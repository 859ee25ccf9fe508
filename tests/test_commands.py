"""Commands printed for a person to paste: values from files or the cluster are shell-quoted."""

from __future__ import annotations

import shlex

import pytest

from pytest_experiment.core.lifecycle import apply_template_command, delete_command, entering_lines
from pytest_experiment.core.review import REVIEW_ANNOTATION, annotate_commands
from pytest_experiment.core.toil import summary_lines

HOSTILE = ["inst;touch /tmp/pwned", "$(id)", "a b", "`x`", "it's", "-n", "x\ny"]


@pytest.mark.parametrize("value", HOSTILE)
def test_delete_command_is_one_argument_per_value(value: str) -> None:
    command = delete_command(value, f"ns {value}")
    assert shlex.split(command) == ["kubectl", "delete", "experiment", value, "-n", f"ns {value}"]


def test_ordinary_commands_read_as_before() -> None:
    assert delete_command("web-lat-abc12", "experiments") == (
        "kubectl delete experiment web-lat-abc12 -n experiments"
    )
    assert apply_template_command("exp/workflow/template.yaml") == (
        "kubectl apply -n argo-workflows -f exp/workflow/template.yaml"
    )


@pytest.mark.parametrize("value", HOSTILE)
def test_annotate_and_apply_hints_are_quoted(value: str) -> None:
    approve, reject = annotate_commands(value, value)
    assert shlex.split(approve.removeprefix("To approve later: ")) == [
        "kubectl",
        "annotate",
        "experiment",
        value,
        "-n",
        value,
        f"{REVIEW_ANNOTATION}=approved",
    ]
    assert shlex.split(reject.removeprefix("To reject later:  "))[-1] == (
        f"{REVIEW_ANNOTATION}=rejected"
    )
    assert shlex.split(apply_template_command(f"{value}/template.yaml"))[-1] == (
        f"{value}/template.yaml"
    )


def test_manual_completion_hint_is_quoted() -> None:
    obj = {"metadata": {"name": "inst;rm -rf ~"}, "status": {"phase": "Running"}}
    lines = entering_lines("Running", obj, namespace="experiments", manual=True)
    assert lines[-1] == "Use: kubectl delete experiment 'inst;rm -rf ~' -n experiments"


def test_toil_review_command_is_quoted() -> None:
    (line,) = summary_lines([{"experiment": "x;id", "backend": "bd"}])
    assert "run bd list -l 'x;id' to review" in line
