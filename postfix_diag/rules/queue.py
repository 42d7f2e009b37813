"""Queue: messages still queued at the end of the log, and messages that expired."""

from __future__ import annotations

from ..events import place
from ..model import Sample
from .base import BoundedCounter, FirstSeenCounter, Rule, domain_of, plural, register
from .settings import log_path

OLD_AFTER = 4 * 3600  # seconds in the queue after which a still-queued message counts as old


def _age(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    if seconds >= 60:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds:.0f} seconds"


@register
class StillQueued(Rule):
    id = "QUE001"
    name = "messages-still-queued"
    title = "Messages still queued at the end of the log"
    category = "queue"
    severity = "notice"
    wants_queue = True
    count_unit = ("messages (queued, never removed, by the end of the log); recipients_by_domain: their "
                  "recipients not yet delivered, by domain")
    what = """Messages that entered the queue but were not removed by the end of the log: still waiting
    in the incoming, active, deferred or hold queue (or the log ends in the middle of their
    delivery).

    This rule counts the whole queue; the QSH rules read its shape. Old mail for one destination is
    QSH002's: when QSH002 fires, this finding stays at notice (instead of warning for old mail) and
    names the QSH002 domains."""
    why = """Mail that stays queued is late. A handful of fresh messages at the end of a log is normal;
    old ones (hours) or many ones mean a destination or the whole outbound path is failing (see
    DLV001/DLV002), or mail sits in the hold queue waiting for an admin."""
    example = (
        "Nov 25 12:00:01 mail postfix/qmgr[1001]: 3F1A2160137: from=<sender@example.com>, size=622, nrcpt=1 (queue active)",
        "Nov 25 12:00:31 mail postfix/smtp[2345]: 3F1A2160137: to=<user@example.net>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to mx.example.net[192.0.2.25]:25: Connection timed out)",
    )
    fix = """Inspect the live queue with `mailq` / `postqueue -j` and `qshape deferred`; fix the cause of
    the deferrals, then `postqueue -f`. Release or delete held mail with `postsuper -H` / `postsuper -d`."""
    remediation = (
        "Look at the live queue: `mailq | tail -n 1`, `qshape deferred`, `postqueue -j | head`.",
        "Fix what defers them (see the DLV findings), then retry: `postqueue -f`.",
        "Held mail: inspect with `postcat -vq QUEUEID`, release with `postsuper -H QUEUEID` or delete with `postsuper -d QUEUEID`.",
    )
    parameters = (
        ("maximal_queue_lifetime", "5d", "retry time before deferred mail bounces"),
        ("delay_warning_time", "0h", "send the sender a delay warning after this long (0: never)"),
    )
    references = ("QSHAPE_README: Trouble shooting with qshape", "QSHAPE_README: Postfix queue directories")

    message_kinds = ("qmgr_queued", "delivery")  # every delivery status: the latest line
    defers_to = ("QSH002",)
    severity_rule = f"""Notice; warning when the oldest message has been queued for {OLD_AFTER // 3600}
    hours or more, unless QSH002 already warns about that old mail."""

    def feed_message_line(self, ev, msg):
        # the message's latest queue/delivery line: a Sample at the end (for this queue id: a
        # requeued message carries the facts of its old queue id over)
        msg.facts[self.id] = (msg.qid, ev.file, ev.lineno, ev.line or ev.text)

    def merge(self, later):
        """Nothing to merge: the facts live on the messages, the rule reads them at the end."""

    def finish(self, queued, end_ts):
        msgs, pending_of = [], {}
        for m in queued:
            if not m.in_queue:
                continue  # smtpd never finished receiving it: Postfix deleted it silently
            pending, unnamed = m.still_queued()
            if m.recipients and not pending and not unnamed:
                continue  # every recipient has a final status; only the "removed" line is missing
            msgs.append(m)
            pending_of[id(m)] = pending
        if not msgs:
            return []
        g = self.group()
        by_queue = BoundedCounter(10)
        domains = BoundedCounter()
        oldest = 0.0
        for m in sorted(msgs, key=lambda m: (m.arrival_ts or 0)):
            g.count += 1
            for ts in (m.first_ts, m.last_ts):
                if ts is not None:
                    g.first = ts if g.first is None else min(g.first, ts)
                    g.last = ts if g.last is None else max(g.last, ts)
            by_queue.add(m.queue)
            for addr in (pending_of[id(m)] or list(m.recipients)):
                domains.add(domain_of(addr))
            if end_ts is not None and m.arrival_ts is not None:
                oldest = max(oldest, end_ts - m.arrival_ts)
            if len(g.samples) < self.max_samples:
                where = m.facts.get(self.id)
                if where is not None and where[0] == m.qid:
                    _, file, lineno, text = where
                    g.samples.append(Sample(file or "", lineno or 0, text))
        old = oldest >= OLD_AFTER
        return [self.make(
            g, f"{plural(g.count, 'message')} still queued at the end of the log; the oldest for {_age(oldest)}.",
            severity="warning" if old else self.severity,
            evidence={"by_queue": dict(by_queue.most_common()), "recipients_by_domain": domains.top(),
                      "oldest_seconds": round(oldest, 3), "held": sum(1 for m in msgs if m.held)})]

    def defer(self, finding, owners):
        """QSH002 already warns about the old mail (per destination): keep the count, at notice."""
        domains = sorted({f.key for f in owners if f.key})
        finding.severity = self.severity
        finding.summary += f" Old mail for {', '.join(domains)}: see QSH002."
        finding.evidence["old_mail_reported_by"] = {"QSH002": domains}
        return finding


