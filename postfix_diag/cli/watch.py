"""`postfix-diag watch`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .app import ConfigOpt, NoConfigOpt, Severity, YearOpt, app, fail, format_enum, guarded, load_config

WatchFormat = format_enum("WatchFormat", "watch")


class _Metrics:
    """The metrics of the latest evaluation, for prometheus_client's HTTP server (the same text
    as `analyze --format prometheus`, parsed back into families)."""

    def __init__(self):
        self.analysis = None

    def collect(self):
        from prometheus_client.parser import text_string_to_metric_families

        from ..report.prometheus import render

        if self.analysis is not None:
            yield from text_string_to_metric_families(render(self.analysis))


@app.command()
@guarded
def watch(
    path: Annotated[str | None, typer.Argument(help="The log file to follow (default: /var/log/maillog, then "
                                               "/var/log/mail.log). It may be absent at first.",
                                               show_default=False)] = None,
    journal: Annotated[bool, typer.Option("--journal", help="Follow the systemd journal of the Postfix units "
                                          "(journalctl -f -o json -u 'postfix@*' -u postfix) instead of a file.")]
    = False,
    fmt: Annotated[WatchFormat, typer.Option("--format", "-f", help="text, or jsonl: one JSON object per line "
                                             "(for a pipe into other tools).")] = WatchFormat.text,
    from_start: Annotated[bool, typer.Option("--from-start", help="Read the file's present lines first (default: "
                                             "only lines written from now on).")] = False,
    metrics_port: Annotated[int | None, typer.Option("--metrics-port", metavar="PORT", min=0, max=65535,
                                                     help="Serve the metrics of `analyze --format prometheus` "
                                                     "on http://ADDRESS:PORT/metrics (needs prometheus-client: "
                                                     "pip install 'postfix-diag[metrics]').",
                                                     show_default=False)] = None,
    metrics_address: Annotated[str, typer.Option("--metrics-address", help="Address the metrics server listens "
                                                 "on.")] = "127.0.0.1",
    min_severity: Annotated[Severity, typer.Option("--min-severity", help="Only incidents at or above this "
                                                   "severity make a line (below warning they are conditions, "
                                                   "as in analyze's timeline).")] = Severity.warning,
    year: YearOpt = None,
    config: ConfigOpt = None,
    no_config: NoConfigOpt = False,
):
    """Follow a live mail log and print one line when an incident opens, escalates or closes.

    The file is followed like `tail -F`: from its end (--from-start: from its start), across a
    rotation by rename (the old file is read to its end, then the new one) or by copytruncate,
    and a file that appears later. Every line goes through the rules of `analyze`; the incidents
    (see docs/incidents.md) are worked out again as lines arrive, and each change is one line:
    OPEN, ESCALATE (a higher severity), CLOSE (recovered). While the log is quiet its clock moves
    on with the wall clock, so an incident can close without more lines. SIGINT (Ctrl-C) or
    SIGTERM stops it with a summary line. See docs/watch.md.

    Exit status: 0 stopped by SIGINT or SIGTERM; 2 usage or input error (journalctl missing,
    metrics port in use).
    """
    import os
    import signal

    from ..inputs import DEFAULT_LOGS
    from ..report import writer
    from ..watch import Follower, Journal, Watch, loop

    if journal and path:
        fail("give a PATH or --journal, not both")
    if not journal and path is None:
        path = next((p for p in DEFAULT_LOGS if os.path.exists(p)), DEFAULT_LOGS[-1])
    cfg, _how = load_config(config, no_config, [path] if path else None)
    write = writer("watch", fmt.value)

    def emit(ev: dict) -> None:
        sys.stdout.write(write(ev) + "\n")
        sys.stdout.flush()

    w = Watch(year=year, config=cfg, min_severity=min_severity.value)
    metrics = None
    if metrics_port is not None:
        try:
            from prometheus_client import start_http_server
            from prometheus_client.core import REGISTRY
        except ImportError:
            fail("--metrics-port needs prometheus-client: pip install 'postfix-diag[metrics]'")
        metrics = _Metrics()
        metrics.analysis = w.analysis()
        REGISTRY.register(metrics)
        try:
            start_http_server(metrics_port, addr=metrics_address)
        except OSError as exc:
            fail(f"--metrics-port {metrics_port}: cannot listen on {metrics_address}: {exc.strerror or exc}")
    source = Journal() if journal else Follower(path, from_start=from_start)
    from ..report.escape import terminal

    what = "the journal of the Postfix units" if journal else f"{terminal(path)} (from its {'start' if from_start else 'end'})"
    typer.echo(f"postfix-diag: watching {what}; Ctrl-C stops", err=True)
    on_analysis = (lambda a: setattr(metrics, "analysis", a)) if metrics is not None else None
    stopping: list = []  # SIGINT and SIGTERM end the loop between two steps, not inside one

    def on_signal(signum, _frame) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        loop(source, w, emit, stop=lambda: bool(stopping), on_analysis=on_analysis)
        if w.unseen:  # the last lines, before the summary
            for ev in w.events():
                emit(ev)
    finally:
        source.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    emit(w.summary())
