"""The rule engine: dispatches each event to the rules that declared its kind, hands finished
messages and sessions to the rules that want them, and collects findings at the end.

Per line the cost is one dict lookup (plus the handlers of that kind); ``delivery`` lines are
dispatched by (kind, status), so that the many status=sent lines reach only the rules that
declared they want them (``Rule.delivery_statuses``). A warning, error, fatal
or panic line that no rule claims goes to the catch-all rules (GEN001/GEN002), so nothing that
``egrep '(warning|error|fatal|panic):'`` would show goes unreported.
"""

from __future__ import annotations

from ..events import FOREIGN, UNRECOGNIZED, Event
from ..model import Finding, sort_findings
from .base import Rule

DELIVERY = "delivery"


class Engine:
    def __init__(self, max_samples: int = 5, select=None, ignore=None, registry=None):
        """``select``/``ignore``: optional iterables of rule IDs (or ID prefixes such as
        "DNS") to run or to skip."""
        from . import REGISTRY

        reg = registry if registry is not None else REGISTRY
        self.rules: list[Rule] = []
        for rid, cls in reg.items():
            if select and not any(rid.startswith(s.upper()) for s in select):
                continue
            if ignore and any(rid.startswith(s.upper()) for s in ignore):
                continue
            self.rules.append(cls(max_samples=max_samples))
        dispatch: dict[str, list] = {}
        catch: dict[str, list] = {}
        for r in self.rules:
            for kind in r.kinds:
                dispatch.setdefault(kind, []).append(r.feed)
            for sev in r.catch_all:
                catch.setdefault(sev, []).append(r.catch)
        self._dispatch = {k: tuple(v) for k, v in dispatch.items()}
        self._catch = {k: tuple(v) for k, v in catch.items()}
        self._delivery_rules = tuple(r for r in self.rules if DELIVERY in r.kinds)
        self._by_status: dict = {}  # delivery status -> handlers, filled as statuses show up
        self._msg_rules = tuple(r.feed_message for r in self.rules if r.wants_messages)
        self._session_rules = tuple(r.feed_session for r in self.rules if r.wants_sessions)
        self.claimed = 0
        self.caught = 0

    def _delivery_handlers(self, status) -> tuple:
        """The feed() of the rules that want delivery lines of ``status``, in registry order."""
        handlers = self._by_status[status] = tuple(
            r.feed for r in self._delivery_rules
            if r.delivery_statuses is None or status in r.delivery_statuses)
        return handlers

    def feed(self, ev: Event) -> None:
        kind = ev.kind
        if kind == DELIVERY:
            status = ev.f.get("status")
            handlers = self._by_status.get(status)
            if handlers is None:
                handlers = self._delivery_handlers(status)
        else:
            handlers = self._dispatch.get(kind)
        claimed = False
        if handlers is not None:
            for h in handlers:
                if h(ev):
                    claimed = True
        if claimed:
            self.claimed += 1
            return
        sev = ev.severity
        if sev != "info" and kind != FOREIGN and kind != UNRECOGNIZED:
            catchers = self._catch.get(sev)
            if catchers:
                self.caught += 1
                for h in catchers:
                    h(ev)

    def feed_message(self, msg) -> None:
        for h in self._msg_rules:
            h(msg)

    @property
    def wants_sessions(self) -> bool:
        """Whether any rule reads smtpd sessions (the tracker follows them only then)."""
        return bool(self._session_rules)

    def feed_session(self, session) -> None:
        for h in self._session_rules:
            h(session)

    def finish(self, queued=None, end_ts: float | None = None) -> list[Finding]:
        """``end_ts``: the time the log ends (its latest timestamp, as Coverage.last_ts has it)."""
        queued = list(queued or [])
        per_rule = [(r, r.finish(queued, end_ts)) for r in self.rules]
        ids = {f.id for _, fs in per_rule for f in fs}
        out: list[Finding] = []
        for r, fs in per_rule:
            if r.defers_to and ids.intersection(r.defers_to):
                owners = [f for _, ofs in per_rule for f in ofs if f.id in r.defers_to]
                fs = [k for k in (r.defer(f, owners) for f in fs) if k is not None]
            out.extend(fs)
        return sort_findings(out)
