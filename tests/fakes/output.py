"""Progress output kept in memory, for tests of the run that read what it said."""

from __future__ import annotations

from pytest_experiment.run.output import Output


class Lines(Output):
    """Every line the run wrote, in order (status lines are not kept)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)
