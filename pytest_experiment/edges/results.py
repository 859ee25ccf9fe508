"""The results store: ``summary.json`` read with boto3 from ``status.resultsURL``.

The one edge to S3. Endpoint from ``--experiment-s3-endpoint`` /
``EXPERIMENT_S3_ENDPOINT``, credentials from boto3's own chain, so keys never
pass through this code. A summary the operator has not written yet is
retried with backoff for a bounded time; every botocore failure becomes a
``ResultsError`` with the cause chained and a one-line reason a skip can show.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from pytest_experiment.base.backoff import Backoff, Retries
from pytest_experiment.base.errors import ResultsError
from pytest_experiment.core.limits import LimitError, json_problem, json_type_name, parse_json
from pytest_experiment.edges.outages import OutageNotice

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SUMMARY = "summary.json"
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
# Between reads of a summary not yet written, or of an S3 that does not answer.
_NOT_YET_WRITTEN = Backoff(first=0.2, cap=2.0)


@dataclass(frozen=True, kw_only=True)
class Location:
    bucket: str
    key: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def summary_location(results_url: str) -> Location:
    """``s3://bucket/<instance>/`` (or the summary's own URL) → where summary.json is."""
    parsed = urlparse(results_url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ResultsError(f"resultsURL {results_url!r} is not an s3:// URL")
    key = parsed.path.lstrip("/")
    if not key.endswith(".json"):
        key = f"{key.rstrip('/')}/{SUMMARY}".lstrip("/")
    return Location(bucket=parsed.netloc, key=key)


class ResultsStore:
    """Reads summaries; ``wait`` bounds how long a not-yet-written one is retried.

    ``notify`` gets one line when S3 stops answering (unreachable or stalled)
    and one when it answers again, so an outage shows in a CI log.
    """

    def __init__(
        self,
        *,
        endpoint: str | None,
        wait: float = 30.0,
        client: S3Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._wait = wait
        self._client = client
        self._sleep = sleep
        self._notify = notify
        self._outage = OutageNotice(notify=notify)

    def _lost(self, exc: BaseException) -> None:
        reason = " ".join(str(exc).split())
        self._outage.lost(
            lambda at: (
                f"S3 {self._endpoint or '(default endpoint)'} not answering at "
                f"{at:%H:%M:%S} UTC: {reason}; retrying"
            )
        )

    def _back(self) -> None:
        self._outage.back(
            lambda at, seconds: (
                f"S3 {self._endpoint or '(default endpoint)'} answering again at "
                f"{at:%H:%M:%S} UTC after {seconds:.1f}s"
            )
        )

    def prepare(self) -> None:
        """Build the S3 client now, at session start, not at the first read."""
        self._s3()

    def _s3(self) -> S3Client:
        if self._client is None:
            import boto3
            import botocore.config

            self._client = boto3.client(
                "s3",
                endpoint_url=self._endpoint,
                config=botocore.config.Config(
                    s3={"addressing_style": "path"},
                    retries={"max_attempts": 3, "mode": "standard"},
                    # A hung endpoint (a stopped process still accepts connections) must
                    # not hold a read longer than the wait it was given.
                    connect_timeout=min(5.0, max(1.0, self._wait)),
                    read_timeout=min(30.0, max(1.0, self._wait)),
                ),
            )
        return self._client

    def summary(self, results_url: str) -> Mapping[str, Any]:
        """The parsed summary; ``ResultsError`` saying why when there is none to score.

        A body that is not JSON (or empty) is read again within the same wait: a
        store that sends no checksum can hand over a summary cut short in transit,
        and the next read gets the whole of it.
        """
        where = summary_location(results_url)
        started = time.monotonic()
        retries = _NOT_YET_WRITTEN.retries(deadline=started + self._wait, sleep=self._sleep)
        reads = 0
        while True:
            body = self._fetch(where, retries, started)
            reads += 1
            try:
                return _document(where, body)
            except _Unparsed as exc:
                if reads == 1 and self._notify is not None:
                    self._notify(f"{exc}; reading it again ({_within(self._wait)})")
                if not retries.pause():
                    waited = time.monotonic() - started
                    times = "once" if reads == 1 else f"{reads} times in {waited:.1f}s"
                    raise ResultsError(f"{exc} (read {times})") from exc

    def _fetch(self, where: Location, retries: Retries, started: float) -> bytes:
        """The object's bytes, once S3 has it; retried while it is missing or S3 is away."""
        import botocore.exceptions

        while True:
            try:
                body = self._s3().get_object(Bucket=where.bucket, Key=where.key)["Body"].read()
                self._back()
                return body
            except botocore.exceptions.ClientError as exc:
                # S3 answered, even if only to say the summary is not there yet.
                self._back()
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if code not in _MISSING:
                    raise ResultsError(f"{where.url}: {code or exc}") from exc
                if not retries.pause():
                    raise ResultsError(f"{where.url} not found after {self._wait:.0f}s") from exc
            except botocore.exceptions.NoCredentialsError as exc:
                # Not transient: waiting will not make credentials appear.
                raise ResultsError(
                    f"{where.url}: no S3 credentials (boto3 found none; set "
                    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile)"
                ) from exc
            except (botocore.exceptions.BotoCoreError, OSError) as exc:
                self._lost(exc)
                if not retries.pause():
                    waited = time.monotonic() - started
                    raise ResultsError(
                        f"{where.url}: S3 unreachable (gave up after {waited:.0f}s): {exc}"
                    ) from exc


class _Unparsed(ResultsError):
    """A body that is empty or not JSON: possibly cut short in transit, so read again."""


def _document(where: Location, body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise _Unparsed(f"{where.url} is empty")
    try:
        document = parse_json(body)
    except LimitError as exc:
        message, line = json_problem(exc)
        raise ResultsError(f"{where.url}{f':{line}' if line else ''}: {message}") from exc
    except ValueError as exc:  # not JSON, not UTF-8
        raise _Unparsed(f"{where.url} is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ResultsError(f"{where.url} holds {json_type_name(document)}, not an object")
    return document


def _within(wait: float) -> str:
    return "no time limit" if wait == float("inf") else f"for up to {wait:.0f}s"
