"""A simulated experiment operator for the sandbox.

Run as ``python -m pytest_experiment.sandbox.operator --kubeconfig K
--s3-endpoint URL --time-scale 0.001`` (S3 credentials from the standard
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` variables).

By default it behaves as the lab's current operator does (``real``): only the
status fields its CRD declares, the ``QualityGate``/``AnalysisComplete``/
``ReviewGate`` conditions, ``experiments.illm.io/…`` labels, early failures
that leave the experiment stuck with a ``Failed`` target, summaries for failed
runs, the quality-gate re-collection loop, no Kubernetes Events. A scenario
option ``"operator": "legacy"`` (or the ``legacy-operator`` scenario) runs an
experiment under the older operator the seeds describe instead.

Modules: ``loop`` (caches, timers, dispatch), ``context`` (clients, writes,
per-instance clock), ``real`` (one reconcile step of the current operator),
``phases`` (up to the end of the workflow), ``results`` (summary, quality
gate, cleanup, PR), ``review`` (analyzer, review gate, finalizer),
``conditions``, ``cloud`` (claims, applications, workflow, Job), ``argo`` (the
status Argo writes on a failed Workflow), ``legacy``
(the older operator's steps) and ``legacy_status`` (its status writes and Events).
"""

from pytest_experiment.base.resources import EXPERIMENT_LABEL, LEGACY_EXPERIMENT_LABEL
from pytest_experiment.sandbox.operator.config import (
    DEFAULT_TIME_SCALE,
    FINALIZER,
    REVIEW_ANNOTATION,
    Durations,
    OperatorConfig,
    pr_number,
)
from pytest_experiment.sandbox.operator.context import GITHUB_CONFIGMAP
from pytest_experiment.sandbox.operator.main import main

__all__ = [
    "DEFAULT_TIME_SCALE",
    "EXPERIMENT_LABEL",
    "FINALIZER",
    "GITHUB_CONFIGMAP",
    "LEGACY_EXPERIMENT_LABEL",
    "REVIEW_ANNOTATION",
    "Durations",
    "OperatorConfig",
    "main",
    "pr_number",
]
