"""Which cluster to talk to: a kubeconfig context, else the pod's in-cluster config.

The process-global client configuration is never touched, so two sessions in
one process may use two clusters.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException
from urllib3.util import Retry

from pytest_experiment.base.errors import ClusterError
from pytest_experiment.edges.api_errors import Endpoint
from pytest_experiment.edges.api_requests import DEFAULT_RETRY, RetryPolicy
from pytest_experiment.edges.cluster import Cluster

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
"""Where a pod's projected ServiceAccount token and cluster CA are mounted."""


def connect(
    *,
    kubeconfig: Path | None = None,
    context: str | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
    service_account: Path = SERVICE_ACCOUNT_DIR,
) -> Cluster:
    """A ``Cluster`` for ``kubeconfig`` (else ``$KUBECONFIG``, else ``~/.kube/config``),
    falling back to in-cluster config when there is no kubeconfig and no context asked for.

    In-cluster config reads ``token`` and ``ca.crt`` from ``service_account`` (a pod's
    mount unless a caller says otherwise) and the ``KUBERNETES_SERVICE_HOST``/``_PORT``
    environment, through the client's own loader.
    """
    files = _kubeconfig_files(kubeconfig)
    paths = [Path(p).expanduser() for p in files.split(os.pathsep) if p]
    if not any(p.exists() for p in paths) and context is None:
        return _in_cluster(files, retry=retry, service_account=service_account)
    configuration = client_configuration()
    try:
        _, active = config.list_kube_config_contexts(config_file=files)
        api = config.new_client_from_config(
            config_file=files,
            context=context,
            persist_config=False,
            client_configuration=configuration,
        )
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        tried = f"context {context!r}" if context else "the current context"
        raise ClusterError(f"cannot load kubeconfig {files} ({tried}): {exc}") from exc
    name = context or (active or {}).get("name")
    endpoint = Endpoint(server=configuration.host, context=name, source=f"kubeconfig {files}")
    return Cluster(api, endpoint=endpoint, retry=retry)


def check_context(*, kubeconfig: Path | None, context: str) -> None:
    """``ClusterError`` listing the contexts the kubeconfig has, when ``context`` is not one.

    Checked at start-up so a typo stops the session in one line instead of failing
    every pre-flight item.
    """
    files = _kubeconfig_files(kubeconfig)
    try:
        contexts, _ = config.list_kube_config_contexts(config_file=files)
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        raise ClusterError(
            f"context {context!r}: cannot read kubeconfig {files}: {_one_line(exc)}"
        ) from exc
    names = [str(c.get("name")) for c in contexts or [] if isinstance(c, Mapping)]
    if context not in names:
        raise ClusterError(
            f"context {context!r} is not in kubeconfig {files}; "
            f"it has: {', '.join(names) if names else 'no contexts'}"
        )


def _kubeconfig_files(kubeconfig: Path | None) -> str:
    # Read KUBECONFIG now, not at kubernetes import time (its module default is frozen then).
    return str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG") or "~/.kube/config"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def client_configuration() -> client.Configuration:
    """The client's configuration with urllib3's own retries off.

    Left on, urllib3 sleeps a 429's ``Retry-After`` itself, uncapped and up to
    three times per request, before the session's bounded policy ever sees the
    answer; and it would re-send a create whose answer was lost. The session
    retries, backs off and caps on its own.
    """
    configuration = client.Configuration()
    configuration.retries = Retry(total=0, raise_on_status=False, respect_retry_after_header=False)
    return configuration


def _in_cluster(files: str, *, retry: RetryPolicy, service_account: Path) -> Cluster:
    from kubernetes.config.incluster_config import InClusterConfigLoader

    configuration = client_configuration()
    try:
        InClusterConfigLoader(
            token_filename=str(service_account / "token"),
            cert_filename=str(service_account / "ca.crt"),
        ).load_and_set(configuration)
    except ConfigException as exc:
        raise ClusterError(
            f"no kubeconfig at {files} and not running in a cluster ({exc})"
        ) from exc
    endpoint = Endpoint(server=configuration.host, context=None, source="in-cluster config")
    return Cluster(client.ApiClient(configuration), endpoint=endpoint, retry=retry)
