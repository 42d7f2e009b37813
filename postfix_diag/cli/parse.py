"""`postfix-diag parse`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .app import EventFormat, PathsArg, YearOpt, app, guarded


@app.command()
@guarded
def parse(
    paths: PathsArg = None,
    fmt: Annotated[EventFormat, typer.Option("--format", "-f", help="jsonl: one JSON object per line; "
                                             "csv: the common columns plus a JSON 'fields' column.")]
    = EventFormat.jsonl,
    year: YearOpt = None,
    kind: Annotated[list[str] | None, typer.Option("--kind", "-k", help="Only events of this kind "
                                                   "(repeatable); see docs/events.md.")] = None,
):
    """Write the events of every line, for other tools (jq, pandas, a SIEM).

    Each event has kind, ts (ISO), host, instance, service, program, pid, severity, qid, file,
    lineno, text and the fields its grammar rule captured. Unrecognized lines are included with
    kind "unrecognized", so nothing is dropped.
    """
    from ..export import export

    export(paths, sys.stdout, fmt.value, set(kind) if kind else None, year=year)
