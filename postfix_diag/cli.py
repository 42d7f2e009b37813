"""Command line: one small function per command; the work happens in the modules they call.

Exit codes (all commands): 0 success; 1 `check` found findings at or above --fail-on that are
new against the baseline; 2 usage or input error (bad option, missing or unreadable file,
corrupt compressed file, no log lines); 3 internal error (a bug: please report it).
"""

from __future__ import annotations

import functools
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from . import __version__
from .inputs import InputError

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


class ReportFormat(str, Enum):
    text = "text"
    markdown = "markdown"
    json = "json"


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


@app.command()
@guarded
def analyze(
    paths: PathsArg = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="Report format.")] = ReportFormat.text,
    year: YearOpt = None,
    min_severity: Annotated[Severity, typer.Option("--min-severity", help="Hide findings below this severity.")]
    = Severity.info,
    top: Annotated[int, typer.Option("--top", help="How many unrecognized line shapes to list.", min=0)] = 10,
):
    """Diagnose a mail log: findings by severity with evidence and fixes, then parse coverage.

    Every line becomes a typed event or is counted as unrecognized (recognized + unrecognized =
    total). Findings say what was seen (count, first and last seen, top offenders, sample lines
    with file and line number), why it matters, and what to change. `postfix-diag explain RULE`
    prints a rule's full page. The JSON format is described in docs/report-schema.json.
    """
    from .analyze import analyze as run_analysis
    from .report import render_analysis

    status, progress = _progress()
    try:
        result = run_analysis(paths, year=year, min_severity=min_severity.value, progress=progress)
    finally:
        if status is not None:
            status.stop()
    if result.coverage.total == 0:
        fail("no log lines in the given input (empty file?)")
    sys.stdout.write(render_analysis(result, fmt.value, top=top))


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
    from .export import write_events
    from .parse import iter_events

    write_events(iter_events(paths, year=year), sys.stdout, fmt.value, set(kind) if kind else None)


@app.command("rules")
def list_rules(
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="text or json (markdown: docs/rules.md).")]
    = ReportFormat.text,
):
    """List the rule catalog: ID, category, severity, title."""
    from tabulate import tabulate

    from .rules import catalog, docs_markdown

    rows = catalog()
    if fmt is ReportFormat.json:
        import json

        typer.echo(json.dumps(rows, indent=2))
    elif fmt is ReportFormat.markdown:
        typer.echo(docs_markdown(), nl=False)
    else:
        typer.echo(tabulate([[r["id"], r["category"], r["severity"], r["title"]] for r in rows],
                            headers=["id", "category", "severity", "title"], tablefmt="simple"))


@app.command()
def explain(rule: Annotated[str, typer.Argument(help="Rule ID, e.g. DNS002 (case-insensitive), or its name.")]):
    """Print a rule's full documentation: what, why, example log lines, fix, parameters, references."""
    from .rules import explain as explain_rule

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
    from .grammar import GrammarError, describe, load

    try:
        g = load(str(directory) if directory else None)
        g.compile_all()
    except GrammarError as exc:
        fail(str(exc))
    if check:
        typer.echo(f"ok: {len(g.files)} grammar files, {len(g.kinds)} event kinds")
        return
    typer.echo(describe(g), nl=False)


class CheckFormat(str, Enum):
    text = "text"
    junit = "junit"
    github = "github"
    sarif = "sarif"


@app.command()
@guarded
def check(
    paths: PathsArg = None,
    baseline: Annotated[Path | None, typer.Option("--baseline", help="Findings recorded earlier with "
                                                  "--write-baseline; only findings not in it count.")] = None,
    write_baseline: Annotated[Path | None, typer.Option("--write-baseline", help="Record the current findings "
                                                        "(rule ID + key) in this JSON file.")] = None,
    fail_on: Annotated[Severity, typer.Option("--fail-on", help="Exit 1 for new findings at or above this "
                                              "severity.")] = Severity.warning,
    fmt: Annotated[CheckFormat, typer.Option("--format", "-f", help="text; junit (Jenkins, GitLab); github "
                                             "(workflow annotations); sarif (code scanning).")] = CheckFormat.text,
    year: YearOpt = None,
):
    """Gate a CI job on a mail log: exit 1 if there is a new finding at or above --fail-on.

    A finding is new when no entry of the --baseline file has its rule ID and key (the client,
    domain, relay... it is about), so a changing count is not new. Without --baseline every
    finding is new; with only --write-baseline the findings just recorded are the baseline
    (exit 0). Exit status: 0 nothing new at or above --fail-on; 1 something is; 2 usage or input
    error. See docs/ci.md for GitHub Actions and GitLab CI jobs.
    """
    from .check import render_check, run_check

    status, progress = _progress()
    try:
        result = run_check(paths, baseline=baseline, write_baseline_to=write_baseline, fail_on=fail_on.value,
                           year=year, progress=progress)
    finally:
        if status is not None:
            status.stop()
    sys.stdout.write(render_check(result, fmt.value))
    raise typer.Exit(result.exit_code)


