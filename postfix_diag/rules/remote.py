"""Remote servers and the path to them: outbound port 25 blocked by the provider, refusals
for reputation, blocklists or sender authentication (named by the provider whose MX answered),
refusals for missing reverse DNS, recipients over quota.

The provider is the MX Postfix connected to (its name comes from DNS, not from the reply), so a
reply cannot make another provider's finding; the reply text only says which kind of refusal
it is, as the providers document them."""

from __future__ import annotations

import re

from ..events import place
from .base import FirstSeenCounter, Group, Rule, domain_of, group_in, ip_kind, merge_groups, plural, register

# "host mx[ip] said: REPLY" / "host mx[ip] refused to talk to me: REPLY" in a delivery reason
_SAID = re.compile(r"host ([^\s\[\]]{1,253})\[([0-9A-Fa-f.:]{1,64})\] (?:said|refused to talk to me): (.{0,1000})")
_CONNECT = re.compile(r"(?:delivery temporarily suspended: )?connect to ([^\s\[\]]{0,253})\[([0-9A-Fa-f.:]{1,64})\]"
                      r":(\d{1,5}): (Connection timed out|Connection refused)")
_RELAY_PORT = re.compile(r"[^\s\[\]]{0,255}\[([0-9A-Fa-f.:]{1,64})\]:(\d{1,5})")

# MX host name suffixes of the big mailbox providers
PROVIDERS = (
    ("microsoft", (".outlook.com", ".hotmail.com", ".protection.outlook.com", ".outlook.office365.com")),
    ("gmail", (".google.com", ".googlemail.com")),
    ("yahoo", (".yahoodns.net", ".yahoo.com", ".aol.com")),
    ("apple", (".icloud.com", ".apple.com", ".me.com")),
)
# DNSBLs and reputation services a reply names (any server may use them)
_LISTS = (("spamhaus", "spamhaus"), ("barracuda", "barracuda"), ("spamcop", "spamcop"), ("sorbs", "sorbs"),
          ("uceprotect", "uceprotect"), ("cloudmark", "cloudmark"), ("proofpoint", "proofpoint"))

# (kind, reply text fragments); the first kind with a fragment in the reply wins
REFUSALS = (
    ("reverse dns", ("5.7.25", "PTR record", "reverse DNS", "reverse hostname", "cannot find your hostname",
                     "rDNS", "no reverse")),
    ("sender authentication", ("5.7.26", "4.7.26", "unauthenticated", "DMARC", "SPF", "DKIM", "5.7.23", "5.7.27")),
    ("rate limited", ("4.7.28", "rate limited", "unexpected volume", "TSS04", "TSS05", "TS01", "TS02", "TS03",
                      "4.7.650", "too many connections", "Too many connections")),
    ("ip reputation", ("S3150", "S3140", "S3115", "block list", "blocklist", "blacklist", "banned sending IP",
                       "5.7.606", "5.7.511", "TSS09", "TSS11", "low reputation", "poor reputation", "Poor Reputation",
                       "reputation", "blocked using", "is listed", "listed at", "listed in", "listed on",
                       "listed by", "CS01", "HM07", "HM08", "SC-001", "DY-001")),
    ("content (spam)", ("unsolicited", "likely spam", "spam", "5.7.9 Message not accepted for policy")),
)
_PROVIDER_CODE = re.compile(r"\b(S3150|S3140|S3115|TSS\d\d|TS0\d|CS0\d|HM0\d|SC-00\d|DY-00\d|OU-00\d|"
                            r"[45]\.7\.(?:2[5-8]|6\d\d|650|511|1|0))\b")
_OUR_IP = re.compile(r"\[([0-9A-Fa-f.:]{3,64})\]")


def provider_of(host: str) -> str | None:
    h = "." + host.lower().rstrip(".")
    for name, suffixes in PROVIDERS:
        if h.endswith(suffixes):
            return name
    return None


