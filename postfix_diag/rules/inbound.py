"""Inbound rejects that are policies at work, and answers that only look like them: greylisting
and its delays, DNSBL (reject_rbl_client) rejects by list, DNSBL error answers that are no
listing (a public resolver, a query limit), and recipient harvesting below the error limit."""

from __future__ import annotations

import re

from ..events import place
from .base import (
    OTHER,
    BoundedCounter,
    FirstSeenCounter,
    Group,
    Rule,
    group_in,
    merge_groups,
    plural,
    register,
)

# --- greylisting ---------------------------------------------------------------------------------

# Replies of the common greylisting policy servers and milters (postgrey, sqlgrey, milter-greylist,
# policyd): the reason text after the 4xx code.
_GREY = re.compile(r"[Gg]reylist")
_GREYLISTERS = (("postgrey", "postgrey"), ("sqlgrey", "sqlgrey"), ("milter-greylist", "milter-greylist"),
                ("Greylisting in action", "milter-greylist"), ("policyd", "policyd"))
MAX_TRIPLETS = 20_000


def greylister(reason: str) -> str:
    for text, name in _GREYLISTERS:
        if text in reason:
            return name
    return "greylisting"


def greylisted(ev) -> bool:
    """A temporary (4xx) reject whose reply says greylisted."""
    code = ev.f.get("code")
    return ev.kind == "reject" and code is not None and 400 <= code < 500 and bool(
        _GREY.search(ev.f.get("reason") or ""))


