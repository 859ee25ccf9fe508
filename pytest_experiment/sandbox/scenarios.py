"""Per-experiment failure scenarios for the simulated operator.

A scenario is chosen without touching experiment.yaml: the ConfigMap
``experiment-sandbox-scenarios`` in ``experiment-operator-system`` maps a key
to a scenario. The key is, by precedence, the instance name, the
``metadata.generateName`` (e.g. ``db-fvm-``) or ``_default`` (every experiment;
ConfigMap keys cannot be ``*``).
The value is a scenario name (``fail-ready``) or a JSON object with the name
under ``scenario`` plus options, e.g. ``{"scenario": "intent-gap", "group": "hdb"}``.

Options understood by every scenario:

- ``message``: the error text of a ``fail-*`` scenario (claim, applications or
  workflow; a condition message under the legacy operator);
- ``group``: the metric group ``intent-gap`` empties (default: the last
  group declared in ``spec.metrics``);
- ``verdict``: the legacy operator's machine verdict when every criterion passes
  (default ``confirmed``; the real operator always writes ``validated``);
- ``aiVerdict``: the analyzer's ``analysis.hypothesisVerdict``;
- ``workloadPods``: ``false`` leaves only infrastructure pods in ``cpu_by_pod``;
- ``operator``: ``legacy`` makes the older operator the seeds describe run this
  experiment (``real``, the default, behaves as the lab's current operator);
- ``minDataCoverage``, ``recoverAfter``: for the ``quality-gate-*`` scenarios,
  the coverage the gate asks for when the experiment declares none (default
  1.0) and the re-collection after which data arrives (default 1);
- ``message``, ``recoverAfter``: for ``review-merge-failed`` and
  ``review-close-failed``, GitHub's error and the failed attempts after which
  GitHub merges or closes (default: never);
- ``step``: for ``fail-running``, the name of the Workflow step that fails
  (``message`` is then that step's message);
- ``seconds``: real-time lengths of stages, not scaled by the time scale, e.g.
  ``{"Running": 3, "recollect": 8}``: an ordering that matters at the real
  operator's timing (a 120 s re-collection against a 30 s wait) keeps its ratio
  in a test whose other stages stay fast. Stages: ``Pending``,
  ``Provisioning``, ``Ready``, ``Running``, ``Complete`` (from the phase to
  ``completedAt`` and the results, a reconcile later), ``evaluate`` (how long the
  resultsURL of a collection is shown before the quality gate decides; at once
  by default), ``recollect`` (the quality gate's delay), ``analysis`` (the
  analyzer Pending), ``analysis-running`` and ``turn`` (from the
  ``AnalysisComplete`` condition of a failed analyzer to the phase Failed it
  brings, a status write later; at once by default).

The scenario ``legacy-operator`` is the happy path run by the legacy operator.

The operator reads the ConfigMap when it first sees an instance, so set the
scenario before creating the Experiment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kubernetes import client

from pytest_experiment.base.errors import SandboxError
from pytest_experiment.base.resources import OPERATOR_DEPLOYMENT, OPERATOR_NAMESPACE

SCENARIO_CONFIGMAP = "experiment-sandbox-scenarios"
DEFAULT_KEY = "_default"


class Scenario(StrEnum):
    HAPPY = "happy"
    FAIL_PENDING = "fail-pending"
    FAIL_PROVISIONING = "fail-provisioning"
    FAIL_READY = "fail-ready"
    FAIL_RUNNING = "fail-running"
    STUCK_PENDING = "stuck-pending"
    STUCK_PROVISIONING = "stuck-provisioning"
    STUCK_READY = "stuck-ready"
    STUCK_RUNNING = "stuck-running"
    NO_CUSTOM_METRICS = "no-custom-metrics"
    CADVISOR_ONLY = "cadvisor-only"
    PARTIAL_METRICS = "partial-metrics"
    INTENT_GAP = "intent-gap"
    INSUFFICIENT_VERDICT = "insufficient-verdict"
    ANALYZER_FAIL = "analyzer-fail"
    ANALYZER_TIMEOUT = "analyzer-timeout"
    ANALYZER_SKIP = "analyzer-skip"
    NO_PR = "no-pr"
    REVIEW_REJECTED = "review-rejected"
    REVIEW_MERGE_FAILED = "review-merge-failed"
    REVIEW_CLOSE_FAILED = "review-close-failed"
    NO_REVIEW_GATE = "no-review-gate"
    UNITLESS_LATENCY = "unitless-latency"
    OPERATOR_DOWN = "operator-down"
    QUALITY_GATE_RECOLLECT = "quality-gate-recollect"
    QUALITY_GATE_EXHAUSTED = "quality-gate-exhausted"
    ANALYZER_JOB_GONE = "analyzer-job-gone"
    ANALYZER_QUICK = "analyzer-quick"
    LEGACY_OPERATOR = "legacy-operator"


# The two operators the sandbox can play: the lab's current one, and the older
# one the seeds describe (a written Pending, `experiment=` labels, …).
OPERATOR_FLAVOURS = ("real", "legacy")


@dataclass(frozen=True, kw_only=True)
class ScenarioChoice:
    scenario: Scenario = Scenario.HAPPY
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fails_in(self) -> str | None:
        """The phase (Pending, Provisioning, Ready, Running) this scenario fails in."""
        return _phase_of(self.scenario, "fail-")

    @property
    def stuck_in(self) -> str | None:
        return _phase_of(self.scenario, "stuck-")

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)

    def real_seconds(self, stage: str) -> float | None:
        """The real-time length the ``seconds`` option gives ``stage``, else None (scaled)."""
        value = (self.options.get("seconds") or {}).get(stage)
        return float(value) if value is not None else None

    @property
    def flavour(self) -> str:
        """Which operator runs the experiment: ``real`` or ``legacy``."""
        if self.scenario is Scenario.LEGACY_OPERATOR:
            return "legacy"
        return str(self.options.get("operator") or "real")

    def encode(self) -> str:
        if not self.options:
            return self.scenario.value
        return json.dumps({"scenario": self.scenario.value, **self.options}, sort_keys=True)


def _phase_of(scenario: Scenario, prefix: str) -> str | None:
    if not scenario.value.startswith(prefix):
        return None
    return scenario.value.removeprefix(prefix).capitalize()


def parse_choice(raw: str) -> ScenarioChoice:
    """Read one ConfigMap value; raises ``SandboxError`` on an unknown scenario."""
    text = raw.strip()
    options: dict[str, Any] = {}
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SandboxError(f"scenario value is not valid JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise SandboxError("scenario JSON must be an object")
        options = {k: v for k, v in document.items() if k != "scenario"}
        text = str(document.get("scenario", Scenario.HAPPY.value))
    try:
        scenario = Scenario(text)
    except ValueError as exc:
        known = ", ".join(s.value for s in Scenario)
        raise SandboxError(f"unknown scenario {text!r}; known: {known}") from exc
    _validate_flavour(options)
    _validate_seconds(options)
    return ScenarioChoice(scenario=scenario, options=options)


def _validate_flavour(options: Mapping[str, Any]) -> None:
    flavour = options.get("operator")
    if flavour is not None and flavour not in OPERATOR_FLAVOURS:
        raise SandboxError(
            f"unknown operator flavour {flavour!r}; known: {', '.join(OPERATOR_FLAVOURS)}"
        )


def _validate_seconds(options: Mapping[str, Any]) -> None:
    seconds = options.get("seconds")
    if seconds is None:
        return
    if not isinstance(seconds, Mapping) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in seconds.values()
    ):
        raise SandboxError(
            f"scenario option seconds must map stages to seconds >= 0, not {seconds!r}"
        )


def flavour_options(flavour: str, **options: Any) -> dict[str, Any]:
    """Scenario options that make ``flavour``'s operator run the experiment.

    ``set_scenario(api, prefix, "fail-running", options=flavour_options("legacy"))``;
    parametrize a test over ``OPERATOR_FLAVOURS`` to run it against both operators.
    """
    _validate_flavour({"operator": flavour})
    return {**options, "operator": flavour} if flavour != "real" else dict(options)


def flavour_choice(
    flavour: str, scenario: Scenario | str = Scenario.HAPPY, **options: Any
) -> ScenarioChoice:
    """The scenario choice of ``scenario`` run by ``flavour``'s operator."""
    return ScenarioChoice(scenario=Scenario(scenario), options=flavour_options(flavour, **options))


