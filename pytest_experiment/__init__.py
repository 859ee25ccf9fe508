"""pytest-experiment: Kubernetes benchmark Experiments as pytest items.

PYTEST_DONT_REWRITE: the plugin's own asserts are invariants, not test
assertions, and rewriting would warn in every nested pytester run.
"""

from __future__ import annotations

from pytest_experiment.base.errors import (
    ClusterError,
    ExperimentError,
    OptionError,
    ResultsError,
    SandboxError,
    SpecError,
)
from pytest_experiment.core.verdict import CheckResult, Status, gate

__version__ = "0.1.0"

__all__ = [
    "CheckResult",
    "ClusterError",
    "ExperimentError",
    "OptionError",
    "ResultsError",
    "SandboxError",
    "SpecError",
    "Status",
    "__version__",
    "gate",
]
