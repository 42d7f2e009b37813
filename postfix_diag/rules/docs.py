"""A rule's documentation, as `explain` prints it and as docs/rules.md lists it."""

from __future__ import annotations

import re
import textwrap

REGEN = ('.venv/bin/python -c "from postfix_diag.rules import docs_markdown; '
         "open('docs/rules.md','w').write(docs_markdown())\"")


def _lookup(rule_id: str):
    from .registry import REGISTRY

    if not isinstance(rule_id, str):
        raise KeyError(rule_id)
    cls = REGISTRY.get(rule_id.strip().upper())
    if cls is None:
        for c in REGISTRY.values():
            if c.name == rule_id.strip().lower():
                return c
        raise KeyError(rule_id)
    return cls


def _para(text: str, indent: str = "  ") -> str:
    out = []
    for block in textwrap.dedent(text).strip().split("\n\n"):
        out.append(textwrap.fill(" ".join(block.split()), width=96, initial_indent=indent,
                                 subsequent_indent=indent))
    return "\n\n".join(out)


def incident_lines(c) -> list[str]:
    """How a rule's findings become incidents: family, quiet gap, recovery, consequences."""
    from ..incidents.families import family

    spec = c.incident
    if not spec.makes_incidents:
        return ["Findings of this rule are about the log itself: they make no incident."]
    fam = family(c.category)
    gap = spec.gap if spec.gap is not None else fam.gap
    persists = spec.persists if spec.persists is not None else fam.persists
    out = [f"Family {c.category}: a quiet gap of {_seconds(gap)} ends an incident (--quiet-gap "
           f"{c.category}=DURATION)" + ("; it lasts until a sign of recovery." if persists else ".")]
    if spec.subject:
        out.append(f"The key names a {spec.subject.replace('_', ' ')}"
                   + {"client": ": the client's rejects belong to the incident, its disconnect ends it.",
                      "service": ": the busy period of its sessions belongs to the incident.",
                      }.get(spec.subject, "."))
    if spec.resumed:
        out.append(f"Recovered when {spec.resumed.format(key='the key')}.")
    if spec.unit:
        out.append(f"Each occurrence counts as {spec.unit.replace('_', ' ')} in the impact.")
    for link in spec.leads_to:
        cond = {"key": " with the same key", "mention": " whose key names this key"}.get(link.same or "", "")
        effect = link.effect if re.fullmatch(r"[A-Z]{3,4}\d{3}", link.effect) else link.effect + "*"
        out.append(f"Causes {effect}{cond}, starting while it lasts or up to {_seconds(link.within)} after"
                   + (f": {link.why}." if link.why else "."))
    return out


def _seconds(s: float) -> str:
    s = int(s)
    for unit, n in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= n and s % n == 0:
            return f"{s // n} {unit}"
    return f"{s} s"


def explain(rule_id: str) -> str:
    """Plain-text page of one rule (by ID such as "DNS002", or by name). KeyError if unknown."""
    c = _lookup(rule_id)
    lines = [
        f"{c.id} ({c.name}): {c.title}",
        "",
        f"Category: {c.category}",
        f"Default severity: {c.severity}",
        f"Status: {status(c)}",
        f"Count: {c.count_unit}",
        "",
        "What it means:",
        _para(c.what),
        "",
        "Why it matters:",
        _para(c.why),
    ]
    if c.severity_rule:
        lines += ["", "Severity:", _para(c.severity_rule)]
    if c.with_config:
        lines += ["", "With the configuration (--config):", _para(c.with_config)]
    if c.example:
        lines += ["", "Example log lines:"]
        lines += [f"  {e}" for e in c.example]
    lines += ["", "How to fix it:", _para(c.fix)]
    if c.remediation:
        lines += ["", "Steps:"]
        lines += [f"  {i}. {s}" for i, s in enumerate(c.remediation, 1)]
    if c.parameters:
        lines += ["", "Parameters (Postfix default):"]
        lines += [f"  {p} = {d or '(empty)'}    {role}" for p, d, role in c.parameters]
    lines += ["", "Incidents:"]
    lines += [_para(t) for t in incident_lines(c)]
    if c.references:
        lines += ["", "References:"]
        lines += [f"  {r}" for r in c.references]
    return "\n".join(lines) + "\n"


PREVIEW_NOTE = ("preview (a new rule: `analyze` runs it and marks its findings preview; `check` runs it "
                "only with --preview)")


def status(c) -> str:
    """"stable", or the preview note (rules.base.Rule.preview)."""
    return PREVIEW_NOTE if c.preview else "stable"


def catalog() -> list[dict]:
    from .registry import REGISTRY

    return [{"id": c.id, "name": c.name, "category": c.category, "severity": c.severity,
             "title": c.title, "status": "preview" if c.preview else "stable"} for c in REGISTRY.values()]


def _md(text: str) -> str:
    return "\n\n".join(" ".join(b.split()) for b in textwrap.dedent(text).strip().split("\n\n"))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def docs_markdown() -> str:
    """docs/rules.md, generated from the registry."""
    from .registry import REGISTRY

    out = [
        "# Rules",
        "",
        "Generated from the rule registry (`postfix_diag/rules/`); do not edit. Regenerate with:",
        "",
        "```sh",
        REGEN,
        "```",
        "",
        "Severities: critical, error, warning, notice, info. A `fatal:` line makes a finding at least",
        "`error`, a `panic:` line `critical`. Warning, error, fatal and panic lines that no specific",
        "rule claims are reported by GEN001/GEN002, grouped by their normalized text.",
        "",
        "Status: a new rule starts in *preview* (as ruff's preview rules): `analyze` runs it and marks",
        "its findings `preview`; `check` runs it only with `--preview`, so a CI job that gates on",
        "`check` does not fail on a rule that came with an upgrade.",
        "",
        "| ID | name | category | severity | status | title | count |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in REGISTRY.values():
        out.append(f"| [{c.id}](#{c.id.lower()}) | `{c.name}` | {c.category} | {c.severity} | "
                   f"{'preview' if c.preview else 'stable'} | {_cell(c.title)} | {_cell(c.count_unit)} |")
    for c in REGISTRY.values():
        out += ["", f"## {c.id}", "", f"**{c.name}** — {c.title}", "",
                f"Category `{c.category}`, default severity `{c.severity}`"
                + (", **preview**" if c.preview else "") + f"; count = {c.count_unit}.",
                "", "**What it means.** " + _md(c.what), "", "**Why it matters.** " + _md(c.why)]
        if c.severity_rule:
            out += ["", "**Severity.** " + _md(c.severity_rule)]
        if c.with_config:
            out += ["", "**With the configuration (`--config`).** " + _md(c.with_config)]
        if c.example:
            out += ["", "**Example log lines:**", "", "```"] + list(c.example) + ["```"]
        out += ["", "**How to fix it.** " + _md(c.fix)]
        if c.remediation:
            out += [""] + [f"{i}. {_md(s)}" for i, s in enumerate(c.remediation, 1)]
        if c.parameters:
            out += ["", "| parameter | default | role |", "|---|---|---|"]
            out += [f"| `{p}` | `{_cell(d)}` | {_cell(role)} |" if d else f"| `{p}` | (empty) | {_cell(role)} |"
                    for p, d, role in c.parameters]
        out += ["", "**Incidents.** " + " ".join(incident_lines(c))]
        if c.references:
            out += ["", "References: " + "; ".join(c.references) + "."]
    return "\n".join(out) + "\n"