@register
class Expired(Rule):
    id = "QUE002"
    name = "messages-expired"
    title = "Messages expired in the queue and were returned to the sender"
    category = "queue"
    severity = "warning"
    kinds = ("expired",)  # the senders, of every expiry line
    message_kinds = ("expired", "postsuper", "delivery")
    delivery_statuses = ("expired",)
    count_unit = "messages (distinct queue ids)"
    what = """qmgr gave up on messages: `from=<...>, status=expired, returned to sender` after
    maximal_queue_lifetime (bounce_queue_lifetime for bounces), or `status=force-expired` after an
    admin ran `postsuper -e`."""
    why = """Each expired message is mail that was never delivered: the sender gets a bounce (unless it
    was itself a bounce). Expiries show a destination that stayed unreachable for days."""
    example = (
        "Nov 25 12:00:01 mail postfix/qmgr[1001]: 3F1A2160137: from=<sender@example.com>, status=expired, returned to sender",
        "Nov 25 12:00:01 mail postfix/qmgr[1001]: 3F1A2160137: from=<sender@example.com>, status=force-expired, returned to sender",
    )
    fix = """Find out why the destinations were unreachable (the deferral reasons before expiry, DLV001),
    fix it, and tell the senders. Shorten bounce_queue_lifetime if most expired messages are bounces to
    forged senders."""
    remediation = (
        "Check the last deferral reasons of the expired messages: `grep QUEUEID /var/log/mail.log`.",
        "Fix the destination problem; for backscatter lower `postconf -e 'bounce_queue_lifetime = 1d'`.",
    )
    parameters = (
        ("maximal_queue_lifetime", "5d", "retry time before mail expires"),
        ("bounce_queue_lifetime", "5d", "retry time before a bounce expires"),
    )
    references = ("QSHAPE_README: Postfix queue directories",
                  "TUNING_README: Tuning the frequency of deferred mail delivery attempts")
    with_config = """Names the real mail log to search (maillog_file, when the configuration sets it)."""

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.g = self.group()
        self.by_status = FirstSeenCounter(10)
        self.senders = BoundedCounter()

    def feed(self, ev):
        self.senders.add(ev.f.get("from") or "<>")
        return True

    def feed_message_line(self, ev, msg):
        kind = ev.kind
        if kind == "postsuper":
            if ev.f.get("action") != "expired":
                return
            status = "force-expired (postsuper -e)"
        elif kind == "delivery":
            if ev.f.get("status") != "expired":
                return
            status = "expired"
        else:
            status = ev.f.get("status") or "expired"
        if self.id in msg.facts:  # expired already: counted once
            self.g.see(ev, sample=False)
            return
        msg.facts[self.id] = True
        self.g.add(ev)
        self.by_status.add(status, at=place(ev))

    def merge(self, later):
        self.g.merge(later.g)
        self.by_status.merge(later.by_status)
        self.senders.merge(later.senders)

    def finish(self, queued, end_ts):
        n = self.g.count
        if not n:
            return []
        steps = [self.remediation[0].replace("/var/log/mail.log", log_path(self.config)), *self.remediation[1:]]
        return [self.make(self.g, f"{plural(n, 'message')} expired in the queue and went back to the sender.",
                          count=n, remediation=steps,
                          evidence={"by_status": dict(self.by_status.most_common()),
                                    "top_senders": self.senders.top()})]