def choose(data: Mapping[str, str], *, instance: str, generate_name: str | None) -> ScenarioChoice:
    """The scenario for one instance: key instance name, then generateName, then default."""
    for key in (instance, generate_name, DEFAULT_KEY):
        if key and key in data:
            return parse_choice(data[key])
    return ScenarioChoice()


def operator_down(data: Mapping[str, str]) -> bool:
    """Whether any entry asks for the operator Deployment to look down."""
    for raw in data.values():
        try:
            if parse_choice(raw).scenario is Scenario.OPERATOR_DOWN:
                return True
        except SandboxError:
            continue
    return False


def _validate_key(key: str) -> None:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")
    if not key or not set(key) <= allowed:
        raise SandboxError(f"scenario key {key!r} is not a valid ConfigMap key")


def set_scenario(
    api: client.ApiClient,
    generate_name: str,
    scenario: Scenario | str,
    *,
    options: Mapping[str, Any] | None = None,
) -> ScenarioChoice:
    """Make experiments created from ``generate_name`` (or that instance name) follow ``scenario``.

    ``operator-down`` also takes the operator Deployment's ready replica away
    before returning, so a pre-flight check right after this call sees it.
    """
    _validate_key(generate_name)
    _validate_flavour(options or {})
    _validate_seconds(options or {})
    choice = ScenarioChoice(scenario=Scenario(scenario), options=dict(options or {}))
    data = _patch_data(api, {generate_name: choice.encode()})
    if operator_down(data):
        write_operator_readiness(api, ready=False)
    return choice


