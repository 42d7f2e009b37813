"""Where delivery time goes: the four stages of a delivered message's `delays=a/b/c/d`."""

from __future__ import annotations

from .base import FirstSeenCounter, Rule, plural, register

SLOW = 60.0  # seconds from arrival to delivery that make a delivery slow
STAGES = {
    "before qmgr": "a: from arrival until the queue manager took it (receiving, cleanup, milters, a busy "
                   "incoming queue, or waiting in the deferred queue)",
    "in qmgr": "b: in the queue manager until a delivery agent was free (transport and destination "
               "concurrency limits, process limits)",
    "connection setup": "c: connection setup (DNS lookups, TCP connect, greeting, HELO, TLS handshake)",
    "transmission": "d: message transmission (sending the data and the remote's end-of-data processing)",
    "retries after deferral": "a after earlier attempts were deferred: the time waited in the deferred queue "
                              "(see DLV001 for why)",
}
_ORDER = tuple(STAGES)
STAGE_HINTS = {
    "before qmgr": "Before qmgr: look for slow milters or content filters at receive time, and a large incoming queue "
                   "(`qshape incoming`); `postconf in_flow_delay`.",
    "in qmgr": "In qmgr: delivery agents were all busy: raise the transport's process limit in master.cf or "
               "`postconf -e 'default_process_limit = 200'`, and check destination concurrency limits.",
    "connection setup": "Connection setup: test DNS (`dig MX DOMAIN`) and the remote with `posttls-finger -c "
                        "DOMAIN`; slow DNS or TLS shows here; `smtp_connect_timeout`, `smtp_helo_timeout`.",
    "transmission": "Transmission: the remote (or a content filter) is slow to take the data; large messages or a "
                    "slow network; `smtp_data_done_timeout`.",
    "retries after deferral": "Retries: the messages were deferred first; fix what DLV001 names, then `postqueue -f`.",
}


def stage_of(delays: str, deferred_before: bool) -> tuple[str, list[float]] | None:
    """The stage where most of a delivery's time went, and the four times; None if unreadable."""
    try:
        parts = [float(x) for x in delays.split("/")]
    except ValueError:
        return None
    if len(parts) != 4:
        return None
    i = max(range(4), key=lambda k: (parts[k], -k))
    stage = _ORDER[i]
    if i == 0 and deferred_before:
        stage = "retries after deferral"
    return stage, parts


@register
class DeliveryDelays(Rule):
    id = "DLY001"
    name = "delivery-delays"
    title = "Slow deliveries, and the stage where the time went (delays=a/b/c/d)"
    category = "delivery"
    severity = "notice"
    preview = True
    message_kinds = ("delivery",)
    delivery_statuses = ("sent",)
    count_unit = f"deliveries (status=sent) that took {SLOW:.0f} s or more; key = the stage where most went"
    what = f"""Each delivery line carries `delay=` (seconds from arrival to this delivery) and
    `delays=a/b/c/d`: a = before the queue manager (receiving, cleanup, milters, incoming queue, or the
    deferred queue after a failed attempt), b = in the queue manager (waiting for a delivery agent),
    c = connection setup (DNS, connect, greeting, HELO, TLS), d = message transmission. Deliveries
    that took {SLOW:.0f} s or more are counted by the stage that took most of their time; when the
    message had been deferred before, a long `a` is the retry wait."""
    why = """Users notice slow mail before anything fails. The stage says where to look: a filter or
    milter (a), too few delivery processes (b), DNS or TLS (c), a slow remote or network (d), or
    retries (deferrals)."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtp[2345]: 3F1A2160137: to=<user@example.net>, relay=mx.example.net[192.0.2.25]:25, delay=95, delays=0.1/0/90/4.9, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4XyZ)",
        "Dec 01 22:29:07 mail postfix/local[3027]: 2007F162098: to=<dave@capture.example>, relay=local, delay=118, delays=118/0/0/0, dsn=2.0.0, status=sent (delivered to mailbox)",
    )
    fix = """Follow the stage: (a) time milters and content filters, look at the incoming queue; (b)
    raise process limits of the busy transport; (c) test DNS and TLS to the slow destinations; (d)
    the remote or the network is slow; retries: fix the deferrals. `qshape` shows where mail waits now."""
    remediation = (
        "Read by_stage and the slowest samples: which stage, which destinations.",
        "`qshape incoming active deferred` shows where mail waits at this moment.",
    )
    parameters = (
        ("default_process_limit", "100", "delivery agents per transport (b)"),
        ("smtp_connect_timeout", "30s", "TCP connect timeout (c)"),
        ("smtp_helo_timeout", "300s", "greeting and HELO timeout (c)"),
        ("smtp_data_done_timeout", "600s", "how long the remote may take after the data (d)"),
    )
    references = ("postconf(5): delay_logging_resolution_limit", "QSHAPE_README", "TUNING_README")

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.g = self.group()
        self.delivered = 0
        self.stages = FirstSeenCounter(len(STAGES))
        self.seconds = {stage: 0.0 for stage in STAGES}
        self.slowest = 0.0

    def feed_message_line(self, ev, msg):
        if ev.f.get("status") != "sent":
            return
        self.delivered += 1
        delay = ev.f.get("delay")
        if delay is None or delay < SLOW:
            return
        hit = stage_of(ev.f.get("delays") or "", msg.deferrals > 0)
        if hit is None:
            return
        stage, parts = hit
        self.g.add(ev)
        self.stages.add(stage, at=(getattr(ev.file, "rank", 0), ev.lineno))
        for name, t in zip(_ORDER[:4], parts, strict=True):
            self.seconds[name] += t
        self.slowest = max(self.slowest, delay)

    def merge(self, later):
        self.g.merge(later.g)
        self.delivered += later.delivered
        self.stages.merge(later.stages)
        for stage, t in later.seconds.items():
            self.seconds[stage] += t
        self.slowest = max(self.slowest, later.slowest)

    def finish(self, queued, end_ts):
        g = self.g
        if not g.count:
            return []
        stages = self.stages.most_common()
        top = stages[0][0]
        share = g.count / self.delivered if self.delivered else 1.0
        # retries are DLV001's (it says why they were deferred): they leave this at notice
        severity = "warning" if g.count >= 5 and share >= 0.1 and top != "retries after deferral" else self.severity
        return [self.make(
            g, f"{plural(g.count, 'delivery', 'deliveries')} of {self.delivered} took {SLOW:.0f} s or more "
               f"(longest {self.slowest:.0f} s); most of their time went to: {top} ({STAGES[top].split(':')[0]}).",
            key=top, severity=severity, remediation=[STAGE_HINTS[top], *self.remediation],
            evidence={"by_stage": dict(stages), "stage_meaning": STAGES[top],
                      "seconds_by_stage": {k: round(v, 1) for k, v in self.seconds.items() if k in _ORDER[:4]},
                      "slow_share": round(share, 3), "longest_seconds": round(self.slowest, 1)})]
