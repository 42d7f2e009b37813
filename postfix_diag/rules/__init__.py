"""The rule engine and its registry.

    from postfix_diag.rules import Engine, REGISTRY
    engine = Engine(max_samples=5)
    engine.feed(ev); engine.feed_message(msg); engine.feed_session(session)
    findings = engine.finish(queued=[...], end_ts=...)

Each rule lives in the module of its area (dns, chroot, limits, connection, delivery, queue,
queue_shape, clock, security, sasl, permissions, config, config_fatals, inbound, filters, remote, delays, tls, resources, generic) and carries its own documentation; ``explain(ID)``
prints it and ``docs_markdown()`` generates docs/rules.md.
"""

from __future__ import annotations

from .base import Group, LineRule, Rule, register
from .docs import catalog, docs_markdown, explain
from .engine import Engine
from .registry import REGISTRY

__all__ = ["Engine", "REGISTRY", "Rule", "LineRule", "Group", "register", "explain", "catalog",
           "docs_markdown"]