def refusal(reason: str) -> tuple[str, str, str, str] | None:
    """(provider or list, kind, MX host, reply) of a delivery refused by a remote server for who
    sent it (reputation, blocklist, authentication, reverse DNS), else None."""
    m = _SAID.search(reason)
    if m is None:
        return None
    host, reply = m.group(1), m.group(3)
    if reply[:1] not in ("4", "5") or "greylist" in reply.lower():
        return None  # greylisting is the remote's policy for everyone, not a verdict on us
    kind = next((k for k, needles in REFUSALS if any(n in reply for n in needles)), None)
    if kind is None:
        return None
    who = provider_of(host)
    if who is None:
        low = reply.lower()
        who = next((name for needle, name in _LISTS if needle in low), "other")
    return who, kind, host, reply


ADVICE = {
    "ip reputation": "your sending IP (or its network) is on the provider's or a list's block list: find and stop "
                     "any spam source (a compromised account or web form), then ask for delisting (Microsoft: "
                     "sender.office.com; Spamhaus: check.spamhaus.org; Gmail: Postmaster Tools; Yahoo: "
                     "senders.yahooinc.com), or relay through a smarthost with a good reputation",
    "rate limited": "the provider slows you down (volume or complaints): send to it more slowly (a transport of "
                    "its own with a low destination concurrency and a rate delay) and check for spam",
    "sender authentication": "the provider wants SPF, DKIM and DMARC to pass for the sender's domain: publish SPF "
                             "for this server, sign with DKIM (OpenDKIM as a milter), publish DMARC",
    "content (spam)": "the provider classifies the message as spam: check content, links and authentication",
    "reverse dns": "the remote server wants a PTR record for your sending IP whose name resolves back to the IP "
                   "(set at the IP's provider) and a HELO name (smtp_helo_name, default $myhostname) that matches",
}


