"""`postfix-diag summary`."""

from __future__ import annotations

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
    format_enum,
    guarded,
    load_config,
    window_args,
)

SummaryFormat = format_enum("SummaryFormat", "summary")


@app.command()
@guarded
def summary(
    paths: PathsArg = None,
    fmt: Annotated[SummaryFormat, typer.Option("--format", "-f", help="Report format.")] = SummaryFormat.text,
    year: YearOpt = None,
    top: Annotated[int, typer.Option("--top", help="Rows in host/domain, sender and recipient tables "
                                     "(0: leave them out, -1: all).", min=-1)] = 10,
    since: SinceOpt = None,
    until: UntilOpt = None,
    detail: Annotated[int, typer.Option("--detail", help="Rows in reason, warning and DNSBL tables "
                                        "(0: leave them out, -1: all).", min=-1)] = 10,
    skip_unreadable: SkipUnreadableOpt = False,
    config: ConfigOpt = None,
    no_config: NoConfigOpt = False,
):
    """Traffic summary with pflogsumm's numbers, plus what pflogsumm misses.

    Grand totals (received, delivered, forwarded, deferred, bounced, rejected, ...), traffic per
    day and hour, host/domain tables, top senders and recipients, reasons grouped by cause, smtpd
    connections, warnings; then postscreen/DNSBL, TLS, session errors by stage and a per-instance
    breakdown. Totals equal pflogsumm's except where docs/summary-parity.md says why.
    """
    from ..report import writer
    from ..summary import summary as run_summary

    lo, hi = window_args(since, until)
    cfg, how = load_config(config, no_config, paths)
    result = run_summary(paths, year=year, since=lo, until=hi, top=top, detail=detail, config=cfg, config_how=how)
    if result["meta"]["lines"] == 0:
        fail("no log lines in the given input (empty file?)")
    sys.stdout.write(writer("summary", fmt.value)(result))
