"""A local hub cluster for running experiments without GKE.

``start_sandbox()`` starts etcd + kube-apiserver (CRDs, namespaces, the
operator Deployment), SeaweedFS as S3 and a simulated experiment operator,
and returns a ``Sandbox`` with the kubeconfig, S3 endpoint and credentials.
``set_scenario()`` picks what goes wrong for an experiment.

Names are imported on first use so that importing the plugin does not pay
for the kubernetes and boto3 clients.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_experiment.sandbox.core import (
        Sandbox,
        default_state_dir,
        start_sandbox,
        stop_sandbox,
    )
    from pytest_experiment.sandbox.scenarios import Scenario, clear_scenario, set_scenario
    from pytest_experiment.sandbox.startup import SandboxConfig

_EXPORTS = {
    "Sandbox": "pytest_experiment.sandbox.core",
    "SandboxConfig": "pytest_experiment.sandbox.startup",
    "default_state_dir": "pytest_experiment.sandbox.core",
    "start_sandbox": "pytest_experiment.sandbox.core",
    "stop_sandbox": "pytest_experiment.sandbox.core",
    "Scenario": "pytest_experiment.sandbox.scenarios",
    "clear_scenario": "pytest_experiment.sandbox.scenarios",
    "set_scenario": "pytest_experiment.sandbox.scenarios",
}

__all__ = [
    "Sandbox",
    "SandboxConfig",
    "Scenario",
    "clear_scenario",
    "default_state_dir",
    "set_scenario",
    "start_sandbox",
    "stop_sandbox",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
