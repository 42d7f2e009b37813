"""Traffic counters for the metrics (report/prometheus.py, docs/metrics.md): a consumer of the one
stream that counts, per syslog host, messages received (by origin), delivery attempts (by status),
messages that left the queue (by outcome), rejects (by reason class) and deferrals (by cause,
rules.delivery.deferral_cause's groups). Every label value comes from a short fixed list, so the
number of series stays bounded whatever the log holds (only the host names come from the log).

Counts add up, so pieces of a log merge exactly (``merge``), and a stream restored from a state
file (state.py) goes on counting where it stopped."""

from __future__ import annotations

from collections import Counter

from .rules.delivery import deferral_cause

# reject reason classes, in the order they are tried (the first that matches)
REJECT_CLASSES = (
    ("configuration", ("Server configuration error", "Server configuration problem")),
    ("resources", ("Insufficient system storage", "try again later")),
    ("relay", ("Relay access denied",)),
    ("dnsbl", ("blocked using",)),
    ("recipient", ("Recipient address rejected",)),
    ("sender", ("Sender address rejected",)),
    ("client", ("Client host rejected",)),
    ("helo", ("Helo command rejected",)),
    ("protocol", ("Protocol error", "Improper use of SMTP command pipelining", "Data command rejected",
                  "End-of-data rejected")),
    ("size", ("Message size exceeds",)),
)
REJECT_CLASS_NAMES = ("postscreen", "content", "milter", *(name for name, _ in REJECT_CLASSES), "other")
OUTCOMES = ("delivered", "bounced", "expired", "removed")


def cause_label(reason: str) -> str:
    """rules.delivery.deferral_cause's group of a deferral reason as a label value
    ("connection refused" -> "connection_refused", "mailbox/local delivery" -> "mailbox_local_delivery")."""
    return deferral_cause(reason).replace(" ", "_").replace("/", "_")


def reject_class(ev) -> str:
    """The class of an access reject: postscreen, content (cleanup header/body checks), milter,
    or by the restriction its reason names (REJECT_CLASSES), else "other"."""
    if ev.program == "postscreen":
        return "postscreen"
    if ev.program == "cleanup":
        return "content"
    f = ev.f
    if str(f.get("action", "")).startswith("milter"):
        return "milter"
    reason = f.get("reason") or ""
    for name, needles in REJECT_CLASSES:
        if any(n in reason for n in needles):
            return name
    return "other"


def outcome(msg) -> str:
    """How a message that left the queue ended: delivered (every recipient sent), bounced (one
    was), expired, or removed (anything else: discarded, deleted, delivered in part before a
    reuse of its queue id)."""
    statuses = {r.status for r in msg.recipients.values()}
    if msg.expired or "expired" in statuses:
        return "expired"
    if "bounced" in statuses:
        return "bounced"
    if statuses and statuses <= {"sent"}:
        return "delivered"
    return "removed"


class Traffic:
    """The stream consumer (see the module docstring)."""

    COUNTERS = ("received", "deliveries", "left", "rejects", "deferrals")  # its Counters, all merged by adding

    def __init__(self):
        self.received: Counter = Counter()  # (host, origin) -> messages
        self.deliveries: Counter = Counter()  # (host, status) -> delivery lines
        self.left: Counter = Counter()  # (host, outcome) -> messages that left the queue
        self.rejects: Counter = Counter()  # (host, class) -> reject lines
        self.deferrals: Counter = Counter()  # (host, cause) -> deferred status lines

    def feed(self, ev) -> None:
        kind = ev.kind
        if kind == "delivery":
            status = ev.f.get("status") or "unknown"
            self.deliveries[(ev.host, status)] += 1
            if status == "deferred":
                self.deferrals[(ev.host, cause_label(ev.f.get("reason") or ""))] += 1
        elif kind == "reject":  # every access decision that rejects (events.ACCESS_KINDS)
            self.rejects[(ev.host, reject_class(ev))] += 1
        elif kind == "client":
            if ev.qid and ev.qid != "NOQUEUE":
                self.received[(ev.host, ev.service or "smtpd")] += 1
        elif kind == "pickup":
            self.received[(ev.host, "pickup")] += 1

    def feed_message(self, msg) -> None:
        if msg.in_queue:
            self.left[(msg.host, outcome(msg))] += 1

    def merge(self, later: Traffic) -> None:
        for name in self.COUNTERS:
            getattr(self, name).update(getattr(later, name))
