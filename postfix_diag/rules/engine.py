"""The rule engine: dispatches each event to the rules that declared its kind, hands finished
messages and sessions to the rules that want them, and collects findings at the end.

Per line the cost is one dict lookup (plus the handlers of that kind); ``delivery`` lines are
dispatched by (kind, status), so that the many status=sent lines reach only the rules that
declared they want them (``Rule.delivery_statuses``). A warning, error, fatal
or panic line that no rule claims goes to the catch-all rules (GEN001/GEN002), so nothing that
``egrep '(warning|error|fatal|panic):'`` would show goes unreported.

The lines of a message the tracker follows also go, with the tracker's Message, to the rules that
keep per-message facts (``Rule.message_kinds``, ``feed_message_line``). An engine fed with a
piece of a log that does not start it (``head=False``) holds back the lines a rule cannot judge
without the lines before (``UNDECIDED``); ``merge`` folds in the engine of the piece that
follows and judges its held-back lines (see postfix_diag/pipeline.py).
"""

from __future__ import annotations

from ..events import FOREIGN, UNRECOGNIZED, Event
from ..model import Finding, sort_findings
from .base import UNDECIDED, Rule

DELIVERY = "delivery"


class Engine:
    def __init__(self, max_samples: int = 5, select=None, ignore=None, registry=None, head: bool = True):
        """``select``/``ignore``: optional iterables of rule IDs (or ID prefixes such as
        "DNS") to run or to skip. ``head``: the lines fed start the log (False: a later piece)."""
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
        in_message: dict[str, list] = {}
        for r in self.rules:
            for kind in r.message_kinds:
                in_message.setdefault(kind, []).append(r.feed_message_line)
        self._in_message = {k: tuple(v) for k, v in in_message.items()}
        self._message_delivery_rules = tuple(r for r in self.rules if DELIVERY in r.message_kinds)
        self._in_message_by_status: dict = {}
        self._msg_rules = tuple(r.feed_message for r in self.rules if r.wants_messages)
        self._session_rules = tuple(r.feed_session for r in self.rules if r.wants_sessions)
        self._by_id = {r.id: r for r in self.rules}
        every = tuple(r.feed for r in self.rules if r.every_line)
        self._every = every[0] if len(every) == 1 else (
            (lambda ev: [h(ev) for h in every]) if every else None)
        self.head = head
        self.undecided: list = []  # (event, claimed by another rule, ids of the rules that could not judge it)
        self.claimed = 0
        self.caught = 0

    @staticmethod
    def _wanting(status, rules: tuple, hook: str, cache: dict) -> tuple:
        """The ``hook`` methods of the rules that want delivery lines of ``status``, in registry
        order (remembered in ``cache``)."""
        handlers = cache[status] = tuple(getattr(r, hook) for r in rules
                                         if r.delivery_statuses is None or status in r.delivery_statuses)
        return handlers

    def feed(self, ev: Event) -> None:
        every = self._every
        if every is not None:
            every(ev)
        kind = ev.kind
        if kind == DELIVERY:
            status = ev.f.get("status")
            handlers = self._by_status.get(status)
            if handlers is None:
                handlers = self._wanting(status, self._delivery_rules, "feed", self._by_status)
        else:
            handlers = self._dispatch.get(kind)
        claimed = False
        if handlers is not None:
            undecided = None
            for h in handlers:
                result = h(ev)
                if result:
                    if result is UNDECIDED:
                        undecided = [*(undecided or ()), h.__self__.id]
                    else:
                        claimed = True
            if undecided is not None and not self.head:
                self.undecided.append((ev, claimed, undecided))
                return
        self._settle(ev, claimed)

    def _settle(self, ev: Event, claimed: bool) -> None:
        """Count a claimed line, or hand an unclaimed warning/error/fatal/panic to the catch-all."""
        if claimed:
            self.claimed += 1
            return
        sev = ev.severity
        if sev != "info" and ev.kind != FOREIGN and ev.kind != UNRECOGNIZED:
            catchers = self._catch.get(sev)
            if catchers:
                self.caught += 1
                for h in catchers:
                    h(ev)

    def _judge(self, ev: Event, claimed: bool, rule_ids: list) -> None:
        """Ask again the rules that could not judge a line, with this engine's state."""
        still = []
        for rid in rule_ids:
            result = self._by_id[rid].feed(ev)
            if result is UNDECIDED:
                still.append(rid)
            elif result:
                claimed = True
        if still and not self.head:
            self.undecided.append((ev, claimed, still))
            return
        self._settle(ev, claimed)

    def feed_message_line(self, ev: Event, msg) -> None:
        """A line of a message the tracker follows, with its Message (after the tracker)."""
        kind = ev.kind
        if kind == DELIVERY:
            status = ev.f.get("status")
            handlers = self._in_message_by_status.get(status)
            if handlers is None:
                handlers = self._wanting(status, self._message_delivery_rules, "feed_message_line",
                                         self._in_message_by_status)
        else:
            handlers = self._in_message.get(kind)
        if handlers:
            for h in handlers:
                h(ev, msg)

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

    def rule(self, rule_id: str) -> Rule | None:
        """The engine's instance of a rule (None when it does not run)."""
        return self._by_id.get(rule_id)

    def merge(self, later: Engine) -> None:
        """Fold in the engine of the piece of the log that follows (same rules), then judge the
        lines it held back."""
        for mine, theirs in zip(self.rules, later.rules, strict=True):
            mine.merge(theirs)
        self.claimed += later.claimed
        self.caught += later.caught
        for ev, claimed, rule_ids in later.undecided:
            self._judge(ev, claimed, rule_ids)

    def finish(self, queued=None, end_ts: float | None = None) -> list[Finding]:
        """``end_ts``: the time the log ends (its latest timestamp, as Coverage.last_ts has it)."""
        queued = list(queued or [])
        for r in self.rules:
            queued, end_ts = r.prepare(queued, end_ts)
        per_rule = [(r, r.finish(queued, end_ts)) for r in self.rules]
        ids = {f.id for _, fs in per_rule for f in fs}
        out: list[Finding] = []
        for r, fs in per_rule:
            if r.defers_to and ids.intersection(r.defers_to):
                owners = [f for _, ofs in per_rule for f in ofs if f.id in r.defers_to]
                fs = [k for k in (r.defer(f, owners) for f in fs) if k is not None]
            out.extend(fs)
        return sort_findings(out)
