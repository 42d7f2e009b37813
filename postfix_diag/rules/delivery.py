"""Delivery: deferrals by cause, destinations that are down, bounce storms and backscatter.
Counts are messages, not retry lines: what a rule knows of a message (counted already, its
causes) is a fact on the tracker's Message (``msg.facts[rule id]``), so the rules remember no
queue ids of their own and forget a message with the tracker."""

from __future__ import annotations

import re

from ..events import place
from ..model import Occurrences, iso
from .base import (
    MAX_KEYS,
    BoundedCounter,
    FirstKeysCounter,
    FirstSeenCounter,
    Group,
    Rule,
    domain_of,
    ip_kind,
    merge_groups,
    plural,
    register,
)
from .dns import DNS_DELIVERY
from .incident_spec import IncidentSpec, Link
from .settings import Facts, next_hop_of, next_hops

SUSPENDED = "delivery temporarily suspended: "

_CONNECT_TARGET = re.compile(r"(?:connect to|lost connection with|conversation with) (\S{1,255}?\[[^\]]{0,255}\](?::\d{1,5})?)")
_REMOTE_4XX = re.compile(r"\b(?:said|refused to talk to me): 4\d\d\b")
_REMOTE_5XX = re.compile(r"\b(?:said|refused to talk to me): 5\d\d\b")
_DOWN = re.compile(r"Connection refused|Connection timed out|No route to host|Network is unreachable|"
                   r"timed out while receiving the initial server greeting|"
                   r"lost connection with \S+ while receiving the initial server greeting|"
                   r"Connection reset by peer|Host is unreachable")

CAUSES = (
    "connection refused", "connection timed out", "network unreachable", "lost connection",
    "dns", "tls", "relayhost authentication", "remote 4xx", "lookup table", "local configuration",
    "mailbox/local delivery", "other",
)
# local(8), virtual(8), trivial-rewrite and cleanup reasons when a lookup table fails
# (src/local/alias.c "alias database unavailable", mailbox.c/unknown.c "table lookup failure")
_TABLE = re.compile(r"alias database unavailable|table lookup failure|lookup error|map lookup problem|"
                    r"Temporary lookup failure|lookup table has")


def deferral_cause(reason: str) -> str:
    """The cause group of a deferral reason (the text in parentheses after status=deferred)."""
    r = reason[len(SUSPENDED):] if reason.startswith(SUSPENDED) else reason
    if "Connection refused" in r:
        return "connection refused"
    if "timed out" in r or "Connection timed out" in r:
        return "connection timed out"
    if "No route to host" in r or "Network is unreachable" in r or "Host is unreachable" in r:
        return "network unreachable"
    if DNS_DELIVERY.search(r):
        return "dns"
    if r.startswith(("SASL authentication failed", "SASL [CACHED] authentication failed")):
        return "relayhost authentication"  # the SMTP client's login to the relay (SAS002)
    if "TLS" in r or "SSL" in r or "certificate" in r.lower():
        return "tls"
    if _REMOTE_4XX.search(r) or _REMOTE_5XX.search(r):
        return "remote 4xx"
    if _TABLE.search(r):
        return "lookup table"
    if "lost connection" in r or "Connection reset" in r:
        return "lost connection"
    if ("mail system configuration error" in r or "unknown mail transport" in r
            or "loops back to myself" in r or "mail transport unavailable" in r):
        return "local configuration"
    if ("mailbox" in r or "quota" in r.lower() or "maildir" in r.lower() or "Permission denied" in r
            or "command" in r):
        return "mailbox/local delivery"
    return "other"


