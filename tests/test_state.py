"""Session state: where an experiment's components/ and site/data are found."""

from __future__ import annotations

from pathlib import Path

from pytest_experiment.core.options import Options
from pytest_experiment.plugin.state import PluginState, nearest


def test_nearest_directory_is_found_per_experiment_and_shared_by_siblings(tmp_path: Path) -> None:
    # Lab layout: <repo>/components and <repo>/site/data, one folder per experiment, and
    # one group of experiments with its own components/ closer to it.
    (tmp_path / "components").mkdir()
    (tmp_path / "site" / "data").mkdir(parents=True)
    (tmp_path / "experiments" / "group" / "components").mkdir(parents=True)
    files = [
        tmp_path / "experiments" / "a" / "experiment.yaml",
        tmp_path / "experiments" / "b" / "experiment.yaml",
        tmp_path / "experiments" / "group" / "c" / "experiment.yaml",
    ]
    for file in files:
        file.parent.mkdir(parents=True, exist_ok=True)
    session = PluginState(options=Options())

    for file in files:
        for relative in ("components", "site/data", "nowhere"):
            assert session._nearest(file, relative) == nearest(file, relative)
    assert session._nearest(files[0], "components") == tmp_path.resolve() / "components"
    assert session._nearest(files[2], "components") == (
        tmp_path.resolve() / "experiments" / "group" / "components"
    )
    assert session._nearest(files[1], "nowhere") is None
    # The answer for the shared parent was remembered, not looked up again.
    assert (tmp_path.resolve() / "experiments", "site/data") in session._found
