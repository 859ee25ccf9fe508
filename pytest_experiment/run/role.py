"""Which process of the session this is: what it labels its instances with, and what it
leaves to another process."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class Role:
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    """The label value that marks every instance this run creates (one per session, the
    same on every xdist worker)."""
    controller: bool = False
    """The xdist controller: it creates nothing and sweeps what workers left."""
    ends_leases: bool = True
    """Whether this process ends the lease of an instance it keeps (an xdist worker
    leaves that to the controller, which reports the decision)."""


__all__ = ["Role"]
