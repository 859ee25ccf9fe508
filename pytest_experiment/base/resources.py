"""The Kubernetes resources, namespaces and labels of the platform.

The harness talks to them through ``edges`` and the sandbox serves them; both
name them from here so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, kw_only=True)
class Resource:
    """A custom resource as the API addresses it."""

    group: str
    version: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


EXPERIMENTS = Resource(group="experiments.illm.io", version="v1alpha1", plural="experiments")
WORKFLOWS = Resource(group="argoproj.io", version="v1alpha1", plural="workflows")
WORKFLOW_TEMPLATES = Resource(group="argoproj.io", version="v1alpha1", plural="workflowtemplates")
APPLICATIONS = Resource(group="argoproj.io", version="v1alpha1", plural="applications")
GKE_CLUSTERS = Resource(group="illm.io", version="v1alpha1", plural="gkeclusters")

EXPERIMENT_CRD = "experiments.experiments.illm.io"

EXPERIMENT_NAMESPACE = "experiments"
WORKFLOW_NAMESPACE = "argo-workflows"
ARGOCD_NAMESPACE = "argocd"
OPERATOR_NAMESPACE = "experiment-operator-system"
OPERATOR_DEPLOYMENT = "experiment-operator-controller-manager"

EXPERIMENT_LABEL = "experiments.illm.io/experiment"
"""The real operator labels what it creates for an instance with this."""
LEGACY_EXPERIMENT_LABEL = "experiment"
"""The seeds' operator labels what it creates for an instance with this."""
CLAIM_LABEL = "experiments.illm.io/cluster"
"""The real operator names a GKECluster claim's cluster with this."""

NAME_LIMIT = 63
"""Kubernetes names and label values are at most this many characters."""


class Labelled(Enum):
    """Objects the operator creates for an instance, labelled with it (either convention).

    The value is (resource or None for core pods, namespace or None for all namespaces).
    """

    APPLICATIONS = (APPLICATIONS, ARGOCD_NAMESPACE)
    WORKFLOWS = (WORKFLOWS, WORKFLOW_NAMESPACE)
    # Crossplane claims live next to the experiment on the hub, but a
    # composition may put them elsewhere: look everywhere.
    GKE_CLUSTERS = (GKE_CLUSTERS, None)
    PODS = (None, EXPERIMENT_NAMESPACE)

    @property
    def namespace(self) -> str | None:
        namespace: str | None = self.value[1]
        return namespace

    @property
    def title(self) -> str:
        resource: Resource | None = self.value[0]
        kind = resource.plural if resource else "pods"
        return f"{kind} in {self.namespace}" if self.namespace else f"{kind} (all namespaces)"
