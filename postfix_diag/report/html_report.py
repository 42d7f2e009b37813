"""`analyze --format html`: the incident report people read, one self-contained HTML file.

Header (logs, time span, year and time-zone assumptions, configuration, tool version), the
timeline of incidents, charts (traffic over time with the incident windows shaded, deferrals by
cause and next hop, rejects by reason, top offending clients; inline SVG, report/charts.py), the
findings with their evidence, sample lines (file:line), fixes with each command in a copyable
code block and the rule's ``explain`` page folded under ``<details>``, then parse coverage.

Reads the model only (model.Analysis; the charts need ``Analysis.traffic``, which `analyze`
counts when asked for this format). Every string from the log goes through escape.html."""

from __future__ import annotations

from ..model import iso
from .common import (
    by_host,
    config_facts,
    coverage_line,
    header_items,
    percent,
    sharpen_hint,
    step_parts,
    timeline_rows,
)
from .escape import html as h
from .html_page import Markup, figure, meta, page, table

TITLE = "Postfix incident report"
MAX_WINDOWS = 12  # incident windows shaded on the traffic chart


def incident_windows(analysis) -> list[dict]:
    """The incident windows to shade on the traffic chart, in time order: ``label`` (the
    incident's id, as in the timeline), ``start``, ``end`` (its last occurrence while it is
    ongoing), ``severity``."""
    out = [{"label": inc.id, "start": inc.start, "end": inc.end if inc.end is not None else inc.last_seen,
            "severity": inc.severity} for inc in analysis.incidents]
    return sorted(out, key=lambda w: (w["start"], w["label"]))


def _when(start: float, end: float) -> str:
    a, b = iso(start), iso(end)
    if a == b:
        return a.replace("T", " ")
    return f"{a.replace('T', ' ')} .. {b[11:] if a[:10] == b[:10] else b.replace('T', ' ')}"


def _header(analysis, top: int) -> list[str]:
    items: list = []
    for label, value in header_items(analysis, top):
        if isinstance(value, list):  # the configuration: how it was read, then its details
            value = Markup("<br>".join(h(line.strip()) for line in value))
        items.append((label, value))
    return [f"<h1>{h(TITLE)}</h1>", meta(items)]


def _timeline(analysis) -> list[str]:
    """Each incident (a fault active over a window of time) with its window, its state, its
    severity and what it cost; below a root, indented, what it caused."""
    if not analysis.incidents:
        return []
    rows = []
    for depth, inc, when, state, what in timeline_rows(analysis.incidents):
        ident = "\u21b3 " * depth + inc.id + (f" (caused by {inc.caused_by})" if inc.caused_by else "")
        rows.append([Markup(f'<span class="depth-{min(depth, 3)}">{h(ident)}</span>'), when, state,
                     Markup(_badge(inc.severity)), what])
    return ['<h2 id="timeline">Timeline</h2>', table(["Incident", "When", "State", "Severity", "What"], rows)]


def _badge(severity: str) -> str:
    return f'<span class="badge {h(severity)}">{h(severity)}</span>'


def _charts(analysis, windows: list[dict]) -> list[str]:
    traffic = analysis.traffic
    if not traffic:
        return []
    if not traffic.get("buckets"):
        return ['<h2 id="charts">Traffic</h2>', '<p class="no-traffic">No mail traffic in this log: nothing '
                "received, delivered, deferred, bounced or rejected.</p>"]
    from . import charts

    out = ['<h2 id="charts">Traffic</h2>']
    shaded = sorted(windows, key=lambda w: _SEVERITY_ORDER.get(w["severity"], 9))[:MAX_WINDOWS]
    shaded.sort(key=lambda w: w["start"])
    size = charts.display_bucket(traffic["bucket_seconds"], traffic["buckets"][0][0], traffic["buckets"][-1][0])
    out.append(figure(charts.traffic_chart(traffic, shaded),
                      f"Mail received, delivered, deferred, bounced and rejected per {charts.bucket_text(size)}"
                      + ("; shaded: the incident windows (labelled as in the timeline)." if shaded else ".")))
    if traffic["deferrals"]:
        rows = [(f"{cause} — via {hop}" if hop else cause, n) for cause, hop, n in traffic["deferrals"]]
        out.append(figure(charts.bar_chart(rows, "Deferrals by cause and next hop", "deferrals", "#E69F00"),
                          "Deferred status lines (one per recipient and attempt) by cause and next hop."))
    if traffic["rejects"]:
        out.append(figure(charts.bar_chart([(c, n) for c, n in traffic["rejects"]], "Rejects by reason", "rejects",
                                           "#D55E00"), "Rejected requests by reason."))
    if traffic["clients"]:
        out.append(figure(charts.bar_chart([(c, n) for c, n in traffic["clients"]], "Top offending clients",
                                           "clients", "#CC79A7"), "Clients by rejected requests."))
    return out


_SEVERITY_ORDER = {"critical": 0, "error": 1, "warning": 2, "notice": 3, "info": 4}