@register
class Deferrals(Rule):
    id = "DLV001"
    name = "deferred-deliveries"
    title = "Deliveries deferred (grouped by cause)"
    category = "delivery"
    severity = "warning"
    kinds = ("delivery", "status_only")
    delivery_statuses = ("deferred",)
    message_kinds = ("delivery", "status_only")
    wants_messages = True
    count_unit = ("deferred messages (distinct queue ids); key = the most frequent cause; messages_by_domain: "
                  "messages by the domain of their first deferred recipient")
    what = """Delivery attempts ended with `status=deferred`: Postfix keeps the message in the deferred
    queue and retries it (minimal_backoff_time .. maximal_backoff_time) until maximal_queue_lifetime.
    The reasons are grouped: connection refused or timed out, network unreachable, DNS, TLS, the
    relayhost refusing the SMTP client's login (`SASL authentication failed`, SAS002), a 4xx
    reply from the remote server, local configuration, mailbox errors; `delivery temporarily
    suspended` means qmgr stopped trying a destination after failures and defers its mail without
    connecting."""
    why = """A few deferrals (greylisting, a busy remote) resolve on retry. Many, or the same cause for
    every destination, point to a local problem: outbound port 25 blocked, a broken resolver, a
    relayhost that is down, TLS policy mismatch. Deferred mail is delayed and bounces after
    maximal_queue_lifetime (5 days)."""
    with_config = """Names the relayhost and transports with their values and where they are set in the
    hint for connection failures, and the alias/lookup tables in effect for lookup-table deferrals."""
    severity_rule = """Warning while deferred mail is still queued at the end of the log or some of it
    was returned or expired; notice when every deferred message was delivered later."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtp[2345]: 3F1A2160137: to=<user@example.net>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to mx.example.net[192.0.2.25]:25: Connection timed out)",
        "Nov 25 12:00:01 mail postfix/smtp[2345]: 3F1A2160137: to=<user@example.net>, relay=mx.example.net[192.0.2.25]:25, delay=1, delays=0/0/0.5/0.5, dsn=4.7.1, status=deferred (host mx.example.net[192.0.2.25] said: 450 4.7.1 <user@example.net>: Recipient address rejected: greylisted (in reply to RCPT TO command))",
        "Nov 25 12:00:05 mail postfix/qmgr[1001]: 4A2B3160138: to=<user@example.net>, relay=none, delay=0.1, delays=0.1/0/0/0, dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to mx.example.net[192.0.2.25]:25: Connection timed out)",
    )
    fix = """Read the cause breakdown. Connection refused/timed out for every destination: check outbound
    port 25 (ISP or firewall block) or the relayhost. DNS: see DNS005. TLS: compare smtp_tls_security_level
    and policy maps with what the remote offers. Remote 4xx: read the remote's text (greylisting, rate
    limits, reputation). Then flush the queue with `postqueue -f`."""
    remediation = (
        "Look at the cause breakdown and the top destinations in the evidence; `qshape deferred` shows where the queue builds up.",
        "Test the failing path by hand from the server: `nc -vz HOST 25` / `telnet HOST 25` "
        "(or `posttls-finger HOST` for TLS causes).",
        "Fix the cause (firewall, relayhost, DNS, TLS policy), then `postqueue -f` to retry now.",
    )
    parameters = (
        ("maximal_queue_lifetime", "5d", "how long deferred mail is retried before it bounces"),
        ("minimal_backoff_time", "300s", "shortest retry interval"),
        ("maximal_backoff_time", "4000s", "longest retry interval"),
        ("queue_run_delay", "300s", "how often the deferred queue is scanned"),
        ("smtp_connect_timeout", "30s", "how long smtp waits for a TCP connection"),
    )
    references = ("QSHAPE_README: Trouble shooting with qshape",
                  "TUNING_README: Tuning the frequency of deferred mail delivery attempts")
    incident = IncidentSpec(resumed="the deferred messages were delivered")

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.g = self.group()
        # A deferred message's causes and whether a destination was suspended are its fact
        # [causes, suspended?]; the message is counted when it leaves the queue (feed_message)
        # or, still queued, at the end of the log.
        self.finished = _Tally()  # deferred messages that left the queue
        self.cause_order: dict = {}  # causes in the order first seen (ties in the breakdown)
        self.samples_by_cause: dict[str, Group] = {}
        self.domains = FirstSeenCounter()
        self.recovered = 0
        self.lost = 0  # finished without being delivered (bounced, expired)
        self.delivered_later = Occurrences()  # when deferred messages left the queue delivered
        self.deferred = Occurrences()  # the first deferral of each message

    def feed(self, ev):
        if ev.f.get("status") != "deferred":
            return None
        self.cause_order.setdefault(deferral_cause(ev.f.get("reason") or ""), None)
        self.g.see(ev, sample=False)
        return True

    def feed_message_line(self, ev, msg):
        if ev.f.get("status") != "deferred":
            return
        reason = ev.f.get("reason") or ""
        cause = deferral_cause(reason)
        entry = msg.facts.get(self.id)
        if entry is None:
            entry = msg.facts[self.id] = [set(), False]
            self.g.count += 1
            if ev.ts is not None:
                self.deferred.add(ev.ts)
            self.domains.add(domain_of(ev.f.get("to")) or "(none)", at=place(ev))
        if cause not in entry[0]:
            entry[0].add(cause)
            g = self.samples_by_cause.get(cause)
            if g is None:
                g = self.samples_by_cause[cause] = Group(1)
            g.see(ev)
        if reason.startswith(SUSPENDED):
            entry[1] = True

    def feed_message(self, msg):
        entry = msg.facts.get(self.id)
        if entry is None:
            return
        self.finished.add(entry)
        if msg.expired or any(r.status in ("bounced", "expired") for r in msg.recipients.values()):
            self.lost += 1
        elif not msg.pending:
            self.recovered += 1
            done = msg.removed_ts if msg.removed_ts is not None else msg.last_ts
            if done is not None:
                self.delivered_later.add(done)

    def merge(self, later):
        self.g.merge(later.g)
        self.delivered_later.merge(later.delivered_later)
        self.deferred.merge(later.deferred)
        self.finished.merge(later.finished)
        for cause in later.cause_order:
            self.cause_order.setdefault(cause, None)
        merge_groups(self.samples_by_cause, later.samples_by_cause)
        self.domains.merge(later.domains)
        self.recovered += later.recovered
        self.lost += later.lost

    def finish(self, queued, end_ts):
        tally = self.finished.copy()
        still = 0  # a requeued message (postsuper -r) carries its facts over to its new queue id
        for m in queued:
            entry = m.facts.get(self.id)
            if entry is not None:
                tally.add(entry)
                still += 1
        n = tally.messages
        if not n:
            return []
        order = {c: i for i, c in enumerate(self.cause_order)}
        causes = sorted(tally.by_cause.items(), key=lambda kv: (-kv[1], order[kv[0]]))
        g = self.g
        # one sample per cause first, so that every cause is shown
        g.samples = [s for c, _ in causes for s in self.samples_by_cause[c].samples][: self.max_samples]
        severity = "notice" if still == 0 and self.lost == 0 else self.severity
        top = causes[0][0]
        steps = list(self.remediation)
        hint, facts = self._hint(top)
        if hint:
            steps.insert(1, hint)
        finding = self.make(
            g, f"{plural(n, 'message')} deferred, mostly {top} ({causes[0][1]}); "
               f"{self.recovered} delivered later, {still} still queued at the end of the log, {self.lost} returned or expired.",
            count=n, severity=severity, remediation=steps, key=top, config=facts,
            evidence={"by_cause": dict(causes),
                      "messages_by_domain": self.domains.top(),
                      "suspended_destinations_messages": tally.suspended,
                      "delivered_later": self.recovered, "still_queued": still, "returned_or_expired": self.lost})
        finding.signals = {"resumed": self.delivered_later, "deferred": self.deferred,
                           "delivered_later": self.delivered_later}
        return [finding]


    def _hint(self, cause: str) -> tuple[str | None, dict]:
        """The step for the main cause: with a configuration, about the settings it names."""
        cfg = self.config
        hint = _CAUSE_HINTS.get(cause)
        if cfg is None or not cfg.has_main:
            return hint, {}
        facts = Facts(cfg)
        if cause in ("connection refused", "connection timed out", "network unreachable"):
            hops = next_hops(cfg)
            for hop in hops:
                facts.param(hop.parameter.rsplit(" ", 1)[-1])
            if hops:
                where = "; ".join(f"{hop.role}: {hop.parameter} = {hop.value} ({hop.where})" for hop in hops)
                hint = (f"{cause[0].upper() + cause[1:]}: mail goes to {where}; test it with "
                        f"`nc -vz {hops[0].host} {hops[0].port or 25}` (DLV002 names a next hop that is down).")
            elif cause == "connection refused":
                hint = _CAUSE_HINTS[cause].replace("check `postconf relayhost` and", "no relayhost is set; test")
        elif cause == "lookup table":
            alias = facts.param("alias_database")
            facts.param("alias_maps")
            hint = (f"Lookup table: a table the delivery needs fails (alias_database = {alias}, "
                    f"{cfg.where('alias_database')}): see CFG004; rebuild the alias database with `newaliases`, "
                    "other tables with `postmap TYPE:FILE`.")
        return hint, dict(facts)


class _Tally:
    """Deferred messages counted: in all, per cause, and those deferred by a suspended destination."""

    __slots__ = ("messages", "by_cause", "suspended")

    def __init__(self):
        self.messages = 0
        self.by_cause: dict = {}
        self.suspended = 0

    def add(self, entry) -> None:
        causes, suspended = entry
        self.messages += 1
        for c in causes:
            self.by_cause[c] = self.by_cause.get(c, 0) + 1
        self.suspended += suspended

    def copy(self) -> _Tally:
        t = _Tally()
        t.messages, t.by_cause, t.suspended = self.messages, dict(self.by_cause), self.suspended
        return t

    def merge(self, later: _Tally) -> None:
        self.messages += later.messages
        for c, n in later.by_cause.items():
            self.by_cause[c] = self.by_cause.get(c, 0) + n
        self.suspended += later.suspended


_CAUSE_HINTS = {
    "connection refused": "Connection refused: the remote (or relayhost) is not listening on that port; check "
                          "`postconf relayhost` and the target with `nc -vz HOST PORT`.",
    "connection timed out": "Connection timed out: outbound port 25 is often blocked by the ISP/cloud provider "
                            "or a firewall; test with `nc -vz -w 10 HOST 25`, or relay through a smarthost "
                            "(`postconf -e 'relayhost = [smtp.example.net]:587'`).",
    "network unreachable": "Network unreachable: check routing and IPv6 (`postconf -e 'inet_protocols = ipv4'` "
                           "if the host has no IPv6 route).",
    "dns": "DNS: see DNS005; test `dig MX DOMAIN` on the server and inside the chroot's etc/resolv.conf.",
    "tls": "TLS: check smtp_tls_security_level and smtp_tls_policy_maps against the remote "
           "(`posttls-finger -t30 -T180 -c -L verbose,summary DOMAIN`).",
    "remote 4xx": "Remote 4xx: read the remote reply text (greylisting resolves itself; rate limits or "
                  "reputation blocks need the remote postmaster or a relay).",
    "lookup table": "Lookup table: a table the delivery needs cannot be read (`alias database unavailable`, "
                    "`table lookup failure`): see CFG004; `postconf alias_database alias_maps` names the alias "
                    "tables (`newaliases` rebuilds the alias_database), `postmap TYPE:FILE` the others.",
    "local configuration": "Local configuration: see the config findings (CFG*) and `postfix check`.",
    "relayhost authentication": "Relayhost authentication: the SMTP client could not log in to the relay "
                                "(see SAS002): fix smtp_sasl_password_maps or the SASL mechanisms, then `postqueue -f`.",
}


@register
class DestinationDown(Rule):
    id = "DLV002"
    name = "destination-down"
    title = "A relay host or destination is down: every delivery attempt to it fails"
    category = "delivery"
    severity = "error"
    kinds = ("delivery", "connect_error", "conversation")
    delivery_statuses = ("sent", "deferred", "bounced")  # sent: the relays that work
    message_kinds = ("delivery",)  # the distinct messages that failed at each host
    count_unit = ("deferred messages to it (one finding per host, key = host[ip]:port); attempts: the "
                  "connection attempts the smtp/lmtp client logged (not qmgr's or the retry transport's "
                  "'delivery temporarily suspended' lines); messages_by_domain: messages by recipient domain")
    what = """Every connection to a next-hop host failed (`Connection refused`, `Connection timed out`, no
    greeting) for a stretch of time: no message was delivered to it during the log, or none between
    the first and the last failure of a stretch of at least three (an outage that recovered: then
    the finding is a warning, and says when deliveries resumed and how many of the deferred
    messages were delivered later). When that host is the relayhost, nothing leaves the server
    while it is down."""
    why = """All mail for that destination waits in the deferred queue, qmgr marks it dead (`delivery
    temporarily suspended`), and after maximal_queue_lifetime the mail bounces. If it is your
    relayhost, content filter or LMTP server, all outgoing or incoming delivery is stopped."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtp[2345]: 3F1A2160137: to=<user@example.net>, relay=none, delay=0.02, delays=0.01/0/0/0, dsn=4.4.1, status=deferred (connect to 127.0.0.1[127.0.0.1]:2527: Connection refused)",
        "Nov 25 12:00:01 mail postfix/qmgr[1001]: 4A2B3160138: to=<user@example.net>, relay=none, delay=0.1, delays=0.1/0/0/0, dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to 127.0.0.1[127.0.0.1]:2527: Connection refused)",
    )
    fix = """Check that the host is up and listening, and that it is the right one: relayhost,
    transport_maps and content_filter settings name it. Test the connection from the mail server,
    start the service or fix the address, then flush the queue."""
    remediation = (
        "Test the connection from the mail server: `nc -vz HOST PORT` (the key is host[ip]:port).",
        "Check where Postfix sends the mail: `postconf relayhost transport_maps content_filter default_transport`.",
        "Start or fix the remote service (or correct the setting that names it, e.g. relayhost), then `postfix reload`.",
        "Retry the deferred mail: `postqueue -f`; watch `mailq` shrink.",
    )
    with_config = """Names a host that is down by its role: the relayhost, the content filter, a
    transport's next hop (with the parameter, its value and where it is set); such a host is an
    error even when it holds little of the failing mail."""
    severity_rule = """Error for a host on this host or network (a relayhost, content filter or LMTP
    server), for one that holds most of the failing mail, and (with the configuration) for the
    relayhost, content filter or a transport's next hop; warning for other remote destinations."""
    parameters = (
        ("relayhost", "(empty)", "the smarthost all remote mail goes to"),
        ("smtp_connect_timeout", "30s", "TCP connect timeout of smtp"),
        ("default_destination_concurrency_failed_cohort_limit", "1", "failed sessions before a destination is marked dead"),
        ("maximal_queue_lifetime", "5d", "how long the mail is retried"),
    )
    references = ("QSHAPE_README: Trouble shooting with qshape", "DEBUG_README: Look for obvious signs of trouble")
    incident = IncidentSpec(
        subject="next_hop", title="next hop {key} down", resumed="deliveries to {key} resumed",
        leads_to=(Link("DLV001", within=3600, why="the mail for it is deferred"),
                  Link("QUE001", within=86400, why="the deferred mail is still queued at the end"),
                  Link("QUE002", within=5 * 86400, why="the mail for it expires (maximal_queue_lifetime)"),
                  Link("QSH", within=86400, why="the deferred mail piles up in the queue")))

    MIN_MESSAGES = 2
    MIN_ATTEMPTS = 3
    MAX_REMOTE = 10  # remote destinations reported one by one (the rest: DLV001's evidence)

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.fail: dict[str, Group] = {}  # host[ip]:port -> attempts group
        self.msgs: dict[str, int] = {}  # host[ip]:port -> messages that failed there
        self.failing = 0  # messages that failed at one of those hosts or more
        self.domains: dict[str, FirstSeenCounter] = {}  # messages by recipient domain
        # reasons of [connect lines, smtp/lmtp deliveries failing to connect, other failed
        # deliveries], whose counts are the attempts (see tried())
        self.attempts: dict[str, list] = {}
        self.ok: BoundedCounter = FirstKeysCounter()  # a lookup: was this relay ever delivered to
        # times, per host[ip]:port: successful deliveries (the first MAX_KEYS hosts), and per failing
        # host the first failure of each message there and the later delivery of such a message
        self.ok_when: dict[str, Occurrences] = {}
        self.deferred_when: dict[str, Occurrences] = {}
        self.later_when: dict[str, Occurrences] = {}

    @staticmethod
    def _failure(reason: str) -> str | None:
        """The host[ip]:port a connection failure names, if the reason is one."""
        if not _DOWN.search(reason):
            return None
        m = _CONNECT_TARGET.search(reason)
        return m.group(1) if m else None

    def feed(self, ev):
        f = ev.f
        if ev.kind == "delivery":
            status = f.get("status")
            if status == "sent":
                relay = f.get("relay")
                if relay:
                    self.ok.add(relay)
                    _occurrence(self.ok_when, relay, ev.ts)
                return None
            if status not in ("deferred", "bounced"):
                return None
            reason = f.get("reason") or ""
        else:
            reason = ev.text
        target = self._failure(reason)
        if target is None:
            return None
        g = self.fail.get(target)
        if g is None:
            if len(self.fail) >= 1000:
                return None
            g = self.fail[target] = self.group()
            self.msgs[target] = 0
            self.domains[target] = FirstSeenCounter(200)
            self.attempts[target] = [BoundedCounter(50), BoundedCounter(50), BoundedCounter(50)]
        g.see(ev)
        if ev.kind == "connect_error":
            kind = 0
        elif ev.kind == "delivery" and ev.program in ("smtp", "lmtp") and not reason.startswith(SUSPENDED):
            kind = 1 if reason.startswith("connect to ") else 2
        else:
            return None  # qmgr's and the retry transport's "delivery temporarily suspended": no attempt
        self.attempts[target][kind].add(_DOWN.search(reason).group(0))
        return None  # info lines: nothing to claim

    def feed_message_line(self, ev, msg):
        status = ev.f.get("status")
        if status == "sent":  # a message that failed at some hosts was delivered
            hosts = msg.facts.get(self.id)
            if hosts and _LATER not in msg.facts and ev.ts is not None:
                msg.facts[_LATER] = True
                for target in hosts:
                    _occurrence(self.later_when, target, ev.ts)
            return
        if status not in ("deferred", "bounced"):
            return
        target = self._failure(ev.f.get("reason") or "")
        if target is None or target not in self.msgs:
            return
        hosts = msg.facts.get(self.id)
        if hosts is None:
            hosts = msg.facts[self.id] = set()
            self.failing += 1
        if target not in hosts:
            hosts.add(target)
            self.msgs[target] += 1
            self.domains[target].add(domain_of(ev.f.get("to")), at=place(ev))
            _occurrence(self.deferred_when, target, ev.ts)

    def merge(self, later):
        for target, g in later.fail.items():
            if target in self.fail:
                self.fail[target].merge(g)
                self.msgs[target] += later.msgs[target]
                self.domains[target].merge(later.domains[target])
                for mine, theirs in zip(self.attempts[target], later.attempts[target], strict=True):
                    mine.merge(theirs)
            elif len(self.fail) < 1000:
                self.fail[target], self.msgs[target] = g, later.msgs[target]
                self.domains[target], self.attempts[target] = later.domains[target], later.attempts[target]
        self.failing += later.failing
        self.ok.merge(later.ok)
        for mine, theirs in ((self.ok_when, later.ok_when), (self.deferred_when, later.deferred_when),
                             (self.later_when, later.later_when)):
            for key, occ in theirs.items():
                if key in mine:
                    mine[key].merge(occ)
                elif len(mine) < MAX_KEYS:
                    mine[key] = occ

    def _resumed(self, target: str) -> Occurrences:
        """The successful deliveries to a target (for "host[ip]" without a port: to any port)."""
        if ":" in target.rsplit("]", 1)[-1]:
            return self.ok_when.get(target) or Occurrences()
        out = Occurrences()
        for k, occ in self.ok_when.items():
            if k.split("]:", 1)[0] + "]" == target:
                out.merge(occ)
        return out

    def reasons(self, target: str) -> BoundedCounter:
        """The reasons of the connection attempts to a target: the smtp/lmtp client's `connect to`
        lines (one per failed connection), else its deferrals that name the failed connection, plus
        the deliveries that failed after connecting (no greeting)."""
        connects, connect_deferrals, others = self.attempts[target]
        out = BoundedCounter(50)
        out.merge(connects or connect_deferrals)
        out.merge(others)
        return out

    def tried(self, target: str) -> int:
        return sum(self.reasons(target).values())

    def finish(self, queued, end_ts):
        down = []
        total_msgs = self.failing
        for target, g in self.fail.items():
            msgs = self.msgs[target]
            if msgs == 0 or (msgs < self.MIN_MESSAGES and self.tried(target) < self.MIN_ATTEMPTS):
                continue
            outages = None
            if _relay_key_ok(target, self.ok):  # delivered to at some time: down for a stretch?
                outages = _outages(g.when, self._resumed(target), self.MIN_ATTEMPTS)
                if not outages:
                    continue
            down.append((target, g, msgs, outages))
        cfg = self.config
        hops = {t[0]: next_hop_of(cfg, t[0]) for t in down}
        # Most important first: configured next hops and local services (relayhost, content
        # filter, LMTP on this host or network), then the destinations that hold most failing mail.
        down.sort(key=lambda t: (hops[t[0]] is None, not _local_target(t[0]), -t[2], t[0]))
        out = []
        for i, (target, g, msgs, outages) in enumerate(down):
            local = _local_target(target)
            hop = hops[target]
            dominant = total_msgs > 0 and msgs >= 2 and msgs * 2 >= total_msgs
            if not (local or dominant or hop) and i >= self.MAX_REMOTE:
                continue
            reasons = self.reasons(target)
            reason = reasons.top(1)[0][0] if reasons else "connection failed"
            attempts = sum(reasons.values())
            where = (hop.role if hop else "a service on this host or network" if local else
                     "the next hop of most failing mail" if dominant else "a remote destination")
            facts = Facts(cfg)
            if hop is not None:
                facts.param(hop.parameter.rsplit(" ", 1)[-1])
            host, port = _host_port(target)
            steps = [f"Test the connection from the mail server: `nc -vz {host} {port}`."]
            if hop is not None:
                steps.append(f"It is {hop.role}: {hop.parameter} = {hop.value} ({hop.where}). Start the service "
                             f"there, or point {hop.parameter.rsplit(' ', 1)[-1]} at a server that accepts the "
                             f"mail (`postconf {hop.parameter.rsplit(' ', 1)[-1]}`), then `postfix reload`.")
            else:
                steps += list(self.remediation[1:3])
            steps.append(self.remediation[3])
            tried = (f"on every one of {plural(attempts, 'connection attempt')}" if attempts else
                     "on every attempt")
            severity = self.severity if (local or dominant or hop) else "warning"
            later = self.later_when.get(target) or Occurrences()
            evidence = {"host": target, "attempts": attempts, "messages": msgs, "local": local,
                        **({"role": hop.role} if hop else {}),
                        "share_of_failing_messages": round(msgs / total_msgs, 3) if total_msgs else None,
                        "attempts_by_reason": dict(reasons.most_common()),
                        "messages_by_domain": self.domains[target].top(),
                        "destinations_down_total": len(down)}
            if outages is None:
                summary = (f"{plural(msgs, 'message')} could not be delivered to {target} ({where}): {reason} "
                           f"{tried}, no successful delivery.")
            else:
                recovered = outages[-1][3] is not None
                last = outages[-1]
                summary = (f"{plural(msgs, 'message')} could not be delivered to {target} ({where}) from "
                           f"{iso(outages[0][0])} to {iso(last[1])}: {reason} on every attempt"
                           + (f" ({len(outages)} outages)" if len(outages) > 1 else "") + "; "
                           + (f"deliveries resumed at {iso(last[3])}, {later.count} of them delivered later."
                              if recovered else "no successful delivery since."))
                if recovered:  # over now: still worth a warning, it deferred mail
                    severity = "warning"
                evidence["outages"] = [{"from": iso(a), "to": iso(b), "attempts": n, "resumed": iso(r)}
                                       for a, b, n, r in outages]
                evidence["delivered_later"] = later.count
            f = self.make(g, summary, key=target, count=msgs, severity=severity, remediation=steps, config=facts,
                          evidence=evidence)
            f.signals = {"resumed": self._resumed(target), "deferred": self.deferred_when.get(target),
                         "delivered_later": later}
            out.append(f)
        return out


