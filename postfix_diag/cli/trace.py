"""`postfix-diag trace`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .app import PathsArg, SkipUnreadableOpt, YearOpt, app, fail, format_enum, guarded, window_args

TraceFormat = format_enum("TraceFormat", "trace")
EXIT_NO_MATCH = 1


def _many(help_text: str, *names: str):
    return typer.Option(*names, help=help_text, show_default=False)


@app.command()
@guarded
def trace(
    paths: PathsArg = None,
    qid: Annotated[list[str] | None, _many("Queue id (repeatable: any of them).", "--qid", "-q")] = None,
    message_id: Annotated[list[str] | None, _many("Message-ID header, with or without <> (repeatable).",
                                                  "--message-id", "-m")] = None,
    sender: Annotated[list[str] | None, _many("Envelope sender (repeatable); @domain for a domain, '<>' "
                                              "for the null sender.", "--from")] = None,
    recipient: Annotated[list[str] | None, _many("Recipient, to= or orig_to= (repeatable); @domain for a "
                                                 "domain.", "--to")] = None,
    client: Annotated[list[str] | None, _many("SMTP client: IP address, network (192.0.2.0/24) or host name "
                                              "(repeatable); also matches a content filter's orig_client=.",
                                              "--client")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only messages with a line at or after this "
                                              "time: YYYY-MM-DD[ HH:MM[:SS]], today, yesterday, now, or a time "
                                              "before now (-30m, -2h, -1d), on the log's own clock.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Only messages with a line before this time "
                                              "(same forms).")] = None,
    fmt: Annotated[TraceFormat, typer.Option("--format", "-f", help="text, or json (docs/trace.md).")]
    = TraceFormat.text,
    year: YearOpt = None,
    skip_unreadable: SkipUnreadableOpt = False,
):
    """Follow messages through the log: every line of each queue id, from arrival to removal.

    Give one or more criteria; a message is traced when one of its queue ids matches all of them
    (a repeated option matches any of its values). For each match the trail prints the origin
    (smtpd client, pickup uid, a content filter's re-injection, a bounce notification), cleanup's
    message-id, qmgr's from/size/nrcpt, every delivery attempt with relay, delay and the
    delays=a/b/c/d split named, dsn, status and reply, and removed or expired. The trail follows
    the message through content filters and re-injection (a reply "queued as NEWQID", smtpd's
    orig_queue_id=), local forwarding ("forwarded as"), bounce notifications, postsuper -r, and
    across hosts when several hosts' logs are given, and says where it ends: delivered, handed
    to a relay, bounced, expired, or still queued at the end of the log.

    Example: postfix-diag trace --from alice@example.com --to @example.net --since '2026-12-01 08:00' /var/log/mail.log

    Exit status: 0 at least one message traced; 1 no message matches; 2 usage or input error.
    """
    from ..report import writer
    from ..trace import Query, result, run

    lo, hi = window_args(since, until)
    query = Query(qids=tuple(qid or ()), message_ids=tuple(message_id or ()), senders=tuple(sender or ()),
                  recipients=tuple(recipient or ()), clients=tuple(client or ()), since=lo, until=hi)
    if query.empty:
        fail("trace needs a query: --qid, --message-id, --from, --to, --client, --since or --until")
    trails, sources = run(paths, query, year=year)
    found = result(trails, query, sources)
    sys.stdout.write(writer("trace", fmt.value)(found))
    if not trails:
        raise typer.Exit(EXIT_NO_MATCH)
