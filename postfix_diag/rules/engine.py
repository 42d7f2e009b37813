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

**Hosts.** A log may hold the lines of several hosts (a central syslog server). The rules are
per host: the engine keeps one set of rule instances for each syslog host it sees (first seen
first) and hands each line, message and session to its host's rules, so that every finding is
about one host (``Finding.host``).

**Configuration.** The Postfix configuration (`postfix_diag.config.Config`) is not state: it
is the same for every piece of a log, and the rules read it in ``finish()`` only, through
``Rule.config``, which the engine sets for each host's rules right before they finish: the
configuration given, for the one host of a log, or for the hosts whose name is its myhostname
(or its first label) when the log holds several; None otherwise (the rules then work from the
log alone). ``config_applied`` says which hosts got it.
"""

from __future__ import annotations

from ..events import FOREIGN, UNRECOGNIZED, Event
from ..model import Finding, sort_findings
from .base import UNDECIDED, Rule, dropped_in

DELIVERY = "delivery"
_NO_HOST = object()  # no host seen yet (a syslog host may be None)


class _HostRules:
    """The rule instances of one host and their dispatch tables."""

    def __init__(self, classes, max_samples: int):
        self.rules: list[Rule] = [cls(max_samples=max_samples) for cls in classes]
        dispatch: dict[str, list] = {}
        catch: dict[str, list] = {}
        in_message: dict[str, list] = {}
        for r in self.rules:
            for kind in r.kinds:
                dispatch.setdefault(kind, []).append(r.feed)
            for sev in r.catch_all:
                catch.setdefault(sev, []).append(r.catch)
            for kind in r.message_kinds:
                in_message.setdefault(kind, []).append(r.feed_message_line)
        self.dispatch = {k: tuple(v) for k, v in dispatch.items()}
        self.catch = {k: tuple(v) for k, v in catch.items()}
        self.delivery_rules = tuple(r for r in self.rules if DELIVERY in r.kinds)
        self.by_status: dict = {}  # delivery status -> handlers, filled as statuses show up
        self.in_message = {k: tuple(v) for k, v in in_message.items()}
        self.message_delivery_rules = tuple(r for r in self.rules if DELIVERY in r.message_kinds)
        self.in_message_by_status: dict = {}
        self.msg_rules = tuple(r.feed_message for r in self.rules if r.wants_messages)
        self.session_rules = tuple(r.feed_session for r in self.rules if r.wants_sessions)
        self.by_id = {r.id: r for r in self.rules}
        every = tuple(r.feed for r in self.rules if r.every_line)  # fed every line, whatever its kind
        self.every = every[0] if len(every) == 1 else (
            (lambda ev: [h(ev) for h in every]) if every else None)

    def merge(self, later: _HostRules) -> None:
        for mine, theirs in zip(self.rules, later.rules, strict=True):
            mine.merge(theirs)


class Engine:
    def __init__(self, max_samples: int = 5, select=None, ignore=None, registry=None, head: bool = True,
                 config=None, preview: bool = True):
        """``select``/``ignore``: optional iterables of rule IDs (or ID prefixes such as
        "DNS") to run or to skip. ``head``: the lines fed start the log (False: a later piece).
        ``config``: the Postfix configuration the rules may read when they finish (or None).
        ``preview``: run the rules in preview too (``Rule.preview``; `check` without --preview
        does not, so the stable rules see every line as they did before)."""
        from .registry import REGISTRY

        reg = registry if registry is not None else REGISTRY
        classes = []
        for rid, cls in reg.items():
            if select and not any(rid.startswith(s.upper()) for s in select):
                continue
            if ignore and any(rid.startswith(s.upper()) for s in ignore):
                continue
            if cls.preview and not preview:
                continue
            classes.append(cls)
        self._classes = tuple(classes)
        self.max_samples = max_samples
        self.config = config
        self.hosts: dict = {}  # syslog host -> _HostRules, in the order first seen
        self._last_host, self._last_rules = _NO_HOST, None
        self.head = head
        self.undecided: list = []  # (event, claimed by another rule, ids of the rules that could not judge it)
        self.claimed = 0
        self.caught = 0
        self.config_applied: dict = {}  # host -> whether its rules got the configuration (at finish)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["config"] = None  # a piece travels without it: the configuration is applied at finish
        state["_last_host"], state["_last_rules"] = _NO_HOST, None
        return state

    @property
    def wants_sessions(self) -> bool:
        """Whether any rule reads smtpd sessions (the tracker follows them only then)."""
        return any(cls.wants_sessions for cls in self._classes)

    @property
    def rules(self) -> list[Rule]:
        """Every rule instance, host by host."""
        return [r for hr in self.hosts.values() for r in hr.rules]

    def rules_of(self, host) -> _HostRules:
        """The rules of a syslog host (created when the host is new)."""
        if host == self._last_host:
            return self._last_rules
        hr = self.hosts.get(host)
        if hr is None:
            hr = self.hosts[host] = _HostRules(self._classes, self.max_samples)
        self._last_host, self._last_rules = host, hr
        return hr

    @staticmethod
    def _wanting(status, rules: tuple, hook: str, cache: dict) -> tuple:
        """The ``hook`` methods of the rules that want delivery lines of ``status``, in registry
        order (remembered in ``cache``)."""
        handlers = cache[status] = tuple(getattr(r, hook) for r in rules
                                         if r.delivery_statuses is None or status in r.delivery_statuses)
        return handlers

    def feed(self, ev: Event) -> None:
        host = ev.host
        hr = self._last_rules if host == self._last_host else self.rules_of(host)
        every = hr.every
        if every is not None:
            every(ev)
        kind = ev.kind
        if kind == DELIVERY:
            status = ev.f.get("status")
            handlers = hr.by_status.get(status)
            if handlers is None:
                handlers = self._wanting(status, hr.delivery_rules, "feed", hr.by_status)
        else:
            handlers = hr.dispatch.get(kind)
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
        self._settle(hr, ev, claimed)

    def _settle(self, hr: _HostRules, ev: Event, claimed: bool) -> None:
        """Count a claimed line, or hand an unclaimed warning/error/fatal/panic to the catch-all."""
        if claimed:
            self.claimed += 1
            return
        sev = ev.severity
        if sev != "info" and ev.kind != FOREIGN and ev.kind != UNRECOGNIZED:
            catchers = hr.catch.get(sev)
            if catchers:
                self.caught += 1
                for h in catchers:
                    h(ev)

    def _judge(self, ev: Event, claimed: bool, rule_ids: list) -> None:
        """Ask again the rules that could not judge a line, with this engine's state."""
        hr = self.rules_of(ev.host)
        still = []
        for rid in rule_ids:
            result = hr.by_id[rid].feed(ev)
            if result is UNDECIDED:
                still.append(rid)
            elif result:
                claimed = True
        if still and not self.head:
            self.undecided.append((ev, claimed, still))
            return
        self._settle(hr, ev, claimed)

    def feed_message_line(self, ev: Event, msg) -> None:
        """A line of a message the tracker follows, with its Message (after the tracker)."""
        host = ev.host
        hr = self._last_rules if host == self._last_host else self.rules_of(host)
        kind = ev.kind
        if kind == DELIVERY:
            status = ev.f.get("status")
            handlers = hr.in_message_by_status.get(status)
            if handlers is None:
                handlers = self._wanting(status, hr.message_delivery_rules, "feed_message_line",
                                         hr.in_message_by_status)
        else:
            handlers = hr.in_message.get(kind)
        if handlers:
            for h in handlers:
                h(ev, msg)

    def feed_message(self, msg) -> None:
        for h in self.rules_of(msg.host).msg_rules:
            h(msg)

    def feed_session(self, session) -> None:
        for h in self.rules_of(session.host).session_rules:
            h(session)

    def instances(self, rule_id: str) -> list[Rule]:
        """The engine's instances of a rule, one per host, first seen first (none when it does not run)."""
        return [hr.by_id[rule_id] for hr in self.hosts.values() if rule_id in hr.by_id]

    def merge(self, later: Engine) -> None:
        """Fold in the engine of the piece of the log that follows (same rules), then judge the
        lines it held back."""
        for host, theirs in later.hosts.items():
            mine = self.hosts.get(host)
            if mine is None:
                self.hosts[host] = theirs
            else:
                mine.merge(theirs)
        self._last_host, self._last_rules = _NO_HOST, None
        self.claimed += later.claimed
        self.caught += later.caught
        for ev, claimed, rule_ids in later.undecided:
            self._judge(ev, claimed, rule_ids)

    @property
    def dropped(self) -> dict:
        """{limit name: lines} the rules' counters moved to OTHER at their cap (the limits
        "offenders" and "lookups": rules.base.BoundedCounter, FirstKeysCounter)."""
        into: dict = {}
        for hr in self.hosts.values():
            for r in hr.rules:
                dropped_in(vars(r), into)
        return into

    def config_for(self, host, hosts: list):
        """The configuration the rules of ``host`` read: all of it for the only host of a log;
        with several hosts, only for the host named by the configuration's myhostname."""
        cfg = self.config
        if cfg is None:
            return None
        if len(hosts) <= 1:
            return cfg
        return cfg if host is not None and names_host(cfg, host) else None

    def finish(self, queued=None, end_ts: float | None = None) -> list[Finding]:
        """``end_ts``: the time the log ends (its latest timestamp, as Coverage.last_ts has it)."""
        by_host: dict = {}
        for m in queued or ():
            by_host.setdefault(m.host, []).append(m)
        for host in by_host:
            self.rules_of(host)
        hosts = list(self.hosts)
        out: list[Finding] = []
        for host in hosts:
            cfg = self.config_for(host, hosts)
            self.config_applied[host] = cfg is not None
            out += self._finish_host(self.hosts[host], by_host.get(host, []), end_ts, cfg, host)
        return sort_findings(out)

    @staticmethod
    def _finish_host(hr: _HostRules, queued: list, end_ts, cfg, host) -> list[Finding]:
        for r in hr.rules:
            r.config = cfg
        queued = list(queued)
        for r in hr.rules:  # before any finish(): a rule may correct them (TIM001 takes jumps out of ages)
            queued, end_ts = r.prepare(queued, end_ts)
        queued = Queued(queued)
        per_rule = [(r, r.finish(queued, end_ts)) for r in hr.rules]
        ids = {f.id for _, fs in per_rule for f in fs}
        out: list[Finding] = []
        for r, fs in per_rule:
            if r.defers_to and ids.intersection(r.defers_to):
                owners = [f for _, ofs in per_rule for f in ofs if f.id in r.defers_to]
                fs = [k for k in (r.defer(f, owners) for f in fs) if k is not None]
            out.extend(fs)
        for f in out:
            f.host = host
        return out


class Queued(list):
    """The messages still queued at the end of the log, as every rule's finish() reads them, and
    what rules derive from them, built once for all (``shared``): the four queue-shape rules
    read one queue shape instead of rebuilding it each (1M messages in flight: 94 s before)."""

    def __init__(self, messages=()):
        super().__init__(messages)
        self._shared: dict = {}

    def shared(self, name: str, build):
        """``build(self)``, computed on the first call for ``name``."""
        if name not in self._shared:
            self._shared[name] = build(self)
        return self._shared[name]


def names_host(cfg, host: str) -> bool:
    """Whether a syslog host name is the configuration's myhostname (or its first label)."""
    name = (cfg.expanded("myhostname") or "").strip().lower()
    if not name or name.startswith("$"):
        return False
    h = host.lower()
    return h == name or h == name.split(".", 1)[0] or h.split(".", 1)[0] == name.split(".", 1)[0]
