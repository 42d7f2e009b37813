"""Command line: `postfix-diag COMMAND`. One module per command; `app` is the typer application.

Exit codes (all commands): 0 success; 1 `check` found findings at or above --fail-on that are
new against the baseline; 2 usage or input error (bad option, missing or unreadable file,
corrupt compressed file, no log lines); 3 internal error (a bug: please report it).
"""

from __future__ import annotations

import copy
import os
import sys

from . import analyze, check, explain_line, parse, qshape, rules, summary  # noqa: F401  (importing registers the commands)
from .app import EXIT_FINDINGS, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, app

__all__ = ["app", "app_for", "main", "EXIT_OK", "EXIT_FINDINGS", "EXIT_USAGE", "EXIT_INTERNAL"]


def main() -> None:
    app_for(sys.argv[1:])()


def app_for(args: list[str]):
    """The application; when ``args`` start with a command name, the same application with that
    command only. typer builds the click command of every registered command on each run (a tenth
    of a short run such as `explain`), and a run needs one. Its help, errors and exit codes are that
    command's own; anything else (no command, root options first, shell completion) gets the full
    application. tests/test_startup.py checks that both say the same."""
    if not args or os.environ.get("_POSTFIX_DIAG_COMPLETE"):
        return app
    import typer.main

    chosen = [c for c in app.registered_commands
              if (c.name or typer.main.get_command_name(c.callback.__name__)) == args[0]]
    if len(chosen) != 1:
        return app
    one = copy.copy(app)
    one.registered_commands = chosen
    return one