def _host_port(target: str) -> tuple[str, str]:
    """(address, port) of host[ip]:port, for a test command."""
    host = target.rsplit("[", 1)[-1].split("]", 1)[0] if "[" in target else target
    port = target.rsplit("]:", 1)[-1] if "]:" in target else "25"
    return host, port


def _local_target(target: str) -> bool:
    ip = target.rsplit("[", 1)[-1].split("]", 1)[0] if "[" in target else ""
    return ip_kind(ip) in ("loopback", "private")


_LATER = "DLV002.delivered"  # Message.facts: a message that failed at some hosts was delivered


def _occurrence(by_key: dict, key: str, ts: float | None) -> None:
    """Add a time to the Occurrences of ``key`` (at most MAX_KEYS keys)."""
    if ts is None:
        return
    occ = by_key.get(key)
    if occ is None:
        if len(by_key) >= MAX_KEYS:
            return
        occ = by_key[key] = Occurrences()
    occ.add(ts)


def _outages(failures: Occurrences | None, successes: Occurrences, min_attempts: int) -> list:
    """Stretches of at least ``min_attempts`` failures with no success between the first and the
    last: [(first failure, last failure, failures, first success after it or None)]. The
    failures of a bucket whose successes may lie among them (the order inside a bucket is not
    known) belong to no stretch."""
    if not failures:
        return []
    ok = successes.items() if successes else []
    out, run = [], None
    j = 0
    for _, n, first, last in failures.items():
        while j < len(ok) and ok[j][3] < first:  # successes before this bucket's first failure
            if run is not None and ok[j][3] > run[1]:
                out.append(run)
                run = None
            j += 1
        if j < len(ok) and ok[j][2] <= last:  # successes among these failures: no stretch here
            if run is not None:
                out.append(run)
            run = None
        elif run is None:
            run = [first, last, n]
        else:
            run[1], run[2] = last, run[2] + n
    if run is not None:
        out.append(run)
    return [(a, b, n, successes.first_after(b) if successes else None)
            for a, b, n in out if n >= min_attempts]