def _explain(rule_id: str) -> str | None:
    try:
        from ..rules import explain
    except ImportError:
        return None
    try:
        return explain(rule_id)
    except Exception:  # noqa: BLE001 - a broken rule page must not break the report
        return None


def _evidence(evidence: dict) -> str:
    rows = []
    for name, value in evidence.items():
        label = name.replace("_", " ")
        if isinstance(value, list) and value and isinstance(value[0], (list, tuple)):
            text = ", ".join(f"{k} ({v})" for k, v, *_ in value[:10])
        elif isinstance(value, dict):
            text = ", ".join(f"{k} ({v})" for k, v in list(value.items())[:10])
        else:
            text = str(value)
        rows.append([label, text])
    return table(["Evidence", ""], rows) if rows else ""


def _step(step: str) -> tuple[str, list[str]]:
    """A fix step as HTML prose (commands and names as inline code) and its commands."""
    html, commands = [], []
    for kind, text in step_parts(step):
        if kind == "text":
            html.append(h(text))
        else:
            html.append(f"<code>{h(text)}</code>")
            if kind == "command":
                commands.append(text)
    return "".join(html), commands


def _finding(f, config, n: int) -> list[str]:
    out = [f'<section class="finding sev-{h(f.severity)}" id="finding-{n}">',
           f"<h3>{_badge(f.severity)}{h(f.id)}: {h(f.title)}</h3>"]
    if f.summary:
        out.append(f"<p>{_step(f.summary)[0]}</p>")
    facts = [("Count", str(f.count))]
    if f.first_seen is not None:
        facts.append(("Seen", _when(f.first_seen, f.last_seen or f.first_seen)))
    if f.key:
        facts.append(("Key", f.key))
    if f.host:
        facts.append(("Host", f.host))
    if f.config:
        facts.append(("Configuration", config_facts(f)))
    hint = sharpen_hint(f, config)
    if hint:
        facts.append(("With --config", Markup(_step(hint)[0])))
    out.append(meta(facts))
    ev = _evidence(f.evidence)
    if ev:
        out.append(ev)
    if f.samples:
        out.append('<p class="small muted">Sample lines (file:line)</p>')
        out.append("<pre><code>" + "\n".join(h(f"{s.file}:{s.line}: {s.text}") for s in f.samples) + "</code></pre>")
    if f.remediation:
        out.append("<p><strong>What to do</strong></p><ol>")
        for step in f.remediation:
            prose, commands = _step(step)
            blocks = "".join(f"<pre><code>{h(c)}</code></pre>" for c in commands)
            out.append(f"<li>{prose}{blocks}</li>")
        out.append("</ol>")
    if f.references:
        out.append('<p class="small">References: ' + "; ".join(h(r) for r in f.references) + "</p>")
    page_text = _explain(f.id)
    if page_text:
        out.append(f"<details><summary>postfix-diag explain {h(f.id)}</summary><pre>{h_multiline(page_text)}</pre>"
                   "</details>")
    out.append("</section>")
    return out


def h_multiline(text: str) -> str:
    """Text of several lines for a <pre>: each line escaped, the line breaks kept."""
    return "\n".join(h(line) for line in text.rstrip("\n").split("\n"))


def _coverage(analysis, top: int) -> list[str]:
    cov = analysis.coverage
    d = cov.as_dict(top)
    out = ['<h2 id="coverage">Parse coverage</h2>', f"<p>{h(coverage_line(cov))}</p>",
           table(["Instance/program", "Recognized", "Unrecognized"],
                 [[k, v["recognized"], v["unrecognized"]] for k, v in d["programs"].items()], numeric={1, 2})]
    if d["top_unrecognized"]:
        out.append(f"<p>Top unrecognized lines ({cov.unrecognized}, {h(percent(cov.unrecognized, cov.total))}):</p>")
        out.append("<pre><code>" + "\n".join(h(f"{u['count']:>7}  {u['file']}:{u['line']}: {u['text'][:300]}")
                                             for u in d["top_unrecognized"]) + "</code></pre>")
    return out


def render(analysis, top: int = 10) -> str:
    windows = incident_windows(analysis)
    body = _header(analysis, top)
    body += _timeline(analysis)
    body += _charts(analysis, windows)
    body.append('<h2 id="findings">Findings</h2>')
    hosts = by_host(analysis.findings)
    if analysis.findings:
        body.append(table(["Severity", "Rule", "Count", "Finding"],
                          [[Markup(_badge(f.severity)), f.id, f.count,
                            f.title + (f" ({f.key})" if f.key else "") + (f" on {f.host}" if f.host and hosts else "")]
                           for f in analysis.findings], numeric={2}))
        for n, f in enumerate(analysis.findings, 1):
            body += _finding(f, analysis.config, n)
    else:
        body.append("<p>No findings.</p>")
    body += _coverage(analysis, top)
    return page(TITLE, body)
