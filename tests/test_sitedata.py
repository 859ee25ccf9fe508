"""Site data on disk: loading once, matching results to experiments, prior metric names."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pytest_experiment.core.checks import CheckInput, run_checks
from pytest_experiment.core.intent import build_intent
from pytest_experiment.core.sitedata import load_site_data
from pytest_experiment.core.spec import Experiment, load_experiment, read_source

DATA = Path(__file__).parent / "data" / "checks"
SITE = DATA / "site"


def fixture_experiment(name: str) -> Experiment:
    return Experiment.from_source(read_source(DATA / f"{name}.yaml"), name=name)


def names(pairs: list[tuple[Path, Any]]) -> list[str]:
    return [summary["name"] for _, summary in pairs]


def test_loads_results_and_skips_documents_that_are_not_results() -> None:
    site = load_site_data(SITE)
    # The tutorial document is not a result, nor a problem; the JSON list named like a
    # result is a problem (below).
    assert sorted(r.name for r in site.results) == [
        "kv-base-aaaaa",
        "kv-base-bbbbb",
        "kv-hdb-ccccc",
        "kv-hdb-ddddd",
        "kv-hdb-eeeee",
        "kv-hdbx-fffff",
        "kv-next-ggggg",
    ]
    assert site.series.get("storage-internals") is not None


def test_corrupt_json_is_a_problem_not_a_crash() -> None:
    site = load_site_data(SITE)
    assert len(site.problems) == 2
    assert site.problems[0].startswith(f"{SITE / 'kv-base-trunc.json'}:1: not valid JSON (")
    assert site.problems[1] == f"{SITE / 'listing.json'}:1: holds array, not an object"
    # Named after an instance of kv-base-: that experiment reports it.
    assert site.unreadable_for("kv-base-") == [(SITE / "kv-base-trunc.json", site.problems[0])]
    assert site.unreadable_for("kv-hdb-") == []


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("null", "holds null, not an object"),
        ('[{"name": "kv-base-zzzzz"}]', "holds array, not an object"),
        ('"kv-base-zzzzz"', "holds string, not an object"),
        ('{"phase": "Complete"}', 'has no "name" (the instance it is a result of)'),
        ('{"name": null, "phase": "Complete"}', '"name" is null, not a string'),
        ('{"name": 7}', '"name" is integer, not a string'),
        ('{"name": ""}', '"name" is empty'),
    ],
)
def test_a_result_that_is_not_a_summary_is_reported_by_its_experiment(
    tmp_path: Path, document: str, problem: str
) -> None:
    """Dropped without a word, it would leave its experiment "no result matches"."""
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    path = site_dir / "kv-base-zzzzz.json"
    path.write_text(document)
    (site_dir / "kv-base-zzzzz.tutorial.json").write_text(document)  # not a result's name
    (site_dir / "_index.json").write_text(document)  # the site's own documents
    site = load_site_data(site_dir)
    assert site.results == ()
    assert site.problems == (f"{path}:1: {problem}",)
    assert site.unreadable_for("kv-base-") == [(path, f"{path}:1: {problem}")]
    assert site.unreadable_for("kv-hdb-") == []


def test_results_for_matches_the_whole_generate_name_newest_first() -> None:
    site = load_site_data(SITE)
    # kv-hdbx- is another experiment; the result without completedAt comes last.
    assert names(site.results_for("kv-hdb-")) == ["kv-hdb-ddddd", "kv-hdb-ccccc", "kv-hdb-eeeee"]
    # Nanosecond timestamps are ordered by time, not as text.
    assert names(site.results_for("kv-base-")) == ["kv-base-bbbbb", "kv-base-aaaaa"]
    assert site.results_for("") == []
    path, summary = site.results_for("kv-next-")[0]
    assert path == SITE / "kv-next-ggggg.json"
    assert summary["phase"] == "Complete"


def test_completion_times_are_utc() -> None:
    stamps = {r.name: r.completed_at for r in load_site_data(SITE).results}
    # The operator writes UTC; a timestamp without an offset is read as UTC too.
    assert stamps["kv-next-ggggg"] == datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert stamps["kv-base-bbbbb"] == datetime(2026, 1, 2, 10, 0, 0, 123456, tzinfo=UTC)
    assert stamps["kv-hdb-eeeee"] is None


def test_prior_metric_names_come_from_earlier_members_only() -> None:
    site = load_site_data(SITE)
    # kv-base is before kv-hdb; kv-next (after) and kv-hdbx (not in the series) do not count.
    assert site.prior_metric_names(fixture_experiment("kv-hdb")) == {
        "ssd_write_p99",
        "cluster_cpu",
        "ssd_read_p99",
    }


def test_prior_metric_names_without_earlier_members(tmp_path: Path) -> None:
    site = load_site_data(SITE)
    assert site.prior_metric_names(fixture_experiment("bare")) == frozenset()
    text = (
        (DATA / "kv-hdb.yaml")
        .read_text()
        .replace("generateName: kv-hdb-", "generateName: kv-base-")
    )
    (tmp_path / "first.yaml").write_text(text)
    first = Experiment.from_source(read_source(tmp_path / "first.yaml"))
    assert site.prior_metric_names(first) == frozenset()


def test_missing_directory_is_empty_site_data(tmp_path: Path) -> None:
    site = load_site_data(tmp_path / "absent")
    assert (site.results, site.series.series, site.problems) == ((), (), ())


def test_corrupt_series_file_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "_series.json").write_text("{nope")
    (tmp_path / "x-1.json").write_bytes(b'{"name": "x-1", "note": "\xff"}')
    site = load_site_data(tmp_path)
    assert site.series.series == ()
    assert [Path(p.split(":")[0]).name for p in site.problems] == ["_series.json", "x-1.json"]
    assert "not UTF-8" in site.problems[1]


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        ("_series.json", '{"series": [\n  ' + "7" * 5001 + "]}", 2, "integer of 5001 digits"),
        ("kv-base-zzzzz.json", '{"name": "kv-base-zzzzz",\n "n": ' + "1" * 5001 + "}", 2, "5001"),
        ("kv-base-deep1.json", "[" * 100_000 + "]" * 100_000, 1, "nesting deeper than 64"),
        ("_series.json", '["not", "an object"]', 1, "expected an object with a series array"),
    ],
)
def test_one_bad_file_is_a_problem_naming_file_and_line(
    tmp_path: Path, name: str, text: str, line: int, message: str
) -> None:
    for good in SITE.glob("kv-hdb-*.json"):
        (tmp_path / good.name).write_bytes(good.read_bytes())
    (tmp_path / name).write_text(text)
    site = load_site_data(tmp_path)
    assert len(site.problems) == 1
    assert site.problems[0].startswith(f"{tmp_path / name}:{line}: ")
    assert message in site.problems[0]
    assert names(site.results_for("kv-hdb-")) == ["kv-hdb-ddddd", "kv-hdb-ccccc", "kv-hdb-eeeee"]


def test_each_file_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_loads = json.loads

    def counting(data: str | bytes, **kwargs: Any) -> Any:
        calls.append(1)
        return real_loads(data, **kwargs)

    monkeypatch.setattr(json, "loads", counting)
    site = load_site_data(SITE)
    parsed = len(calls)
    assert parsed == len(list(SITE.glob("*.json")))
    for _ in range(3):
        site.results_for("kv-hdb-")
        site.prior_metric_names(fixture_experiment("kv-hdb"))
    assert len(calls) == parsed


def test_real_site_data_loads_without_problems(upstream: Path) -> None:
    site = load_site_data(upstream / "site-data")
    assert site.problems == ()
    assert len(site.results) == 26  # 27 non-catalogue files minus id-102.tutorial.json
    assert [s.id for s in site.series.series if s.order] == ["cloud-database-internals", "identity"]


def test_real_results_for_are_newest_first(upstream: Path) -> None:
    site = load_site_data(upstream / "site-data")
    assert names(site.results_for("db-fvm-")) == ["db-fvm-tsl9m", "db-fvm-mpcnl", "db-fvm-zz7jt"]
    logging = names(site.results_for("logging-comparison-"))
    assert len(logging) == 11
    assert (logging[0], logging[-1]) == ("logging-comparison-nkbf8", "logging-comparison-dbkf7")


def test_real_priors_of_db_dsc_are_the_db_fvm_metric_names(upstream: Path) -> None:
    site = load_site_data(upstream / "site-data")
    dsc = load_experiment(upstream / "experiments" / "db-disk-comparison" / "experiment.yaml")
    fvm = load_experiment(upstream / "experiments" / "db-fsync-vs-memory" / "experiment.yaml")
    assert dsc is not None
    assert fvm is not None
    assert site.prior_metric_names(dsc) == {m.name for m in fvm.metrics}
    assert site.prior_metric_names(fvm) == frozenset()


def test_scoring_the_whole_real_corpus_takes_under_a_second(upstream: Path) -> None:
    """Within a second: load the site data, then score every result against its experiment."""
    experiments = [
        e
        for p in sorted((upstream / "experiments").glob("*/experiment.yaml"))
        if (e := load_experiment(p))
    ]
    site = load_site_data(upstream / "site-data")
    scored = 0
    for experiment in experiments:
        intent = build_intent(
            experiment,
            series=site.series,
            prior_metric_names=site.prior_metric_names(experiment),
        )
        for _, summary in site.results_for(experiment.generate_name):
            run_checks(CheckInput(experiment=experiment, summary=summary, intent=intent))
            scored += 1
    assert scored == 24  # every result except id-102 and ui-showcase-demo has an experiment


def test_a_result_that_cannot_be_read_is_a_problem_naming_why(tmp_path: Path) -> None:
    (tmp_path / "kv-base-abcde.json").mkdir()
    site = load_site_data(tmp_path)
    assert site.results == ()
    assert len(site.problems) == 1
    assert site.problems[0].startswith(f"{tmp_path / 'kv-base-abcde.json'}: cannot read (")
    assert site.unreadable_for("kv-base-") == [(tmp_path / "kv-base-abcde.json", site.problems[0])]
