"""Queue shape: QSHAPE_README's four warning signs, read from the messages still queued at the
end of the log.

The tracker's still-queued messages become ``qshape.QueueEntry`` objects
(``qshape.entries_from_messages``) and go through the same ``qshape.detect_*`` functions, with
the same thresholds, as ``postfix-diag qshape --format json`` uses on a ``postqueue -j`` snapshot;
the finding IDs are the same in both places.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import qshape as qs
from ..model import Finding
from .base import Rule, register


def _minutes(m: float) -> str:
    return f"{m / 60:g} hours" if m >= 60 and m % 60 == 0 else f"{m:g} minutes"


class QueueShapeRule(Rule):
    """Runs one ``qshape.detect_*`` function at the end of the log; one finding per dict."""

    category = "queue"
    severity = "warning"
    wants_queue = True
    detect: Callable[..., list[dict]] = staticmethod(lambda entries, now: [])
    key_field: str | None = None  # evidence field that keys the finding (a domain), or None

    def merge(self, later):
        """Nothing to merge: the rule reads the queue left at the end of the log."""

    def finish(self, queued, end_ts):
        if not queued or end_ts is None:
            return []
        shared = getattr(queued, "shared", None)  # engine.Queued: the queue shape built once
        entries = shared("qshape.entries", qs.entries_from_messages) if shared else qs.entries_from_messages(queued)
        if not entries:
            return []
        by_id = None
        out = []
        for d in self.detect(entries, end_ts):
            assert d["id"] == self.id, (d["id"], self.id)
            ev = d.get("evidence", {})
            if by_id is None:
                by_id = {e.queue_id: e for e in entries}
            listed = [by_id[q] for q in ev.get("queue_ids", ()) if q in by_id]
            out.append(Finding(
                id=self.id, category=self.category, severity=d.get("severity", self.severity),
                title=d.get("title", self.title), count=d["count"], summary=d.get("detail", ""),
                first_seen=min((e.arrival_time for e in listed), default=None), last_seen=end_ts,
                key=ev.get(self.key_field) if self.key_field else None, evidence=ev,
                remediation=list(self.remediation), references=list(self.references)))
        return out


@register
class DeferredBackscatter(QueueShapeRule):
    id = qs.BACKSCATTER_ID  # QSH001
    name = "deferred-queue-mailer-daemon"
    title = "Deferred queue dominated by MAILER-DAEMON bounces"
    detect = staticmethod(qs.detect_mailer_daemon_backscatter)
    defers_to = ("DLV004",)
    count_unit = (f"null-sender (<>) messages in the deferred queue at the end of the log (at least "
                  f"{qs.BACKSCATTER_MIN_MESSAGES}, and {qs.BACKSCATTER_MIN_SHARE:.0%} of the deferred queue)")
    what = f"""At the end of the log, at least {qs.BACKSCATTER_MIN_MESSAGES} messages in the deferred
    queue, and at least {qs.BACKSCATTER_MIN_SHARE:.0%} of it, have the null sender `<>`: they are
    non-delivery notifications (MAILER-DAEMON) that cannot be delivered either. This is the queue
    state of QSHAPE_README's dictionary-attack example, as `qshape -s deferred` would show it
    (MAILER-DAEMON on top).

    DLV004 reports the same problem from the log's delivery lines and owns it: when DLV004 fires,
    this rule stays silent. It fires alone when the bounces are what remains in the deferred queue
    although they were not most of the failed deliveries during the log, and it is what `postfix-diag
    qshape --format json` reports for a `postqueue -j` snapshot (no log)."""
    why = """Bounces to forged senders are backscatter: they sit in the deferred queue for
    bounce_queue_lifetime, take delivery slots and retries away from real mail, and get the server
    listed as a backscatter source. They exist because the server accepted mail for recipients that
    do not exist (a dictionary attack) or content it later rejected."""
    example = (
        "Nov 25 12:00:01 mail postfix/bounce[2400]: 3F1A2160137: sender non-delivery notification: 5B6C7160139",
        "Nov 25 12:00:01 mail postfix/qmgr[1001]: 5B6C7160139: from=<>, size=2345, nrcpt=1 (queue active)",
        "Nov 25 12:00:31 mail postfix/smtp[2345]: 5B6C7160139: to=<forged@example.com>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to mx.example.com[192.0.2.30]:25: Connection timed out)",
    )
    fix = qs.REMEDIES[qs.BACKSCATTER_ID]
    remediation = (
        "Confirm with `qshape -s deferred` (MAILER-DAEMON on top) and `qshape deferred` (the forged senders' domains).",
        "Reject unknown recipients in the SMTP dialogue: `postconf smtpd_reject_unlisted_recipient "
        "local_recipient_maps relay_recipient_maps virtual_mailbox_maps` must cover every domain you accept.",
        "Let undeliverable bounces leave sooner: `postconf -e 'bounce_queue_lifetime = 1d'` and `postfix reload`.",
        "Delete the stuck bounces: `mailq | tail -n +2 | awk 'BEGIN{RS=\"\"} /MAILER-DAEMON/{print $1}' | tr -d '*!' | postsuper -d -`.",
    )
    parameters = (
        ("smtpd_reject_unlisted_recipient", "yes", "reject recipients that no address map lists"),
        ("local_recipient_maps", "proxy:unix:passwd.byname $alias_maps", "valid local recipients (empty: accept all, then bounce)"),
        ("relay_recipient_maps", "(empty)", "valid recipients of relay_domains (empty: accept all, then bounce)"),
        ("bounce_queue_lifetime", "5d", "how long a bounce is retried before it is dropped"),
    )
    references = ("QSHAPE_README: Example 2: Deferred queue full of dictionary attack bounces",
                  "QSHAPE_README: The \"deferred\" queue", "BACKSCATTER_README", "LOCAL_RECIPIENT_README")


@register
class OldMailForDestination(QueueShapeRule):
    id = qs.OLD_MAIL_ID  # QSH002
    name = "old-mail-for-destination"
    title = "Old mail piling up for one destination"
    detect = staticmethod(qs.detect_old_mail_for_destination)
    key_field = "domain"
    count_unit = (f"recipients at the domain queued for {_minutes(qs.OLD_MAIL_MIN_AGE_MINUTES)} or more (at "
                  f"least {qs.OLD_MAIL_MIN_RECIPIENTS}, and {qs.OLD_MAIL_MIN_SHARE:.0%} of all old queued "
                  f"recipients); key = the domain")
    what = f"""At the end of the log, at least {qs.OLD_MAIL_MIN_RECIPIENTS} recipients at one domain
    have been queued (incoming, active or deferred queue) for {_minutes(qs.OLD_MAIL_MIN_AGE_MINUTES)}
    or more, and they are at least {qs.OLD_MAIL_MIN_SHARE:.0%} of all old queued recipients: one
    destination holds most of the backlog, as in the old columns of a `qshape deferred` table. The age
    counts from the message's arrival: its first line in the log, or, for mail queued before the log
    began, the `delay=` of its delivery lines.

    QUE001 counts every message still queued; this rule owns old mail for one destination: when it
    fires, QUE001 stays at notice instead of warning and points here. DLV001/DLV002 give the
    deferral reasons from the log."""
    why = """Mail for that destination is hours late and will bounce after maximal_queue_lifetime.
    A large backlog for one site also takes retry slots and delivery agents away from the rest of the
    queue."""
    example = (
        "Nov 25 12:00:01 mail postfix/qmgr[1001]: 3F1A2160137: from=<sender@example.com>, size=622, nrcpt=1 (queue active)",
        "Nov 25 12:00:02 mail postfix/smtp[2345]: 3F1A2160137: to=<user@example.net>, relay=mx.example.net[192.0.2.25]:25, delay=18001, delays=18000/0/0.5/0.5, dsn=4.7.0, status=deferred (host mx.example.net[192.0.2.25] said: 421 4.7.0 try again later (in reply to MAIL FROM command))",
    )
    fix = qs.REMEDIES[qs.OLD_MAIL_ID]
    remediation = (
        "See where and since when: `qshape deferred` (the domain's row, old columns) and the deferral "
        "reasons: `postqueue -j | grep DOMAIN` or DLV001/DLV002 in this report.",
        "Test the destination from the server: `dig MX DOMAIN`, `nc -vz MX-HOST 25`, `posttls-finger DOMAIN`.",
        "Fix it or route around it (`transport_maps`: `DOMAIN smtp:[other-relay]`, then `postmap` and `postfix reload`); "
        "give slow destinations their own transport so they cannot hold up the rest.",
        "If the destination is gone for good, delete its mail (`postsuper -d QUEUEID`) and tell the senders; "
        "otherwise retry now with `postqueue -s DOMAIN` or `postqueue -f`.",
    )
    parameters = (
        ("maximal_queue_lifetime", "5d", "how long deferred mail is retried before it bounces"),
        ("transport_maps", "(empty)", "route one destination through another transport or relay"),
        ("smtp_fallback_relay", "(empty)", "where smtp sends mail it could not deliver directly"),
        ("delay_warning_time", "0h", "warn senders after this long (0: never)"),
    )
    references = ("QSHAPE_README: Example 4: High volume destination backlog",
                  "QSHAPE_README: Trouble shooting with qshape", "QSHAPE_README: The \"deferred\" queue")


@register
class ActiveCongestion(QueueShapeRule):
    id = qs.ACTIVE_CONGESTION_ID  # QSH003
    name = "active-queue-congestion"
    title = "Active queue congested"
    detect = staticmethod(qs.detect_active_congestion)
    count_unit = (f"messages in the active queue at the end of the log that arrived "
                  f"{_minutes(qs.ACTIVE_MIN_AGE_MINUTES)} or more before (at least {qs.ACTIVE_MIN_MESSAGES})")
    what = f"""At the end of the log, at least {qs.ACTIVE_MIN_MESSAGES} messages are in the active
    queue (qmgr logged `(queue active)` and no delivery agent has reported on them since) and arrived
    {_minutes(qs.ACTIVE_MIN_AGE_MINUTES)} or more before. Mail normally passes through the active
    queue in seconds; this is QSHAPE_README's "congestion in the active queue". From a log, a message
    still waiting for its delivery agents when the log ends counts as active."""
    why = """Delivery is slower than the inflow: the delivery agents are tied up (slow or tarpitting
    destinations, connection timeouts, a slow content filter), so all mail waits, and once the active
    queue is full (qmgr_message_active_limit) the incoming queue grows too (QSH004)."""
    example = (
        "Nov 25 12:00:01 mail postfix/qmgr[1001]: 3F1A2160137: from=<sender@example.com>, size=622, nrcpt=1 (queue active)",
        "Nov 25 12:00:01 mail postfix/qmgr[1001]: 4A2B3160138: from=<sender@example.com>, size=622, nrcpt=1 (queue active)",
    )
    fix = qs.REMEDIES[qs.ACTIVE_CONGESTION_ID]
    remediation = (
        "See which destinations hold the active queue: `qshape active` (and the top domains in the evidence).",
        "Give slow destinations their own transport with a lower concurrency (master.cf clone of smtp, "
        "`transport_maps`), and shorten `smtp_connect_timeout` / `smtp_helo_timeout` for them.",
        "Send mail that was already deferred elsewhere: `postconf -e 'smtp_fallback_relay = [relay.example]'`.",
        "If every destination is slow: check DNS and network latency and the content filter, then raise "
        "`default_process_limit` and the destination concurrency limits carefully.",
    )
    parameters = (
        ("qmgr_message_active_limit", "20000", "how many messages the active queue holds"),
        ("default_process_limit", "100", "delivery agents per service"),
        ("default_destination_concurrency_limit", "20", "parallel deliveries per destination"),
        ("smtp_connect_timeout", "30s", "how long smtp waits for a TCP connection"),
        ("smtp_helo_timeout", "300s", "how long smtp waits for the greeting and EHLO reply"),
    )
    references = ("QSHAPE_README: Example 3: Congestion in the active queue",
                  "QSHAPE_README: The \"active\" queue", "TUNING_README")


@register
class IncomingGrowing(QueueShapeRule):
    id = qs.INCOMING_GROWING_ID  # QSH004
    name = "incoming-queue-growing"
    title = "Incoming queue growing"
    detect = staticmethod(qs.detect_incoming_growing)
    count_unit = (f"messages in the incoming queue at the end of the log that arrived "
                  f"{_minutes(qs.INCOMING_MIN_AGE_MINUTES)} or more before (at least {qs.INCOMING_MIN_MESSAGES})")
    what = f"""At the end of the log, at least {qs.INCOMING_MIN_MESSAGES} messages are in the
    incoming queue and arrived {_minutes(qs.INCOMING_MIN_AGE_MINUTES)} or more before: cleanup
    wrote them (pickup, smtpd or a bounce created them) but qmgr never logged `(queue active)` for
    them. The queue manager normally takes new mail in at once; QSHAPE_README: a growing incoming
    queue means qmgr is not keeping up (or not running)."""
    why = """New mail is not delivered at all until qmgr takes it in. Either qmgr is down (fatal
    errors, a broken master.cf), the active queue is full because deliveries are slow (QSH003), or the
    queue file system is too slow for the inflow."""
    example = (
        "Nov 25 12:00:01 mail postfix/pickup[1500]: 3F1A2160137: uid=1000 from=<user>",
        "Nov 25 12:00:01 mail postfix/cleanup[1600]: 3F1A2160137: message-id=<20251125120001.3F1A2160137@mail.example.com>",
    )
    fix = qs.REMEDIES[qs.INCOMING_GROWING_ID]
    remediation = (
        "Check that qmgr runs: `postfix status`, `ps -C qmgr`, and the log for qmgr/master fatal errors (GEN001).",
        "Check the active queue (`qshape active`, QSH003): a full active queue keeps new mail in incoming.",
        "Check disk I/O on the queue file system (`iostat -x 5`); move the queue to faster storage if it is the bottleneck.",
        "Slow the inflow while you fix it: `in_flow_delay`, smtpd rate limits (anvil), and find the source of the burst.",
    )
    parameters = (
        ("qmgr_message_active_limit", "20000", "active-queue size; when full, mail waits in incoming"),
        ("in_flow_delay", "1s", "how long pickup/smtpd pause per message when the inflow outpaces qmgr"),
        ("default_process_limit", "100", "processes per service"),
    )
    references = ("QSHAPE_README: The \"incoming\" queue", "QSHAPE_README: Trouble shooting with qshape",
                  "STRESS_README")
