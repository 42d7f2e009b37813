"""What every command shares: the typer app, exit codes, the one-line error and the guard,
common options. One module per command in this package; the work happens in the modules they call.

Exit codes (all commands): 0 success; 1 `check` found findings at or above --fail-on that are
new against the baseline; 2 usage or input error (bad option, missing or unreadable file,
corrupt compressed file, no log lines); 3 internal error (a bug: please report it).
"""

from __future__ import annotations

import functools
import os
import sys
from enum import Enum
from typing import Annotated

import typer

from .. import __version__
from ..inputs import InputError
from ..report import formats

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

app = typer.Typer(
    name="postfix-diag",
    help=(
        "Find out what is wrong with a Postfix mail server from its mail log, and what to do about it.\n\n"
        "postfix-diag reads mail logs (/var/log/mail.log, /var/log/maillog, rotated .gz/.bz2/.xz files, "
        "journalctl output, or - for standard input), turns every line into a typed event, follows each "
        "message by queue id, and runs a catalog of rules written against Postfix's own log messages "
        "and DEBUG_README.\n\n"
        "EXIT STATUS: 0 success; 1 `check` found new findings at or above --fail-on; "
        "2 usage or input error; 3 internal error."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def format_enum(name: str, kind: str) -> type[Enum]:
    """The --format choices of a kind of result, from the one registry (report.FORMATS)."""
    return Enum(name, {f: f for f in formats(kind)}, type=str)


ReportFormat = format_enum("ReportFormat", "analysis")


class EventFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"


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
YearOpt = Annotated[
    int | None,
    typer.Option("--year", help="Year of the first classic 'Mmm dd' timestamp (default: from each file's "
                 "modification time). December→January rollover is handled.", min=1970, max=9999),
]


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
    """One line on stderr, exit status 2."""
    typer.echo(f"postfix-diag: error: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


def guarded(func):
    """Turn input problems into a one-line error with exit status 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            fail(str(exc))
        except BrokenPipeError:  # e.g. `postfix-diag parse ... | head`
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(EXIT_OK) from None
        except KeyboardInterrupt:
            typer.echo("postfix-diag: interrupted", err=True)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug of ours: one line, unless debugging
            if os.environ.get("POSTFIX_DIAG_DEBUG"):
                raise
            typer.echo(f"postfix-diag: internal error: {type(exc).__name__}: {exc} "
                       "(set POSTFIX_DIAG_DEBUG=1 for a traceback, and please report it)", err=True)
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper


def _version(value: bool):
    if value:
        typer.echo(f"postfix-diag {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
):
    pass


def _progress():
    """A status line on stderr naming the file being read, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None, None
    from rich.console import Console

    status = Console(stderr=True).status("reading")
    status.start()
    return status, (lambda name: status.update(f"reading {name}"))