@register
class RemoteReputationBlocks(Rule):
    id = "RMT002"
    name = "remote-reputation-blocks"
    title = "Remote servers refuse our mail: reputation, blocklist, rate limit or sender authentication"
    category = "delivery"
    severity = "warning"
    preview = True
    kinds = ("delivery",)
    delivery_statuses = ("deferred", "bounced")
    message_kinds = ("delivery",)
    count_unit = "messages refused; key = the provider whose MX refused (or the list its reply names)"
    what = """A remote server refused mail because of who sent it, as its reply says: Microsoft
    (`550 5.7.1 Unfortunately, messages from [IP] weren't sent ... part of their network is on our
    block list (S3150)`, S3140, `5.7.606 Access denied, banned sending IP`), Gmail (`421-4.7.28 ...
    unusual rate of unsolicited mail`, `550-5.7.1 ... likely unsolicited mail`, `550-5.7.26 This mail
    is unauthenticated`), Yahoo/AOL (`421 4.7.0 [TSS04] Messages from IP temporarily deferred due to
    unexpected volume or user complaints`, TSS09), Apple (CS01, HM08), and any server whose reply
    names a list (Spamhaus, Barracuda, SpamCop ...). The provider is the MX Postfix talked to (by its
    host name), the kind of refusal is read from the reply. Missing reverse DNS is RMT003's."""
    why = """Mail to that provider's users is delayed (4xx) or returned (5xx) until the reputation
    recovers or the cause is fixed; it often means the server sent spam (a compromised account, a
    web form) or shares an IP range with spammers (a cloud or residential IP)."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtp[2345]: 3F1A2160137: to=<user@outlook.com>, relay=outlook-com.olc.protection.outlook.com[52.101.1.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=5.7.1, status=bounced (host outlook-com.olc.protection.outlook.com[52.101.1.1] said: 550 5.7.1 Unfortunately, messages from [203.0.113.5] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150). You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors. (in reply to MAIL FROM command))",
        "Nov 25 12:00:01 mail postfix/smtp[2345]: 4A2B3160138: to=<user@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.1.26]:25, delay=1, delays=0/0/0.5/0.5, dsn=4.7.28, status=deferred (host gmail-smtp-in.l.google.com[142.250.1.26] said: 421-4.7.28 [203.0.113.5] Our system has detected an unusual rate of unsolicited mail originating from your IP address. (in reply to end of DATA command))",
        "Nov 25 12:00:01 mail postfix/smtp[2345]: 5B3C4160139: to=<user@yahoo.com>, relay=mta5.am0.yahoodns.net[67.195.1.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=4.7.0, status=deferred (host mta5.am0.yahoodns.net[67.195.1.1] said: 421 4.7.0 [TSS04] Messages from 203.0.113.5 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes (in reply to MAIL FROM command))",
    )
    fix = """Find out why the IP has a bad name (blocklist lookups, the provider's postmaster pages),
    stop any spam source, then request delisting; meanwhile relay mail for that provider through a
    smarthost (sender_dependent_relayhost_maps or transport_maps). For authentication refusals,
    publish SPF and DMARC and sign with DKIM; for rate limits, slow down deliveries to the
    provider."""
    remediation = (
        "Read the provider's code in the evidence and its postmaster page (linked in the reply).",
        "Look for a spam source on this server: `qshape -s deferred`, the top senders of the last day "
        "(`postfix-diag summary`), compromised SASL accounts (SEC001).",
        "Relay that provider's mail through a smarthost meanwhile: a transport_maps entry `outlook.com "
        "relay:[smtp.example.net]:587` (postmap it), or slow down with a transport of its own and "
        "`-o smtp_destination_concurrency_limit=2 -o smtp_destination_rate_delay=1s` in master.cf.",
    )
    parameters = (
        ("smtp_destination_concurrency_limit", "$default_destination_concurrency_limit (20)", "parallel deliveries per destination"),
        ("smtp_destination_rate_delay", "$default_destination_rate_delay (0s)", "pause between deliveries to one destination"),
        ("smtp_helo_name", "$myhostname", "the HELO name remote servers check"),
    )
    references = ("postconf(5): default_destination_rate_delay", "transport(5)",
                  "SASL_README: Enabling SASL authentication in the Postfix SMTP/LMTP client")

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.by_who: dict[str, Group] = {}

    def _kind_ok(self, kind: str) -> bool:
        return kind != "reverse dns"

    def _who(self, who: str) -> Group:
        return group_in(self.by_who, who, self.group)

    def feed(self, ev):
        hit = refusal(ev.f.get("reason") or "")
        if hit is None or not self._kind_ok(hit[1]):
            return None
        who, kind, host, reply = hit
        g = self._who(who)
        g.see(ev)
        g.tally("by_kind", kind)
        g.tally("by_status", ev.f.get("status"))
        m = _PROVIDER_CODE.search(reply)
        g.tally("by_code", m.group(1) if m else None)
        g.tally("top_domains", domain_of(ev.f.get("to")) or None)
        g.tally("mx_hosts", host)
        ip = _OUR_IP.search(reply)
        if ip is not None and ip.group(1) not in host:
            g.tally("our_ips_named", ip.group(1))
        return True

    def feed_message_line(self, ev, msg):
        hit = refusal(ev.f.get("reason") or "")
        if hit is None or not self._kind_ok(hit[1]):
            return
        seen = msg.facts.setdefault(self.id, set())
        if hit[0] not in seen:
            seen.add(hit[0])
            self._who(hit[0]).count += 1

    def merge(self, later):
        merge_groups(self.by_who, later.by_who)

    def finish(self, queued, end_ts):
        out = []
        for who, g in self.by_who.items():
            if not g.count:
                continue
            kinds = g.breakdown("by_kind")
            top = next(iter(kinds))
            bounced = g.breakdown("by_status").get("bounced", 0)
            steps = [f"{top.capitalize()}: {ADVICE.get(top, '')}.", *self.remediation]
            out.append(self.make(
                g, f"{plural(g.count, 'message')} refused by {who} ({', '.join(kinds)}); "
                   f"{bounced} bounced lines, the rest deferred.",
                key=who, severity="error" if bounced else self.severity, remediation=steps,
                evidence={"provider": who, "by_kind": kinds, "by_code": g.top("by_code"),
                          "by_status": g.breakdown("by_status"), "top_domains": g.top("top_domains"),
                          "mx_hosts": g.top("mx_hosts", 5), "our_ips_named": g.top("our_ips_named", 5),
                          "meaning": ADVICE.get(top, "")}))
        return out


@register
class RemoteReverseDns(RemoteReputationBlocks):
    id = "RMT003"
    name = "remote-rdns-refusals"
    title = "Remote servers refuse our mail: no (matching) reverse DNS for the sending IP"
    severity = "warning"
    count_unit = "messages refused; key = the provider whose MX refused"
    what = """A remote server refused mail because the sending IP has no PTR record, or its name does
    not resolve back to the IP: Gmail `550-5.7.25 [IP] The IP address sending this message does not
    have a PTR record setup, or the corresponding forward DNS entry does not point to the sending IP`,
    another Postfix `450 4.7.25 Client host rejected: cannot find your hostname`, and replies naming
    reverse DNS or rDNS."""
    why = """Many receivers require forward-confirmed reverse DNS; without it mail to them is deferred
    or returned. A new server, a cloud or home IP, or a changed IP is the usual cause."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtp[2345]: 3F1A2160137: to=<user@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.1.26]:25, delay=1, delays=0/0/0.5/0.5, dsn=5.7.25, status=bounced (host gmail-smtp-in.l.google.com[142.250.1.26] said: 550-5.7.25 [203.0.113.5] The IP address sending this message does not have a 550-5.7.25 PTR record setup, or the corresponding forward DNS entry does not 550 5.7.25 point to the sending IP. (in reply to end of DATA command))",
    )
    fix = """Have the owner of the IP (hosting or cloud provider, ISP) set a PTR record for it to the
    server's name, make that name resolve to the IP (A/AAAA), and use it as HELO name (myhostname or
    smtp_helo_name). Check with `dig -x IP` and `dig NAME`. With IPv6 without a PTR, send over IPv4
    (smtp_address_preference = ipv4)."""
    remediation = (
        "Check: `dig +short -x YOUR_IP` must print the server's name, and `dig +short NAME` the IP.",
        "Ask the IP's provider for the PTR record; set `postconf -e 'smtp_helo_name = NAME'` if myhostname differs.",
        "IPv6 without PTR: `postconf -e 'smtp_address_preference = ipv4'`, then `postfix reload` and `postqueue -f`.",
    )
    parameters = (
        ("smtp_helo_name", "$myhostname", "the name sent in HELO/EHLO"),
        ("smtp_address_preference", "any", "IPv4 or IPv6 first"),
        ("smtp_bind_address", "(empty)", "the sending IP, when the host has several"),
    )
    references = ("postconf(5): smtp_helo_name", "postconf(5): smtp_address_preference")

    def _kind_ok(self, kind: str) -> bool:
        return kind == "reverse dns"

    def finish(self, queued, end_ts):
        out = []
        for f in super().finish(queued, end_ts):
            f.summary = f.summary.replace("refused by", "refused for missing reverse DNS by")
            f.remediation = list(self.remediation)
            out.append(f)
        return out


