"""Install the sandbox's objects: namespaces, CRDs, the operator Deployment."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from pytest_experiment.base.errors import SandboxError
from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox.assets import Log
from pytest_experiment.sandbox.kube import wait_until

# Files next to the code rather than importlib.resources: pytest_experiment
# may be a namespace package, which resources cannot enumerate.
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ("namespaces.yaml", "integrations-crds.yaml", "experiment-crd.yaml", "operator.yaml")
EXPERIMENT_CRD = "experiments.experiments.illm.io"

# JSONSchemaProps keywords the API server accepts in a structural schema; JSON
# Schema keywords beyond these ($id, const, anyOf, if/then, …) are rewritten or dropped.
_KEPT_KEYWORDS = frozenset(
    {
        "description",
        "title",
        "default",
        "maximum",
        "minimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "multipleOf",
        "enum",
        "maxProperties",
        "minProperties",
        "required",
        "nullable",
        "example",
    }
)
_KNOWN_FORMATS = frozenset(
    {
        "byte",
        "date",
        "date-time",
        "double",
        "duration",
        "email",
        "float",
        "hostname",
        "int32",
        "int64",
        "ipv4",
        "ipv6",
        "password",
        "uri",
        "uuid",
    }
)
_PRESERVE = "x-kubernetes-preserve-unknown-fields"


def structural(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Convert a JSON Schema node into a Kubernetes structural schema node.

    Validation-only combinators (anyOf, oneOf, allOf, not) are dropped: the
    API server would need every branch to repeat the structure, and the
    plugin still validates the document with the full JSON Schema offline.
    """
    out: dict[str, Any] = {}
    kind = schema.get("type")
    if isinstance(kind, list):
        if "null" in kind:
            out["nullable"] = True
        concrete = [k for k in kind if k != "null"]
        kind = concrete[0] if len(concrete) == 1 else None
    for key, value in schema.items():
        if key in _KEPT_KEYWORDS or key.startswith("x-kubernetes-"):
            out[key] = copy.deepcopy(value)
        elif key == "const":
            out["enum"] = [copy.deepcopy(value)]
        elif key == "format" and value in _KNOWN_FORMATS:
            out["format"] = value
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            # JSON Schema 2020 gives the bound; OpenAPI v3.0 a flag on minimum/maximum.
            out[key.removeprefix("exclusive").lower()] = value
            out[key] = True
        elif key == "properties" and isinstance(value, Mapping):
            out["properties"] = {name: structural(sub) for name, sub in value.items()}
        elif key == "items" and isinstance(value, Mapping):
            out["items"] = structural(value)
    additional = schema.get("additionalProperties")
    if "properties" not in out:
        if isinstance(additional, Mapping):
            out["additionalProperties"] = structural(additional)
        elif additional is True:
            out[_PRESERVE] = True
    if kind is None and "properties" in out:
        kind = "object"
    if isinstance(kind, str):
        out["type"] = kind
    else:
        out[_PRESERVE] = True
    if kind == "object" and "properties" not in out and "additionalProperties" not in out:
        out[_PRESERVE] = True
    if kind == "array" and "items" not in out:
        out["items"] = {_PRESERVE: True}
    return out


def load_experiment_schema() -> dict[str, Any] | None:
    """The project's Experiment JSON Schema, or None when the package lacks it."""
    path = _PACKAGE_ROOT / "schemas" / "experiment.schema.json"
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    spec = (document.get("properties") or {}).get("spec")
    return spec if isinstance(spec, dict) else None


def _manifest_docs(name: str) -> Iterator[Obj]:
    text = (_PACKAGE_ROOT / "sandbox" / "manifests" / name).read_text()
    for doc in yaml.safe_load_all(text):
        if doc:
            yield doc


def read_crd(path: Path) -> Obj:
    """An Experiment CRD from a file (e.g. the lab's real one); ``SandboxError`` if it is not."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise SandboxError(f"cannot read the Experiment CRD {path}: {exc}") from exc
    crds = [d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]
    found = next((d for d in crds if (d.get("metadata") or {}).get("name") == EXPERIMENT_CRD), None)
    if found is None:
        raise SandboxError(f"{path} holds no CustomResourceDefinition named {EXPERIMENT_CRD}")
    return found


def experiment_crd(*, log: Log, path: Path | None = None) -> Obj:
    if path is not None:
        log(f"installing the Experiment CRD from {path}")
        return read_crd(path)
    (crd,) = _manifest_docs("experiment-crd.yaml")
    spec_schema = load_experiment_schema()
    if spec_schema is None:
        log(
            "warning: pytest_experiment/schemas/experiment.schema.json missing; "
            "the Experiment CRD accepts any spec"
        )
        return crd
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    root["properties"]["spec"] = structural(spec_schema)
    return crd


def manifests(*, log: Log, crd: Path | None = None) -> list[Obj]:
    docs: list[Obj] = []
    for name in MANIFESTS:
        if name == "experiment-crd.yaml":
            docs.append(experiment_crd(log=log, path=crd))
        else:
            docs.extend(_manifest_docs(name))
    return docs


def _create(api: client.ApiClient, doc: Obj) -> None:
    kind = doc["kind"]
    namespace = doc.get("metadata", {}).get("namespace")
    if kind == "Namespace":
        client.CoreV1Api(api).create_namespace(doc)
    elif kind == "CustomResourceDefinition":
        client.ApiextensionsV1Api(api).create_custom_resource_definition(doc)
    elif kind == "Deployment":
        client.AppsV1Api(api).create_namespaced_deployment(namespace, doc)
    elif kind == "ConfigMap":
        client.CoreV1Api(api).create_namespaced_config_map(namespace, doc)
    else:
        raise SandboxError(f"the sandbox installer does not handle kind {kind}")


def install(
    api: client.ApiClient, *, log: Log, timeout: float = 30.0, crd: Path | None = None
) -> None:
    """Create every manifest (existing objects are kept) and wait for the CRDs to serve.

    ``crd``: install the Experiment CRD from this file instead of the bundled one.
    """
    crd_names: list[str] = []
    for doc in manifests(log=log, crd=crd):
        if doc["kind"] == "CustomResourceDefinition":
            crd_names.append(doc["metadata"]["name"])
        try:
            _create(api, doc)
        except client.ApiException as exc:
            if exc.status != 409:
                raise SandboxError(
                    f"cannot create {doc['kind']} {doc['metadata']['name']}: {exc.reason} "
                    f"{_api_message(exc)}"
                ) from exc
    extensions = client.ApiextensionsV1Api(api)

    def established(objects: dict[str, Obj]) -> bool:
        ready = {
            obj["metadata"]["name"]
            for obj in objects.values()
            if any(
                c.get("type") == "Established" and c.get("status") == "True"
                for c in (obj.get("status") or {}).get("conditions") or []
            )
        }
        return set(crd_names) <= ready

    wait_until(
        extensions.list_custom_resource_definition,
        established,
        timeout=timeout,
        what="CRDs to be established",
    )


def _api_message(exc: client.ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message", ""))
    except (TypeError, ValueError):
        return str(exc.body or "")
