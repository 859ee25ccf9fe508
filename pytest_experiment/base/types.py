"""The shape Kubernetes objects and JSON documents travel in.

Objects are plain dicts decoded from the API's JSON rather than the client's
model classes, so custom and core resources are handled alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Obj = dict[str, Any]
"""A decoded JSON object (a Kubernetes object, an event, a summary) that may be changed."""

ObjView = Mapping[str, Any]
"""The same, for code that only reads it."""
