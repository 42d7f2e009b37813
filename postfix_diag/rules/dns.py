"""DNS: unknown smtpd clients, a broken resolver, forward-confirmation failures, hostname
rejects, and name-service errors on the delivery side."""

from __future__ import annotations

import re

from ..config import fixes
from .base import (
    BoundedCounter,
    FirstKeysCounter,
    Group,
    LineRule,
    Rule,
    domain_of,
    log_tag,
    plural,
    register,
    top_key,
)
from .incident_spec import IncidentSpec, Link
from .settings import Facts, queue_directory, services_for_tags, step

CHROOT_DNS_STEPS = (
    "Compare the resolver files inside the chroot with the host's: "
    "`for f in resolv.conf hosts nsswitch.conf host.conf services; do cmp /etc/$f /var/spool/postfix/etc/$f; done` "
    "(the jail is `$(postconf -h queue_directory)`).",
    "Re-populate the jail: on Debian/Ubuntu `systemctl restart postfix` (or "
    "`/usr/lib/postfix/configure-instance.sh`) copies etc/localtime, etc/services, etc/resolv.conf, "
    "etc/hosts, etc/host.conf, etc/nsswitch.conf and the nss/resolv libraries into it; elsewhere copy them "
    "by hand: `cp -p /etc/{resolv.conf,hosts,nsswitch.conf,services} /var/spool/postfix/etc/`.",
    "Check the host's own resolver: `dig -x 127.0.0.1`, `getent hosts 127.0.0.1`, `cat /etc/resolv.conf`.",
    "To confirm that the jail is at fault, turn chroot off for smtpd (DEBUG_README): set the chroot column "
    "of the `smtp inet` line in master.cf to `n`, or `postconf -F 'smtp/inet/chroot=n'`, then `postfix reload`.",
)

DNS_WITH_CONFIG = """Reads the chroot column of the daemons whose lookups fail (master.cf, `-` as Postfix
reads it): for chrooted ones the jail's copies under queue_directory are the suspects and the
confirm step names exactly those services; for daemons that are not chrooted the host's own
resolver is."""


def chroot_dns_steps(cfg, tags, program: str = "smtpd") -> tuple[list[str], dict]:
    """The remediation of a lookup failure in daemons that may be chrooted, and the facts it
    read: CHROOT_DNS_STEPS without a configuration; with one, for exactly the services the
    failing lines come from."""
    services = services_for_tags(cfg, tags)
    if cfg is None or not services:
        return list(CHROOT_DNS_STEPS), {}
    facts = Facts(cfg)
    jailed = [s for s in services if facts.column(s, "chroot")]
    free = [s for s in services if s not in jailed]
    jail = queue_directory(cfg)
    steps = []
    if jailed:
        names = ", ".join(s.key for s in jailed)
        steps.append(f"{names} {'runs' if len(jailed) == 1 else 'run'} chrooted: compare the resolver files "
                     "inside the jail with the host's: `for f in resolv.conf hosts nsswitch.conf host.conf services; "
                     f"do cmp /etc/$f {jail}/etc/$f; done`.")
        steps.append(CHROOT_DNS_STEPS[1].replace("/var/spool/postfix", jail))
    if free:
        steps.append(f"{', '.join(s.key for s in free)} {'is' if len(free) == 1 else 'are'} not chrooted: the host's "
                     "own resolver fails for "
                     f"{'it' if len(free) == 1 else 'them'}: `getent hosts 127.0.0.1`, `cat /etc/resolv.conf`, "
                     "`dig -x 127.0.0.1`.")
    else:
        steps.append(CHROOT_DNS_STEPS[2])
    if jailed:
        cmds = " ".join(step(fixes.set_service_field(s.name, s.type, "chroot", "n", cfg)) for s in jailed)
        steps.append(f"To confirm that the jail is at fault, turn chroot off (DEBUG_README): {cmds} Then "
                     "`postfix reload`; if the lookups then work, the jail was the problem.")
    return steps, dict(facts)


ALWAYS_RESOLVE = frozenset(("127.0.0.1", "::1", "ipv6:::1"))
_CLIENT_REJECT = re.compile(r"cannot find your (reverse )?hostname")


