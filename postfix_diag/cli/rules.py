"""`postfix-diag rules`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .app import app, fail, format_enum, guarded

CatalogFormat = format_enum("CatalogFormat", "catalog")


@app.command("rules")
@guarded
def list_rules(
    fmt: Annotated[CatalogFormat, typer.Option("--format", "-f", help="text or json (markdown: docs/rules.md).")]
    = CatalogFormat.text,
):
    """List the rule catalog: ID, category, severity, status, title.

    Status is "stable" or "preview": a new rule starts in preview; `analyze` runs it and marks its
    findings preview, `check` runs it only with --preview."""
    from ..report import writer
    from ..rules import catalog

    sys.stdout.write(writer("catalog", fmt.value)(catalog()))


def _complete_rule(incomplete: str) -> list[tuple[str, str]]:
    """Shell completion of `explain`: the rule IDs (and names) that start with what was typed."""
    from ..rules import catalog

    return [(r[key], r["title"]) for r in catalog() for key in ("id", "name")
            if r[key].upper().startswith(incomplete.upper())]


@app.command()
@guarded
def explain(rule: Annotated[str, typer.Argument(help="Rule ID, e.g. DNS002 (case-insensitive), or its name.",
                                                autocompletion=_complete_rule)]):
    """Print a rule's full documentation: what, why, example log lines, fix, parameters, references."""
    from ..rules import explain as explain_rule

    for candidate in (rule.upper(), rule):
        try:
            page = explain_rule(candidate)
        except KeyError:
            continue
        sys.stdout.write(page + "\n")
        return
    fail(f"no rule {rule!r}; `postfix-diag rules` lists them")


@app.command()
@guarded
def grammar(
    check: Annotated[bool, typer.Option("--check", help="Only compile every grammar file and report errors.")]
    = False,
    directory: Annotated[Path | None, typer.Option("--dir", help="Read grammar files from this directory.")]
    = None,
):
    """Print the event kinds the grammar files define (Markdown; docs/events.md is this output)."""
    from ..grammar import GrammarError, describe, load

    try:
        g = load(str(directory) if directory else None)
        g.compile_all()
    except GrammarError as exc:
        fail(str(exc))
    if check:
        sys.stdout.write(f"ok: {len(g.files)} grammar files, {len(g.kinds)} event kinds\n")
        return
    sys.stdout.write(describe(g))
