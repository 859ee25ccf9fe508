"""The cost estimate and the ``--experiment-max-cost`` guard, as pure functions, on the real
corpus: the lab's experiments, priced as its operator prices them, against what it published."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from pytest_experiment.base.errors import OptionError
from pytest_experiment.core.cost import Bound, Estimate, Published, estimate, guard, session_total
from pytest_experiment.core.option_table import resolve
from pytest_experiment.core.options import Options
from pytest_experiment.core.prices import PriceTable, read_price_table, shipped_prices, usd
from pytest_experiment.core.sitedata import SiteData, load_site_data
from pytest_experiment.core.spec import Experiment, load_experiment, read_source
from pytest_experiment.core.verdict import Status

HOUR = 3600.0


@pytest.fixture(scope="module")
def site(upstream: Path) -> SiteData:
    return load_site_data(upstream / "site-data")


def lab(upstream: Path, name: str) -> Experiment:
    found = load_experiment(upstream / "experiments" / name / "experiment.yaml")
    assert found is not None
    return found


def estimate_of(
    experiment: Experiment,
    site: SiteData | None = None,
    options: Options | None = None,
    prices: PriceTable | None = None,
) -> Estimate:
    options = options or Options()
    published = site.results_for(experiment.generate_name) if site else []
    return estimate(
        experiment,
        prices=prices or shipped_prices(),
        bound=Bound.of(options, experiment),
        published=[summary for _, summary in published],
    )


def written(tmp_path: Path, text: str) -> Experiment:
    path = tmp_path / "exp" / "experiment.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "apiVersion: experiments.illm.io/v1alpha1\nkind: Experiment\n"
        "metadata: {generateName: exp-}\nspec:\n  targets:\n" + text
    )
    return Experiment.from_source(read_source(path))


# -- priced as the operator prices a run --------------------------------------------------


def test_the_rate_times_a_published_duration_is_what_the_operator_published(
    upstream: Path, site: SiteData
) -> None:
    # db-fsync-vs-memory and db-disk-comparison ran with the spec they have now
    # (one preemptible e2-standard-4): the operator's costEstimate of every one of
    # their runs is the estimate's hourly rate times the run's duration.
    checked = 0
    for name in ("db-fsync-vs-memory", "db-disk-comparison"):
        experiment = lab(upstream, name)
        hourly = estimate_of(experiment).hourly
        assert hourly == pytest.approx(0.134 * 0.2)
        for _, summary in site.results_for(experiment.generate_name):
            published = summary["costEstimate"]["totalUSD"]
            assert hourly * summary["durationSeconds"] / HOUR == pytest.approx(published, rel=1e-6)
            checked += 1
    assert checked == 4


def test_an_unset_machine_type_is_priced_at_the_operators_fallback(
    site: SiteData, tmp_path: Path
) -> None:
    # Published runs whose target names no machine type cost $0.10/h x 0.2: the
    # operator's fallback rate, not e2-medium's (what GKE creates by default).
    experiment = written(
        tmp_path, "    - name: app\n      cluster: {type: gke, preemptible: true}\n"
    )
    hourly = estimate_of(experiment).hourly
    assert hourly == pytest.approx(0.02)
    unset = [
        r.summary
        for r in site.results
        if isinstance(r.summary.get("costEstimate"), dict)
        and all(not t.get("machineType") for t in r.summary.get("targets") or [{}])
        and r.summary.get("targets")
    ]
    assert len(unset) >= 8
    for summary in unset:
        cost = summary["costEstimate"]["totalUSD"]
        assert hourly * summary["durationSeconds"] / HOUR == pytest.approx(cost, rel=1e-6)


def test_nodes_preemptible_and_hub_targets(tmp_path: Path) -> None:
    experiment = written(
        tmp_path,
        "    - name: app\n      cluster: {type: gke, machineType: e2-standard-8, nodeCount: 3}\n"
        "    - name: loadgen\n      cluster: {type: gke, machineType: e2-standard-2, "
        "preemptible: true}\n"
        "    - name: hub\n      cluster: {type: hub, machineType: e2-standard-8}\n",
    )
    found = estimate_of(experiment)
    assert [t.hourly for t in found.targets] == pytest.approx([3 * 0.268, 0.067 * 0.2, 0.0])
    assert found.hourly == pytest.approx(3 * 0.268 + 0.067 * 0.2)
    assert found.lines[:3] == (
        "app: 3 × e2-standard-8 at $0.268/h = $0.804/h",
        "loadgen: 1 × e2-standard-2 at $0.067/h, preemptible × 0.2 = $0.0134/h",
        "hub: hub: no cloud cluster, no cost",
    )


def test_a_machine_type_the_table_lacks_leaves_no_estimate(examples: Path) -> None:
    experiment = load_experiment(examples / "kv-hyperdisk" / "experiment.yaml")
    assert experiment is not None
    found = estimate_of(experiment, options=Options(budget_running=HOUR))
    assert found.hourly is None
    assert found.amount is None
    assert found.headline() == (
        "cost cannot be estimated: app: machine type c3-standard-4 is not in the price table; "
        "give its price with --experiment-price-table FILE"
    )
    prices = dataclasses.replace(shipped_prices(), hourly={"c3-standard-4": 0.2016})
    priced = estimate_of(experiment, options=Options(budget_running=HOUR), prices=prices)
    assert priced.hourly == pytest.approx(0.2016 * 0.2)


# -- the two durations: budgets (upper bound) and published runs (expected) -----------------


def test_the_published_medians_of_a_series(upstream: Path, site: SiteData) -> None:
    logging = lab(upstream, "logging-comparison")
    published = estimate_of(logging, site).published
    assert published.runs == 11
    assert published.median_seconds == pytest.approx(774.833063392)
    assert published.median_usd == pytest.approx(0.004304628129955556)
    # A run without a duration is not a run to take one from.
    assert Published.of([{"durationSeconds": None}, {"costEstimate": {"totalUSD": 1}}]).runs == 0


def test_without_a_running_budget_the_expected_cost_is_counted(
    upstream: Path, site: SiteData
) -> None:
    fvm = estimate_of(lab(upstream, "db-fsync-vs-memory"), site)
    assert fvm.upper is None
    assert fvm.basis == "expected"
    assert fvm.amount == pytest.approx(0.0268 * 2557.169461404 / HOUR)
    assert fvm.headline() == "estimated $0.019 (expected, from 3 published runs)"
    assert "no upper bound: Running has no budget (--experiment-budget-running)" in fvm.lines


def test_with_every_budget_the_upper_bound_is_counted(upstream: Path, site: SiteData) -> None:
    options = Options(budget_running=HOUR)
    fvm = estimate_of(lab(upstream, "db-fsync-vs-memory"), site, options)
    # 20m + 20m + 10m + 1h.
    assert fvm.bound.seconds == 110 * 60
    assert fvm.upper == pytest.approx(0.0268 * 110 / 60)
    assert fvm.amount == fvm.upper
    assert fvm.expected is not None
    assert fvm.upper is not None
    assert fvm.expected < fvm.upper
    assert fvm.headline() == "estimated $0.0491 (upper bound from the phase budgets)"
    assert fvm.lines[1] == (
        "upper bound: $0.0268/h × (Pending 20m + Provisioning 20m + Ready 10m + Running 1h) "
        "= $0.0491"
    )
    assert fvm.lines[2] == (
        "expected: $0.0268/h × 42m37s (median duration of 3 published runs) = $0.019; "
        "the operator published a median of $0.019"
    )
    assert fvm.lines[3].startswith("prices: Google Cloud Compute Engine on-demand VM prices")


def test_extensions_and_auto_fix_reruns_stretch_the_bound(upstream: Path) -> None:
    experiment = lab(upstream, "db-fsync-vs-memory")
    assert experiment.publish
    base = Options(budget_running=HOUR)
    plain = estimate_of(experiment, options=base).upper
    assert plain is not None
    extended = estimate_of(
        experiment, options=dataclasses.replace(base, on_timeout="extend", max_extensions=2)
    )
    assert extended.upper == pytest.approx(3 * plain)
    assert "× 3 (--experiment-on-timeout=extend)" in extended.lines[1]
    rerun = estimate_of(experiment, options=dataclasses.replace(base, autofix="apply"))
    assert rerun.upper == pytest.approx(4 * plain)
    # Only a published experiment is re-run by auto-fix.
    unpublished = dataclasses.replace(experiment, publish=False)
    assert estimate_of(unpublished, options=dataclasses.replace(base, autofix="apply")).upper == (
        pytest.approx(plain)
    )


def test_neither_bound_nor_published_runs_leaves_no_estimate(
    upstream: Path, site: SiteData
) -> None:
    gateway = estimate_of(lab(upstream, "gateway-comparison"), site)
    assert gateway.hourly == pytest.approx((0.134 + 0.067) * 0.2)
    assert gateway.amount is None
    assert gateway.why_unknown == (
        "Running has no budget (--experiment-budget-running) and no published run of "
        "gw-comp- to take a duration from"
    )


# -- the guard ------------------------------------------------------------------------------


def _session(upstream: Path, site: SiteData, options: Options) -> list[Estimate]:
    names = ("db-fsync-vs-memory", "tsdb-comparison", "logging-comparison")
    return [estimate_of(lab(upstream, n), site, options) for n in names]


def test_within_the_limit_every_experiment_passes_with_the_session_total(
    upstream: Path, site: SiteData
) -> None:
    estimates = _session(upstream, site, Options(budget_running=HOUR))
    total = session_total(estimates)
    assert total is not None
    assert total == pytest.approx(sum(e.upper or 0 for e in estimates))
    verdicts = guard(estimates, limit=total)  # exactly at the limit is within it
    assert {v.status for v in verdicts.values()} == {Status.PASS}
    fvm = verdicts["db-fsync-vs-memory"]
    assert fvm.line == (
        f"[PASS] Cost estimated $0.0491 (upper bound from the phase budgets); the session's "
        f"{usd(total)} is within --experiment-max-cost {usd(total)}"
    )
    assert fvm.figures == {
        "estimateUSD": estimates[0].amount,
        "basis": "upper bound",
        "sessionUSD": total,
        "limitUSD": total,
    }
    assert fvm.details == estimates[0].lines


def test_over_the_limit_every_experiment_fails_with_its_own_estimate(
    upstream: Path, site: SiteData
) -> None:
    estimates = _session(upstream, site, Options(budget_running=HOUR))
    total = session_total(estimates)
    assert total is not None
    # Each alone is within the limit; together they are not.
    limit = max(e.upper or 0 for e in estimates) * 1.5
    assert total > limit
    verdicts = guard(estimates, limit=limit)
    assert {v.status for v in verdicts.values()} == {Status.FAIL}
    logging = verdicts["logging-comparison"]
    assert logging.line == (
        f"[FAIL] Cost estimated {usd(estimates[2].upper or 0)} (upper bound from the phase "
        f"budgets); the session's {usd(total)} is over --experiment-max-cost {usd(limit)}; "
        "nothing is applied"
    )
    assert logging.details == estimates[2].lines


def test_one_experiment_that_cannot_be_estimated_stops_the_session(
    upstream: Path, site: SiteData
) -> None:
    estimates = [
        estimate_of(lab(upstream, name), site)
        for name in ("db-fsync-vs-memory", "gateway-comparison")
    ]
    assert session_total(estimates) is None
    verdicts = guard(estimates, limit=1000.0)
    assert {v.status for v in verdicts.values()} == {Status.FAIL}
    assert verdicts["db-fsync-vs-memory"].summary == (
        "Cost estimated $0.019 (expected, from 3 published runs); the session's cost cannot be "
        "estimated (gateway-comparison); nothing is applied"
    )
    assert verdicts["gateway-comparison"].summary.startswith(
        "Cost cannot be estimated: Running has no budget"
    )


def test_an_attached_experiment_is_not_counted(upstream: Path, site: SiteData) -> None:
    gateway = dataclasses.replace(estimate_of(lab(upstream, "gateway-comparison"), site))
    attached = estimate(
        lab(upstream, "gateway-comparison"),
        prices=shipped_prices(),
        bound=Bound.of(Options(), lab(upstream, "gateway-comparison")),
        attached=True,
    )
    assert gateway.amount is None
    fvm = estimate_of(lab(upstream, "db-fsync-vs-memory"), site)
    verdicts = guard([fvm, attached], limit=1.0)
    assert verdicts["db-fsync-vs-memory"].status is Status.PASS
    assert verdicts["gateway-comparison"].status is Status.NA
    assert session_total([fvm, attached]) == fvm.amount


# -- the price table ---------------------------------------------------------------------


def test_the_shipped_table_names_its_source_and_holds_the_operators_rates() -> None:
    table = shipped_prices()
    assert "us-central1" in table.source
    assert "--experiment-price-table" in table.source
    assert table.preemptible_factor == 0.2
    assert table.unset_hourly == 0.1
    assert table.hourly["e2-standard-4"] == 0.134
    assert len(table.hourly) == 10


def _table(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"source": "x",\n "hourlyUSD": {"a": 1,}}', r"prices\.json:2: not valid JSON"),
        ('{"hourlyUSD": {}}', r"prices\.json: source: say where the prices come from"),
        ('{"source": "x", "hourlyUSD": []}', r"hourlyUSD: expected an object .*found array"),
        ('{"source": "x", "hourlyUSD": {"e2": "0.1"}}', r"hourlyUSD\.e2: expected a number"),
        ('{"source": "x", "hourlyUSD": {"e2": -1}}', r"hourlyUSD\.e2: -1 is not a non-negative"),
        ('{"source": "x", "hourlyUSD": {}, "preemptibleFactor": 5}', r"more than 1"),
        ('{"source": "x", "hourlyUSD": {}, "hourly": {}}', r"unknown key 'hourly'"),
        ("[1]", r"holds array, not an object"),
    ],
)
def test_a_bad_price_table_is_refused_naming_the_file(
    tmp_path: Path, text: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        read_price_table(_table(tmp_path, text))


def test_the_price_table_option_reads_the_file_at_start_up(tmp_path: Path) -> None:
    good = _table(tmp_path, json.dumps({"source": "our rates", "hourlyUSD": {"e2-medium": 1}}))
    options = resolve(cli={"price_table": str(good)}, ini={}, env={}, cwd=tmp_path, inidir=tmp_path)
    assert options.price_table == PriceTable(
        source="our rates", hourly={"e2-medium": 1.0}, path=good
    )
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(OptionError, match=r"^ini option experiment_price_table: .*bad\.json: "):
        resolve(cli={}, ini={"price_table": "bad.json"}, env={}, cwd=tmp_path, inidir=tmp_path)


@pytest.mark.parametrize(("text", "amount"), [("5", 5.0), ("$0.50", 0.5), ("1,200", 1200.0)])
def test_max_cost_takes_dollars(tmp_path: Path, text: str, amount: float) -> None:
    env = {"EXPERIMENT_MAX_COST": text}
    options = resolve(cli={}, ini={}, env=env, cwd=tmp_path, inidir=tmp_path)
    assert options.max_cost == amount


@pytest.mark.parametrize("text", ["five", "-1", "nan", "inf"])
def test_max_cost_refuses_what_is_not_dollars(tmp_path: Path, text: str) -> None:
    with pytest.raises(OptionError, match=r"^--experiment-max-cost: "):
        resolve(cli={"max_cost": text}, ini={}, env={}, cwd=tmp_path, inidir=tmp_path)


def test_usd_writes_fractions_of_a_cent() -> None:
    assert [usd(x) for x in (0.2, 0.0201, 0.0043046, 0, 1, 1234.5)] == [
        "$0.20", "$0.0201", "$0.0043", "$0.00", "$1.00", "$1,234.50",
    ]  # fmt: skip


def test_one_published_run_prices_the_expected_cost_from_its_duration(tmp_path: Path) -> None:
    experiment = written(tmp_path, "    - name: app\n      cluster: {type: gke}\n")
    # 1000 h at the fallback rate: $100.00, where a second off the hour would show.
    published: list[dict[str, float | None]] = [
        {"durationSeconds": None},
        {"durationSeconds": 1000 * HOUR},
    ]
    found = estimate(
        experiment,
        prices=shipped_prices(),
        bound=Bound.of(Options(), experiment),
        published=published,
    )
    assert found.published.runs == 1
    assert found.attached is False
    text = "\n".join(found.lines)
    assert "(median duration of 1 published run) = " in text
    assert found.hourly == pytest.approx(0.10)
    assert "= $100.00" in text
    assert found.headline() == "estimated $100.00 (expected, from 1 published run)"
    assert "machineType unset (the operator's fallback rate)" in text


def test_usd_writes_cents_from_one_dollar_up() -> None:
    assert [usd(x) for x in (0.9999, 1.2345, 1.999)] == ["$0.9999", "$1.23", "$2.00"]


def test_a_rate_of_zero_and_a_preemptible_factor_of_one_are_accepted(tmp_path: Path) -> None:
    text = '{"source": "x", "hourlyUSD": {"free": 0}, "preemptibleFactor": 1}'
    table = read_price_table(_table(tmp_path, text))
    assert (table.hourly, table.preemptible_factor) == ({"free": 0.0}, 1.0)
    with pytest.raises(ValueError, match=r"preemptibleFactor: 1\.5 is more than 1"):
        read_price_table(
            _table(tmp_path, '{"source": "x", "hourlyUSD": {}, "preemptibleFactor": 1.5}')
        )
