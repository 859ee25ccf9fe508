"""The views of Kubernetes objects answer every malformed shape with the absent value.

Objects come from the API, a watch, another plugin's cluster or a hand-written file;
a decision must never fail on a part that is missing or of the wrong type.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_experiment.base.views import (
    condition,
    conditions,
    meta,
    status,
    target_phases,
    targets,
)

EXPERIMENT: dict[str, Any] = {
    "metadata": {
        "name": "web-x1",
        "namespace": "experiments",
        "labels": {"app": "web"},
        "annotations": {"lease": "1"},
        "resourceVersion": "42",
        "creationTimestamp": "2026-12-07T10:00:00Z",
        "finalizers": ["experiments.illm.io/cleanup"],
    },
    "status": {
        "phase": "Provisioning",
        "conditions": [
            {"type": "Ready", "status": "False", "message": "waiting"},
            "not a condition",
            {"type": "Failed", "status": "True", "message": "quota"},
            {"type": "Ready", "status": "True"},
        ],
        "targets": [
            {"name": "app", "phase": "Failed"},
            {"name": "db"},
            {"phase": "Ready"},
            ["not", "a", "target"],
        ],
    },
}


def test_metadata_reads_each_field() -> None:
    about = meta(EXPERIMENT)
    assert (about.name, about.namespace, about.resource_version) == ("web-x1", "experiments", "42")
    assert about.labels == {"app": "web"}
    assert about.annotations == {"lease": "1"}
    assert about.created == "2026-12-07T10:00:00Z"
    assert about.finalizers == ("experiments.illm.io/cleanup",)
    assert not about.deleting
    assert meta({"metadata": {"deletionTimestamp": "2026-12-07T11:00:00Z"}}).deleting


@pytest.mark.parametrize(
    "obj",
    [None, {}, {"metadata": None}, {"metadata": "web"}, {"metadata": {"labels": ["a"]}}],
)
def test_missing_or_malformed_metadata_reads_as_absent(obj: Any) -> None:
    about = meta(obj)
    assert (about.name, about.namespace, about.resource_version) == ("", "", "")
    assert about.labels == {}
    assert about.annotations == {}
    assert about.created is None
    assert about.finalizers == ()
    assert not about.deleting


def test_conditions_in_order_and_by_type() -> None:
    assert [c.get("type") for c in conditions(EXPERIMENT)] == ["Ready", "Failed", "Ready"]
    ready = conditions(EXPERIMENT, "Ready")
    assert [c["status"] for c in ready] == ["False", "True"]
    assert condition(EXPERIMENT, "Ready") == ready[0]
    assert condition(EXPERIMENT, "Stalled") is None


def test_targets_and_their_phases() -> None:
    assert len(targets(EXPERIMENT)) == 3
    assert target_phases(EXPERIMENT) == {"app": "Failed", "db": ""}


@pytest.mark.parametrize("obj", [None, {}, {"status": None}, {"status": "Failed"}])
def test_no_status_reads_as_empty(obj: Any) -> None:
    assert status(obj) == {}
    assert conditions(obj) == []
    assert condition(obj, "Ready") is None
    assert targets(obj) == []
    assert target_phases(obj) == {}


def test_a_status_with_lists_of_the_wrong_type_reads_as_empty() -> None:
    obj = {"status": {"conditions": None, "targets": None}}
    assert conditions(obj) == []
    assert targets(obj) == []