class _UnknownClients(Rule):
    """Shared state of DNS001/DNS002: smtpd connects from clients logged as unknown[IP]."""

    kinds = ("connect", "reverse_dns")
    category = "dns"
    count_unit = "connect events from clients logged as unknown[IP]"

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.g = self.group()
        self.connects = 0
        self.unknown_ips = BoundedCounter()
        self.known_ips = FirstKeysCounter()  # distinct clients, and loopback names
        self.forward_failed: set = set()  # addresses whose name did not forward-confirm (DNS003)
        self.tags = BoundedCounter(100)  # (syslog_name, program) of the unknown connects

    def feed(self, ev):
        if ev.kind == "reverse_dns":
            if len(self.forward_failed) < 5_000 and ev.f.get("address"):
                self.forward_failed.add(ev.f["address"])
            return None
        if ev.program != "smtpd":
            return None
        self.connects += 1
        ip = ev.f.get("client_ip")
        if ev.f.get("client_host") == "unknown":
            self.g.add(ev)
            self.unknown_ips.add(ip)
            self.tags.add(log_tag(ev))
        else:
            self.known_ips.add(ip)
        return True

    def merge(self, later):
        self.g.merge(later.g)
        self.connects += later.connects
        self.unknown_ips.merge(later.unknown_ips)
        self.known_ips.merge(later.known_ips)
        self.tags.merge(later.tags)
        for address in later.forward_failed:
            if len(self.forward_failed) < 5_000:
                self.forward_failed.add(address)

    def verdict(self) -> tuple[bool, dict]:
        """(resolver broken?, evidence)."""
        unexplained = {ip: n for ip, n in self.unknown_ips.items() if ip not in self.forward_failed}
        # 127.0.0.1 and ::1 always have a name (localhost, from /etc/hosts); other loopback
        # addresses need not have one.
        loop_unknown = {ip: n for ip, n in unexplained.items() if ip in ALWAYS_RESOLVE}
        loop_known = sum(n for ip, n in self.known_ips.items() if ip in ALWAYS_RESOLVE)
        distinct = len(self.unknown_ips) + len(self.known_ips)
        share = len(unexplained) / distinct if distinct else 0.0
        anchor = bool(loop_unknown) and sum(loop_unknown.values()) >= loop_known
        broken = anchor or (distinct >= 10 and share >= 0.9)
        evidence = {
            "connects": self.connects,
            "unknown_connects": self.g.count,
            "distinct_clients": distinct,
            "distinct_unknown_clients": len(self.unknown_ips),
            "unknown_share_of_clients": round(len(self.unknown_ips) / distinct, 3) if distinct else 0.0,
            "loopback_unknown_connects": sum(loop_unknown.values()),
            "loopback_resolved_connects": loop_known,
            "forward_confirm_failed_clients": len([ip for ip in self.unknown_ips if ip in self.forward_failed]),
            "top_clients": [[f"unknown[{ip}]", n] for ip, n in self.unknown_ips.most_common(10)],
        }
        return broken, evidence


