"""`postfix-diag explain-line`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .app import YearOpt, app, fail, format_enum, guarded

ExplainFormat = format_enum("ExplainFormat", "explain-line")


@app.command("explain-line")
@guarded
def explain_line(
    file: Annotated[Path | None, typer.Argument(help="A file holding the lines; default: standard input "
                                               "(paste, then Ctrl-D).", show_default=False)] = None,
    fmt: Annotated[ExplainFormat, typer.Option("--format", "-f", help="text, or json (one object per event).")]
    = ExplainFormat.text,
    year: YearOpt = None,
):
    """Explain each line of a pasted log snippet: how it was read, what event it is, which rules read it.

    For every line: the input format it was read as and what was stripped to read it (docker
    compose or quote prefixes, a container's log level, a localized month name, no header at
    all: see README "Input formats"), the event kind and its fields, and the rules that read
    events of that kind (`postfix-diag explain RULE` prints one). A line a paste wrapped is
    read together with its continuation. Nothing is analyzed across lines: for findings, run
    `postfix-diag analyze -` on the same snippet.
    """
    from ..explain_line import explain
    from ..inputs import Source, read_numbered, resolve

    source = Source("-", "<stdin>") if file is None or str(file) == "-" else resolve([str(file)])[0]
    numbered = list(read_numbered(source))
    if not numbered:
        fail(f"{'standard input' if file is None else source.display}: no lines to explain")
    entries = explain(numbered, source.display, year=year)
    from ..report import writer

    sys.stdout.write(writer("explain-line", fmt.value)(entries))
