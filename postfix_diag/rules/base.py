"""The pieces every rule is built from: the Rule base class, the registry decorator, and
``Group``, a bounded accumulator of counts, time span, top offenders and sample lines.

A rule is a class. Its class attributes are its identity and its documentation (shown by
``explain`` and written to docs/rules.md); its instance holds the state of one analysis.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections import Counter
from typing import ClassVar

from ..dsn import codes_in
from ..events import Event, before
from ..limits import MAX_LOOKUP, MAX_OFFENDERS
from ..model import CATEGORIES, SEVERITIES, SEVERITY_RANK, Finding, Occurrences, Sample
from ..topcount import OTHER, TopCounter
from .incident_spec import IncidentSpec


class _Undecided:
    """What a rule's feed() returns for a line whose meaning depends on lines this state has not
    seen (a piece of the log that does not start it), before changing any state for it: the
    engine holds the line until the pieces before are merged, then asks again. Truthy, so that
    "not claimed" stays a cheap test."""

    def __repr__(self) -> str:
        return "UNDECIDED"


UNDECIDED = _Undecided()
MAX_KEYS = MAX_OFFENDERS  # distinct keys a top-offender counter keeps; the rest are counted as OTHER
TOP = 10  # top offenders listed in evidence

_RULES: list[type[Rule]] = []


def register(cls):
    """Class decorator: add a rule to the registry (checked for a complete definition)."""
    for attr in ("id", "name", "title", "category", "severity", "what", "why", "fix"):
        if not getattr(cls, attr, None):
            raise TypeError(f"rule {cls.__name__} lacks {attr!r}")
    if cls.category not in CATEGORIES:
        raise TypeError(f"rule {cls.id}: unknown category {cls.category!r}")
    if cls.severity not in SEVERITIES:
        raise TypeError(f"rule {cls.id}: unknown severity {cls.severity!r}")
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", cls.name):
        raise TypeError(f"rule {cls.id}: name {cls.name!r} is not kebab-case")
    if any(r.id == cls.id for r in _RULES):
        raise TypeError(f"duplicate rule id {cls.id}")
    _RULES.append(cls)
    return cls


def worse(a: str, b: str) -> str:
    """The more severe of two severities."""
    return a if SEVERITY_RANK[a] >= SEVERITY_RANK[b] else b


# A daemon's own severity sets a floor under the finding's: DEBUG_README says a fatal line means
# Postfix cannot proceed (at least "error"), a panic is a software bug (critical).
SEVERITY_FLOOR = {"fatal": "error", "panic": "critical"}
_DAEMON_RANK = {"info": 0, "warning": 1, "error": 2, "fatal": 3, "panic": 4}


class BoundedCounter(TopCounter):
    """A top-offender counter: the counts of at most ``cap`` keys, the rest under OTHER
    (topcount.TopCounter: past the cap, the less frequent half of the keys goes to OTHER, so a
    flood of one-off clients does not push out the real top offender that comes later; the lines
    moved are counted in ``dropped``, reported as the limit "offenders").

    Ties keep the order in which the keys were first added: fed in log order, that is the order
    they first appear in the log. ``merge`` adds the counts of a counter fed with the lines that
    follow (exact while the keys fit under the cap; beyond it, which keys went to OTHER depends
    on where the log was cut)."""

    limit = "offenders"  # the name of its bound (limits.py)

    def __init__(self, cap: int = MAX_KEYS, other=OTHER):
        super().__init__(cap, other)

    def top(self, n: int = TOP) -> list[list]:
        return [[k, v] for k, v in self.most_common(n)]


class FirstSeenCounter(BoundedCounter):
    """A BoundedCounter for counts that may be added out of log order (a rule's counts per
    message, which a piece of the log adds for its stitched messages after its own): each key
    remembers where it was first seen (``place(ev)``), and ties are ordered by that place (in
    ``most_common`` and when the cap drops the less frequent half); OTHER is first seen where
    the first of the keys it took was."""

    def __init__(self, cap: int = MAX_KEYS, other=OTHER):
        super().__init__(cap, other)
        self.first: dict = {}

    def add(self, key, n: int = 1, at: tuple = (0, 0)) -> None:
        first = self.first
        seen = first.get(key)
        if seen is not None:
            if at < seen:
                first[key] = at
            self[key] += n
            return
        if len(self) >= self.cap:  # before the new key comes in (TopCounter.add)
            self.prune()
        first[key] = at
        self[key] = n

    def merge(self, later: FirstSeenCounter) -> None:
        first = self.first
        for key, n in later.items():
            at = later.first[key]
            seen = first.get(key)
            if seen is None or at < seen:
                first[key] = at
            self[key] += n
        self.dropped += later.dropped
        if len(self) > self.cap:
            self.prune()

    def _rank(self, keys: list):
        first = self.first
        return lambda k: (-self[k], first[k])

    def _drop(self, key) -> None:
        at = self.first.pop(key)
        super()._drop(key)
        other = self._other(key)
        seen = self.first.get(other)
        if seen is None or at < seen:
            self.first[other] = at

    def most_common(self, n: int | None = None) -> list:
        first = self.first
        items = sorted(self.items(), key=lambda kv: (-kv[1], first[kv[0]]))
        return items if n is None else items[:n]


class FirstKeysCounter(BoundedCounter):
    """A bounded lookup table rather than a top-offender table (was this relay ever delivered to,
    how many distinct clients resolved): the first ``cap`` keys (limits.MAX_LOOKUP) in the order
    they were added, every later key under OTHER (counted in ``dropped``, reported as the limit
    "lookups"). Which keys are kept does not depend on their counts."""

    limit = "lookups"

    def __init__(self, cap: int = MAX_LOOKUP, other=OTHER):
        super().__init__(cap, other)

    def add(self, key, n: int = 1) -> None:
        if key in self or len(self) < self.cap:
            self[key] += n
        else:
            self[self._other(key)] += n
            self.dropped += n

    def merge(self, later: BoundedCounter) -> None:
        for key, n in later.items():
            if key in self or len(self) < self.cap or self.is_other(key):
                self[key] += n
            else:
                self[self._other(key)] += n
                self.dropped += n
        self.dropped += later.dropped


def dropped_in(state, into: dict, depth: int = 4) -> dict:
    """Add to ``into`` ({limit name: lines}) the lines the counters in a rule's state (its
    attributes, Groups, and the dicts, lists and tuples that hold them) moved to OTHER at their
    cap: "offenders" for the top-offender counters, "lookups" for FirstKeysCounter."""
    if isinstance(state, BoundedCounter):
        if state.dropped:
            into[state.limit] = into.get(state.limit, 0) + state.dropped
    elif isinstance(state, Group):
        for c in state.counters.values():
            dropped_in(c, into)
    elif depth and isinstance(state, dict):
        for v in state.values():
            dropped_in(v, into, depth - 1)
    elif depth and isinstance(state, (list, tuple)):
        for v in state:
            dropped_in(v, into, depth - 1)
    return into


class Group:
    """Counts, time span, occurrences in time, worst daemon severity, named top-offender counters
    and samples of one finding in the making.

    Every line the group sees is an occurrence at its time (``when``: per time bucket, see
    model.Occurrences), so that each finding knows when, not only how many, without its rule
    doing anything. The samples are the first ``max_samples`` lines by their place in the log
    (events fed out of order, as a piece's stitched messages are, still give the samples of one
    pass). ``merge`` adds a group made of the lines that follow."""

    __slots__ = ("count", "first", "last", "samples", "worst", "counters", "max_samples", "when")

    def __init__(self, max_samples: int = 5):
        self.count = 0
        self.first: float | None = None
        self.last: float | None = None
        self.samples: list[Sample] = []
        self.worst = "info"  # the most severe daemon prefix seen (info/warning/error/fatal/panic)
        self.counters: dict[str, BoundedCounter] = {}
        self.max_samples = max_samples
        self.when: Occurrences | None = None  # made with the first timestamp

    def __getstate__(self):
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state):
        for name, value in state.items():
            setattr(self, name, value)

    def add(self, ev: Event | None, n: int = 1, sample: bool = True) -> None:
        self.count += n
        if ev is not None:
            self.see(ev, sample)

    def see(self, ev: Event, sample: bool = True, occurrence: int = 1) -> None:
        """Note an event's time (an occurrence, unless ``occurrence`` is 0), severity and (up to
        max_samples) line without counting it."""
        ts = ev.ts
        if ts is not None:
            if self.first is None or ts < self.first:
                self.first = ts
            if self.last is None or ts > self.last:
                self.last = ts
            when = self.when
            if when is None:
                when = self.when = Occurrences()
            when.add(ts, occurrence)
        sev = ev.severity
        if _DAEMON_RANK.get(sev, 0) > _DAEMON_RANK[self.worst]:
            self.worst = sev
        if sample:
            samples = self.samples
            if samples:
                last = samples[-1]
                file = ev.file
                if (ev.lineno < last.line) if file is last.file else before(file, ev.lineno, last.file, last.line):
                    self._insert(Sample(ev.file or "", ev.lineno or 0, ev.line or ev.text or ""))
                    return
            if len(samples) < self.max_samples:
                samples.append(Sample(ev.file or "", ev.lineno or 0, ev.line or ev.text or ""))

    def _insert(self, s: Sample) -> None:
        """Put a sample in its place among the samples (those after the first max_samples go)."""
        samples = self.samples
        i = len(samples)
        while i and before(s.file, s.line, samples[i - 1].file, samples[i - 1].line):
            i -= 1
        if i < self.max_samples:
            samples.insert(i, s)
            del samples[self.max_samples:]

    def merge(self, later: Group) -> None:
        self.count += later.count
        if later.first is not None and (self.first is None or later.first < self.first):
            self.first = later.first
        if later.last is not None and (self.last is None or later.last > self.last):
            self.last = later.last
        if _DAEMON_RANK[later.worst] > _DAEMON_RANK[self.worst]:
            self.worst = later.worst
        if later.when is not None:
            if self.when is None:
                self.when = later.when
            else:
                self.when.merge(later.when)
        for name, c in later.counters.items():
            mine = self.counters.get(name)
            if mine is None:
                self.counters[name] = c
            else:
                mine.merge(c)
        for s in later.samples:
            self._insert(s)

    def counter(self, name: str) -> BoundedCounter:
        c = self.counters.get(name)
        if c is None:
            c = self.counters[name] = BoundedCounter()
        return c

    def tally(self, name: str, key, n: int = 1) -> None:
        if key is None:
            return
        self.counter(name).add(key, n)

    def top(self, name: str, n: int = TOP) -> list[list]:
        c = self.counters.get(name)
        return c.top(n) if c else []

    def breakdown(self, name: str) -> dict:
        c = self.counters.get(name)
        return dict(c.most_common()) if c else {}


def group_in(groups: dict, key, make, cap: int = MAX_KEYS, other=OTHER):
    """The group of ``key`` in ``groups`` (made by ``make()`` when new); once ``cap`` keys are
    there, a new key shares the group of ``other`` (as merge_groups does with a cap)."""
    g = groups.get(key)
    if g is None:
        if len(groups) >= cap:
            key = other
            g = groups.get(key)
        if g is None:
            g = groups[key] = make()
    return g


def merge_groups(mine: dict, later: dict, cap: int | None = None, other=OTHER) -> None:
    """Merge a dict of Groups (or counters) keyed by subject with the one of the lines that
    follow; with ``cap``, subjects beyond it go to ``other`` (as the rule does when feeding)."""
    for key, g in later.items():
        if key not in mine and cap is not None and len(mine) >= cap:
            key = other
        if key in mine:
            mine[key].merge(g)
        else:
            mine[key] = g


class Rule:
    """Base class of every rule. Subclasses set the class attributes and override the hooks."""

    # identity
    id: ClassVar[str] = ""
    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    category: ClassVar[str] = "other"
    severity: ClassVar[str] = "warning"
    # inputs: event kinds dispatched to feed(); for "delivery" events, the statuses (sent,
    # deferred, bounced, ...) dispatched to feed(), None for all of them (most delivery lines
    # are status=sent: a rule that ignores those says so here and is not called for them);
    # whether feed_message/feed_session are wanted;
    # catch_all: daemon severities of unclaimed lines handed to catch() (the GEN rules only)
    kinds: ClassVar[tuple[str, ...]] = ()
    delivery_statuses: ClassVar[tuple[str, ...] | None] = None
    # message_kinds: event kinds of a tracked message's lines dispatched to feed_message_line()
    # with the tracker's Message (delivery lines: of delivery_statuses), for rules that keep
    # per-message facts (Message.facts) instead of remembering queue ids themselves
    message_kinds: ClassVar[tuple[str, ...]] = ()
    wants_messages: ClassVar[bool] = False
    wants_sessions: ClassVar[bool] = False
    wants_queue: ClassVar[bool] = False
    catch_all: ClassVar[tuple[str, ...]] = ()
    # every_line: feed() gets every line, whatever its kind
    # (the clock's rule); its return value is ignored
    every_line: ClassVar[bool] = False
    count_unit: ClassVar[str] = "lines"
    # documentation (kept with the rule, printed by explain and written to docs/rules.md)
    what: ClassVar[str] = ""
    why: ClassVar[str] = ""
    example: ClassVar[tuple[str, ...]] = ()
    fix: ClassVar[str] = ""
    remediation: ClassVar[tuple[str, ...]] = ()  # default steps for a finding, first step first
    parameters: ClassVar[tuple[tuple[str, str, str], ...]] = ()  # (parameter, default, role)
    references: ClassVar[tuple[str, ...]] = ()
    # Rules that own what this rule would also report: when one of them has a finding in the
    # same run, the engine passes each of this rule's findings through defer() (which drops it
    # unless overridden). Say in both rules' `what` how they relate.
    defers_to: ClassVar[tuple[str, ...]] = ()
    # documentation of how the configuration and the evidence shape a finding (explain prints
    # them): what --config makes exact (the report lists it for findings made without one), and
    # how the severity is chosen when it is not always the default
    with_config: ClassVar[str] = ""
    severity_rule: ClassVar[str] = ""
    # The Postfix configuration (postfix_diag.config.Config) of this rule's host, or None: set
    # by the engine right before finish(), the only place a rule reads it (it is the same for
    # every piece of a log, so it is never part of the state that merges).
    config = None
    # A new rule starts in preview (as ruff's preview rules): `analyze` runs it and marks its
    # findings "preview"; `check` runs it only with --preview, so a CI job that gates on `check`
    # does not fail on a rule that came with an upgrade. A rule leaves preview once its cases
    # and a captured log have held for a release (the flag is removed, docs/rules.md says so).
    preview: ClassVar[bool] = False
    # What the findings are as incidents: what the key names, what an occurrence costs, what
    # this rule's incidents cause (incident_spec.py; shown by explain, read by incidents/)
    incident: ClassVar[IncidentSpec] = IncidentSpec()

    def __init__(self, max_samples: int = 5):
        self.max_samples = max_samples

    # --- hooks --------------------------------------------------------------------------------
    def feed(self, ev: Event) -> bool | None:
        """Called for events of the declared kinds. Return True to claim the line (it then does
        not reach the catch-all rules)."""
        return None

    def feed_message_line(self, ev: Event, msg) -> None:
        """Called for the lines of kinds ``message_kinds`` that belong to a message the tracker
        follows, after the tracker has applied them to ``msg``. In a piece of a log that does
        not start it, a message's lines are held back until the pieces before it are merged
        (see postfix_diag/pipeline.py), so what this hook does must be keyed by the message
        (its ``facts``) or not depend on the order of lines (counts, sums, first-seen places)."""

    def feed_message(self, msg) -> None:
        pass

    def feed_session(self, session) -> None:
        pass

    def merge(self, later: Rule) -> None:
        """Fold in the state of the same rule fed with the lines that follow this rule's (a later
        piece of the log), so that finish() reports what one pass would. Every rule that keeps
        state implements it."""
        raise NotImplementedError(f"rule {self.id} does not merge")

    def catch(self, ev: Event) -> None:
        pass

    def prepare(self, queued: list, end_ts: float | None) -> tuple[list, float | None]:
        """Called on every rule before any finish(): the queued messages and the end of the log
        the rules will see (a rule may correct them, as the clock's takes jumps out of ages)."""
        return queued, end_ts

    def finish(self, queued: list, end_ts: float | None) -> list[Finding]:
        return []

    def defer(self, finding: Finding, owners: list[Finding]) -> Finding | None:
        """A finding of this rule when rules of ``defers_to`` found ``owners``: the finding to
        keep (possibly changed), or None to drop it (the default)."""
        return None

    # --- helpers ------------------------------------------------------------------------------
    def group(self) -> Group:
        return Group(self.max_samples)

    def make(self, g: Group, summary: str, *, key: str | None = None, severity: str | None = None,
             count: int | None = None, evidence: dict | None = None, remediation=None,
             title: str | None = None, config: dict | None = None) -> Finding:
        sev = severity or self.severity
        floor = SEVERITY_FLOOR.get(g.worst)
        if floor is not None:
            sev = worse(sev, floor)
        evidence = evidence or {}
        codes = codes_in(s.text for s in g.samples)
        if codes and "dsn_codes" not in evidence:
            evidence = {**evidence, "dsn_codes": codes}  # the status codes of the samples, in words
        return Finding(
            id=self.id, category=self.category, severity=sev, title=title or self.title,
            count=g.count if count is None else count, summary=summary,
            first_seen=g.first, last_seen=g.last, key=key, evidence=evidence,
            samples=list(g.samples), remediation=list(remediation or self.remediation),
            references=list(self.references), config=dict(config or {}), preview=self.preview,
            occurrences=g.when,
        )


# --- small shared helpers ---------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)  # bounded: the addresses are the log's (an outsider's) to choose
def ip_kind(ip: str | None) -> str:
    """'loopback', 'private', 'public' or 'invalid' for an address as Postfix logs it (the same
    few addresses come back line after line: the answers are remembered for the last 4,096)."""
    if not ip:
        return "invalid"
    if ip.lower().startswith("ipv6:"):
        ip = ip[5:]
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return "invalid"
    if a.is_loopback:
        return "loopback"
    if a.is_link_local or any(a in net for net in _PRIVATE_NETS if net.version == a.version):
        return "private"
    return "public"


# Site-local networks (RFC 1918, shared address space, ULA). Not ipaddress's is_private, which
# also counts the documentation ranges (192.0.2.0/24, ...) that examples use for remote hosts.
_PRIVATE_NETS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"))


def domain_of(addr: str | None) -> str:
    if not addr:
        return ""
    return addr.rsplit("@", 1)[-1].lower() if "@" in addr else addr.lower()


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def log_tag(ev: Event) -> tuple[str, str]:
    """(syslog_name, program) of a line's tag: ``postfix/submission/smtpd`` → ("postfix/submission",
    "smtpd"); ``postfix/smtpd`` → ("postfix", "smtpd")."""
    instance = ev.instance or "postfix"
    if ev.service and ev.service != ev.program:
        return f"{instance}/{ev.service}", ev.program
    return instance, ev.program


def client_of(ev: Event) -> str | None:
    return ev.client


class LineRule(Rule):
    """A rule that yields at most one finding counting the lines it matches.

    Subclasses override ``match`` (which events count), ``tally`` (top-offender counters),
    ``summarize``, and optionally ``evidence``/``grade``/``claim_only`` (lines that are claimed
    and sampled but not counted, such as the follow-up lines of a counted one).

    ``subject`` names what a counted line is about (a client address, a file, a service); the
    finding's key is the most frequent subject (ties: ``subject_rank``, then first seen), so that
    a baseline entry follows the main offender. Rules without subjects have key None."""

    # count the tags (syslog_name, program) of the matched lines in ``tags``: the master.cf
    # services they come from (see rules.settings.services_of)
    track_tags: ClassVar[bool] = False

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.g = self.group()
        self.subjects = BoundedCounter()
        self.tags = BoundedCounter(100)
        # the hooks this rule overrides (None: the no-op default, which feed() does not call)
        cls = type(self)
        self._tally_hook = self.tally if cls.tally is not LineRule.tally else None
        self._subject_hook = self.subject if cls.subject is not LineRule.subject else None
        self._claim_hook = self.claim_only if cls.claim_only is not LineRule.claim_only else None

    def match(self, ev: Event) -> bool:
        return True

    def claim_only(self, ev: Event) -> bool:
        return False

    def tally(self, ev: Event, g: Group) -> None:
        pass

    def subject(self, ev: Event) -> str | None:
        return None

    def subject_rank(self, subject: str) -> int:
        """Tie-breaker between equally frequent subjects: lower ranks first."""
        return 0

    def feed(self, ev: Event) -> bool | None:
        if self.match(ev):
            g = self.g
            g.add(ev)
            if self._tally_hook is not None:
                self._tally_hook(ev, g)
            if self._subject_hook is not None:
                s = self._subject_hook(ev)
                if s is not None:
                    self.subjects.add(s)
            if self.track_tags:
                self.tags.add(log_tag(ev))
            return True
        if self._claim_hook is not None:
            claimed = self._claim_hook(ev)
            if claimed:
                if claimed is UNDECIDED:
                    return UNDECIDED
                self.g.see(ev, sample=False, occurrence=0)
                return True
        return None

    def merge(self, later: LineRule) -> None:
        self.g.merge(later.g)
        self.subjects.merge(later.subjects)
        self.tags.merge(later.tags)

    def key(self) -> str | None:
        if not self.subjects:
            return None
        items = [(k, n) for k, n in self.subjects.items() if k != OTHER] or list(self.subjects.items())
        order = {k: i for i, k in enumerate(self.subjects)}
        return min(items, key=lambda kv: (-kv[1], self.subject_rank(kv[0]), order[kv[0]]))[0]

    def summarize(self, g: Group) -> str:
        return f"{plural(g.count, 'line')}: {self.title}."

    def evidence(self, g: Group) -> dict:
        return {name: c.top() for name, c in g.counters.items()}

    def grade(self, g: Group) -> str:
        return self.severity

    def refine(self, f: Finding) -> None:
        """Change the finding before it is reported: where a rule reads its configuration
        (``self.config``, None without one) to make its evidence, severity and fixes exact."""

    def finish(self, queued, end_ts):
        if not self.g.count:
            return []
        f = self.make(self.g, self.summarize(self.g), severity=self.grade(self.g),
                      evidence=self.evidence(self.g), key=self.key())
        self.refine(f)
        if self._subject_hook is not None:
            f.subjects = len(self.subjects)
        return [f]


def top_key(counter: Counter) -> str | None:
    """The most frequent key of a counter (first seen wins ties), OTHER only if alone."""
    best = None
    for k, n in counter.items():
        if k == OTHER:
            continue
        if best is None or n > counter[best]:
            best = k
    return best


class ProblemRule(LineRule):
    """A line rule whose finding breaks down by problem and by program (TLS setup, queue storage,
    system resources). Subclasses say what the problem of a matched line is in ``problem()``."""

    def problem(self, ev: Event) -> str:
        raise NotImplementedError

    def tally(self, ev: Event, g: Group) -> None:
        g.tally("by_problem", self.problem(ev))
        g.tally("by_program", ev.program)

    @staticmethod
    def top_problems(g: Group) -> str:
        return ", ".join(k for k, _ in g.top("by_problem", 3))

    def evidence(self, g: Group) -> dict:
        return {"by_problem": g.breakdown("by_problem"), "by_program": g.breakdown("by_program")}
