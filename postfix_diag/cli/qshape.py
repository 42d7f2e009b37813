"""`postfix-diag qshape`."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer

from .app import YearOpt, app, fail, guarded


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
    from ..qshape import ALL_QUEUES, QshapeError, qshape_main

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
