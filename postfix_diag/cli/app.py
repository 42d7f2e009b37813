"""What every command shares: the typer app, exit codes, the one-line error and the guard
(cli/faults.py), common options. One module per command in this package; the work happens in the
modules they call.

Exit codes (all commands): 0 success; 1 `check` found findings at or above --fail-on that are
new against the baseline; 2 usage, input or output error (bad option, missing or unreadable file,
corrupt compressed file, no log lines, output not writable); 3 internal error (a bug: please
report it); 130 interrupted (SIGINT), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer

from .. import __version__
from ..report import formats
from .faults import (  # noqa: F401  (re-exported: the commands import them from here)
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    error_line,
    guarded,
    set_exit_status,
)

app = typer.Typer(
    name="postfix-diag",
    help=(
        "Find out what is wrong with a Postfix mail server from its mail log, and what to do about it.\n\n"
        "postfix-diag reads mail logs (/var/log/mail.log, /var/log/maillog, rotated .gz/.bz2/.xz files, "
        "journalctl output, or - for standard input), turns every line into a typed event, follows each "
        "message by queue id, and runs a catalog of rules written against Postfix's own log messages "
        "and DEBUG_README.\n\n"
        "EXIT STATUS: 0 success; 1 `check` found new findings at or above --fail-on; "
        "2 usage, input or output error; 3 internal error; 130/143 interrupted by SIGINT/SIGTERM."
    ),
    no_args_is_help=True,
    add_completion=True,  # --install-completion, --show-completion (bash, zsh, fish, PowerShell)
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def format_enum(name: str, kind: str) -> type[Enum]:
    """The --format choices of a kind of result, from the one registry (report.FORMATS)."""
    return Enum(name, {f: f for f in formats(kind)}, type=str)


ReportFormat = format_enum("ReportFormat", "analysis")
EventFormat = format_enum("EventFormat", "events")


class Severity(str, Enum):
    critical = "critical"
    error = "error"
    warning = "warning"
    notice = "notice"
    info = "info"


PathsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Log files, globs, directories (searched for mail.log*, maillog*, *.log) or - for stdin. "
        "Rotated sets are read oldest first. Default: /var/log/maillog, then /var/log/mail.log.",
        show_default=False,
    ),
]
def _skip_unreadable(value: bool) -> bool:
    from ..inputs import skip_unreadable

    skip_unreadable(bool(value), warn=lambda message: typer.echo(f"postfix-diag: warning: {message}", err=True))
    return value


SkipUnreadableOpt = Annotated[
    bool,
    typer.Option("--skip-unreadable", callback=_skip_unreadable,
                 help="Skip an unreadable file or subdirectory among the inputs, with a warning line, "
                 "instead of stopping with exit status 2."),
]
YearOpt = Annotated[
    int | None,
    typer.Option("--year", help="Year of the first classic 'Mmm dd' timestamp (default: from each file's "
                 "modification time). A December to January rollover is handled.", min=1970, max=9999),
]


ConfigOpt = Annotated[
    list[str] | None,
    typer.Option("--config", "-c", metavar="PATH", show_default=False,
                 help="Postfix configuration to use as evidence (repeatable): a directory such as /etc/postfix "
                 "(its main.cf and master.cf), main.cf or master.cf, or saved output of postconf -n, -M, -F or "
                 "-P (recognized by content). Without it, and without log paths (the server's own log), the "
                 "local configuration is read (postconf, else /etc/postfix)."),
]
NoConfigOpt = Annotated[
    bool, typer.Option("--no-config", help="Read no Postfix configuration, not even the local one."),
]


def load_config(paths: list[str] | None, no_config: bool, log_paths: list[str] | None):
    """The run's configuration as (Config or None, how it was found): --config files, else the
    local configuration when the log is the server's own (no log paths). Every problem in the
    files is one line on stderr (file:line: message); the analysis runs all the same."""
    from ..config import choose

    if paths and no_config:
        fail("--config and --no-config exclude each other")
    found = choose(paths, enabled=not no_config, on_server=not log_paths)
    if not paths and not log_paths:
        typer.echo(f"postfix-diag: configuration: {found.how}", err=True)
    if found.config is not None:
        for problem in found.config.problems:
            typer.echo(f"postfix-diag: config: {problem}", err=True)
    return found.config, found.how


SinceOpt = Annotated[
    str | None,
    typer.Option("--since", help="Only lines at or after this time: YYYY-MM-DD[ HH:MM[:SS]], today, yesterday, "
                 "now, or a time before now (-30m, -2h, -1d), on the log's own clock.", show_default=False),
]
UntilOpt = Annotated[
    str | None,
    typer.Option("--until", help="Only lines before this time (same forms as --since).", show_default=False),
]
QuietGapOpt = Annotated[
    list[str] | None,
    typer.Option("--quiet-gap", help="CATEGORY=DURATION (e.g. delivery=30m, security=1h): how long a quiet log "
                 "ends an incident of that family of rules; repeatable. Defaults per family: docs/incidents.md.",
                 show_default=False),
]


def window_args(since: str | None, until: str | None) -> tuple[float | None, float | None]:
    """--since/--until values as wall-clock epochs (one-line error, exit 2, if unreadable)."""
    from ..when import parse_when

    try:
        lo = parse_when(since) if since else None
        hi = parse_when(until) if until else None
    except ValueError as exc:
        fail(str(exc))
    if lo is not None and hi is not None and hi <= lo:
        fail("--until must be later than --since")
    return lo, hi


def gap_args(values: list[str] | None) -> dict[str, float]:
    """--quiet-gap CATEGORY=DURATION values as {category: seconds}."""
    from ..model import CATEGORIES
    from ..when import parse_duration

    out: dict[str, float] = {}
    for value in values or []:
        category, sep, text = value.partition("=")
        category = category.strip()
        if not sep or category not in CATEGORIES:
            fail(f"--quiet-gap {value!r}: use CATEGORY=DURATION with a category of {', '.join(CATEGORIES)}")
        try:
            seconds = parse_duration(text)
        except ValueError as exc:
            fail(f"--quiet-gap {value!r}: {exc}")
        if seconds <= 0:
            fail(f"--quiet-gap {value!r}: the gap must be longer than 0 s")
        out[category] = seconds
    return out


def fail(message: str) -> None:
    """One line on stderr (escaped: it may hold file names or log text), exit status 2."""
    error_line(message)
    raise typer.Exit(EXIT_USAGE)


def _version(value: bool):
    if value:
        from ..core import describe

        typer.echo(f"postfix-diag {__version__}\n{describe()}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and which parser runs (compiled core or pure Python), and exit.")] = False,
):
    pass


def _progress():
    """A status line on stderr naming the file being read, only when stderr is a terminal. The name
    is escaped like log content and given as rich Text, so that no markup in it is interpreted."""
    if not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.text import Text

    from ..report.escape import terminal

    console = Console(stderr=True)
    spinner = "dots" if (console.encoding or "").lower().replace("-", "") == "utf8" else "line"
    status = console.status(Text("reading"), spinner=spinner)
    status.start()
    return status, (lambda name: status.update(Text(f"reading {terminal(name)}")))