@register
class UnknownClients(_UnknownClients):
    id = "DNS001"
    name = "unknown-client-hostnames"
    title = "Some SMTP clients have no hostname (logged as unknown[IP])"
    severity = "notice"
    what = """smtpd logged some clients as `unknown[IP]`: the reverse (PTR) lookup of the client address
    failed, or the name it returned does not resolve back to the same address."""
    why = """For a minority of clients this is normal: many spam sources and some small senders have no
    working reverse DNS. Restrictions such as reject_unknown_client_hostname and some scoring (SPF,
    policy services) treat such clients more strictly. It becomes a problem only when (nearly) every
    client is unknown: see DNS002."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: connect from unknown[203.0.113.5]",
        "Nov 25 12:00:02 mail postfix/smtpd[1234]: disconnect from unknown[203.0.113.5] ehlo=1 quit=1 commands=2",
    )
    fix = """Nothing to do when the unknown clients are a few remote hosts. If a client you know should
    have a name (a partner's relay, your own network), check its PTR and forward records with
    `dig -x IP` and `dig NAME`."""
    remediation = (
        "Check the listed clients' reverse DNS: `dig -x IP +short` then `dig A NAME +short`.",
        "If legitimate senders are affected, ask their operators to fix the PTR record, or exempt them "
        "before any reject_unknown_* restriction with check_client_access.",
    )
    parameters = (
        ("smtpd_peername_lookup", "yes", "smtpd looks up the client's name (no: every client is unknown)"),
    )
    references = ("DEBUG_README: Look for obvious signs of trouble",)

    def finish(self, queued, end_ts):
        if not self.g.count:
            return []
        broken, ev = self.verdict()
        if broken:
            return []
        return [self.make(self.g, f"{plural(self.g.count, 'connection')} from "
                          f"{plural(ev['distinct_unknown_clients'], 'client')} without a usable hostname "
                          f"(of {plural(ev['distinct_clients'], 'distinct client')}).", evidence=ev,
                          key=top_key(self.unknown_ips))]


@register
class ResolverBroken(_UnknownClients):
    id = "DNS002"
    name = "client-name-resolution-broken"
    title = "Client hostname lookups fail: the resolver (or the chroot's copy of it) is broken"
    severity = "error"
    what = """Most or all smtpd clients are logged as `unknown[IP]`, including 127.0.0.1 or ::1, whose
    name (localhost) always resolves through /etc/hosts. smtpd could not look up client names at
    all. (Fires when most connections from 127.0.0.1/::1 are unknown, or when at least 90% of 10 or
    more distinct clients are; clients whose name merely fails forward confirmation, DNS003, do not
    count.)"""
    why = """When smtpd cannot resolve names, every client looks unknown: mynetworks entries written as
    hostnames stop matching, reject_unknown_client_hostname rejects or defers legitimate mail, header
    and access checks on client names fail, and each connection waits for DNS timeouts. The usual
    cause is a chrooted smtpd (the default on Debian/Ubuntu) whose copy of etc/resolv.conf, etc/hosts
    or etc/nsswitch.conf under the queue directory is missing or stale, or a dead local resolver."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: connect from unknown[127.0.0.1]",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: disconnect from unknown[127.0.0.1] ehlo=1 quit=1 commands=2",
    )
    fix = """Make name lookups work for the smtpd processes. If smtpd runs chrooted (chroot column `y` or
    `-` in master.cf on Debian), copy the host's resolver files into the jail under the queue directory,
    or restart Postfix through the distribution's init script, which does that. Test by turning chroot
    off for smtpd as DEBUG_README suggests; if the clients then get names, the jail was the problem."""
    remediation = CHROOT_DNS_STEPS
    with_config = DNS_WITH_CONFIG
    parameters = (
        ("smtpd_peername_lookup", "yes", "smtpd looks up the client's name"),
        ("queue_directory", "/var/spool/postfix", "the chroot jail of chrooted daemons"),
    )
    references = (
        "DEBUG_README: Try turning off chroot operation in master.cf",
        "BASIC_CONFIGURATION_README: Postfix chroot setup",
    )
    incident = IncidentSpec(
        persists=True,
        leads_to=(Link("DNS004", within=3600, why="reject_unknown_client_hostname rejects clients whose names "
                       "cannot be looked up"),))

    def finish(self, queued, end_ts):
        if not self.g.count:
            return []
        broken, ev = self.verdict()
        if not broken:
            return []
        why = (f"{plural(ev['loopback_unknown_connects'], 'connection')} even from loopback"
               if ev["loopback_unknown_connects"] else
               f"{ev['distinct_unknown_clients']} of {ev['distinct_clients']} clients")
        steps, facts = chroot_dns_steps(self.config, self.tags)
        return [self.make(self.g, f"{plural(self.g.count, 'connection')} from clients without a hostname, "
                          f"{why}: smtpd cannot resolve client names.", evidence=ev,
                          key=top_key(self.unknown_ips), remediation=steps, config=facts)]


