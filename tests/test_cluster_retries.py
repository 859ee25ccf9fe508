"""``edges.cluster.Cluster``'s retries over a real HTTP round trip to a tiny API server.

The server on 127.0.0.1 answers each request with the next scripted reply
(status, headers) and counts what it was asked; a reply of ``DROP`` reads the
request and closes the connection without answering, as a server that died
mid-request does. The client is the real kubernetes client; only ``sleep`` is
recorded instead of slept.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kubernetes import client

from pytest_experiment.base.errors import ClusterError, OutcomeUnknown
from pytest_experiment.edges.api_errors import Endpoint
from pytest_experiment.edges.api_requests import RetryPolicy
from pytest_experiment.edges.cluster import Cluster
from pytest_experiment.edges.kubeconfig import client_configuration

Reply = tuple[int, dict[str, str]]
DROP: Reply = (0, {})
OK: Reply = (200, {})
EXPERIMENT = {"metadata": {"name": "web-lat-x7k2p", "resourceVersion": "7"}}
NEW = {"metadata": {"generateName": "web-lat-", "namespace": "experiments"}}


@dataclass
class FakeAPI:
    replies: list[Reply] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    """``METHOD path`` of every request, in order."""
    clock_offset: float = 0.0
    """How far the server's clock (its ``Date`` header) is from this machine's, in seconds."""


def _handler(api: FakeAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            api.seen.append(f"{self.command} {self.path.split('?')[0]}")
            status, headers = api.replies.pop(0) if api.replies else OK
            if status == 0:
                self.close_connection = True
                self.connection.close()
                return
            body = json.dumps(
                EXPERIMENT if status < 400 else {"kind": "Status", "message": f"HTTP {status}"}
            ).encode()
            self.send_response(status)
            for name, value in {**headers, "Content-Type": "application/json"}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _reply

        def date_time_string(self, timestamp: float | None = None) -> str:
            return super().date_time_string(time.time() + api.clock_offset)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    state = FakeAPI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def cluster(api: FakeAPI, sleeps: list[float]) -> Iterator[Cluster]:
    """Configured as ``connect()`` configures it."""
    yield from _cluster(api, sleeps, client_configuration())


@pytest.fixture
def harness_only(api: FakeAPI, sleeps: list[float]) -> Iterator[Cluster]:
    """urllib3's own retries off, so only the harness's policy answers a Retry-After."""
    configuration = client.Configuration()
    configuration.retries = False
    yield from _cluster(api, sleeps, configuration)


def _cluster(
    api: FakeAPI, sleeps: list[float], configuration: client.Configuration
) -> Iterator[Cluster]:
    configuration.host = api.url  # type: ignore[attr-defined]
    made = Cluster(
        client.ApiClient(configuration),
        endpoint=Endpoint(server=configuration.host, context="test", source="test"),
        retry=RetryPolicy(attempts=4, first_delay=0.2, max_delay=2.0),
        sleep=sleeps.append,
    )
    yield made
    made.close()


GET = "GET /apis/experiments.illm.io/v1alpha1/namespaces/experiments/experiments/web-lat-x7k2p"
POST = "POST /apis/experiments.illm.io/v1alpha1/namespaces/experiments/experiments"


def get(cluster: Cluster) -> dict[str, object]:
    return cluster.get_experiment("web-lat-x7k2p", namespace="experiments")


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_a_transient_answer_is_retried_and_the_read_succeeds(
    api: FakeAPI, cluster: Cluster, sleeps: list[float], status: int
) -> None:
    api.replies = [(status, {}), (status, {})]
    assert get(cluster) == EXPERIMENT
    assert api.seen == [GET] * 3
    assert sleeps == [0.2, 0.4]


def test_retries_are_bounded_with_exponential_backoff(
    api: FakeAPI, cluster: Cluster, sleeps: list[float]
) -> None:
    api.replies = [(503, {})] * 10
    with pytest.raises(ClusterError) as failed:
        get(cluster)
    assert failed.value.status == 503
    assert "HTTP 503" in str(failed.value)
    assert not isinstance(failed.value, OutcomeUnknown)  # a read can simply be asked again
    assert isinstance(failed.value.__cause__, client.ApiException)
    assert api.seen == [GET] * 4
    assert sleeps == [0.2, 0.4, 0.8]


def test_retry_after_is_honoured_up_to_the_longest_delay(
    api: FakeAPI, harness_only: Cluster, sleeps: list[float]
) -> None:
    api.replies = [(429, {"Retry-After": "1"}), (429, {"Retry-After": "30"}), (503, {})]
    assert get(harness_only) == EXPERIMENT
    # The server's 1 s is waited; its 30 s is capped so a run is not held for minutes.
    assert sleeps == [1.0, 2.0, 0.8]
    assert api.seen == [GET] * 4


def test_retry_after_is_waited_by_the_harness_alone(
    api: FakeAPI, cluster: Cluster, sleeps: list[float]
) -> None:
    api.replies = [(429, {"Retry-After": "1"})]
    assert get(cluster) == EXPERIMENT
    assert api.seen == [GET] * 2
    assert sleeps == [1.0]


def test_any_other_client_error_fails_at_once(
    api: FakeAPI, cluster: Cluster, sleeps: list[float]
) -> None:
    api.replies = [(400, {})]
    with pytest.raises(ClusterError, match="HTTP 400"):
        get(cluster)
    assert api.seen == [GET]
    assert sleeps == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_create_answered_with_a_server_error_is_never_sent_again(
    api: FakeAPI, cluster: Cluster, sleeps: list[float], status: int
) -> None:
    # The server may have created the instance before failing: a second POST of a
    # generateName object would make a second one nobody accounts for.
    api.replies = [(status, {})]
    with pytest.raises(OutcomeUnknown) as failed:
        cluster.create_experiment(NEW, namespace="experiments")
    assert failed.value.status == status
    assert api.seen == [POST]
    assert sleeps == []


def test_a_create_refused_with_429_is_retried_as_nothing_was_created(
    api: FakeAPI, cluster: Cluster, sleeps: list[float]
) -> None:
    api.replies = [(429, {"Retry-After": "1"}), (201, {})]
    assert cluster.create_experiment(NEW, namespace="experiments") == "web-lat-x7k2p"
    assert api.seen == [POST, POST]
    assert sleeps == [1.0]


def test_a_create_refused_with_429_to_the_end_made_nothing(
    api: FakeAPI, harness_only: Cluster, sleeps: list[float]
) -> None:
    api.replies = [(429, {})] * 4
    with pytest.raises(ClusterError) as failed:
        harness_only.create_experiment(NEW, namespace="experiments")
    assert failed.value.status == 429
    assert not isinstance(failed.value, OutcomeUnknown)
    assert api.seen == [POST] * 4


def test_a_create_that_never_reached_the_server_is_retried_and_made_nothing(
    sleeps: list[float],
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    # Nothing listens on the port: the connection is refused before a byte is sent.
    configuration = client.Configuration()
    configuration.retries = False
    configuration.host = f"http://127.0.0.1:{port}"
    cluster = Cluster(
        client.ApiClient(configuration),
        endpoint=Endpoint(server=configuration.host, context="test", source="test"),
        retry=RetryPolicy(attempts=4, first_delay=0.2, max_delay=2.0),
        sleep=sleeps.append,
    )
    with pytest.raises(ClusterError, match="cannot reach the Kubernetes API") as failed:
        cluster.create_experiment(NEW, namespace="experiments")
    assert not isinstance(failed.value, OutcomeUnknown)
    assert sleeps == [0.2, 0.4, 0.8]
    cluster.close()


def test_a_create_whose_answer_was_lost_is_not_sent_again(
    api: FakeAPI, cluster: Cluster, sleeps: list[float]
) -> None:
    api.replies = [DROP]
    with pytest.raises(OutcomeUnknown, match="did not answer after the request was sent"):
        cluster.create_experiment(NEW, namespace="experiments")
    # No second POST, and no GET either: the launcher looks for the instance by its labels.
    assert api.seen == [POST]
    assert sleeps == []


def test_a_read_whose_answer_was_lost_is_retried(
    api: FakeAPI, cluster: Cluster, sleeps: list[float]
) -> None:
    api.replies = [DROP]
    assert get(cluster) == EXPERIMENT
    assert api.seen[-1] == GET
    assert len(sleeps) <= 1


@pytest.mark.parametrize("offset", [3600.0, -3600.0, 0.0])
def test_the_servers_clock_is_read_off_its_answers(
    api: FakeAPI, cluster: Cluster, offset: float
) -> None:
    api.clock_offset = offset
    get(cluster)
    skew = cluster.server_now() - datetime.now(UTC)
    # The Date header has whole seconds: within a second of the server's clock.
    assert abs(skew - timedelta(seconds=offset)) <= timedelta(seconds=1), skew
