"""`--format prometheus`: the Prometheus text exposition format (version 0.0.4), as node_exporter's
textfile collector reads it (`--output /var/lib/prometheus/node-exporter/postfix_diag.prom`,
written to a temporary file and renamed: safewrite.py). Metric names and labels: docs/metrics.md.

Label values are log content (host names) or from fixed lists: each is made visible with
escape.terminal (controls, bidi, invisible characters as ``\\xNN`` text) and then escaped as the
exposition format says (backslash, double quote and line feed as ``\\\\``, ``\\"``, ``\\n``)."""

from __future__ import annotations

import time
from collections import Counter

from .escape import terminal

PREFIX = "postfix_diag_"

# name -> (type, help); the order of the output
METRICS = {
    "log_lines_total": ("counter", "Log lines read."),
    "unrecognized_lines_total": ("counter", "Log lines no grammar rule recognized."),
    "last_log_timestamp_seconds": ("gauge", "Time of the latest log line (Unix time; a classic syslog "
                                            "stamp is read in this machine's time zone)."),
    "messages_received_total": ("counter", "Messages received, by origin (smtpd service name or pickup)."),
    "messages_total": ("counter", "Messages that left the queue, by outcome (delivered, bounced, expired, "
                                  "removed)."),
    "messages_queued": ("gauge", "Messages still queued at the end of the log."),
    "deliveries_total": ("counter", "Delivery attempts (status lines), by status."),
    "rejects_total": ("counter", "Access rejects, by reason class."),
    "deferrals_total": ("counter", "Deferred delivery attempts, by cause."),
    "findings": ("gauge", "Findings, by rule and severity."),
    "finding_events": ("gauge", "Log events behind the findings (their counts), by rule and severity."),
    "incidents": ("gauge", "Incidents, by rule, severity and state (ongoing or recovered)."),
}


def label_value(value) -> str:
    """A label value for the exposition format (module docstring)."""
    return terminal("" if value is None else value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: tuple) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{label_value(v)}"' for k, v in pairs) + "}"


def _number(v) -> str:
    if isinstance(v, float):
        return repr(v) if v != int(v) else str(int(v))
    return str(v)


def log_epoch(ts: float | None) -> float | None:
    """A log time (the log's wall clock read as UTC, like Event.ts) as Unix time, taking the
    wall clock to be this machine's local time."""
    if ts is None:
        return None
    return time.mktime(time.gmtime(ts)[:8] + (-1,)) + (ts - int(ts))


def samples(analysis) -> dict[str, list[tuple[tuple, float]]]:
    """name -> [(labels as ((name, value), ...), value)] for every metric of an analysis."""
    cov = analysis.coverage
    out: dict[str, list] = {name: [] for name in METRICS}
    out["log_lines_total"].append(((), cov.total))
    out["unrecognized_lines_total"].append(((), cov.unrecognized))
    if cov.last_ts is not None:
        out["last_log_timestamp_seconds"].append(((), log_epoch(cov.last_ts)))
    t = analysis.counters
    if t is not None:
        for name, counter, label in (("messages_received_total", t.received, "origin"),
                                     ("messages_total", t.left, "status"),
                                     ("deliveries_total", t.deliveries, "status"),
                                     ("rejects_total", t.rejects, "class"),
                                     ("deferrals_total", t.deferrals, "cause")):
            for (host, value), n in sorted(counter.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
                out[name].append(((("host", host or ""), (label, value)), n))
    queued = Counter(m.host or "" for m in analysis.queued)
    for host in sorted(queued):
        out["messages_queued"].append(((("host", host),), queued[host]))
    findings: Counter = Counter()
    events: Counter = Counter()
    for f in analysis.findings:
        key = (("host", f.host or ""), ("rule", f.id), ("severity", f.severity))
        findings[key] += 1
        events[key] += f.count
    for key in sorted(findings):
        out["findings"].append((key, findings[key]))
        out["finding_events"].append((key, events[key]))
    incidents: Counter = Counter()
    for inc in getattr(analysis, "incidents", None) or ():
        incidents[(("rule", inc.rule), ("severity", inc.severity), ("state", inc.state))] += 1
    for key in sorted(incidents):
        out["incidents"].append((key, incidents[key]))
    return out


def render(analysis, top: int = 10) -> str:
    lines: list[str] = []
    for name, series in samples(analysis).items():
        kind, help_text = METRICS[name]
        full = PREFIX + name
        lines.append(f"# HELP {full} {help_text}")
        lines.append(f"# TYPE {full} {kind}")
        for labels, value in series:
            lines.append(f"{full}{_labels(labels)} {_number(value)}")
    return "\n".join(lines) + "\n"
