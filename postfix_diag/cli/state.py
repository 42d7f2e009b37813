"""The --state option of `analyze` and `check` (postfix_diag/state.py, docs/state.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..report.escape import terminal

StateOpt = Annotated[
    str | None,
    typer.Option("--state", metavar="FILE", show_default=False,
                 help="Incremental run (for cron): read only the lines added since the run that wrote FILE, "
                 "across log rotation (rename or copytruncate), go on from where it stopped, and record the new "
                 "state in FILE. The report covers every line read since FILE was created; each line is counted "
                 "once. An unusable FILE is a warning and a full run. See docs/state.md."),
]


def warn(message: str) -> None:
    """One warning line on stderr (escaped: it may name files)."""
    typer.echo(f"postfix-diag: warning: {terminal(message)}", err=True)
