"""Command line: `postfix-diag COMMAND`. One module per command; `app` is the typer application.

Exit codes (all commands): 0 success; 1 `check` found findings at or above --fail-on that are
new against the baseline; 2 usage or input error (bad option, missing or unreadable file,
corrupt compressed file, no log lines); 3 internal error (a bug: please report it).
"""

from __future__ import annotations

from . import analyze, check, parse, qshape, rules, summary  # noqa: F401  (importing registers the commands)
from .app import EXIT_FINDINGS, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, app

__all__ = ["app", "main", "EXIT_OK", "EXIT_FINDINGS", "EXIT_USAGE", "EXIT_INTERNAL"]


def main() -> None:
    app()