def _relay_key_ok(target: str, ok: BoundedCounter) -> bool:
    if target in ok:
        return True
    if ":" not in target.rsplit("]", 1)[-1]:  # "host[ip]" without a port: match any port
        return any(k.split("]:", 1)[0] + "]" == target for k in ok)
    return False


@register
class BounceStorm(Rule):
    id = "DLV003"
    name = "bounce-storm"
    title = "Many messages bounced"
    category = "delivery"
    severity = "warning"
    kinds = ("bounce_notice",)
    delivery_statuses = ("bounced",)
    message_kinds = ("delivery",)
    wants_messages = True  # the messages with a delivery attempt: the whole of the bounced share
    count_unit = "bounced messages (distinct queue ids); messages_by_domain: by the first bounced recipient's domain"
    what = """Deliveries ended with `status=bounced`: the mail was returned to its sender with a
    non-delivery notification (`sender non-delivery notification: QUEUEID`)."""
    why = """A few bounces are normal (mistyped addresses). Many of them mean either that your server
    accepts mail it cannot deliver (missing recipient validation: the bounces go to forged senders, see
    DLV004), that a list or application sends to dead addresses, or that a remote site rejects your
    mail (reputation, authentication, policy)."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtp[2345]: 3F1A2160137: to=<nobody@example.net>, relay=mx.example.net[192.0.2.25]:25, delay=1, delays=0/0/0.5/0.5, dsn=5.1.1, status=bounced (host mx.example.net[192.0.2.25] said: 550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown (in reply to RCPT TO command))",
        "Nov 25 12:00:01 mail postfix/bounce[2400]: 3F1A2160137: sender non-delivery notification: 5B6C7160139",
    )
    fix = """Look at the top reasons and recipient domains. Reject unknown recipients at SMTP time
    (local_recipient_maps, relay_recipient_maps, virtual maps) instead of bouncing them later. For
    remote rejections, read the remote's text and fix the sending side (SPF/DKIM, reputation, lists)."""
    remediation = (
        "Read the top reasons and domains in the evidence.",
        "Make Postfix reject unknown recipients during SMTP instead of bouncing: keep local_recipient_maps "
        "set, and set relay_recipient_maps for relay domains (`postconf local_recipient_maps relay_recipient_maps`).",
        "For remote rejections, fix SPF/DKIM/DMARC and reverse DNS of the sending IP, or clean the lists you send to.",
    )
    parameters = (
        ("local_recipient_maps", "proxy:unix:passwd.byname $alias_maps", "valid local recipients (empty: accept all, then bounce)"),
        ("relay_recipient_maps", "(empty)", "valid recipients of relay_domains"),
        ("bounce_queue_lifetime", "5d", "how long bounces themselves are retried"),
    )
    references = ("QSHAPE_README: Example 2: Deferred queue full of dictionary attack bounces", "BACKSCATTER_README")

    STORM_MESSAGES = 10
    STORM_SHARE = 0.2
    severity_rule = """Warning for a storm: at least 10 bounced messages that are at least 20% of the
    messages with a delivery attempt; notice ("Some messages bounced") otherwise."""

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.g = self.group()
        self.attempted = 0  # messages (finished ones, from the tracker) with a delivery attempt
        self.reasons = FirstSeenCounter(500)
        self.domains = FirstSeenCounter()
        self.notifications = 0

    @staticmethod
    def _attempted(msg) -> bool:
        return msg.deliveries > 0

    def feed_message(self, msg):
        if self._attempted(msg):
            self.attempted += 1

    def feed(self, ev):
        if "non-delivery" in (ev.f.get("notice") or ""):
            self.notifications += 1
        return None

    def feed_message_line(self, ev, msg):
        if self.id in msg.facts:  # bounced already: counted once
            self.g.see(ev, sample=False)
            return
        msg.facts[self.id] = True
        self.g.add(ev)
        r = ev.f.get("reason") or ""
        dsn = ev.f.get("dsn") or ""
        at = place(ev)
        self.reasons.add(f"{dsn} {_short_reason(r)}".strip(), at=at)
        self.domains.add(domain_of(ev.f.get("to")), at=at)

    def merge(self, later):
        self.g.merge(later.g)
        self.attempted += later.attempted
        self.reasons.merge(later.reasons)
        self.domains.merge(later.domains)
        self.notifications += later.notifications

    def finish(self, queued, end_ts):
        n = self.g.count
        if not n:
            return []
        total = self.attempted + sum(1 for m in queued if self._attempted(m))
        share = n / total if total else 1.0
        storm = n >= self.STORM_MESSAGES and share >= self.STORM_SHARE
        return [self.make(
            self.g, f"{plural(n, 'message')} bounced ({share:.0%} of {plural(total, 'message')} with a delivery attempt).",
            count=n, severity=self.severity if storm else "notice",
            title=self.title if storm else "Some messages bounced",
            evidence={"bounced_messages": n, "messages_with_delivery_attempts": total,
                      "bounced_share": round(share, 3), "notifications_sent": self.notifications,
                      "top_reasons": self.reasons.top(), "messages_by_domain": self.domains.top()})]


