"""The intent summary: series placement, differentiating groups, rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_experiment.core.intent import (
    Machine,
    SeriesCatalogue,
    build_intent,
    place,
    sentences,
)
from pytest_experiment.core.sitedata import load_site_data
from pytest_experiment.core.spec import Experiment, load_experiment, read_source

DATA = Path(__file__).parent / "data" / "checks"
CATALOGUE = {
    "series": [
        {"id": "storage-internals", "name": "Storage", "order": ["kv-base", "kv-hdb", "kv-next"]},
        {"id": "other", "order": ["bare"]},
    ]
}


def fixture_experiment(name: str) -> Experiment:
    return Experiment.from_source(read_source(DATA / f"{name}.yaml"), name=name)


def edited(tmp_path: Path, name: str, old: str, new: str) -> Experiment:
    text = (DATA / f"{name}.yaml").read_text()
    assert old in text
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.replace(old, new))
    return Experiment.from_source(read_source(path), name=name)


def real(upstream: Path, name: str) -> Experiment:
    experiment = load_experiment(upstream / "experiments" / name / "experiment.yaml")
    assert experiment is not None
    return experiment


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two!", ["One.", "Two!"]),
        ("No stop at all", ["No stop at all"]),
        ("Scales 1.5x better. Then\n  wraps.", ["Scales 1.5x better.", "Then wraps."]),
        ("ends with p99.", ["ends with p99."]),
        ("lower case. after a stop stays together", ["lower case. after a stop stays together"]),
        ("", []),
    ],
)
def test_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_catalogue_ignores_entries_of_the_wrong_shape() -> None:
    catalogue = SeriesCatalogue.from_data(
        {
            "series": [
                "text",
                {"name": "no id"},
                {"id": "a", "order": "not a list"},
                {"id": "b", "order": ["x", 3, "y"]},
            ]
        }
    )
    assert [(s.id, s.name, s.order) for s in catalogue.series] == [
        ("a", "a", ()),
        ("b", "b", ("x", "y")),
    ]
    assert SeriesCatalogue.from_data([1, 2]).series == ()
    assert SeriesCatalogue.from_data({"series": "x"}).series == ()


def test_place_by_spec_series_and_order() -> None:
    placement = place(fixture_experiment("kv-hdb"), SeriesCatalogue.from_data(CATALOGUE))
    assert placement is not None
    assert (placement.series, placement.position, placement.length) == ("storage-internals", 2, 3)
    assert placement.earlier == ("kv-base",)


def test_place_by_prefix_when_spec_names_no_series() -> None:
    placement = place(fixture_experiment("bare"), SeriesCatalogue.from_data(CATALOGUE))
    assert placement is not None
    assert (placement.series, placement.position, placement.earlier) == ("other", 1, ())


def test_place_unknown_series_keeps_the_name_without_position(tmp_path: Path) -> None:
    experiment = edited(tmp_path, "kv-hdb", "series: storage-internals", "series: elsewhere")
    placement = place(experiment, SeriesCatalogue.from_data(CATALOGUE))
    assert placement is not None
    assert (placement.series, placement.position, placement.length) == ("elsewhere", None, None)


def test_place_series_that_does_not_list_the_prefix(tmp_path: Path) -> None:
    experiment = edited(tmp_path, "kv-hdb", "generateName: kv-hdb-", "generateName: kv-zzz-")
    placement = place(experiment, SeriesCatalogue.from_data(CATALOGUE))
    assert placement is not None
    assert (placement.position, placement.length, placement.earlier) == (None, 3, ())


def test_no_series_anywhere() -> None:
    assert place(fixture_experiment("bare"), SeriesCatalogue()) is None
    intent = build_intent(fixture_experiment("bare"))
    assert (intent.series, intent.position, intent.series_length) == (None, None, None)


def test_differentiating_groups_leave_out_groups_with_prior_names() -> None:
    intent = build_intent(
        fixture_experiment("kv-hdb"),
        series=CATALOGUE,
        prior_metric_names=frozenset({"ssd_read_p99", "cluster_cpu", "unrelated"}),
    )
    assert intent.groups == ("ssd", "hdb", "cluster")
    assert intent.differentiating == ("hdb",)


def test_all_groups_differentiate_without_prior_data() -> None:
    intent = build_intent(fixture_experiment("kv-hdb"), series=CATALOGUE)
    assert intent.differentiating == ("ssd", "hdb", "cluster")
    assert "\n  Differentiator: ssd, hdb, cluster\n" in intent.render()


def test_claim_is_its_first_sentence_and_machines_are_listed() -> None:
    intent = build_intent(fixture_experiment("kv-hdb"), series=SeriesCatalogue())
    assert intent.claim == "Hyperdisk Balanced halves p99 write latency against PD-SSD."
    assert intent.machines == (Machine("n2-standard-8", False),)


def test_render_matches_the_seed_block() -> None:
    intent = build_intent(
        fixture_experiment("kv-hdb"),
        series=CATALOGUE,
        prior_metric_names=frozenset({"ssd_write_p99", "cluster_cpu"}),
    )
    assert intent.render() == (
        "Intent:\n"
        "  Series: storage-internals (#2)\n"
        '  Claim: "Hyperdisk Balanced halves p99 write latency against PD-SSD."\n'
        "  Metric groups: ssd, hdb, cluster\n"
        "  Differentiator: hdb\n"
        "  Machine: n2-standard-8 (preemptible: false)"
    )


def test_render_of_an_empty_intent(tmp_path: Path) -> None:
    path = tmp_path / "experiment.yaml"
    path.write_text("kind: Experiment\nspec:\n  targets:\n    - name: app\n")
    intent = build_intent(Experiment.from_source(read_source(path)))
    assert intent.render() == (
        "Intent:\n"
        "  Series: none\n"
        "  Claim: none\n"
        "  Metric groups: none\n"
        "  Differentiator: none\n"
        "  Machine: unspecified (preemptible: unknown)"
    )


def test_render_without_targets_says_the_machine_is_unspecified(tmp_path: Path) -> None:
    path = tmp_path / "experiment.yaml"
    path.write_text("kind: Experiment\nspec: {}\n")
    intent = build_intent(Experiment.from_source(read_source(path)))
    assert intent.render().splitlines()[-1] == "  Machine: unspecified"


def test_a_series_keeps_its_name_when_it_has_one() -> None:
    catalogue = SeriesCatalogue.from_data({"series": [{"id": "a", "name": "Disks", "order": []}]})
    assert [(s.id, s.name) for s in catalogue.series] == [("a", "Disks")]


def test_real_series_members_are_placed_by_prefix(upstream: Path) -> None:
    site = load_site_data(upstream / "site-data")
    fvm = build_intent(real(upstream, "db-fsync-vs-memory"), series=site.series)
    dsc = build_intent(real(upstream, "db-disk-comparison"), series=site.series)
    assert (fvm.series, fvm.position, fvm.series_length) == ("cloud-database-internals", 1, 3)
    assert (dsc.series, dsc.position, dsc.series_length) == ("cloud-database-internals", 2, 3)


def test_real_db_dsc_differentiates_by_disk_type_after_db_fvm(upstream: Path) -> None:
    experiment = real(upstream, "db-disk-comparison")
    site = load_site_data(upstream / "site-data")
    intent = build_intent(
        experiment, series=site.series, prior_metric_names=site.prior_metric_names(experiment)
    )
    assert intent.groups == ("hdd", "balanced", "ssd", "timeseries", "disk_io", "totals", "cluster")
    # timeseries (fsync_latency_over_time, …) and cluster (cluster_cpu, cluster_memory)
    # were already published by db-fvm; every other group is new.
    assert intent.differentiating == ("hdd", "balanced", "ssd", "disk_io", "totals")
    assert intent.render().splitlines()[1] == "  Series: cloud-database-internals (#2)"


def test_real_experiment_with_two_machine_types(upstream: Path) -> None:
    intent = build_intent(real(upstream, "gateway-comparison"))
    assert intent.machines == (Machine("e2-standard-4", True), Machine("e2-standard-2", True))
    assert intent.render().endswith(
        "Machine: e2-standard-4 (preemptible: true), e2-standard-2 (preemptible: true)"
    )


@pytest.mark.timeout(30)
def test_sentences_is_linear_in_the_length_of_the_text() -> None:
    # 10 MB: the old split copied the rest of the text after every sentence
    # (about 3 minutes here); a linear split takes well under a second.
    text = "This is a claim. " * 600_000
    found = sentences(text)
    assert len(found) == 600_000
    assert found[0] == found[-1] == "This is a claim."
