"""Markdown incident report, for pasting into a ticket: it reads as plain text and renders in
any CommonMark renderer (GitHub, GitLab, Jira's Markdown, Redmine). Prose is escaped with
escape.markdown_prose (backslashes only, no character references: a plain-text view shows no
``&quot;``), the commands of a fix are real code spans, log lines are fenced code blocks; the
header says the time span, the year and time zone assumed, the tool version and where the
configuration came from."""

from __future__ import annotations

from .common import (
    by_host,
    config_facts,
    header_items,
    percent,
    sharpen_hint,
    step_parts,
    timeline_rows,
)
from .escape import markdown_code, markdown_code_span
from .escape import markdown_prose as m


def _table(headers, rows) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def render(analysis, top: int = 10) -> str:
    cov = analysis.coverage
    d = cov.as_dict(top)
    out = ["# Postfix incident report", ""]
    for label, value in header_items(analysis, top):
        if isinstance(value, list):  # the configuration: how it was read, then its details
            out.append(f"- {m(label)}: {m(value[0])}")
            out += [f"  - {m(line.strip(), start=True)}" for line in value[1:]]
        else:
            out.append(f"- {m(label)}: {m(value)}")
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
            out += [step_markdown(f.summary), ""]
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
            out.append(f"- With --config: {step_markdown(hint)}")
        if f.samples:
            out += ["", "Evidence:", "", "```"]
            out += [markdown_code(f"{s.file}:{s.line}: {s.text}") for s in f.samples]
            out.append("```")
        if f.remediation:
            out += ["", "What to do:", ""]
            out += [f"{i}. {step_markdown(step)}" for i, step in enumerate(f.remediation, 1)]
        if f.references:
            out += ["", "References: " + "; ".join(m(r) for r in f.references)]
        out.append("")
    return out


def step_markdown(step: str) -> str:
    """A fix step (or a rule's sentence): its prose escaped, what it puts in backticks (commands,
    names, values) as code spans, which CommonMark shows literally, so a log value inside a
    command stays text."""
    return "".join((m(text, start=i == 0) if kind == "text" else markdown_code_span(text))
                   for i, (kind, text) in enumerate(step_parts(step)))
