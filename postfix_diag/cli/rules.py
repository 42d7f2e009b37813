"""`postfix-diag rules`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import ReportFormat, app, fail


@app.command("rules")
def list_rules(
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="text or json (markdown: docs/rules.md).")]
    = ReportFormat.text,
):
    """List the rule catalog: ID, category, severity, status, title.

    Status is "stable" or "preview": a new rule starts in preview; `analyze` runs it and marks its
    findings preview, `check` runs it only with --preview."""
    from tabulate import tabulate

    from ..rules import catalog, docs_markdown

    rows = catalog()
    if fmt is ReportFormat.json:
        import json

        typer.echo(json.dumps(rows, indent=2))
    elif fmt is ReportFormat.markdown:
        typer.echo(docs_markdown(), nl=False)
    else:
        typer.echo(tabulate([[r["id"], r["category"], r["severity"], r["status"], r["title"]] for r in rows],
                            headers=["id", "category", "severity", "status", "title"], tablefmt="simple"))


@app.command()
def explain(rule: Annotated[str, typer.Argument(help="Rule ID, e.g. DNS002 (case-insensitive), or its name.")]):
    """Print a rule's full documentation: what, why, example log lines, fix, parameters, references."""
    from ..rules import explain as explain_rule

    for candidate in (rule.upper(), rule):
        try:
            typer.echo(explain_rule(candidate))
            return
        except KeyError:
            continue
    fail(f"no rule {rule!r}; `postfix-diag rules` lists them")


@app.command()
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
        typer.echo(f"ok: {len(g.files)} grammar files, {len(g.kinds)} event kinds")
        return
    typer.echo(describe(g), nl=False)
