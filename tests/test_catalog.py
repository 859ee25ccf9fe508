"""The component catalogue that ``spec.targets[].components[].app`` resolves in."""

from __future__ import annotations

from pathlib import Path

from pytest_experiment.core.catalog import load_catalogue

FIXTURE = Path(__file__).parent / "data" / "rules" / "components"


def test_real_catalogue_holds_every_component_without_problems(upstream: Path) -> None:
    catalogue = load_catalogue(upstream / "components")
    assert len(catalogue) == 36
    assert dict(catalogue.problems) == {}
    assert all(entry.path.parent.name == name for name, entry in catalogue.entries.items())
    assert "kube-prometheus-stack" in catalogue
    assert "my-component" not in catalogue


def test_real_catalogue_entry_is_the_component_document(upstream: Path) -> None:
    catalogue = load_catalogue(upstream / "components")
    entry = catalogue.get("metrics-egress")
    assert entry is not None
    assert entry.path == upstream / "components/observability/metrics-egress/component.yaml"
    assert entry.data["kind"] == "Component"
    assert entry.data["spec"]["type"] == "config"


def test_real_catalogue_knows_which_component_uses_hyperdisk(upstream: Path) -> None:
    catalogue = load_catalogue(upstream / "components")
    users = [name for name in catalogue.entries if catalogue.mentions(name, "hyperdisk")]
    assert users == ["naive-db-storage-bench"]
    assert catalogue.mentions("naive-db-storage-bench", "HYPERDISK") == (
        "Eight naive-db variants (fsync/nosync × hdd/balanced/ssd/hyperdisk-balanced) "
        "for storage-tier comparison benchmark"
    )
    assert catalogue.mentions("not-there", "hyperdisk") is None


def test_fixture_catalogue_skips_other_kinds_and_records_problems() -> None:
    catalogue = load_catalogue(FIXTURE)
    assert sorted(catalogue.entries) == [
        "kube-prometheus-stack",
        "kv-store",
        "metrics-agent",
        "metrics-egress",
        "tiered-store",
    ]
    assert "values-only" not in catalogue  # kind: ConfigMap
    assert catalogue.problem("values-only") is None
    assert catalogue.problem("broken") == (
        f"{FIXTURE}/apps/broken/component.yaml:7: YAML error: found unexpected end of stream"
    )


def test_duplicate_names_keep_the_first_and_say_where_the_second_is() -> None:
    catalogue = load_catalogue(FIXTURE)
    entry = catalogue.get("kv-store")
    assert entry is not None
    assert entry.path == FIXTURE / "apps/kv-store/component.yaml"
    assert catalogue.problem("kv-store") == (
        f"{FIXTURE}/legacy/kv-store-old/component.yaml: duplicate component 'kv-store' "
        f"(first: {FIXTURE}/apps/kv-store/component.yaml)"
    )


def test_name_falls_back_to_the_directory(tmp_path: Path) -> None:
    (tmp_path / "apps" / "echo").mkdir(parents=True)
    (tmp_path / "apps" / "echo" / "component.yaml").write_text("kind: Component\nspec: {}\n")
    assert sorted(load_catalogue(tmp_path).entries) == ["echo"]


def test_an_empty_name_falls_back_to_the_directory(tmp_path: Path) -> None:
    (tmp_path / "apps" / "echo").mkdir(parents=True)
    text = "kind: Component\nmetadata: {name: ''}\nspec: {}\n"
    (tmp_path / "apps" / "echo" / "component.yaml").write_text(text)
    assert sorted(load_catalogue(tmp_path).entries) == ["echo"]


def test_a_file_that_is_not_a_mapping_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "component.yaml").write_text("- just\n- a list\n")
    catalogue = load_catalogue(tmp_path)
    assert len(catalogue) == 0
    assert catalogue.problem("odd") == (
        f"{tmp_path}/odd/component.yaml:1: expected a mapping at the top level, found array"
    )


def test_missing_directory_is_an_empty_catalogue_with_the_reason(tmp_path: Path) -> None:
    catalogue = load_catalogue(tmp_path / "nope")
    assert len(catalogue) == 0
    assert list(catalogue.problems.values()) == [f"{tmp_path / 'nope'}: not a directory"]


def test_suggest_finds_a_close_name_only() -> None:
    catalogue = load_catalogue(FIXTURE)
    assert catalogue.suggest("kube-prometheus") == "kube-prometheus-stack"
    assert catalogue.suggest("metrics-agnet") == "metrics-agent"
    assert catalogue.suggest("postgres") is None
