"""Queue: messages still queued at the end of the log, and messages that expired."""

from __future__ import annotations

from ..model import Sample
from .base import BoundedCounter, Rule, domain_of, plural, register
from .delivery import _IdSet

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
    count_unit = "messages (queued, never removed, by the end of the log)"
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

    kinds = ("qmgr_queued", "delivery", "removed")  # every delivery status: the latest line
    defers_to = ("QSH002",)
    MAX_TRACKED = 100_000

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.last_line: dict = {}  # (host, qid) -> (file, line, text) of its latest queue/delivery line

    def feed(self, ev):
        key = (ev.host, ev.qid)
        if ev.kind == "removed":
            self.last_line.pop(key, None)
        elif key in self.last_line or len(self.last_line) < self.MAX_TRACKED:
            self.last_line[key] = (ev.file, ev.lineno, ev.line or ev.text)  # a Sample at the end
        return None

    def finish(self, queued, end_ts):
        msgs = []
        for m in queued:
            if not m.in_queue:
                continue  # smtpd never finished receiving it: Postfix deleted it silently
            if m.recipients and not m.pending and not m.unnamed:
                continue  # every recipient has a final status; only the "removed" line is missing
            msgs.append(m)
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
            for addr in (m.pending or list(m.recipients)):
                domains.add(domain_of(addr))
            if end_ts is not None and m.arrival_ts is not None:
                oldest = max(oldest, end_ts - m.arrival_ts)
            if len(g.samples) < self.max_samples:
                where = self.last_line.get((m.host, m.qid))
                if where is not None:
                    file, lineno, text = where
                    g.samples.append(Sample(file or "", lineno or 0, text))
        old = oldest >= OLD_AFTER
        return [self.make(
            g, f"{plural(g.count, 'message')} still queued at the end of the log; the oldest for {_age(oldest)}.",
            severity="warning" if old else self.severity,
            evidence={"by_queue": dict(by_queue.most_common()), "top_domains": domains.top(),
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
    kinds = ("expired", "postsuper", "delivery")
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

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.g = self.group()
        self.ids = _IdSet()
        self.by_status = BoundedCounter(10)
        self.senders = BoundedCounter()

    def feed(self, ev):
        kind = ev.kind
        if kind == "postsuper":
            if ev.f.get("action") != "expired":
                return None
            status = "force-expired (postsuper -e)"
        elif kind == "delivery":
            if ev.f.get("status") != "expired":
                return None
            status = "expired"
        else:
            status = ev.f.get("status") or "expired"
            self.senders.add(ev.f.get("from") or "<>")
        if self.ids.add((ev.host, ev.qid)):
            self.g.add(ev)
            self.by_status.add(status)
        else:
            self.g.see(ev, sample=False)
        return True

    def finish(self, queued, end_ts):
        n = len(self.ids)
        if not n:
            return []
        return [self.make(self.g, f"{plural(n, 'message')} expired in the queue and went back to the sender.",
                          count=n, evidence={"by_status": dict(self.by_status.most_common()),
                                             "top_senders": self.senders.top()})]