class QshapeFormat(str, Enum):
    text = "text"
    json = "json"


@app.command("qshape")
@guarded
def qshape_cmd(
    args: Annotated[list[str] | None, typer.Argument(
        metavar="[QUEUE...] [PATHS...]", show_default=False,
        help="Queue names (incoming, active, deferred, hold, corrupt, maildrop; default: incoming active), "
        "then, for log mode, log files (default: the system mail log).")] = None,
    from_json: Annotated[str | None, typer.Option("--from-json", metavar="FILE", help="Read a `postqueue -j` "
                                                  "snapshot (Postfix 3.1+) instead of the log; - for stdin.")] = None,
    now: Annotated[str | None, typer.Option("--now", metavar="TIME", help="Reference time for ages: epoch seconds, "
                                            "ISO date, or +/-N[smhdw] relative to the default (the current time "
                                            "for a snapshot, the last log line in log mode).")] = None,
    senders: Annotated[bool, typer.Option("-s", help="Count senders (messages) per sender domain instead of "
                                          "recipients per recipient domain.")] = False,
    parents: Annotated[bool, typer.Option("-p", help="Add rows for parent domains (.example.com).")] = False,
    min_subdomains: Annotated[int, typer.Option("-m", metavar="N", help="With -p, show a parent domain once it "
                                                "has at least N subdomains.")] = 5,
    buckets: Annotated[int, typer.Option("-b", metavar="N", help="Number of age buckets.")] = 10,
    bucket_time: Annotated[float, typer.Option("-t", metavar="N", help="Age limit of the first bucket, in "
                                               "minutes.")] = 5,
    linear: Annotated[bool, typer.Option("-l", help="Linear buckets (multiples of -t) instead of "
                                         "doubling ones.")] = False,
    width: Annotated[int | None, typer.Option("-w", metavar="N", help="Terminal width (used when over 80).")] = None,
    fmt: Annotated[QshapeFormat, typer.Option("--format", "-f", help="text (qshape's table) or json.")] = QshapeFormat.text,
    year: YearOpt = None,
):
    """Queue shape, as Postfix's qshape: queued mail by domain and age, without root.

    From a `postqueue -j` snapshot (--from-json), or rebuilt from the mail log alone. The table
    is qshape's, byte for byte: the TOTAL row, then one row per domain, and ten columns of age
    (in minutes, each bucket twice as long as the one before).

    Queues: incoming - new mail written by cleanup, waiting for the queue manager; active -
    mail the queue manager is delivering now; deferred - mail that could not be delivered yet,
    retried later; hold - mail put on hold (postsuper -h, HOLD actions) until released;
    corrupt - damaged queue files set aside; maildrop - local submissions waiting for pickup.
    In log mode, recipients the log does not name yet are shown as (recipient-not-in-log).
    """
    from .qshape import ALL_QUEUES, QshapeError, qshape_main

    items = args or []
    queues = [a for a in items if a in ALL_QUEUES]
    paths = [a for a in items if a not in ALL_QUEUES]
    try:
        out = qshape_main(queues or None, from_json=from_json, paths=paths or None, now=now, senders=senders,
                          parents=parents, min_subdomains=min_subdomains, buckets=buckets,
                          bucket_time=bucket_time, linear=linear, width=width, fmt=fmt.value, year=year)
    except QshapeError as exc:
        fail(str(exc))
    sys.stdout.write(out)


@app.command()
@guarded
def summary(
    paths: PathsArg = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="Report format.")] = ReportFormat.text,
    year: YearOpt = None,
    top: Annotated[int, typer.Option("--top", help="Rows in host/domain, sender and recipient tables "
                                     "(0: leave them out, -1: all).", min=-1)] = 10,
    since: Annotated[str | None, typer.Option("--since", help="Only lines at or after this time: "
                                              "YYYY-MM-DD[ HH:MM[:SS]], today, yesterday.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Only lines before this time (same forms).")]
    = None,
    detail: Annotated[int, typer.Option("--detail", help="Rows in reason, warning and DNSBL tables "
                                        "(0: leave them out, -1: all).", min=-1)] = 10,
):
    """Traffic summary with pflogsumm's numbers, plus what pflogsumm misses.

    Grand totals (received, delivered, forwarded, deferred, bounced, rejected, ...), traffic per
    day and hour, host/domain tables, top senders and recipients, reasons grouped by cause, smtpd
    connections, warnings; then postscreen/DNSBL, TLS, session errors by stage and a per-instance
    breakdown. Totals equal pflogsumm's except where docs/summary-parity.md says why.
    """
    from .summary import parse_when, render
    from .summary import summary as run_summary

    try:
        lo = parse_when(since) if since else None
        hi = parse_when(until) if until else None
    except ValueError as exc:
        fail(str(exc))
    result = run_summary(paths, year=year, since=lo, until=hi, top=top, detail=detail)
    if result["meta"]["lines"] == 0:
        fail("no log lines in the given input (empty file?)")
    sys.stdout.write(render(result, fmt.value))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
