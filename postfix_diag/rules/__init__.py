"""The rule engine and its registry.

    from postfix_diag.rules import Engine, REGISTRY
    engine = Engine(max_samples=5)
    engine.feed(ev); engine.feed_message(msg); engine.feed_session(session)
    findings = engine.finish(queued=[...], end_ts=...)

Each rule lives in the module of its area (dns, chroot, clock, limits, connection, delivery, queue,
queue_shape, security, config, tls, resources, generic) and carries its own documentation; ``explain(ID)``
prints it and ``docs_markdown()`` generates docs/rules.md.
"""

from __future__ import annotations

from . import (  # noqa: F401  (importing registers the rules)
    chroot,
    clock,
    config,
    connection,
    delivery,
    dns,
    generic,
    limits,
    queue,
    queue_shape,
    resources,
    security,
    tls,
)
from .base import _RULES, Group, LineRule, Rule, register
from .docs import catalog, docs_markdown, explain
from .engine import Engine

REGISTRY: dict = {cls.id: cls for cls in sorted(_RULES, key=lambda c: c.id)}

__all__ = ["Engine", "REGISTRY", "Rule", "LineRule", "Group", "register", "explain", "catalog",
           "docs_markdown"]
