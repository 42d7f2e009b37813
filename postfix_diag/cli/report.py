"""`postfix-diag report`: the incident report by mail, for cron or a systemd timer."""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated

import typer

from .app import (
    ConfigOpt,
    NoConfigOpt,
    PathsArg,
    SinceOpt,
    SkipUnreadableOpt,
    UntilOpt,
    YearOpt,
    app,
    fail,
    guarded,
    load_config,
    window_args,
)

SENDMAIL = "/usr/sbin/sendmail"
UNITS = {"service": "postfix-diag-report.service", "timer": "postfix-diag-report.timer",
         "cron": "postfix-diag-report.cron"}


def _show(value: str | None) -> str | None:
    if value is None:
        return None
    if value not in UNITS:
        raise typer.BadParameter(f"one of {', '.join(UNITS)}")
    from importlib.resources import files

    typer.echo((files("postfix_diag") / "data" / UNITS[value]).read_text(encoding="utf-8"), nl=False)
    raise typer.Exit()


@app.command()
@guarded
def report(
    paths: PathsArg = None,
    mail_to: Annotated[list[str] | None, typer.Option(
        "--mail-to", metavar="ADDR", show_default=False,
        help="Mail the report to ADDR (repeatable). Without it the message is written to standard output.")] = None,
    mail_from: Annotated[str | None, typer.Option(
        "--mail-from", metavar="ADDR", show_default=False,
        help="The From address (default: the one sendmail gives the user running the command).")] = None,
    sendmail: Annotated[str, typer.Option(
        "--sendmail", metavar="PATH", help="The sendmail program the message is handed to, as "
        "'PATH -t -i' (Postfix's own, or any MTA's compatible one).")] = SENDMAIL,
    since: SinceOpt = None,
    until: UntilOpt = None,
    year: YearOpt = None,
    top: Annotated[int, typer.Option("--top", help="How many unrecognized line shapes to list.", min=0)] = 10,
    skip_unreadable: SkipUnreadableOpt = False,
    config: ConfigOpt = None,
    no_config: NoConfigOpt = False,
    show: Annotated[str | None, typer.Option(
        "--show", metavar="service|timer|cron", callback=_show, is_eager=True, show_default=False,
        help="Print the shipped systemd service, systemd timer or cron line that mails this report daily, "
        "and exit.")] = None,
):
    """Mail the incident report: one multipart/alternative message, the text report and the HTML
    report (charts, timeline, findings, fixes), handed to the local sendmail as `sendmail -t -i`,
    the way cron and logwatch mail their reports.

    Daily from cron or a systemd timer: `postfix-diag report --mail-to postmaster --since
    yesterday --until today` (yesterday's lines only: midnight to midnight, on the log's clock); `postfix-diag report --show timer` prints the shipped units
    (docs/mail-report.md). Exit status 2 when sendmail cannot be run or fails (its first line of
    error output is shown).
    """
    from ..analyze import analyze as run_analysis
    from ..report.html_mail import message

    lo, hi = window_args(since, until)
    cfg, how = load_config(config, no_config, paths)
    result = run_analysis(paths, year=year, config=cfg, config_how=how, traffic=True, since=lo, until=hi)
    if result.coverage.total == 0:
        fail("no log lines in the given input (empty file?)")
    msg = message(result, mail_to or [], sender=mail_from, top=top)
    if not mail_to:
        sys.stdout.write(msg.as_string())
        return
    data = msg.as_bytes()
    try:
        done = subprocess.run([sendmail, "-t", "-i"], input=data, capture_output=True, timeout=300)
    except OSError as exc:
        fail(f"{sendmail}: cannot run sendmail: {exc.strerror or exc}")
    except subprocess.TimeoutExpired:
        fail(f"{sendmail}: sendmail did not finish within 300 seconds")
    if done.returncode != 0:
        said = (done.stderr or done.stdout or b"").decode("utf-8", "replace").strip().splitlines()
        fail(f"{sendmail} -t -i exited with status {done.returncode}" + (f": {said[0]}" if said else ""))