# --- outbound port 25 blocked ------------------------------------------------------------------

BLOCKED_HOSTS = 3  # distinct public MX addresses that time out or refuse on port 25 ...


@register
class OutboundPort25Blocked(Rule):
    id = "RMT001"
    name = "outbound-port-25-blocked"
    title = "Outbound port 25 looks blocked (connections to many MX hosts fail, none succeeds)"
    category = "connection"
    severity = "error"
    preview = True
    kinds = ("connect_error", "delivery")
    delivery_statuses = ("sent", "deferred")  # successes count against the verdict
    count_unit = "failed connections to port 25 of public addresses; key = port 25"
    what = f"""Connections from the SMTP client to port 25 of at least {BLOCKED_HOSTS} different public
    MX addresses time out (`connect to mx.example.net[IP]:25: Connection timed out`) or are refused,
    and no delivery to any port 25 succeeds in the log: the path out is blocked, not the remote
    servers. Cloud and residential providers block outbound port 25 by default (or a local firewall
    does)."""
    why = """Nothing reaches the Internet directly: all mail to other domains is deferred and bounces
    after maximal_queue_lifetime. Retrying or changing MX hosts does not help."""
    example = (
        "Nov 25 12:00:31 mail postfix/smtp[2345]: connect to gmail-smtp-in.l.google.com[142.250.1.26]:25: Connection timed out",
        "Nov 25 12:01:01 mail postfix/smtp[2345]: 3F1A2160137: to=<user@example.net>, relay=none, delay=60, delays=0/0/60/0, dsn=4.4.1, status=deferred (connect to mx.example.net[192.0.2.25]:25: Connection timed out)",
    )
    fix = """Test from the server (`nc -vz -w 10 gmail-smtp-in.l.google.com 25`); if it hangs while port
    587 of a relay works, ask the provider to unblock port 25 (many do on request, after a check), or
    send through a smarthost on 587 with SASL authentication (relayhost = [smtp.example.net]:587)."""
    remediation = (
        "Test the path: `nc -vz -w 10 gmail-smtp-in.l.google.com 25` (hangs: blocked) and a local firewall "
        "(`iptables -S OUTPUT`, `nft list ruleset`).",
        "Ask the hosting/cloud provider to open outbound port 25, or relay through a smarthost on port 587: "
        "relayhost = [smtp.example.net]:587 with smtp_sasl_auth_enable = yes, a password map and "
        "smtp_tls_security_level = encrypt (SASL_README: Enabling SASL authentication in the Postfix SMTP/LMTP "
        "client; add to smtp_sasl_password_maps, keep what it holds), then `postqueue -f`.",
    )
    parameters = (
        ("relayhost", "(empty)", "send everything through this smarthost instead of direct MX delivery"),
        ("smtp_connect_timeout", "30s", "how long each connection attempt waits"),
    )
    references = ("STANDARD_CONFIGURATION_README: Postfix on hosts without a real Internet hostname",
                  "SASL_README: Enabling SASL authentication in the Postfix SMTP/LMTP client")

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.g = self.group()
        self.hosts = FirstSeenCounter()  # public MX address -> failed connections
        self.successes = 0  # deliveries to some port 25 that succeeded

    def feed(self, ev):
        f = ev.f
        if ev.kind == "delivery":
            status = f.get("status")
            if status == "sent":
                m = _RELAY_PORT.fullmatch(f.get("relay") or "")
                if m is not None and m.group(2) == "25" and ip_kind(m.group(1)) == "public":
                    self.successes += 1
                return None
            if status != "deferred":
                return None
            m = _CONNECT.match(f.get("reason") or "")
            if m is None:
                return None
            ip, port, reason = m.group(2), m.group(3), m.group(4)
        else:
            ip, port, reason = f.get("relay_ip"), str(f.get("relay_port") or ""), f.get("reason") or ""
            if reason not in ("Connection timed out", "Connection refused"):
                return None
        if port != "25" or ip_kind(ip) != "public":
            return None
        self.g.add(ev)
        self.g.tally("by_reason", reason)
        self.hosts.add(ip, at=place(ev))
        return None  # DLV001/DLV002 still see these lines

    def merge(self, later):
        self.g.merge(later.g)
        self.hosts.merge(later.hosts)
        self.successes += later.successes

    def finish(self, queued, end_ts):
        if self.successes or len(self.hosts) < BLOCKED_HOSTS:
            return []
        g = self.g
        return [self.make(g, f"{plural(g.count, 'connection')} to port 25 of {plural(len(self.hosts), 'public address', 'public addresses')} "
                             f"failed ({', '.join(k for k, _ in g.top('by_reason'))}) and none succeeded: outbound port 25 is blocked?",
                          key="port 25", evidence={"addresses": self.hosts.top(), "by_reason": g.breakdown("by_reason"),
                                                   "deliveries_to_port_25": 0})]