@register
class ForwardConfirmFailed(LineRule):
    id = "DNS003"
    name = "hostname-does-not-resolve"
    title = "Client hostname does not resolve back to the client address"
    category = "dns"
    severity = "warning"
    kinds = ("reverse_dns",)
    what = """smtpd found a name for the client address (PTR record), but looking that name up again
    did not give the same address, so the client is treated as `unknown`. The reason, when logged,
    says why the forward lookup failed (e.g. `Name or service not known`, `Temporary failure in name
    resolution`)."""
    why = """A client whose name does not forward-confirm is logged and handled as unknown: it fails
    reject_unknown_client_hostname and mynetworks/access entries by name. If it happens for many
    clients or with a temporary-failure reason, the resolver used by smtpd is failing rather than the
    clients' DNS."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: hostname mx.example.com does not resolve to address 192.0.2.10",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: hostname host.example.net does not resolve to address 192.0.2.11: Name or service not known",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: 192.0.2.12: address not listed for hostname mx.example.org",
    )
    fix = """For remote clients, nothing on your side: their DNS is inconsistent. If the hostnames are
    yours or the reason is a temporary failure, test the lookups from the server, and inside smtpd's
    chroot if it runs chrooted (its etc/hosts and etc/resolv.conf are copies)."""
    remediation = (
        "Test the reported names: `getent hosts NAME` and `dig +short NAME` on the server.",
        "If smtpd is chrooted, make sure /var/spool/postfix/etc/hosts and etc/resolv.conf match /etc "
        "(a name in the host's /etc/hosts that is missing from the jail's copy fails only inside the jail).",
        "For your own hosts, add the missing A/AAAA record so that PTR and forward records agree.",
    )
    parameters = (("smtpd_peername_lookup", "yes", "smtpd looks up and verifies client names"),)
    references = ("DEBUG_README: Look for obvious signs of trouble",
                  "DEBUG_README: Try turning off chroot operation in master.cf")
    count_unit = "warning lines"
    track_tags = True
    with_config = DNS_WITH_CONFIG

    def refine(self, f):
        if self.config is not None:
            services = services_for_tags(self.config, self.tags)
            if services:
                facts = Facts(self.config)
                jailed = [s.key for s in services if facts.column(s, "chroot")]
                f.remediation[1] = (
                    f"{', '.join(jailed)} {'runs' if len(jailed) == 1 else 'run'} chrooted: make sure "
                    f"{queue_directory(self.config)}/etc/hosts and etc/resolv.conf match /etc (a name in the host's "
                    "/etc/hosts that is missing from the jail's copy fails only inside the jail)." if jailed else
                    f"{', '.join(s.key for s in services)} {'is' if len(services) == 1 else 'are'} not chrooted: the "
                    "host's own resolver gives these answers.")
                f.config = dict(facts)

    def subject(self, ev):
        return ev.f.get("address")

    def tally(self, ev, g):
        g.tally("top_clients", f"{ev.f.get('hostname', '')}[{ev.f.get('address', '')}]")
        reason = ev.f.get("reason")
        g.tally("by_reason", reason or "(no reason: the name resolves, but not to this address)")

    def summarize(self, g):
        return (f"{plural(g.count, 'client hostname')} did not resolve to the client's address "
                f"({plural(len(g.counter('top_clients')), 'distinct client')}).")

    def evidence(self, g):
        return {"top_clients": g.top("top_clients"), "by_reason": g.breakdown("by_reason")}


@register
class UnknownHostnameRejects(LineRule):
    id = "DNS004"
    name = "unknown-client-rejects"
    title = "Clients rejected for having no (reverse) hostname"
    category = "dns"
    severity = "notice"
    kinds = ("reject",)
    what = """smtpd rejected (or deferred) clients because of reject_unknown_client_hostname (`cannot
    find your hostname`: no PTR, or the name does not forward-confirm) or
    reject_unknown_reverse_client_hostname (`cannot find your reverse hostname`: no PTR at all)."""
    why = """These restrictions block many spam bots, but also legitimate senders with sloppy DNS. A
    450 reply (temporary DNS failure, or unknown_client_reject_code) makes them retry; if your own
    resolver is failing, every client is affected (see DNS002)."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.7]; from=<a@example.com> to=<b@example.org> proto=ESMTP helo=<x>",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: NOQUEUE: reject: RCPT from unknown[192.0.2.8]: 550 5.7.25 Client host rejected: cannot find your reverse hostname, [192.0.2.8]; from=<a@example.com> to=<b@example.org> proto=ESMTP helo=<x>",
    )
    fix = """Usually nothing: this is the restriction doing its job. If legitimate mail is rejected,
    exempt those senders with a check_client_access table placed before the restriction, or use the
    milder reject_unknown_reverse_client_hostname instead of reject_unknown_client_hostname."""
    remediation = (
        "Review the top rejected clients; exempt legitimate ones: `check_client_access hash:/etc/postfix/client_ok` "
        "before reject_unknown_client_hostname in smtpd_client_restrictions or smtpd_recipient_restrictions.",
        "Prefer reject_unknown_reverse_client_hostname (PTR only) over reject_unknown_client_hostname.",
    )
    parameters = (
        ("unknown_client_reject_code", "450", "reply code of reject_unknown_client_hostname"),
    )
    references = ("SMTPD_ACCESS_README", "postconf(5): reject_unknown_client_hostname")
    count_unit = "reject lines"

    def match(self, ev):
        r = ev.f.get("reason")
        return bool(r) and "hostname" in r and _CLIENT_REJECT.search(r) is not None

    def subject(self, ev):
        return ev.f.get("client_ip")

    def tally(self, ev, g):
        g.tally("top_clients", ev.client)
        m = _CLIENT_REJECT.search(ev.f.get("reason", ""))
        g.tally("by_restriction", "reject_unknown_reverse_client_hostname" if m and m.group(1)
                else "reject_unknown_client_hostname")
        g.tally("by_code", str(ev.f.get("code", "")))

    def summarize(self, g):
        return f"{plural(g.count, 'reject')} of clients without a (verified) hostname."

    def evidence(self, g):
        return {"top_clients": g.top("top_clients"), "by_restriction": g.breakdown("by_restriction"),
                "by_code": g.breakdown("by_code")}


