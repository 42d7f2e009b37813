"""The rule registry: every rule class by ID. Importing this module imports every rule module
(which registers its rules with base.register); the engine and the docs read REGISTRY from here,
so that neither needs the package's __init__ (no import cycle)."""

from __future__ import annotations

from . import (  # noqa: F401  (importing registers the rules)
    chroot,
    clock,
    config,
    config_fatals,
    connection,
    delays,
    delivery,
    dns,
    filters,
    generic,
    inbound,
    limits,
    permissions,
    queue,
    queue_shape,
    remote,
    resources,
    sasl,
    security,
    tls,
)
from .base import _RULES

REGISTRY: dict = {cls.id: cls for cls in sorted(_RULES, key=lambda c: c.id)}