# bounded runs, so linear on any reply text (the remote server writes it)
_ANGLE = re.compile(r"<[^>]{0,255}>")
_HOSTIP = re.compile(r"\S{1,255}\[[0-9A-Fa-f.:]{1,64}\](?::\d{1,5})?")


def _short_reason(r: str) -> str:
    r = _ANGLE.sub("<>", r)
    r = _HOSTIP.sub("HOST", r)
    return r[:120]


@register
class Backscatter(Rule):
    id = "DLV004"
    name = "mailer-daemon-backscatter"
    title = "Undeliverable bounces from MAILER-DAEMON (<>) fill the queue (backscatter)"
    category = "delivery"
    severity = "warning"
    message_kinds = ("delivery",)
    delivery_statuses = ("deferred", "bounced")
    wants_queue = True
    count_unit = "null-sender (<>) messages deferred or bounced; messages_by_domain: by recipient domain"
    what = """Most of the mail that fails delivery has the null sender `<>` (MAILER-DAEMON): these are
    non-delivery notifications, typically for spam sent with forged sender addresses that your server
    accepted and then could not deliver (QSHAPE_README's dictionary-attack example).

    QSH001 sees the same problem in the queue left at the end of the log (deferred queue
    dominated by MAILER-DAEMON, as `qshape -s deferred` shows it). This rule owns it: when both
    would fire, only this one reports; QSH001 alone covers a queue where the bounces remain
    although they were not most of the failed deliveries, and `qshape --format json` snapshots."""
    why = """Backscatter clogs the deferred queue (the forged senders' domains often do not accept mail),
    slows down real deliveries, and gets your server listed as a backscatter source. The root cause is
    accepting mail for recipients that do not exist, or for content that is later rejected."""
    example = (
        "Nov 25 12:00:01 mail postfix/qmgr[1001]: 5B6C7160139: from=<>, size=2345, nrcpt=1 (queue active)",
        "Nov 25 12:00:02 mail postfix/smtp[2345]: 5B6C7160139: to=<forged@example.com>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to mx.example.com[192.0.2.30]:25: Connection timed out)",
    )
    fix = """Stop accepting mail you would bounce: validate recipients at SMTP time (local_recipient_maps,
    relay_recipient_maps, virtual_mailbox_maps), reject rather than bounce in content filters. Then clean
    the queue of the stuck bounces."""
    remediation = (
        "Validate recipients at SMTP time: `postconf local_recipient_maps relay_recipient_maps` must not be empty for your domains.",
        "Delete the queued bounces to forged senders: `mailq | tail -n +2 | awk 'BEGIN{RS=\"\"} /MAILER-DAEMON/{print $1}' | tr -d '*!' | postsuper -d -`.",
        "See QSHAPE_README ('Deferred queue full of dictionary attack bounces') and BACKSCATTER_README.",
    )
    parameters = (
        ("local_recipient_maps", "proxy:unix:passwd.byname $alias_maps", "reject unknown local recipients at SMTP time"),
        ("relay_recipient_maps", "(empty)", "reject unknown relay recipients at SMTP time"),
        ("bounce_queue_lifetime", "5d", "how long bounces are retried; lower it (e.g. 1d) to drain backscatter sooner"),
    )
    references = ("QSHAPE_README: Example 2: Deferred queue full of dictionary attack bounces", "BACKSCATTER_README")

    MIN_MESSAGES = 5
    MIN_SHARE = 0.5

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.g = self.group()  # null-sender messages that failed (tracker: Message.sender == "")
        self.other_failed = 0  # other messages that failed
        self.domains = FirstSeenCounter()

    def feed_message_line(self, ev, msg):
        null = msg.sender == ""  # qmgr's from=<>, or a bounce notification the tracker saw created
        if self.id in msg.facts:  # failed already: counted once
            if null:
                self.g.see(ev, sample=False)
            return
        msg.facts[self.id] = True
        if null:
            self.g.add(ev)
            self.domains.add(domain_of(ev.f.get("to")), at=place(ev))
        else:
            self.other_failed += 1

    def merge(self, later):
        self.g.merge(later.g)
        self.other_failed += later.other_failed
        self.domains.merge(later.domains)

    def finish(self, queued, end_ts):
        n = self.g.count
        total = n + self.other_failed
        if n < self.MIN_MESSAGES or n / total < self.MIN_SHARE:
            return []
        in_queue = sum(1 for m in queued if m.sender == "")
        return [self.make(
            self.g, f"{plural(n, 'bounce message')} from <> failed delivery ({n / total:.0%} of failed "
                    f"messages); {in_queue} null-sender messages still queued.",
            count=n, evidence={"null_sender_failed": n, "other_failed": total - n,
                               "null_sender_still_queued": in_queue, "messages_by_domain": self.domains.top()})]
