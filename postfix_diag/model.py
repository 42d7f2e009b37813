"""The model the report writers see: findings with their evidence, the analysis of a log, the
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
    "tls", "sasl", "milter", "resources", "security", "postscreen", "other",
)


def at_least(severity: str, threshold: str) -> bool:
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[threshold]


def iso(ts: float | None) -> str | None:
    """Wall-clock epoch seconds → ``YYYY-MM-DDTHH:MM:SS`` (the log's own local time)."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))


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

    def as_dict(self) -> dict:
        return {
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
        }


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then the most frequent, then by ID for a stable order."""
    return sorted(findings, key=lambda f: (-SEVERITY_RANK[f.severity], -f.count, f.id, f.key or "", f.host or ""))


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
    # what was read of the Postfix configuration (analyze.config_report): {"read", "how",
    # "sources", "parameters_used", "problems", "would_sharpen", ...}; None: not asked about
    config: dict | None = None
    traffic: Any = None  # metrics.Traffic, when the run counted traffic (--format prometheus, --state)

    def as_dict(self, top_unrecognized: int = 10) -> dict:
        out = self.coverage.as_dict(top_unrecognized)
        out["sources"] = list(self.sources)
        out["year_assumptions"] = dict(self.year_assumptions)
        if self.config is not None:
            out["config"] = self.config
        out["queued_at_end"] = len(self.queued)
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
