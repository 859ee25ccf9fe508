"""A kubeconfig for a hub cluster nobody listens on, with a token that must never be printed."""

from __future__ import annotations

from pathlib import Path

import yaml

TOKEN = "not-a-real-token"


def write_unreachable(path: Path, *contexts: str) -> Path:
    """Write a kubeconfig to ``path`` whose ``contexts`` (``lab-hub`` by default; the
    first is current) all name a server on 127.0.0.1:1, where nothing answers."""
    names = contexts or ("lab-hub",)
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "lab", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "me", "user": {"token": TOKEN}}],
                "contexts": [
                    {"name": n, "context": {"cluster": "lab", "user": "me"}} for n in names
                ],
                "current-context": names[0],
            }
        )
    )
    return path
