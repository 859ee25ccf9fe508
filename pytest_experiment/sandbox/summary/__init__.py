"""The summary.json the simulated operator publishes, shaped like the real ones.

Pure functions of (experiment, scenario, timestamps): values are drawn from a
generator seeded with the instance and metric names, so a run is reproducible.
Happy values are sized to render with two decimals in their unit and to
satisfy the success criteria, so a happy run passes every quality check.

The lab's current operator writes keys in a fixed order, second-precision
times, no ``data`` key on a query that returned nothing, and no ``metrics``
section when nothing was collected. ``legacy=True`` gives the older shape the
seeds describe (``series``, empty ``data`` lists, confirmed/rejected verdicts).

Modules: ``document`` (the whole file, cost, targets), ``metrics`` (source and
queries), ``pods`` (per-pod CPU and memory), ``criteria`` (hypothesis and
verdicts), ``analysis`` (the analyzer's section), ``values`` (numbers and times).
"""

from pytest_experiment.sandbox.summary.analysis import build_analysis
from pytest_experiment.sandbox.summary.criteria import criteria_verdict, machine_verdict
from pytest_experiment.sandbox.summary.document import build_summary, coverage
from pytest_experiment.sandbox.summary.metrics import intent_gap_group
from pytest_experiment.sandbox.summary.values import compared_value

__all__ = [
    "build_analysis",
    "build_summary",
    "compared_value",
    "coverage",
    "criteria_verdict",
    "intent_gap_group",
    "machine_verdict",
]
