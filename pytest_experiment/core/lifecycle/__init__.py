"""Lifecycle decisions over plain data: phases, budgets, what to report, which toil to log.

No I/O here: ``live`` feeds these functions the objects the watch saw, so
every message, category and priority of apply, follow and toil is tested
without a cluster. ``phases`` reads where an instance is, ``stuck`` why a
target will never recover, ``lines`` what is said, ``friction`` what is logged.
``format_duration`` is ``durations``'s, named here too because the run layer
imports it from here.
"""

from __future__ import annotations

from pytest_experiment.base.views import status
from pytest_experiment.core.durations import format_duration
from pytest_experiment.core.lifecycle.friction import (
    apply_toil,
    deleted_toil,
    failed_toil,
    missing_template_toil,
    operator_toil,
    results_toil,
    stuck_toil,
    timeout_toil,
    turn_toil,
    unreachable_toil,
    validation_toil,
)
from pytest_experiment.core.lifecycle.lines import (
    apply_template_command,
    delete_command,
    entering_lines,
    failed_summary_lines,
    inspect_command,
    progress_line,
    shown_path,
)
from pytest_experiment.core.lifecycle.phases import (
    FAILURE_CATEGORY,
    PHASES,
    TERMINAL,
    TIMEOUT_LABEL,
    TURN_CONDITIONS,
    Turn,
    condition_message,
    failed_in,
    first_condition_message,
    is_terminal,
    manual_completion,
    max_iterations,
    normal_phase,
    parse_time,
    phase_of,
    quality_gate_deciding,
    quality_gate_progress,
    recollect_delay,
    results_final,
    review_skipped_why,
    run_total,
    turn_condition,
    turned_failed,
    workflow_started,
)
from pytest_experiment.core.lifecycle.stuck import (
    StuckTarget,
    claim_names,
    claim_target,
    explained,
    failed_claim,
    failed_target,
)

__all__ = [
    "FAILURE_CATEGORY",
    "PHASES",
    "TERMINAL",
    "TIMEOUT_LABEL",
    "TURN_CONDITIONS",
    "StuckTarget",
    "Turn",
    "apply_template_command",
    "apply_toil",
    "claim_names",
    "claim_target",
    "condition_message",
    "delete_command",
    "deleted_toil",
    "entering_lines",
    "explained",
    "failed_claim",
    "failed_in",
    "failed_summary_lines",
    "failed_target",
    "failed_toil",
    "first_condition_message",
    "format_duration",
    "inspect_command",
    "is_terminal",
    "manual_completion",
    "max_iterations",
    "missing_template_toil",
    "normal_phase",
    "operator_toil",
    "parse_time",
    "phase_of",
    "progress_line",
    "quality_gate_deciding",
    "quality_gate_progress",
    "recollect_delay",
    "results_final",
    "results_toil",
    "review_skipped_why",
    "run_total",
    "shown_path",
    "status",
    "stuck_toil",
    "timeout_toil",
    "turn_condition",
    "turn_toil",
    "turned_failed",
    "unreachable_toil",
    "validation_toil",
    "workflow_started",
]
