"""Content filters: an after-queue filter (content_filter, amavis on 10024 and friends) that
refuses or fails the mail Postfix hands it, and a before-queue proxy filter (smtpd_proxy_filter)
that smtpd cannot reach or that fails."""

from __future__ import annotations

import re

from .base import Group, Rule, group_in, merge_groups, plural, register

# The ports content filters listen on by convention (FILTER_README, amavisd-new, spampd,
# clamsmtp, dkimproxy, rspamd's proxy): a delivery to one of them is the filter, not a mail server.
FILTER_PORTS = {
    10024: "amavisd-new (content_filter = smtp-amavis:[127.0.0.1]:10024)",
    10025: "a content filter (10025 is also the usual re-injection port)",
    10026: "amavisd-new ORIGINATING / spampd / clamsmtp",
    10027: "dkimproxy (in) / a content filter",
    10028: "dkimproxy (out) / a content filter",
    10030: "a content filter",
    11332: "rspamd proxy",
    11333: "rspamd",
}
_TARGET = re.compile(r"(?:delivery temporarily suspended: )?(?:connect to|lost connection with|conversation with) "
                     r"([^\s\[\]]{0,255}\[[0-9A-Fa-f.:]{0,64}\]:(\d{1,5}))")
_RELAY = re.compile(r"[^\s\[\]]{0,255}\[[0-9A-Fa-f.:]{0,64}\]:(\d{1,5})")


def filter_hop(ev) -> tuple[str, int] | None:
    """(next hop, port) of a failed delivery to a content-filter port, else None."""
    f = ev.f
    relay = f.get("relay") or ""
    m = _RELAY.fullmatch(relay)
    if m is not None and int(m.group(1)) in FILTER_PORTS:
        return relay, int(m.group(1))
    m = _TARGET.match(f.get("reason") or "")
    if m is not None and int(m.group(2)) in FILTER_PORTS:
        return m.group(1), int(m.group(2))
    return None


def problem_of(reason: str) -> str:
    r = reason.removeprefix("delivery temporarily suspended: ")
    if r.startswith("connect to "):
        return "filter not listening: " + r.rsplit(": ", 1)[-1]
    if r.startswith(("lost connection with", "conversation with")):
        return "filter dropped or timed out the connection"
    if " said: 4" in r:
        return "filter answered 4xx (temporary failure inside the filter)"
    if " said: 5" in r:
        return "filter answered 5xx"
    return "other"


