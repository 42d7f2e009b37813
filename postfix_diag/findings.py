"""What the rule engine hands to the report writers: findings with their evidence.

One place names every field of a finding; the JSON schema in docs/report-schema.json and
the writers in postfix_diag/report/ follow it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

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

    def as_dict(self) -> dict:
        return {
            "id": self.id,
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
        }


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then the most frequent, then by ID for a stable order."""
    return sorted(findings, key=lambda f: (-SEVERITY_RANK[f.severity], -f.count, f.id, f.key or ""))
