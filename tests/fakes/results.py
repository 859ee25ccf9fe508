"""An in-memory results store implementing ``pytest_experiment.run.ports.ResultsStore``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from pytest_experiment.base.errors import ResultsError

Summary = Mapping[str, Any]


class FakeResultsStore:
    """Summaries by instance name (the first path segment of ``s3://bucket/<instance>/``).

    ``summaries`` maps an instance to its summary; ``default`` (given the instance
    name) answers for instances not in it. With neither, a read fails as S3 does
    for a summary never written.
    """

    def __init__(
        self,
        summaries: Mapping[str, Summary] | None = None,
        *,
        default: Callable[[str], Summary] | None = None,
    ) -> None:
        self.summaries = dict(summaries or {})
        self.default = default
        self.reads: list[str] = []
        self._lock = threading.Lock()

    def summary(self, results_url: str) -> Summary:
        instance = results_url.removeprefix("s3://").split("/")[1]
        with self._lock:
            self.reads.append(instance)
        if instance in self.summaries:
            return self.summaries[instance]
        if self.default is not None:
            return self.default(instance)
        raise ResultsError(f"{results_url}summary.json not found (fake store)")


__all__ = ["FakeResultsStore"]
