"""Terminal report: findings by severity with evidence and the first fix; parse coverage last."""

from __future__ import annotations

from tabulate import tabulate

from .common import (
    by_host,
    config_facts,
    config_summary,
    coverage_line,
    percent,
    sharpen_hint,
    span_text,
    timeline_rows,
    top_evidence,
)
from .escape import terminal as t


def _finding(f, config) -> list[str]:
    out = [f"[{f.severity.upper()}] {f.id} {t(f.title)}" + (f" ({t(f.key)})" if f.key else "")
           + (" [preview rule]" if f.preview else "")]
    if f.summary:
        out.append(f"  {t(f.summary)}")
    out.append(f"  seen {f.count} time(s)"
               + (f", {f.as_dict()['first_seen']} .. {f.as_dict()['last_seen']}" if f.first_seen else ""))
    for line in top_evidence(f.evidence):
        out.append(f"  {t(line)}")
    if f.config:
        out.append(f"  config: {t(config_facts(f))}")
    if f.samples:
        s = f.samples[0]
        out.append(f"  e.g. {t(s.file)}:{s.line}: {t(s.text[:300])}")
    if f.remediation:
        out.append(f"  fix: {t(f.remediation[0])}")
    hint = sharpen_hint(f, config)
    if hint:
        out.append(f"  with --config: {t(hint)}")
    out.append(f"  more: postfix-diag explain {f.id}")
    out.append("")
    return out


def render(analysis, top: int = 10) -> str:
    cov = analysis.coverage
    d = cov.as_dict(top)
    out = [f"postfix-diag: {len(analysis.sources)} file(s), {span_text(d)}"]
    by_assumption: dict = {}
    for src, assumption in analysis.year_assumptions.items():
        by_assumption.setdefault(assumption, []).append(src)
    for assumption, srcs in by_assumption.items():
        names = t(srcs[0]) if len(srcs) == 1 else f"{len(srcs)} files"
        out.append(f"  {names}: {assumption}")
    if analysis.window is not None:
        w = analysis.window
        out.append(f"  window: lines from {w['since'] or 'the start'} until {w['until'] or 'the end'} only "
                   f"({w['lines_left_out']} lines left out)")
    if analysis.time.get("zone"):
        out.append(f"  time zone: {t(analysis.time['zone'])}")
    out += [t(line) for line in config_summary(analysis.config)]
    out.append("")
    if analysis.incidents:
        out.append("Timeline (root causes first, what they caused indented below):")
        for depth, inc, when, state, what in timeline_rows(analysis.incidents):
            out.append(f"  {'  ' * depth}{'└ ' if depth else ''}{inc.id}  {when}  {state}  "
                       f"{inc.severity.upper()}  {t(what)}")
        out.append("")
    groups = by_host(analysis.findings)
    if analysis.findings:
        if groups:
            rows = [[t(f.host or "-"), f.severity.upper(), f.id, f.count, t(f.title), t(f.key or "")]
                    for _, fs in groups for f in fs]
            headers = ["host", "severity", "rule", "count", "finding", "key"]
        else:
            rows = [[f.severity.upper(), f.id, f.count, t(f.title), t(f.key or "")] for f in analysis.findings]
            headers = ["severity", "rule", "count", "finding", "key"]
        out.append(tabulate(rows, headers=headers, tablefmt="simple"))
        out.append("")
        for host, fs in groups or [(None, analysis.findings)]:
            if groups:
                out += [f"=== host {t(host or '-')}: {len(fs)} finding(s) ===", ""]
            for f in fs:
                out += _finding(f, analysis.config)
    else:
        out.append("No findings.")
        out.append("")
    rows = [[t(name), v["recognized"], v["unrecognized"]] for name, v in d["programs"].items()]
    if rows:
        out.append(tabulate(rows, headers=["instance/program", "recognized", "unrecognized"], tablefmt="simple"))
        out.append("")
    if d["timestamp_formats"]:
        out.append("Timestamp formats: " + ", ".join(f"{k} ({v})" for k, v in d["timestamp_formats"].items()))
    if d["top_unrecognized"]:
        out.append(f"Top unrecognized lines ({cov.unrecognized}, {percent(cov.unrecognized, cov.total)}):")
        for u in d["top_unrecognized"]:
            out.append(f"  {u['count']:>7}  {t(u['file'])}:{u['line']}: {t(u['text'][:200])}")
    out.append(coverage_line(cov))
    return "\n".join(out) + "\n"
