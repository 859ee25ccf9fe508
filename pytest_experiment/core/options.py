"""The session's options after precedence and parsing: one frozen dataclass.

Every field is an ``--experiment-*`` option; ``core.option_table`` says how each
is written on the command line, in ini and in the environment, and resolves the
raw values into an ``Options``. Each field's default here is the one its help
names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pytest_experiment.base.resources import EXPERIMENT_NAMESPACE
from pytest_experiment.core.prices import PriceTable

OnTimeout = Literal["fail", "extend", "abort"]
CleanupPolicy = Literal["on-success", "always", "never"]
AutofixMode = Literal["off", "suggest", "apply"]
ReviewAction = Literal["skip", "approve", "reject", "auto"]
ReproducibilityMode = Literal["warn", "fail"]


@dataclass(frozen=True, slots=True)
class Options:
    """Every experiment option after precedence and parsing."""

    sandbox: bool = False
    sandbox_crd: Path | None = None
    results: Path | None = None
    site_data: Path | None = None
    components_dir: Path | None = None
    report: Path | None = None
    html: Path | None = None
    reproducibility: ReproducibilityMode = "warn"
    reproducibility_floor: float = 0.10
    s3_endpoint: str | None = None
    kubeconfig: Path | None = None
    context: str | None = None
    namespace: str | None = None
    apply_templates: bool = False
    max_concurrent: int = 0
    budget_pending: float | None = 20 * 60.0
    budget_provisioning: float | None = 20 * 60.0
    budget_ready: float | None = 10 * 60.0
    budget_running: float | None = None
    budget_operator: float | None = 2 * 60.0
    max_cost: float | None = None
    price_table: PriceTable | None = None
    poll_interval: float | None = 15.0
    on_timeout: OnTimeout = "fail"
    max_extensions: int = 1
    cleanup: CleanupPolicy = "on-success"
    results_wait: float | None = 30.0
    budget_analyzer: float | None = 15 * 60.0
    budget_analyzer_start: float | None = 2 * 60.0
    autofix: AutofixMode = "suggest"
    review: ReviewAction = "skip"
    budget_review: float | None = 2 * 60.0
    budget_delete: float | None = 60.0
    lease: float = 10 * 60.0
    sweep: bool = False
    instance: tuple[tuple[str, str], ...] = ()
    toil: bool = True
    toil_file: Path = Path(".experiment-toil.jsonl")

    def budget(self, phase: str) -> float | None:
        """Seconds an experiment may stay in ``phase`` (None: no limit)."""
        value: float | None = getattr(self, f"budget_{phase.lower()}", None)
        return value

    @property
    def default_namespace(self) -> str:
        """Where an experiment whose file names no namespace is created."""
        return self.namespace or EXPERIMENT_NAMESPACE

    @property
    def attach(self) -> dict[str, str]:
        return dict(self.instance)