# --- recipients over quota -----------------------------------------------------------------------

_QUOTA = re.compile(r"quota|mailbox (?:is )?full|mailbox full|insufficient (?:storage|space)", re.IGNORECASE)
_LOCAL_AGENTS = ("local", "virtual", "lmtp", "pipe")


@register
class RecipientOverQuota(Rule):
    id = "RMT004"
    name = "recipient-over-quota"
    title = "Recipients' mailboxes are full (over quota)"
    category = "delivery"
    severity = "notice"
    preview = True
    kinds = ("delivery",)
    delivery_statuses = ("deferred", "bounced")
    message_kinds = ("delivery",)
    count_unit = "messages; key = the most affected recipient"
    what = """A delivery failed because the recipient's mailbox is full: the status code says so
    (`dsn=5.2.2` / `4.2.2`: mailbox full) or the reply does (`452 4.2.2 The email account that you
    tried to reach is over quota`, `552 5.2.2 <user>: Quota exceeded`, Dovecot LMTP `Quota exceeded
    (mailbox for user is full)`). Local recipients (local, virtual, LMTP to your own Dovecot) are
    your users; remote ones are someone else's."""
    why = """Mail to that mailbox is delayed (4xx: until the quota frees up or maximal_queue_lifetime)
    or returned (5xx). Your own users over quota miss mail without knowing it."""
    example = (
        "Nov 25 12:00:01 mail postfix/lmtp[2345]: 3F1A2160137: to=<bob@example.org>, relay=mail.example.org[private/dovecot-lmtp], delay=0.1, delays=0/0/0/0.1, dsn=5.2.2, status=bounced (host mail.example.org[private/dovecot-lmtp] said: 552 5.2.2 <bob@example.org> Quota exceeded (mailbox for user is full) (in reply to end of DATA command))",
        "Nov 25 12:00:01 mail postfix/smtp[2346]: 4A2B3160138: to=<someone@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.1.26]:25, delay=1, delays=0/0/0.5/0.5, dsn=4.2.2, status=deferred (host gmail-smtp-in.l.google.com[142.250.1.26] said: 452-4.2.2 The email account that you tried to reach is over quota. (in reply to RCPT TO command))",
    )
    fix = """For your users: raise their quota or have them clean up (Dovecot: `doveadm quota get -u
    USER`); Postfix's own limit for local mbox files is mailbox_size_limit, for virtual
    virtual_mailbox_limit. For remote recipients: nothing on your side; the sender is told."""
    remediation = (
        "Your users: `doveadm quota get -u USER` (Dovecot) or the mailbox size against mailbox_size_limit "
        "(`postconf mailbox_size_limit virtual_mailbox_limit`).",
        "Remote recipients: nothing to fix here; deferred mail is retried until maximal_queue_lifetime.",
    )
    parameters = (
        ("mailbox_size_limit", "51200000", "local(8): largest mailbox or maildir file"),
        ("virtual_mailbox_limit", "51200000", "virtual(8): largest mailbox"),
        ("message_size_limit", "10240000", "largest message (must be below the mailbox limits)"),
    )
    references = ("postconf(5): mailbox_size_limit", "VIRTUAL_README")

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.g = self.group()
        self.recipients = FirstSeenCounter()
        self.local = 0

    @staticmethod
    def over_quota(ev) -> bool:
        dsn = ev.f.get("dsn") or ""
        if dsn[1:] == ".2.2":
            return True
        return dsn[2:4] == "2." and _QUOTA.search(ev.f.get("reason") or "") is not None

    def feed(self, ev):
        if not self.over_quota(ev):
            return None
        self.g.see(ev)
        self.g.tally("by_status", ev.f.get("status"))
        self.g.tally("by_agent", ev.program)
        return None  # DLV001 counts the deferral too

    def feed_message_line(self, ev, msg):
        if not self.over_quota(ev):
            return
        rcpt = (ev.f.get("to") or "").lower()
        seen = msg.facts.setdefault(self.id, set())
        if rcpt in seen:
            return
        seen.add(rcpt)
        self.g.count += 1
        self.recipients.add(rcpt, at=place(ev))
        if ev.program in _LOCAL_AGENTS:
            self.local += 1

    def merge(self, later):
        self.g.merge(later.g)
        self.recipients.merge(later.recipients)
        self.local += later.local

    def finish(self, queued, end_ts):
        g = self.g
        if not g.count:
            return []
        top = self.recipients.top()
        return [self.make(g, f"{plural(g.count, 'message')} to {plural(len(self.recipients), 'full mailbox', 'full mailboxes')}"
                             f" ({self.local} of them local deliveries).", key=top[0][0] if top else None,
                          severity="warning" if self.local else self.severity,
                          evidence={"top_recipients": top, "local_deliveries": self.local,
                                    "by_status": g.breakdown("by_status"), "by_agent": g.breakdown("by_agent")})]
