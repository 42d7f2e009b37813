"""Command line: `postfix-diag COMMAND`. One module per command; `app` is the typer application.

Exit codes (all commands): 0 success; 1 `check` found findings at or above --fail-on that are
new against the baseline; 2 usage, input or output error; 3 internal error (a bug: please report
it); 130/143 interrupted by SIGINT/SIGTERM. cli/faults.py is the one exit path.
"""

from __future__ import annotations

import copy
import os
import sys

from . import (  # noqa: F401  (importing registers the commands)
    analyze,
    check,
    explain_line,
    parse,
    qshape,
    report,
    rules,
    summary,
    trace,
    watch,
)
from .app import EXIT_FINDINGS, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, app
from .faults import OutputError, exit_status_for, finish, prepare_process

__all__ = ["app", "app_for", "main", "EXIT_OK", "EXIT_FINDINGS", "EXIT_USAGE", "EXIT_INTERNAL"]


def main() -> None:
    """The `postfix-diag` program: the app inside the one exit path (cli/faults.py)."""
    prepare_process()
    try:
        app_for(sys.argv[1:])()
        code = EXIT_OK
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_USAGE)
    except OSError as exc:  # outside a command nothing is read: writing --help or --version failed
        code = exit_status_for(exc if isinstance(exc, BrokenPipeError) else OutputError(exc.strerror or exc))
    except BaseException as exc:  # noqa: BLE001 - outside any command (option parsing, --help)
        code = exit_status_for(exc)
    finish(code)


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