def clear_scenario(api: client.ApiClient, generate_name: str) -> None:
    """Back to the happy path for ``generate_name``.

    Readiness comes back when the operator sees the change: only a running
    operator may claim a ready replica.
    """
    _patch_data(api, {generate_name: None})


def read_scenarios(api: client.ApiClient) -> dict[str, str]:
    core = client.CoreV1Api(api)
    try:
        configmap = core.read_namespaced_config_map(SCENARIO_CONFIGMAP, OPERATOR_NAMESPACE)
    except client.ApiException as exc:
        if exc.status == 404:
            return {}
        raise SandboxError(f"cannot read scenarios: {exc.reason}") from exc
    return dict(configmap.data or {})


def _patch_data(api: client.ApiClient, changes: Mapping[str, str | None]) -> dict[str, str]:
    core = client.CoreV1Api(api)
    try:
        configmap = core.patch_namespaced_config_map(
            SCENARIO_CONFIGMAP,
            OPERATOR_NAMESPACE,
            {"data": dict(changes)},
            _content_type="application/merge-patch+json",
        )
    except client.ApiException as exc:
        if exc.status != 404:
            raise SandboxError(f"cannot update scenarios: {exc.reason}") from exc
        body = {
            "metadata": {"name": SCENARIO_CONFIGMAP, "namespace": OPERATOR_NAMESPACE},
            "data": {k: v for k, v in changes.items() if v is not None},
        }
        try:
            configmap = core.create_namespaced_config_map(OPERATOR_NAMESPACE, body)
        except client.ApiException as create_exc:
            raise SandboxError(f"cannot create scenarios: {create_exc.reason}") from create_exc
    return dict(configmap.data or {})


def write_operator_readiness(api: client.ApiClient, *, ready: bool) -> None:
    """The operator Deployment's status (there is no controller-manager to write it)."""
    replicas = 1 if ready else 0
    body = {
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "unavailableReplicas": 1 - replicas,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if ready else "False",
                    "reason": "MinimumReplicasAvailable" if ready else "MinimumReplicasUnavailable",
                    "message": "Deployment has minimum availability."
                    if ready
                    else "Deployment does not have minimum availability.",
                }
            ],
        }
    }
    try:
        client.AppsV1Api(api).patch_namespaced_deployment_status(
            OPERATOR_DEPLOYMENT,
            OPERATOR_NAMESPACE,
            body,
            _content_type="application/merge-patch+json",
        )
    except client.ApiException as exc:
        raise SandboxError(f"cannot write operator Deployment status: {exc.reason}") from exc
