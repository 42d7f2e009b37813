"""`postfix-diag analyze`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .app import (
    ConfigOpt,
    NoConfigOpt,
    PathsArg,
    QuietGapOpt,
    ReportFormat,
    Severity,
    SinceOpt,
    SkipUnreadableOpt,
    UntilOpt,
    YearOpt,
    _progress,
    app,
    fail,
    gap_args,
    guarded,
    load_config,
    window_args,
)


@app.command()
@guarded
def analyze(
    paths: PathsArg = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="Report format.")] = ReportFormat.text,
    year: YearOpt = None,
    min_severity: Annotated[Severity, typer.Option("--min-severity", help="Hide findings below this severity.")]
    = Severity.info,
    top: Annotated[int, typer.Option("--top", help="How many unrecognized line shapes to list.", min=0)] = 10,
    skip_unreadable: SkipUnreadableOpt = False,
    config: ConfigOpt = None,
    no_config: NoConfigOpt = False,
    since: SinceOpt = None,
    until: UntilOpt = None,
    quiet_gap: QuietGapOpt = None,
):
    """Diagnose a mail log: a timeline of incidents, findings by severity with evidence and
    fixes, then parse coverage.

    The timeline lists each incident (a fault active over a window of time) with its start and
    end, whether it is ongoing or recovered (and what showed it), what it cost, and below it
    the incidents it caused. Every line becomes a typed event or is counted as unrecognized
    (recognized + unrecognized = total). Findings say what was seen (count, first and last seen,
    top offenders, sample lines with file and line number), why it matters, and what to change.
    `postfix-diag explain RULE` prints a rule's full page. The JSON format is described in
    docs/report-schema.json; incidents in docs/incidents.md.

    With the server's configuration (--config, or read on the server itself) the findings use
    it as evidence: mynetworks, relayhost, chroot and process limits per master.cf service, the
    SASL path and milters with their -o overrides, lookup tables; and every fix shows the
    current value and keeps it. Without it the report says which findings it would sharpen.
    """
    from ..analyze import analyze as run_analysis
    from ..report import render_analysis

    lo, hi = window_args(since, until)
    gaps = gap_args(quiet_gap)
    cfg, how = load_config(config, no_config, paths)
    status, progress = _progress()
    try:
        result = run_analysis(paths, year=year, min_severity=min_severity.value, progress=progress,
                              config=cfg, config_how=how, since=lo, until=hi, gaps=gaps)
    finally:
        if status is not None:
            status.stop()
    if result.coverage.total == 0:
        fail("no log lines in the given input (empty file?)")
    from ..sniff import no_postfix_lines

    not_postfix = no_postfix_lines(result.coverage, result.sources)
    if not_postfix:  # never "No findings" for a file that is not a Postfix log
        fail(not_postfix)
    sys.stdout.write(render_analysis(result, fmt.value, top=top))