@register
class Greylisting(Rule):
    id = "GRY001"
    name = "greylisting"
    title = "Inbound mail greylisted (450 4.2.0 Greylisted), and how long it waited"
    category = "security"
    severity = "notice"
    preview = True
    kinds = ("reject",)
    wants_messages = True
    count_unit = "greylisting rejects (450/451 lines); key = the greylister its reply names"
    what = """smtpd answered `450 4.2.0 <rcpt>: Recipient address rejected: Greylisted, see
    http://postgrey...` (or sqlgrey's, milter-greylist's reply): a greylisting policy service
    (check_policy_service) or milter refuses the first attempt of each new (client, sender,
    recipient) triplet and accepts a retry after its delay. The finding counts the rejects and the
    triplets, and for triplets whose mail arrived later in the log, how long it waited (first reject
    to acceptance); triplets never seen again are listed too (spam bots do not retry; a
    legitimate sender that never retried lost its mail, or retries from another address)."""
    why = """Greylisting delays all mail from new senders by the retry interval of the sending server
    (often 5-30 minutes, some providers much longer, and senders that retry from a pool of
    addresses never pass a per-client triplet). Users notice delayed password-reset and
    login-code mails first."""
    example = (
        "Dec 01 22:33:26 mail postfix/smtpd[9125]: NOQUEUE: reject: RCPT from unknown[127.0.0.7]: 450 4.2.0 <alice@capture.example>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/capture.example.html; from=<news@partner.example> to=<alice@capture.example> proto=ESMTP helo=<mx.partner.example>",
    )
    fix = """Nothing if the delays are acceptable. To cut them: lower the greylister's delay (postgrey
    --delay, default 300 s), let it auto-allowlist clients after a few passes (postgrey
    --auto-whitelist-clients), allowlist big providers that retry from many addresses
    (postgrey_whitelist_clients), or greylist only suspicious clients (after reject_rbl_client /
    reject_unknown_reverse_client_hostname checks, or with postscreen's after-220 tests)."""
    remediation = (
        "Look at the delays in the evidence: triplets that passed, the median and longest wait, and those never retried.",
        "Allowlist senders that matter (postgrey: /etc/postgrey/whitelist_clients.local), or shorten the delay "
        "(postgrey --delay=60).",
        "Greylist only after cheaper checks in smtpd_recipient_restrictions (reject_unauth_destination, "
        "reject_rbl_client ..., then check_policy_service inet:127.0.0.1:10023).",
    )
    parameters = (
        ("smtpd_recipient_restrictions", "(empty)", "where check_policy_service calls the greylister"),
        ("smtpd_policy_service_timeout", "100s", "how long smtpd waits for the policy service"),
    )
    references = ("SMTPD_POLICY_README: Greylisting mail from frequently forged domains",
                  "SMTPD_POLICY_README: Greylisting spam from likely robots")

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.groups: dict[str, Group] = {}  # greylister -> its rejects
        self.triplets: dict = {}  # (client ip, sender, recipient) -> [first reject ts, rejects, place]
        # finished messages from a client (ip, sender, recipient) -> first arrival: those of triplets
        # greylisted in this piece, and (bounded) others, which a piece before may have greylisted
        self.accepted: dict = {}

    def feed(self, ev):
        if not greylisted(ev):
            return None
        reason = ev.f.get("reason") or ""
        name = greylister(reason)
        g = self.groups.get(name)
        if g is None:
            g = self.groups[name] = self.group()
        g.add(ev)
        g.tally("top_clients", ev.client)
        g.tally("top_recipient_domains", (ev.f.get("to") or "").rpartition("@")[2].lower() or None)
        key = (ev.f.get("client_ip"), (ev.f.get("from") or "").lower(), (ev.f.get("to") or "").lower())
        t = self.triplets.get(key)
        if t is None:
            if len(self.triplets) < MAX_TRIPLETS:
                self.triplets[key] = [ev.ts, 1, place(ev)]
        else:
            t[1] += 1
            if ev.ts is not None and (t[0] is None or ev.ts < t[0]):
                t[0] = ev.ts
            t[2] = min(t[2], place(ev))
        return True

    def feed_message(self, msg):
        if msg.client_ip is None or msg.sender is None or msg.arrival_ts is None:
            return
        for rcpt in msg.recipients:
            key = (msg.client_ip, msg.sender.lower(), str(rcpt).lower())
            if key not in self.triplets and len(self.accepted) >= MAX_TRIPLETS:
                continue
            seen = self.accepted.get(key)
            if seen is None or msg.arrival_ts < seen:
                self.accepted[key] = msg.arrival_ts

    def merge(self, later):
        merge_groups(self.groups, later.groups)
        for key, (ts, n, at) in later.triplets.items():
            t = self.triplets.get(key)
            if t is None:
                if len(self.triplets) < MAX_TRIPLETS:
                    self.triplets[key] = [ts, n, at]
            else:
                t[1] += n
                if ts is not None and (t[0] is None or ts < t[0]):
                    t[0] = ts
                t[2] = min(t[2], at)
        for key, ts in later.accepted.items():
            seen = self.accepted.get(key)
            if seen is None and (key in self.triplets or len(self.accepted) < MAX_TRIPLETS) or (
                    seen is not None and ts < seen):
                self.accepted[key] = ts

    def finish(self, queued, end_ts):
        waits, never = [], []
        for key, (first, n, _) in sorted(self.triplets.items(), key=lambda kv: kv[1][2]):
            arrived = self.accepted.get(key)
            if arrived is not None and first is not None and arrived >= first:
                waits.append(arrived - first)
            else:
                never.append((key, n))
        out = []
        for name, g in self.groups.items():
            waits_sorted = sorted(waits)
            evidence = {"greylister": name, "triplets": len(self.triplets), "passed_later": len(waits),
                        "never_retried_or_not_accepted": len(never),
                        "top_clients": g.top("top_clients"), "top_recipient_domains": g.top("top_recipient_domains")}
            summary = (f"{plural(g.count, 'greylisting reject')} ({name}) for "
                       f"{plural(len(self.triplets), 'sender/recipient triplet')}")
            if waits_sorted:
                median = waits_sorted[len(waits_sorted) // 2]
                evidence["wait_seconds_median"] = round(median, 1)
                evidence["wait_seconds_max"] = round(waits_sorted[-1], 1)
                summary += (f"; {len(waits)} passed later after a median wait of {median:.0f} s "
                            f"(longest {waits_sorted[-1]:.0f} s)")
            if never:
                evidence["not_accepted_triplets"] = [[f"{c} {s or '<>'} -> {r}", n] for (c, s, r), n in never[:10]]
                summary += f"; {len(never)} never accepted in this log"
            out.append(self.make(g, summary + ".", key=name, evidence=evidence))
        return out


# --- DNSBL rejects and DNSBL error answers ---------------------------------------------------------

# default_rbl_reply: "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using
# $rbl_domain${rbl_reason?; $rbl_reason}"; smtpd logs "Service unavailable" as the reason and
# the rest after it (up to the from=<...> fields).
_RBL_TAIL = re.compile(r" (Client host|Helo command|Sender address|Recipient address|Reverse DNS hostname|"
                       r"Unverified Client host|Client host name|Sender domain|Recipient domain) \[([^\]]{0,300})\] "
                       r"blocked using ([^\s;]{1,253})(?:; (.{0,500}?))?(?:; from=<|; to=<|; proto=|$)")
# Spamhaus's answers that are no listing (https://www.spamhaus.org/faq/section/DNSBL%20Usage):
# 127.255.255.252 a typo in the list name, .254 a query through a public/open resolver, .255 an
# excessive number of queries; their TXT says "Error: open resolver", ... with a returnc/ URL.
DNSBL_ERRORS = {
    "127.255.255.252": "typing error in the DNSBL name",
    "127.255.255.254": "query through a public/open resolver",
    "127.255.255.255": "excessive number of queries",
}
_ERROR_TEXT = (("open resolver", "query through a public/open resolver"),
               ("public resolver", "query through a public/open resolver"),
               ("excessive number of queries", "excessive number of queries"),
               ("/returnc/", "an error answer (returnc)"))


def rbl_reject(ev) -> tuple[str, str, str, str] | None:
    """(class, what, dnsbl, reason) of a reject_rbl_client-style reject, else None."""
    if ev.kind != "reject" or (ev.f.get("reason") or "") != "Service unavailable":
        return None
    m = _RBL_TAIL.match(ev.f.get("tail") or "")
    if m is None:
        return None
    return m.group(1), m.group(2), m.group(3).lower().rstrip("."), m.group(4) or ""


_REVERSED_V4 = re.compile(r"(?:\d{1,3}\.){4}")
_REVERSED_V6 = re.compile(r"(?:[0-9a-fA-F]\.){32}")


def list_of_query(query: str) -> str:
    """The DNSBL of a query name: ``4.3.2.1.zen.spamhaus.org`` -> ``zen.spamhaus.org`` (the
    reversed IPv4 or IPv6 address taken off); for a domain-based list the last three labels."""
    q = query.strip().rstrip(".").lower()
    for rx in (_REVERSED_V4, _REVERSED_V6):
        m = rx.match(q)
        if m is not None and m.end() < len(q):
            return q[m.end():]
    labels = q.split(".")
    return ".".join(labels[-3:]) if len(labels) > 3 else q


def dnsbl_error(text: str) -> str | None:
    """What a DNSBL answer that is no listing means, from its TXT reply or A record."""
    if text in DNSBL_ERRORS:
        return DNSBL_ERRORS[text]
    for needle, meaning in _ERROR_TEXT:
        if needle in text:
            return meaning
    return None


NO_ANSWER = "no answer: the list is shut down, unreachable, or refuses this resolver"


@register
class DnsblRejects(Rule):
    id = "RBL001"
    name = "dnsbl-rejects"
    title = "Clients rejected by DNSBLs (reject_rbl_client and friends)"
    category = "security"
    severity = "notice"
    preview = True
    kinds = ("reject",)
    count_unit = "reject lines; key = the DNSBL with most rejects"
    what = """smtpd rejected a client (or its HELO name, sender or recipient domain) because a DNS
    blocklist lists it: `554 5.7.1 Service unavailable; Client host [IP] blocked using
    zen.spamhaus.org; https://...` (reject_rbl_client, reject_rhsbl_client, reject_rhsbl_sender,
    ... with default_rbl_reply). Grouped by list, with the top clients. Answers of the list that
    are error codes, not listings, are RBL002's and are left out here."""
    why = """This is the restriction working (notice). Review it when wanted senders appear (a
    listed shared mail provider), or when one list rejects far more than the others (a list that
    became unreliable or was shut down and now lists everything)."""
    example = (
        "Dec 30 18:19:15 mail postfix/smtpd[1574]: NOQUEUE: reject: RCPT from badguy.example.com[203.0.113.34]: 554 5.7.1 Service unavailable; Client host [203.0.113.34] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.34; from=<spammer@example.com> to=<user@example.org> proto=ESMTP helo=<badguy.example.com>",
    )
    fix = """Nothing unless wanted mail is blocked: allowlist it before the DNSBL check
    (check_client_access cidr:/etc/postfix/rbl_override.cidr with `IP OK` ahead of reject_rbl_client),
    or drop a list that misbehaves."""
    remediation = (
        "Review top clients per list; a wanted sender: add `IP OK` to a check_client_access table placed before reject_rbl_client.",
        "A list with far more rejects than the others: check it still answers correctly (`dig +short 2.0.0.127.LIST` "
        "must answer; a random address must not).",
    )
    parameters = (
        ("default_rbl_reply", "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using $rbl_domain${rbl_reason?; $rbl_reason}", "the reply (and log text) of a DNSBL reject"),
        ("rbl_reply_maps", "(empty)", "per-list replies"),
        ("maps_rbl_reject_code", "554", "the reply code"),
    )
    references = ("SMTPD_ACCESS_README", "postconf(5): reject_rbl_client", "POSTSCREEN_README: Before-220 tests")

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.g = self.group()
        self.lists = BoundedCounter()

    def feed(self, ev):
        hit = rbl_reject(ev)
        if hit is None or dnsbl_error(hit[3]) is not None:
            return None
        cls, _, dnsbl, _ = hit
        self.g.add(ev)
        self.lists.add(dnsbl)
        self.g.tally("top_clients", ev.client)
        self.g.tally("by_class", cls)
        return True

    def merge(self, later):
        self.g.merge(later.g)
        self.lists.merge(later.lists)

    def finish(self, queued, end_ts):
        g = self.g
        if not g.count:
            return []
        lists = self.lists.top()
        return [self.make(g, f"{plural(g.count, 'reject')} of {plural(len(g.counter('top_clients')), 'client')} by "
                             f"{plural(len(self.lists), 'DNSBL')} ({', '.join(k for k, _ in lists[:3])}).",
                          key=lists[0][0] if lists and lists[0][0] != OTHER else None,
                          evidence={"by_dnsbl": lists, "by_class": g.breakdown("by_class"),
                                    "top_clients": g.top("top_clients")})]


@register
class DnsblErrorAnswers(Rule):
    id = "RBL002"
    name = "dnsbl-error-answers"
    title = "A DNSBL answers with an error code, not a listing (public resolver, query limit)"
    category = "dns"
    severity = "error"
    preview = True
    kinds = ("reject", "dnsbl_listed", "dnsbl_error")
    count_unit = "reject, dnsblog or lookup-error lines; key = the DNSBL"
    what = """A DNSBL answered with one of its error codes instead of a listing, and Postfix took it
    for a listing: Spamhaus answers 127.255.255.254 to queries that come through a public or open
    resolver (8.8.8.8, 1.1.1.1, a provider's shared resolver), 127.255.255.255 when the query limit
    is exceeded, 127.255.255.252 for a typo in the list name; the TXT reply says `Error: open
    resolver; https://check.spamhaus.org/returnc/...`. smtpd then rejects with that text (`blocked
    using zen.spamhaus.org; Error: open resolver`), dnsblog logs `listed by domain
    zen.spamhaus.org as 127.255.255.254`. Also lists that do not answer at all (`N.N.N.N.list.dsbl.org:
    RBL lookup error: Host or domain name not found`, dnsblog's `lookup error for DNS query`,
    postscreen's `dnsblog reply timeout`): a list that was shut down, or that refuses this resolver;
    those alone make a warning."""
    why = """Every client looks listed: legitimate mail is rejected (or postscreen scores every
    client) until the resolver is fixed. It is not a listing of the client: delisting requests will
    not help."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: NOQUEUE: reject: RCPT from mail.example.com[192.0.2.25]: 554 5.7.1 Service unavailable; Client host [192.0.2.25] blocked using zen.spamhaus.org; Error: open resolver; https://check.spamhaus.org/returnc/pub/198.51.100.53; from=<alice@example.com> to=<bob@example.org> proto=ESMTP helo=<mail.example.com>",
        "Nov 25 12:00:01 mail postfix/dnsblog[1300]: addr 192.0.2.25 listed by domain zen.spamhaus.org as 127.255.255.254",
    )
    fix = """Query the DNSBL through a resolver of your own (a local unbound or bind on 127.0.0.1 that
    recurses itself, not one that forwards to a public resolver), or use the list's registered
    access (Spamhaus DQS key) within its limits; and accept only the list's listing codes:
    `reject_rbl_client zen.spamhaus.org=127.0.0.[2..11]` (postscreen_dnsbl_sites the same way)."""
    remediation = (
        "See which resolver the server uses: /etc/resolv.conf (and the chroot's /var/spool/postfix/etc/resolv.conf); "
        "install a local recursive resolver (`apt-get install unbound`) and point resolv.conf at 127.0.0.1.",
        "Accept only listing codes: write the list as `zen.spamhaus.org=127.0.0.[2..11]` in reject_rbl_client and "
        "postscreen_dnsbl_sites (edit the existing entry, keep the rest of the restriction list).",
        "With many queries, use the list's registered service (Spamhaus DQS) instead of the public mirrors.",
    )
    parameters = (
        ("smtpd_recipient_restrictions", "(empty)", "where reject_rbl_client LIST[=FILTER] is"),
        ("postscreen_dnsbl_sites", "(empty)", "postscreen's lists, LIST[=FILTER][*WEIGHT]"),
    )
    references = ("SMTPD_ACCESS_README", "POSTSCREEN_README: Before-220 tests", "postconf(5): reject_rbl_client")

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.lists: dict[str, Group] = {}

    def feed(self, ev):
        if ev.kind == "dnsbl_error":
            meaning = NO_ANSWER
            dnsbl = list_of_query(ev.f.get("query") or "?")
        elif ev.kind == "dnsbl_listed":
            meaning = dnsbl_error(ev.f.get("result") or "")
            dnsbl = (ev.f.get("dnsbl") or "?").lower()
        else:
            hit = rbl_reject(ev)
            if hit is None:
                return None
            meaning = dnsbl_error(hit[3])
            dnsbl = hit[2]
        if meaning is None:
            return None
        g = group_in(self.lists, dnsbl, self.group, 100)
        g.add(ev)
        g.tally("by_meaning", meaning)
        g.tally("clients_refused", ev.client or (f"[{ev.f.get('client_ip')}]" if ev.f.get("client_ip") else None))
        g.tally("by_program", ev.program)
        return True

    def merge(self, later):
        merge_groups(self.lists, later.lists)

    def finish(self, queued, end_ts):
        out = []
        for dnsbl, g in self.lists.items():
            meanings = g.breakdown("by_meaning")
            meaning = ", ".join(list(meanings)[:2])
            if set(meanings) == {NO_ANSWER}:
                summary = f"{plural(g.count, 'query', 'queries')} of {dnsbl} got no answer ({NO_ANSWER})."
                severity = "warning"
            else:
                summary = (f"{plural(g.count, 'answer')} of {dnsbl} were errors, not listings ({meaning}); "
                           f"{plural(len(g.counter('clients_refused')), 'client')} treated as listed.")
                severity = self.severity
            out.append(self.make(g, summary, key=dnsbl, severity=severity, evidence={"by_meaning": g.breakdown("by_meaning"),
                                                      "clients_refused": g.top("clients_refused"),
                                                      "by_program": g.breakdown("by_program")}))
        return out


# --- recipient harvesting ------------------------------------------------------------------------

_UNKNOWN_USER = re.compile(r"Recipient address rejected: (?:User unknown|undeliverable address|"
                           r"unverified address|Unknown user|No such user)")
HARVEST_REJECTS = 20  # unknown-recipient rejects from one client ...
HARVEST_DISTINCT = 10  # ... for at least this many distinct recipients
_DISTINCT_CAP = HARVEST_DISTINCT  # distinct recipients remembered per client (enough to decide)


def unknown_recipient(ev) -> bool:
    """An smtpd reject of RCPT TO for a recipient that does not exist (5.1.1 and friends)."""
    return (ev.kind == "reject" and ev.f.get("stage") == "RCPT" and ev.f.get("dsn") in ("5.1.1", "4.1.1", "5.1.0", "4.1.0")
            and _UNKNOWN_USER.search(ev.f.get("reason") or "") is not None)


@register
class RecipientHarvesting(Rule):
    id = "HRV001"
    name = "recipient-harvesting"
    title = "Clients probing for valid recipient addresses (directory harvest)"
    category = "security"
    severity = "warning"
    preview = True
    kinds = ("reject", "error_limit")
    count_unit = "unknown-recipient rejects of the harvesting clients; key = the top client"
    what = f"""One client had {HARVEST_REJECTS} or more `550 5.1.1 <addr>: Recipient address rejected:
    User unknown in ... table` rejects for at least {HARVEST_DISTINCT} different addresses, and never
    reached smtpd's error limit (`too many errors after RCPT`, which ERR001 reports): a directory
    harvest attack, spreading its guesses over sessions or staying under smtpd_hard_error_limit."""
    why = """The client learns which addresses exist (every guess that is not rejected), for spam
    later; it also costs a session and a table lookup per guess."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: NOQUEUE: reject: RCPT from unknown[203.0.113.77]: 550 5.1.1 <adam@example.org>: Recipient address rejected: User unknown in local recipient table; from=<x@example.com> to=<adam@example.org> proto=ESMTP helo=<x>",
    )
    fix = """Slow the client down and make its guesses cost more: smtpd_soft_error_limit /
    smtpd_error_sleep_time, a lower smtpd_hard_error_limit, smtpd_client_recipient_rate_limit, and a
    fail2ban jail on the unknown-user rejects; postscreen keeps most bots out before smtpd."""
    remediation = (
        "Block the top clients (firewall or fail2ban's postfix jail on 'Recipient address rejected: User unknown').",
        "Limit recipients per client: `postconf -e 'smtpd_client_recipient_rate_limit = 60'` (per anvil_rate_time_unit), "
        "and keep smtpd_soft_error_limit (10) / smtpd_error_sleep_time (1s) small.",
    )
    parameters = (
        ("smtpd_hard_error_limit", "20", "errors before smtpd hangs up (ERR001 reports that)"),
        ("smtpd_soft_error_limit", "10", "errors before smtpd sleeps smtpd_error_sleep_time per reply"),
        ("smtpd_client_recipient_rate_limit", "0 (no limit)", "recipients per client per anvil_rate_time_unit"),
    )
    references = ("TUNING_README: Measures against clients that make too many connections",
                  "LOCAL_RECIPIENT_README", "SMTPD_ACCESS_README")

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.clients: dict[str, list] = {}  # ip -> [rejects, distinct recipients (capped set), client, place]
        self.cut_off = set()  # clients that reached the error limit (ERR001's)
        self.samples: dict[str, Group] = {}  # ip -> a group of its first rejects

    def feed(self, ev):
        ip = ev.f.get("client_ip")
        if ip is None:
            return None
        if ev.kind == "error_limit":
            if len(self.cut_off) < 10_000:
                self.cut_off.add(ip)
            return None
        if not unknown_recipient(ev):
            return None
        c = self.clients.get(ip)
        if c is None:
            if len(self.clients) >= 5_000:
                return None
            c = self.clients[ip] = [0, set(), ev.client, place(ev)]
            self.samples[ip] = self.group()
        c[0] += 1
        if len(c[1]) < _DISTINCT_CAP:
            c[1].add((ev.f.get("to") or "").lower())
        c[3] = min(c[3], place(ev))
        self.samples[ip].add(ev)
        return None  # the reject is also an ordinary reject for other rules

    def merge(self, later):
        self.cut_off |= later.cut_off
        for ip, (n, rcpts, client, at) in later.clients.items():
            c = self.clients.get(ip)
            if c is None:
                if len(self.clients) < 5_000:
                    self.clients[ip] = [n, set(rcpts), client, at]
                    self.samples[ip] = later.samples[ip]
                continue
            c[0] += n
            for r in rcpts:
                if len(c[1]) < _DISTINCT_CAP:
                    c[1].add(r)
            if at < c[3]:
                c[2], c[3] = client, at
            self.samples[ip].merge(later.samples[ip])

    def finish(self, queued, end_ts):
        harvesters = [(ip, c) for ip, c in self.clients.items()
                      if ip not in self.cut_off and c[0] >= HARVEST_REJECTS and len(c[1]) >= HARVEST_DISTINCT]
        if not harvesters:
            return []
        harvesters.sort(key=lambda item: (-item[1][0], item[1][3]))
        g = self.group()
        top = FirstSeenCounter()
        for ip, c in harvesters:
            g.merge(self.samples[ip])
            top.add(c[2] or ip, c[0], at=c[3])
        return [self.make(g, f"{plural(len(harvesters), 'client')} tried {plural(g.count, 'unknown recipient')} "
                             f"without reaching the error limit (directory harvest?).",
                          key=harvesters[0][0], evidence={"top_clients": top.top(),
                                                          "threshold": f"{HARVEST_REJECTS} rejects, {HARVEST_DISTINCT} addresses"})]