# --- delivery side ------------------------------------------------------------------------------

DNS_DELIVERY = re.compile(
    r"Host or domain name not found|Name service error|Host not found|unable to look up host|"
    r"Temporary failure in name resolution|no MX host for .* has a valid address record|"
    r"Name or service not known|MX host .* has (?:bad|invalid) address|malformed domain name|"
    r"numeric domain name|loops back to myself.*MX",
    re.IGNORECASE,
)
_NAME_RE = re.compile(r"name=(\S{1,255}?)(?: type=(\w{1,16}))?:|look up host (\S{1,255}?):|no MX host for (\S+)")


@register
class DeliveryDnsErrors(Rule):
    id = "DNS005"
    name = "delivery-dns-errors"
    title = "Outbound delivery fails on DNS lookups"
    category = "dns"
    severity = "warning"
    kinds = ("dns_error", "delivery", "lookup_error")
    delivery_statuses = ("deferred", "bounced")
    count_unit = "delivery attempts (lines) that failed on a DNS lookup"
    what = """The SMTP/LMTP client could not look up the next-hop destination: `Host or domain name not
    found. Name service error for name=... type=MX: Host not found, try again`, `unable to look up host
    ...: Temporary failure in name resolution`, or `no MX host for X has a valid address record`."""
    why = """`Host not found, try again` and `Temporary failure` are temporary: mail is deferred and
    retried, so a broken resolver silently builds up the deferred queue. When every destination
    fails, smtp's resolver (often its chroot copy of etc/resolv.conf) is at fault; when one domain
    fails, that domain's DNS is broken."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtp[2345]: 3F1A2160137: to=<user@example.net>, relay=none, delay=0.1, delays=0/0/0.1/0, dsn=4.4.3, status=deferred (Host or domain name not found. Name service error for name=example.net type=MX: Host not found, try again)",
        "Nov 25 12:00:01 mail postfix/smtp[2345]: warning: unable to look up host relay.example.com: Temporary failure in name resolution",
        "Nov 25 12:00:01 mail postfix/smtp[2345]: warning: no MX host for example.org has a valid address record",
    )
    fix = """Test the lookups from the server (`dig MX example.net`, `dig A mx.example.net`). If they fail
    for every domain, fix the resolver: /etc/resolv.conf, the local caching resolver, and for a
    chrooted smtp the copy under /var/spool/postfix/etc. If only one domain fails, its DNS is broken;
    the mail will be retried until maximal_queue_lifetime."""
    remediation = (
        "Test from the server: `dig MX DOMAIN +short`, `dig A HOST +short`, `getent hosts HOST`.",
        "If all destinations fail, fix the resolver; for a chrooted smtp compare /etc/resolv.conf with "
        "/var/spool/postfix/etc/resolv.conf (on Debian `systemctl restart postfix` re-copies it).",
        "After fixing, retry the deferred mail: `postqueue -f`.",
    )
    parameters = (
        ("smtp_host_lookup", "dns", "how smtp finds next-hop addresses (dns, native)"),
        ("disable_dns_lookups", "no", "legacy switch turning DNS lookups off"),
        ("smtp_dns_support_level", "(empty)", "DNS features used by smtp (enabled, dnssec, disabled)"),
    )
    references = ("DEBUG_README: Look for obvious signs of trouble",
                  "DEBUG_README: Try turning off chroot operation in master.cf",
                  "QSHAPE_README: Trouble shooting with qshape")
    incident = IncidentSpec(
        leads_to=(Link("DLV001", within=3600, why="the mail for the names that do not resolve is deferred"),))

    with_config = DNS_WITH_CONFIG

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.g = self.group()
        self.tags = BoundedCounter(100)

    def feed(self, ev):
        kind = ev.kind
        if kind == "delivery":
            if ev.f.get("status") not in ("deferred", "bounced"):
                return None
            reason = ev.f.get("reason") or ""
            if not DNS_DELIVERY.search(reason):
                return None
            self._count(ev, reason, ev.f.get("to"))
            return True
        if kind == "lookup_error":
            if ev.program not in ("smtp", "lmtp") or not ev.text.startswith("Unable to look up"):
                return None
            self._count(ev, ev.text, None)
            return True
        # dns_error: qid-prefixed reason lines and warnings
        if ev.f.get("server"):  # "problem talking to server X": a socketmap/policy server, not DNS
            return None
        self._count(ev, ev.f.get("reason") or ev.text, None, domain=ev.f.get("domain"))
        return True

    def merge(self, later):
        self.g.merge(later.g)
        self.tags.merge(later.tags)

    def _count(self, ev, reason, to, domain=None):
        g: Group = self.g
        g.add(ev)
        self.tags.add(log_tag(ev))
        m = _NAME_RE.search(reason)
        name = domain
        if m:
            name = m.group(1) or m.group(3) or m.group(4)
        if not name and to:
            name = domain_of(to)
        g.tally("top_names", name or "(unknown)")
        g.tally("by_error", _dns_error_kind(reason))

    def finish(self, queued, end_ts):
        g = self.g
        if not g.count:
            return []
        names = g.counter("top_names")
        steps, facts = list(self.remediation), {}
        cfg = self.config
        services = services_for_tags(cfg, self.tags)
        if cfg is not None and services:
            f = Facts(cfg)
            jailed = [s.key for s in services if f.column(s, "chroot")]
            facts = dict(f)
            steps[1] = (f"If all destinations fail, fix the resolver: {', '.join(jailed)} "
                        f"{'runs' if len(jailed) == 1 else 'run'} chrooted, so compare /etc/resolv.conf with "
                        f"{queue_directory(cfg)}/etc/resolv.conf (on Debian `systemctl restart postfix` re-copies it)."
                        if jailed else
                        f"If all destinations fail, fix the host's resolver ({', '.join(s.key for s in services)} "
                        "not chrooted): /etc/resolv.conf and the local caching resolver.")
        return [self.make(g, f"{plural(g.count, 'delivery-side DNS failure')} for "
                          f"{plural(len(names), 'name')}.", key=top_key(names), remediation=steps, config=facts,
                          evidence={"top_names": g.top("top_names"), "by_error": g.breakdown("by_error")})]


def _dns_error_kind(reason: str) -> str:
    r = reason.lower()
    if "try again" in r or "temporary failure" in r:
        return "temporary failure (resolver unreachable or timing out)"
    if "no mx host" in r or "valid address record" in r:
        return "MX hosts without address records"
    if "host not found" in r or "not known" in r or "nxdomain" in r:
        return "name does not exist"
    if "malformed" in r or "numeric" in r:
        return "bad DNS data"
    return "other DNS error"
