"""A rule's documentation, as `explain` prints it and as docs/rules.md lists it."""

from __future__ import annotations

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
        if c.references:
            out += ["", "References: " + "; ".join(c.references) + "."]
    return "\n".join(out) + "\n"
