"""`postfix-diag check`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .app import (
    ConfigOpt,
    JobsOpt,
    NoConfigOpt,
    PathsArg,
    SchedulerOpt,
    Severity,
    SkipUnreadableOpt,
    YearOpt,
    _progress,
    app,
    format_enum,
    guarded,
    load_config,
    set_exit_status,
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
    jobs: JobsOpt = None,
    scheduler: SchedulerOpt = None,
):
    """Gate a CI job on a mail log: exit 1 if there is a new finding at or above --fail-on.

    A finding is new when no entry of the --baseline file has its rule ID and key (the client,
    domain, relay... it is about), so a changing count is not new. Without --baseline every
    finding is new; with only --write-baseline the findings just recorded are the baseline
    (exit 0). Exit status: 0 nothing new at or above --fail-on; 1 something is; 2 usage or input
    error. See docs/ci.md for GitHub Actions and GitLab CI jobs.
    """
    from ..check import run_check
    from ..report import render_check

    cfg, how = load_config(config, no_config, paths)
    status, progress = _progress()
    try:
        result = run_check(paths, baseline=baseline, write_baseline_to=write_baseline, fail_on=fail_on.value,
                           year=year, progress=progress, config=cfg, config_how=how,
                           jobs=jobs, scheduler=scheduler)
    finally:
        if status is not None:
            status.stop()
    set_exit_status(result.exit_code)  # also when the reader of the output goes away (`| head`)
    sys.stdout.write(render_check(result, fmt.value))
    raise typer.Exit(result.exit_code)