@register
class ContentFilterDown(Rule):
    id = "FLT001"
    name = "content-filter-failing"
    title = "The content filter (amavis, spampd, ...) refuses or fails the mail given to it"
    category = "delivery"
    severity = "error"
    preview = True
    kinds = ("delivery", "proxy_error", "proxy_reject")
    delivery_statuses = ("deferred", "bounced")
    message_kinds = ("delivery",)
    count_unit = "messages (after-queue filter) or lines (proxy filter); key = the filter as logged"
    what = """Postfix hands mail to a content filter and the filter is not there or fails: with
    `content_filter = smtp-amavis:[127.0.0.1]:10024` (FILTER_README, amavisd-new) every message,
    local or remote, goes first to the filter, so when nothing listens on 10024 all mail is deferred
    `connect to 127.0.0.1[127.0.0.1]:10024: Connection refused` (then `delivery temporarily
    suspended`); a filter that hangs or answers 4xx defers it too. The filter is recognized by its
    port (10024-10028, 10030, rspamd 11332/11333), for a single message as for many. With
    smtpd_proxy_filter (before-queue), smtpd logs `warning: connect to proxy filter HOST:PORT: ...`,
    `lost connection with proxy`, `timeout talking to proxy`, and `proxy-reject: END-OF-MESSAGE:
    451 ...`. DLV002 reports the same next hop as a destination that is down; this rule says it is
    the filter."""
    why = """No mail is delivered anywhere, not even to local mailboxes, while the filter is down:
    the whole queue waits (after-queue), or clients are refused at the end of DATA (before-queue).
    Restarting Postfix does not help; the filter must run."""
    example = (
        "Dec 01 22:14:34 mail postfix/smtp[20047]: 6322716209D: to=<alice@capture.example>, relay=none, delay=0.03, delays=0.02/0.01/0/0, dsn=4.4.1, status=deferred (connect to 127.0.0.1[127.0.0.1]:10024: Connection refused)",
        "Dec 01 22:14:37 mail postfix/error[20098]: 6B6B31620A2: to=<alice@capture.example>, relay=none, delay=3.3, delays=3.2/0.04/0/0, dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to 127.0.0.1[127.0.0.1]:10024: Connection refused)",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: connect to proxy filter 127.0.0.1:10025: Connection refused",
    )
    fix = """Start the filter (`systemctl start amavis`, or spampd, clamsmtp, rspamd) and check that it
    listens where content_filter points (`ss -ltnp | grep 10024`); read the filter's own log for why it
    stopped (a virus-scanner socket, a full disk, a Perl module). Then `postqueue -f`. To let mail flow
    without the filter meanwhile, empty content_filter for the service that sets it (knowing that mail
    then goes unscanned)."""
    remediation = (
        "Is the filter running and listening? `systemctl status amavis` (or the filter you use), `ss -ltnp | grep PORT`.",
        "Read the filter's log (amavis: `journalctl -u amavis`, /var/log/mail.log lines of amavis[...]) for why it stopped.",
        "`postqueue -f` once it listens; the deferred mail goes through the filter again.",
        "Check where Postfix sends mail to the filter: `postconf content_filter` and `postconf -P '*/*/content_filter'` "
        "(a -o content_filter= override in master.cf), `postconf smtpd_proxy_filter`.",
    )
    parameters = (
        ("content_filter", "(empty)", "after-queue filter, transport:[host]:port"),
        ("smtpd_proxy_filter", "(empty)", "before-queue filter, host:port"),
        ("smtpd_proxy_timeout", "100s", "how long smtpd waits for the proxy filter"),
    )
    references = ("FILTER_README", "SMTPD_PROXY_README", "amavisd-new: README.postfix")

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.filters: dict[str, Group] = {}  # next hop or proxy endpoint -> its failures

    def _filter(self, key: str) -> Group:
        return group_in(self.filters, key, self.group, 200)

    def feed(self, ev):
        kind = ev.kind
        if kind == "delivery":
            hop = filter_hop(ev)
            if hop is None:
                return None
            g = self._filter(hop[0])
            g.see(ev)
            g.tally("by_problem", problem_of(ev.f.get("reason") or ""))
            g.tally("recipients_by_domain", (ev.f.get("to") or "").rpartition("@")[2].lower() or None)
            g.tally("port", str(hop[1]))
            return True
        if kind == "proxy_reject":
            reason = ev.f.get("reason") or ""
            if not reason.startswith("4"):
                return None  # a 5xx is the filter's verdict on the content, not a failure
            key = "smtpd_proxy_filter"
            problem = "filter answered 4xx"
        else:
            key = ev.f.get("filter") or "smtpd_proxy_filter"
            problem = ev.f.get("what") or "proxy"
            if ev.f.get("reason"):
                problem += ": " + ev.f["reason"][:100]
        g = self._filter(key)
        g.add(ev)
        g.tally("by_problem", problem)
        return True

    def feed_message_line(self, ev, msg):
        hop = filter_hop(ev)
        if hop is None:
            return
        seen = msg.facts.setdefault(self.id, set())
        if hop[0] not in seen:
            seen.add(hop[0])
            self._filter(hop[0]).count += 1

    def merge(self, later):
        merge_groups(self.filters, later.filters)

    def finish(self, queued, end_ts):
        out = []
        still = {}
        for m in queued:
            for hop in m.facts.get(self.id, ()):
                still[hop] = still.get(hop, 0) + 1
        for key, g in self.filters.items():
            if not g.count:
                continue
            ports = g.breakdown("port")
            port = int(next(iter(ports))) if ports else None
            what = FILTER_PORTS.get(port, "the before-queue proxy filter") if port else "the before-queue proxy filter"
            problems = ", ".join(k for k, _ in g.top("by_problem", 2))
            unit = "message" if port else "line"
            summary = f"{plural(g.count, unit)} could not pass the content filter at {key} ({what}): {problems}"
            if key in still:
                summary += f"; {still[key]} still queued at the end of the log"
            out.append(self.make(g, summary + ".", key=key, evidence={
                "filter": key, "looks_like": what, "by_problem": g.breakdown("by_problem"),
                "recipients_by_domain": g.top("recipients_by_domain"), "still_queued": still.get(key, 0)}))
        return out
