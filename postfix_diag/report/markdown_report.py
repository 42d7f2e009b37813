"""Markdown incident report, for pasting into a ticket."""

from __future__ import annotations

from .common import (
    by_host,
    config_facts,
    config_summary,
    coverage_line,
    percent,
    sharpen_hint,
    span_text,
    timeline_rows,
)
from .escape import markdown as m
from .escape import markdown_code


def _table(headers, rows) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def render(analysis, top: int = 10) -> str:
    cov = analysis.coverage
    d = cov.as_dict(top)
    worst = analysis.findings[0].severity if analysis.findings else "none"
    out = [
        "# Postfix incident report",
        "",
        f"- Logs: {', '.join(m(s) for s in analysis.sources)}",
        f"- Time span: {m(span_text(d))}",
        *([f"- Time zone: {m(analysis.time['zone'])}"] if analysis.time.get("zone") else []),
        *([f"- Window: lines from {m(analysis.window['since'] or 'the start')} until "
            f"{m(analysis.window['until'] or 'the end')} only ({analysis.window['lines_left_out']} lines left out)"]
          if analysis.window is not None else []),
        f"- Findings: {len(analysis.findings)} (most severe: {worst})",
        f"- {m(coverage_line(cov))}",
    ]
    summary = config_summary(analysis.config)
    if summary:
        out.append(f"- {m(summary[0])}")
        out += [f"  - {m(line.strip())}" for line in summary[1:]]
    out.append("")
    if analysis.incidents:
        out += ["## Timeline", ""]
        out += _table(["Incident", "When", "State", "Severity", "What"],
                      [[("↳ " * depth) + inc.id + (f" (caused by {inc.caused_by})" if inc.caused_by else ""),
                        m(when), m(state), inc.severity, m(what)]
                       for depth, inc, when, state, what in timeline_rows(analysis.incidents)])
        out.append("")
    out += ["## Summary", ""]
    groups = by_host(analysis.findings)
    if analysis.findings:
        if groups:
            out += _table(["Host", "Severity", "Rule", "Count", "Finding"],
                          [[m(f.host or "-"), f.severity, f.id, f.count,
                            m(f.title) + (f" ({m(f.key)})" if f.key else "")] for _, fs in groups for f in fs])
        else:
            out += _table(["Severity", "Rule", "Count", "Finding"],
                          [[f.severity, f.id, f.count, m(f.title) + (f" ({m(f.key)})" if f.key else "")]
                           for f in analysis.findings])
    else:
        out.append("No findings.")
    out.append("")
    for host, fs in groups or [(None, analysis.findings)]:
        if groups:
            out += [f"## Host {m(host or '-')}", ""]
        out += _findings(fs, analysis.config, "###" if groups else "##")
    out += ["## Parse coverage", ""]
    out += _table(["Instance/program", "Recognized", "Unrecognized"],
                  [[m(k), v["recognized"], v["unrecognized"]] for k, v in d["programs"].items()])
    if d["top_unrecognized"]:
        out += ["", f"Top unrecognized lines ({cov.unrecognized}, {percent(cov.unrecognized, cov.total)}):", "", "```"]
        out += [markdown_code(f"{u['count']:>7}  {u['file']}:{u['line']}: {u['text'][:200]}") for u in d["top_unrecognized"]]
        out.append("```")
    return "\n".join(out) + "\n"


def _findings(findings, config, level: str) -> list[str]:
    out: list[str] = []
    for f in findings:
        fd = f.as_dict()
        out += [f"{level} {f.severity.upper()} {f.id}: {m(f.title)}" + (" (preview rule)" if f.preview else ""), ""]
        if f.summary:
            out += [m(f.summary), ""]
        out.append(f"- Count: {f.count}" + (f"; first seen {fd['first_seen']}, last seen {fd['last_seen']}"
                                            if f.first_seen else ""))
        if f.key:
            out.append(f"- Key: {m(f.key)}")
        for name, value in f.evidence.items():
            if isinstance(value, list) and value and isinstance(value[0], (list, tuple)):
                out.append(f"- {m(name.replace('_', ' '))}: " + ", ".join(f"{m(k)} ({v})" for k, v in value[:5]))
            elif isinstance(value, dict):
                out.append(f"- {m(name.replace('_', ' '))}: " + ", ".join(f"{m(k)} ({v})" for k, v in list(value.items())[:5]))
            else:
                out.append(f"- {m(name.replace('_', ' '))}: {m(value)}")
        if f.config:
            out.append(f"- Configuration: {m(config_facts(f))}")
        hint = sharpen_hint(f, config)
        if hint:
            out.append(f"- With --config: {m(hint)}")
        if f.samples:
            out += ["", "Evidence:", "", "```"]
            out += [markdown_code(f"{s.file}:{s.line}: {s.text}") for s in f.samples]
            out.append("```")
        if f.remediation:
            out += ["", "What to do:", ""]
            out += [f"{i}. {m(step)}" for i, step in enumerate(f.remediation, 1)]
        if f.references:
            out += ["", "References: " + "; ".join(m(r) for r in f.references)]
        out.append("")
    return out
