"""`postfix-diag check`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .app import (
    ConfigOpt,
    NoConfigOpt,
    PathsArg,
    QuietGapOpt,
    Severity,
    SinceOpt,
    SkipUnreadableOpt,
    UntilOpt,
    YearOpt,
    _progress,
    app,
    format_enum,
    gap_args,
    guarded,
    load_config,
    set_exit_status,
    window_args,
)

CheckFormat = format_enum("CheckFormat", "check")


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
    skip_unreadable: SkipUnreadableOpt = False,
    config: ConfigOpt = None,
    no_config: NoConfigOpt = False,
    preview: Annotated[bool, typer.Option("--preview", help="Also run the rules in preview (new rules, "
                                          "marked preview in `postfix-diag rules`); without it they are "
                                          "left out, so an upgrade adds no failing finding.")] = False,
    fail_on_ongoing: Annotated[bool, typer.Option("--fail-on-ongoing", help="Exit 1 only for new findings "
                                                  "whose incident is still ongoing at the end of the log "
                                                  "(a fault that recovered does not fail).")] = False,
    since: SinceOpt = None,
    until: UntilOpt = None,
    quiet_gap: QuietGapOpt = None,
):
    """Gate a CI job on a mail log: exit 1 if there is a new finding at or above --fail-on.

    A finding is new when no entry of the --baseline file has its rule ID and key (the client,
    domain, relay... it is about), so a changing count is not new. Without --baseline every
    finding is new; with only --write-baseline the findings just recorded are the baseline
    (exit 0). Rules in preview (new rules; `postfix-diag rules` marks them) run only with
    --preview. With --fail-on-ongoing only findings whose incident is still ongoing at the end
    of the log fail (a monitoring job that cares about what is broken now, not what broke and
    recovered). Exit status: 0 nothing new at or above --fail-on; 1 something is; 2 usage or
    input error. See docs/ci.md for GitHub Actions and GitLab CI jobs.
    """
    from ..check import run_check
    from ..report import render_check

    lo, hi = window_args(since, until)
    gaps = gap_args(quiet_gap)
    cfg, how = load_config(config, no_config, paths)
    status, progress = _progress()
    try:
        result = run_check(paths, baseline=baseline, write_baseline_to=write_baseline, fail_on=fail_on.value,
                           year=year, progress=progress, config=cfg, config_how=how, preview=preview,
                           since=lo, until=hi, gaps=gaps, fail_on_ongoing=fail_on_ongoing)
    finally:
        if status is not None:
            status.stop()
    set_exit_status(result.exit_code)  # also when the reader of the output goes away (`| head`)
    sys.stdout.write(render_check(result, fmt.value))
    raise typer.Exit(result.exit_code)
