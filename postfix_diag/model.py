"""The model the report writers see: findings with their evidence and their occurrences in time,
incidents (what broke when, what caused what, whether it is over), the analysis of a log, the
result of a check against a baseline.

One place names every field of a finding; the JSON schema in docs/report-schema.json and the
writers in postfix_diag/report/ follow it. Writers import this module, never a command module;
this module imports nothing of the package above it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("critical", "error", "warning", "notice", "info")  # most severe first
SEVERITY_RANK = {s: i for i, s in enumerate(reversed(SEVERITIES))}  # info=0 ... critical=4
CATEGORIES = (
    "dns", "chroot", "error-limit", "process-limit", "connection", "delivery", "queue", "config",
    "tls", "sasl", "milter", "resources", "security", "postscreen", "time", "other",
)


def at_least(severity: str, threshold: str) -> bool:
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[threshold]


def iso(ts: float | None) -> str | None:
    """Wall-clock epoch seconds → ``YYYY-MM-DDTHH:MM:SS`` (the log's own local time)."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))


# --- occurrences in time -----------------------------------------------------------------------

BUCKET_SECONDS = 10  # the finest time bucket of Occurrences
MAX_BUCKETS = 512  # buckets one Occurrences keeps; beyond, its buckets double in size


def _fold(into: dict, buckets: dict, shift: int) -> None:
    """Add time buckets ``[count, first, last]`` to ``into``, their keys shifted down ``shift`` levels."""
    for k, (n, first, last) in buckets.items():
        k >>= shift
        b = into.get(k)
        if b is None:
            into[k] = [n, first, last]
        else:
            b[0] += n
            b[1] = min(b[1], first)
            b[2] = max(b[2], last)


class Occurrences:
    """When something happened: per time bucket, how many times, and the first and last time in
    the bucket (so that the start and end of a stretch of activity are exact whatever the bucket).

    Buckets are aligned on the epoch and BUCKET_SECONDS * 2**level long; when more than
    MAX_BUCKETS of them are in use, the size doubles (two neighbours become one) until they fit.
    The size is thus the smallest that fits every time added, whatever the order they came in,
    and ``merge`` (of the occurrences of the lines that follow, or of any other part of the log)
    gives exactly what one pass gives: counts add up, first/last take the min/max.

    ``add(ts, 0)`` notes a time without counting it (a follow-up line that extends a stretch)."""

    __slots__ = ("level", "buckets")

    def __init__(self):
        self.level = 0
        self.buckets: dict[int, list] = {}  # bucket index at this level -> [count, first, last]

    def __getstate__(self):
        return (self.level, self.buckets)

    def __setstate__(self, state):
        self.level, self.buckets = state

    @property
    def size(self) -> int:
        """Seconds per bucket."""
        return BUCKET_SECONDS << self.level

    def __bool__(self) -> bool:
        return bool(self.buckets)

    def add(self, ts: float, n: int = 1) -> None:
        k = int(ts // BUCKET_SECONDS) >> self.level
        b = self.buckets.get(k)
        if b is None:
            self.buckets[k] = [n, ts, ts]
            if len(self.buckets) > MAX_BUCKETS:
                self.coarsen(self.level + 1)
            return
        b[0] += n
        if ts < b[1]:
            b[1] = ts
        elif ts > b[2]:
            b[2] = ts

    def coarsen(self, level: int) -> None:
        """Re-bucket at ``level`` (or coarser, until the buckets fit); never finer."""
        if level < self.level:
            return
        while True:
            shift = level - self.level
            out: dict[int, list] = {}
            _fold(out, self.buckets, shift)
            self.level, self.buckets = level, out
            if len(out) <= MAX_BUCKETS:
                return
            level += 1

    def merge(self, later: Occurrences) -> None:
        """Fold in the occurrences of other lines (any order gives the same result)."""
        if later.level > self.level:
            self.coarsen(later.level)
        buckets = self.buckets
        _fold(buckets, later.buckets, self.level - later.level)
        if len(buckets) > MAX_BUCKETS:
            self.coarsen(self.level + 1)

    def copy(self) -> Occurrences:
        o = Occurrences()
        o.level = self.level
        o.buckets = {k: list(b) for k, b in self.buckets.items()}
        return o

    def items(self) -> list[tuple[float, int, float, float]]:
        """(bucket start, count, first, last) in time order."""
        size = self.size
        return [(k * size, b[0], b[1], b[2]) for k, b in sorted(self.buckets.items())]

    @property
    def count(self) -> int:
        return sum(b[0] for b in self.buckets.values())

    @property
    def first(self) -> float | None:
        return min((b[1] for b in self.buckets.values()), default=None)

    @property
    def last(self) -> float | None:
        return max((b[2] for b in self.buckets.values()), default=None)

    def peak(self) -> tuple[int, float | None]:
        """(the largest count in one bucket, the first time in that bucket); the earliest wins ties."""
        best, at = 0, None
        for _, n, first, _ in self.items():
            if n > best:
                best, at = n, first
        return best, at

    def windows(self, gap: float) -> list[Span]:
        """Stretches of activity: runs of buckets with no silence longer than ``gap`` seconds
        between the last time of one and the first time of the next."""
        out: list[Span] = []
        cur = None
        for _, n, first, last in self.items():
            if cur is not None and first - cur.end <= gap:
                cur.end = max(cur.end, last)
                cur.count += n
                if n > cur.peak:
                    cur.peak, cur.peak_at = n, first
                continue
            cur = Span(first, last, n, n, first)
            out.append(cur)
        return out

    def count_between(self, start: float, end: float) -> int:
        """Occurrences from ``start`` to ``end`` (a bucket that straddles a bound counts whole)."""
        return sum(n for _, n, first, last in self.items() if last >= start and first <= end)

    def first_after(self, ts: float, before: float | None = None) -> float | None:
        """The earliest time known to lie after ``ts`` (and before ``before``): a bucket's first
        time, or its last when the first is not after ``ts``."""
        for _, _, first, last in self.items():
            if last <= ts:
                continue
            t = first if first > ts else last
            return t if before is None or t < before else None
        return None

    def as_dict(self) -> dict:
        peak, at = self.peak()
        return {"bucket_seconds": self.size, "peak": {"count": peak, "at": iso(at)},
                "buckets": [[iso(start), n] for start, n, _, _ in self.items()]}


@dataclass
class Span:
    """A stretch of activity: first and last time, occurrences, and the busiest bucket's."""

    start: float
    end: float
    count: int
    peak: int
    peak_at: float | None


def duration(seconds: float) -> str:
    """A length of time in words: "45 s", "12 min", "5.0 h", "3.2 days"."""
    seconds = max(0.0, seconds)
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 7200:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


@dataclass
class Sample:
    file: str
    line: int
    text: str

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "text": self.text}


@dataclass
class Finding:
    id: str  # stable rule ID, e.g. "DNS002"
    category: str
    severity: str
    title: str
    count: int
    summary: str = ""  # one sentence: what was seen
    first_seen: float | None = None
    last_seen: float | None = None
    key: str | None = None  # stable key for baselines: the client, domain, service... or None
    evidence: dict = field(default_factory=dict)  # counts, top offenders, breakdowns (JSON-able)
    samples: list[Sample] = field(default_factory=list)
    remediation: list[str] = field(default_factory=list)  # first step first
    references: list[str] = field(default_factory=list)  # e.g. "DEBUG_README: Try turning off chroot"
    host: str | None = None  # the syslog host the finding is about
    # configuration facts the finding relied on: "mynetworks" or "smtp/unix chroot" ->
    # {"value": ..., "where": "main.cf:12" | "default" | ...}
    config: dict = field(default_factory=dict)
    preview: bool = False  # made by a rule in preview (rules.base.Rule.preview)
    occurrences: Occurrences | None = None  # when the evidence lines were seen
    # other series of times the rule recorded, by name (read by the incidents: "resumed" for the
    # signs that the fault is over, "deferred"/"delivered_later" for impact...); not in the JSON
    signals: dict = field(default_factory=dict)
    subjects: int | None = None  # distinct subjects (clients, files...) the finding counts, when known

    def as_dict(self) -> dict:
        out = {
            "id": self.id,
            "host": self.host,
            "category": self.category,
            "severity": self.severity,
            "title": self.title,
            "summary": self.summary,
            "key": self.key,
            "count": self.count,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "evidence": self.evidence,
            "samples": [s.as_dict() for s in self.samples],
            "remediation": list(self.remediation),
            "references": list(self.references),
            "config": dict(self.config),
            "occurrences": self.occurrences.as_dict() if self.occurrences else None,
        }
        if self.preview:
            out["preview"] = True
        return out


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then the most frequent, then by ID for a stable order."""
    return sorted(findings, key=lambda f: (-SEVERITY_RANK[f.severity], -f.count, f.id, f.key or "", f.host or ""))


# --- incidents ------------------------------------------------------------------------------------

ONGOING, RECOVERED = "ongoing", "recovered"  # the state of an incident at the end of the log


@dataclass
class Incident:
    """A fault active over a window of time: one stretch of one finding's occurrences (a quiet gap
    splits a finding into several). ``end`` is when it was seen to be over (the sign of recovery,
    else its last occurrence), None while ``ongoing``; ``recovery`` says what showed it was over.
    ``caused_by`` is the id of the incident that explains this one (None for a root);
    ``impact`` counts what it cost: messages deferred, bounced, delivered later, requests
    rejected or tempfailed, clients cut off, sessions."""

    id: str  # "I1", "I2", ... in the order of the timeline
    rule: str  # the finding's rule ID
    key: str | None
    title: str
    category: str
    severity: str
    start: float
    last_seen: float
    end: float | None
    state: str  # ONGOING or RECOVERED
    count: int  # occurrences in the window
    peak: int = 0  # the most occurrences in one bucket of peak_seconds
    peak_at: float | None = None
    peak_seconds: int = 0
    recovery: str | None = None  # the evidence that it is over (or why it is taken as ongoing)
    caused_by: str | None = None
    impact: dict = field(default_factory=dict)
    consequences: list[str] = field(default_factory=list)  # ids of the incidents it causes

    @property
    def duration(self) -> float:
        """Seconds from start to end (to the last occurrence while ongoing)."""
        return (self.end if self.end is not None else self.last_seen) - self.start

    def as_dict(self) -> dict:
        return {
            "id": self.id, "title": self.title, "category": self.category, "severity": self.severity,
            "start": iso(self.start), "end": iso(self.end), "last_seen": iso(self.last_seen),
            "duration_seconds": round(self.duration, 3), "state": self.state,
            "findings": [self.rule], "key": self.key, "caused_by": self.caused_by,
            "consequences": list(self.consequences), "recovery": self.recovery,
            "count": self.count, "peak": {"count": self.peak, "at": iso(self.peak_at), "seconds": self.peak_seconds},
            "impact": dict(self.impact),
        }


def timeline(incidents: list[Incident]) -> list[tuple[int, Incident]]:
    """(depth, incident): each root in time order, followed by what it caused (depth-first)."""
    by_id = {i.id: i for i in incidents}
    out: list[tuple[int, Incident]] = []

    def walk(inc: Incident, depth: int) -> None:
        out.append((depth, inc))
        for cid in inc.consequences:
            walk(by_id[cid], depth + 1)

    for inc in incidents:
        if inc.caused_by is None:
            walk(inc, 0)
    return out


# --- the analysis of a log ----------------------------------------------------------------------

@dataclass
class Analysis:
    """What `analyze` found: parse coverage (a coverage.Coverage), findings, the messages still
    queued at the end (track.Message), the sources read and the year assumed for each."""

    coverage: Any
    findings: list[Finding]
    queued: list
    sources: list[str]
    year_assumptions: dict = field(default_factory=dict)
    incidents: list[Incident] = field(default_factory=list)  # in timeline order (see timeline())
    # the time zone assumed and the clock's jumps: {"zone": text, "offsets": {...}, "jumps": [...]}
    time: dict = field(default_factory=dict)
    window: dict | None = None  # --since/--until: {"since", "until", "lines_left_out"}
    # what was read of the Postfix configuration (analyze.config_report): {"read", "how",
    # "sources", "parameters_used", "problems", "would_sharpen", ...}; None: not asked about
    config: dict | None = None
    # the traffic over time (traffic.Traffic.result(): per-bucket counts, deferrals by cause and
    # next hop, rejects by reason, rejected clients), counted only for the HTML report; None: not asked
    traffic: dict | None = None
    counters: Any = None  # metrics.Traffic, when the run counted traffic (--format prometheus, --state)

    def as_dict(self, top_unrecognized: int = 10) -> dict:
        out = self.coverage.as_dict(top_unrecognized)
        out["sources"] = list(self.sources)
        out["year_assumptions"] = dict(self.year_assumptions)
        if self.config is not None:
            out["config"] = self.config
        out["queued_at_end"] = len(self.queued)
        out["time"] = dict(self.time)
        out["window"] = dict(self.window) if self.window is not None else None
        out["incidents"] = [i.as_dict() for _, i in timeline(self.incidents)]
        out["findings"] = [f.as_dict() for f in self.findings]
        return out


# --- a check against a baseline -------------------------------------------------------------------

FAIL, NEW, KNOWN = "fail", "new", "known"  # the state of a finding in a check

Ident = tuple[str, str | None]


def ident(f: Finding) -> Ident:
    """What identifies a finding across runs: rule ID plus stable key."""
    return (f.id, f.key)


def ident_sort(i: Ident) -> tuple[str, int, str]:
    return (i[0], 0 if i[1] is None else 1, i[1] or "")


@dataclass
class Baseline:
    path: str
    entries: dict[Ident, dict]  # ident -> the entry as read from the file

    def __contains__(self, f: Finding) -> bool:
        return ident(f) in self.entries


@dataclass
class CheckResult:
    findings: list[Finding]  # every finding, most severe first
    states: list[str]  # FAIL / NEW / KNOWN, parallel to findings
    fail_on: str
    baseline: Baseline | None = None
    sources: list[str] = field(default_factory=list)
    lines: int = 0  # log lines read
    wrote_baseline: str | None = None
    wrote_entries: int = 0  # entries written to wrote_baseline
    incidents: list = field(default_factory=list)  # the analysis' incidents (timeline order)
    fail_on_ongoing: bool = False  # only findings with an ongoing incident can fail

    def of(self, state: str) -> list[Finding]:
        return [f for f, s in zip(self.findings, self.states, strict=True) if s == state]

    def items(self):
        return zip(self.findings, self.states, strict=True)

    @property
    def failing(self) -> list[Finding]:
        return self.of(FAIL)

    @property
    def new(self) -> list[Finding]:
        """New findings, failing or not."""
        return [f for f, s in self.items() if s != KNOWN]

    @property
    def known(self) -> list[Finding]:
        return self.of(KNOWN)

    @property
    def gone(self) -> list[Ident]:
        """Baseline entries no finding matched this time (fixed, or not in these logs)."""
        if self.baseline is None:
            return []
        seen = {ident(f) for f in self.findings}
        return sorted((i for i in self.baseline.entries if i not in seen), key=ident_sort)

    @property
    def exit_code(self) -> int:
        return 1 if self.failing else 0


# --- the shape of a queue (qshape) -----------------------------------------------------------------

def from_perl_bytes(s: str) -> str:
    """A latin-1 str holding one char per UTF-8 byte (how qshape's Perl sees a name) back to text."""
    try:
        s.encode("ascii")
        return s
    except UnicodeEncodeError:
        return s.encode("latin-1").decode("utf-8", errors="replace")


@dataclass
class Row:
    domain: str  # as Perl sees it (latin-1 str of the bytes); see Row.name
    counts: list[int]  # [total, bucket1..bucketN]
    parent: bool = False
    subdomains: int = 0

    @property
    def name(self) -> str:
        return from_perl_bytes(self.domain)

    @property
    def total(self) -> int:
        return self.counts[0]


@dataclass
class QueueShape:
    """Queued mail by domain and age, as qshape counts it (qshape.compute_shape builds it)."""

    now: float
    queues: list[str]
    senders: bool
    parents: bool
    min_subdomains: int
    bucket_count: int
    bucket_time: float
    linear: bool
    width: int
    headings: list[str]  # "T", "5", ..., "1280+"
    rows: list[Row]  # printed rows, in qshape's order, TOTAL included
    messages: int = 0
