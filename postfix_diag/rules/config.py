"""Configuration mistakes: unknown restrictions, duplicate settings, stale or missing lookup
tables, daemons that cannot start, and mail looping back to this host."""

from __future__ import annotations

from .base import LineRule, plural, register
from .incident_spec import IncidentSpec, Link

CHECK = "Run `postfix check` and `postconf -n` and read the warnings they print."


@register
class UnknownRestriction(LineRule):
    id = "CFG001"
    name = "unknown-restriction"
    title = "Unknown restriction in an smtpd_*_restrictions list"
    category = "config"
    severity = "error"
    kinds = ("unknown_restriction", "reject")
    count_unit = "warning/fatal lines"
    what = """smtpd found a name it does not know in a restriction list: `warning: unknown smtpd
    restriction: "NAME"` (a typo, a restriction class that is not defined in
    smtpd_restriction_classes, or a feature removed from this Postfix version). Clients then get
    `451 4.3.5 Server configuration error`."""
    why = """Postfix does not guess: every message that reaches the broken restriction list is
    temporarily rejected with `Server configuration error`, so mail stops arriving (and senders retry
    until they give up)."""
    example = (
        'Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: unknown smtpd restriction: "reject_unknown_sender"',
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 451 4.3.5 Server configuration error; from=<a@example.com> to=<b@example.org> proto=ESMTP helo=<x>",
    )
    fix = """Correct the name in main.cf (or the `-o` override in master.cf), or define the restriction
    class in smtpd_restriction_classes, then reload."""
    remediation = (
        "Find the name: `postconf -n | grep -n 'RESTRICTION'` and `postconf -M | grep RESTRICTION` (master.cf -o overrides).",
        "Fix the spelling (see postconf(5) for valid names) or declare the class: "
        "`postconf -e 'smtpd_restriction_classes = NAME'` plus `NAME = ...`.",
        "`postfix reload`, then send a test message.",
    )
    parameters = (
        ("smtpd_recipient_restrictions", "(empty)", "where most restriction names are listed"),
        ("smtpd_relay_restrictions", "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination", "relay policy"),
        ("smtpd_restriction_classes", "(empty)", "user-defined restriction class names"),
    )
    references = ("SMTPD_ACCESS_README", "RESTRICTION_CLASS_README")

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.config_rejects = 0

    def match(self, ev):
        return ev.kind == "unknown_restriction"

    def claim_only(self, ev):
        if ev.kind == "reject" and "Server configuration error" in (ev.f.get("reason") or ""):
            self.config_rejects += 1
            return True
        return False

    def merge(self, later):
        super().merge(later)
        self.config_rejects += later.config_rejects

    def subject(self, ev):
        return ev.f.get("restriction")

    def tally(self, ev, g):
        g.tally("by_restriction", f"{ev.f.get('what')}: {ev.f.get('restriction')}")

    def summarize(self, g):
        names = ", ".join(k for k, _ in g.top("by_restriction", 3))
        rej = f"; {plural(self.config_rejects, 'client request')} rejected with 'Server configuration error'" if self.config_rejects else ""
        return f"{plural(g.count, 'unknown restriction warning')} ({names}){rej}."

    def evidence(self, g):
        return {"by_restriction": g.breakdown("by_restriction"),
                "server_configuration_error_rejects": self.config_rejects}


@register
class OverridingEntry(LineRule):
    id = "CFG002"
    name = "overriding-earlier-entry"
    title = "main.cf sets a parameter twice (overriding earlier entry)"
    category = "config"
    severity = "warning"
    kinds = ("overriding",)
    count_unit = "warning lines"
    what = """A parameter appears twice in main.cf: `/etc/postfix/main.cf, line N: overriding earlier
    entry: NAME=VALUE`. The last one wins."""
    why = """The earlier setting is silently ignored; whoever edited it may believe it is in effect (a
    common result of appending with `echo >> main.cf`). Every Postfix command repeats the warning."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: /etc/postfix/main.cf, line 48: overriding earlier entry: smtpd_tls_security_level=may",
    )
    fix = """Delete the duplicate line and keep the value you want; `postconf -e` edits the existing line
    instead of appending one."""
    remediation = (
        "Find both lines: `grep -n '^NAME *=' /etc/postfix/main.cf`.",
        "Keep one of them (use `postconf -e 'NAME = VALUE'`, which edits in place), then `postfix reload`.",
    )
    references = ("postconf(5)", "DEBUG_README: Look for obvious signs of trouble")

    def subject(self, ev):
        return (ev.f.get("entry") or "").split("=", 1)[0].strip() or None

    def tally(self, ev, g):
        entry = (ev.f.get("entry") or "").split("=", 1)[0]
        g.tally("by_parameter", f"{ev.f.get('path')}: {entry}")

    def summarize(self, g):
        params = ", ".join(k.split(": ", 1)[-1] for k, _ in g.top("by_parameter", 5))
        return f"{plural(g.count, 'warning')} about parameters set twice: {params}."

    def evidence(self, g):
        return {"by_parameter": g.breakdown("by_parameter")}


@register
class StaleDatabase(LineRule):
    id = "CFG003"
    name = "map-older-than-source"
    title = "Lookup table not rebuilt after its source file changed"
    category = "config"
    severity = "warning"
    kinds = ("map_stale",)
    count_unit = "warning lines"
    what = """`warning: database /etc/postfix/X.db is older than source file /etc/postfix/X`: the text file
    of a hash/btree/lmdb/cdb table was edited, but `postmap` was not run, so Postfix still uses the old
    contents."""
    why = """The change you made (a new alias, an access rule, a transport) is not in effect; Postfix
    keeps logging the warning at every table open."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: database /etc/postfix/access.db is older than source file /etc/postfix/access",
    )
    fix = """Rebuild the table with postmap (postalias for alias tables; or `newaliases`), then reload."""
    remediation = (
        "Rebuild it: `postmap /etc/postfix/FILE` (for aliases: `postalias /etc/aliases` or `newaliases`).",
        "`postfix reload` so that long-running daemons re-open it.",
    )
    references = ("DATABASE_README", "postmap(1)")

    def subject(self, ev):
        return ev.f.get("map")

    def tally(self, ev, g):
        g.tally("by_map", ev.f.get("map"))

    def summarize(self, g):
        maps = ", ".join(k for k, _ in g.top("by_map", 5))
        return f"{plural(g.count, 'warning')}: tables older than their source ({maps})."

    def evidence(self, g):
        return {"by_map": g.breakdown("by_map")}


@register
class MissingMap(LineRule):
    id = "CFG004"
    name = "map-missing-or-unavailable"
    title = "Lookup table missing, unavailable, or failing"
    category = "config"
    severity = "error"
    kinds = ("map_missing", "map_unavailable", "lookup_error", "reject")
    count_unit = "lines"
    what = """A lookup table named in the configuration cannot be used: `open database X.db: No such file or
    directory` (postmap never ran or the path is wrong), `TYPE:NAME is unavailable. REASON`, or
    `TYPE:NAME lookup error for "KEY"` (an SQL/LDAP server, socketmap or proxymap failing)."""
    why = """A table Postfix cannot read makes the lookups that need it fail temporarily: mail is
    deferred or rejected with `451 4.3.0 Temporary lookup failure`, or the daemon exits. Nothing is
    delivered along that path until the table works."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: error: open database /etc/postfix/transport.db: No such file or directory",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: hash:/etc/postfix/transport is unavailable. open database /etc/postfix/transport.db: No such file or directory",
        'Nov 25 12:00:01 mail postfix/trivial-rewrite[1240]: warning: hash:/etc/postfix/transport lookup error for "example.com"',
    )
    fix = """Create the missing table (`postmap /etc/postfix/NAME`), fix the path or type in main.cf, or fix
    the database server behind it (credentials, network). Then reload."""
    remediation = (
        "Which tables: see by_map in the evidence; `postconf -n | grep MAP` shows where each is used.",
        "Build a missing indexed table: `postmap /etc/postfix/NAME` (aliases: `newaliases`); check the type "
        "is supported: `postconf -m`.",
        "For SQL/LDAP/socketmap tables, test the lookup: `postmap -q KEY TYPE:/etc/postfix/NAME.cf`.",
        "`postfix reload`, then `postqueue -f` for mail deferred meanwhile.",
    )
    parameters = (
        ("alias_maps", "hash:/etc/aliases, nis:mail.aliases", "typical table parameter"),
        ("transport_maps", "(empty)", "typical table parameter"),
    )
    references = ("DATABASE_README", "DEBUG_README: Look for obvious signs of trouble")

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.lookup_rejects = 0

    def match(self, ev):
        if ev.kind == "reject":
            return False
        if ev.kind == "lookup_error" and ev.program in ("smtp", "lmtp") and ev.text.startswith("Unable to look up"):
            return False  # DNS005
        return True

    def claim_only(self, ev):
        if ev.kind == "reject" and "Temporary lookup failure" in (ev.f.get("reason") or ""):
            self.lookup_rejects += 1
            return True
        return False

    def merge(self, later):
        super().merge(later)
        self.lookup_rejects += later.lookup_rejects

    def subject(self, ev):
        return ev.f.get("map")

    def tally(self, ev, g):
        g.tally("by_map", ev.f.get("map"))
        g.tally("by_kind", {"map_missing": "open database failed", "map_unavailable": "table unavailable",
                            "lookup_error": "lookup error"}.get(ev.kind, ev.kind))

    def summarize(self, g):
        maps = ", ".join(k for k, _ in g.top("by_map", 3))
        rej = f"; {plural(self.lookup_rejects, 'request')} rejected with 'Temporary lookup failure'" if self.lookup_rejects else ""
        return f"{plural(g.count, 'line')} about unusable lookup tables ({maps}){rej}."

    def evidence(self, g):
        return {"by_map": g.breakdown("by_map"), "by_kind": g.breakdown("by_kind"),
                "temporary_lookup_failure_rejects": self.lookup_rejects}


@register
class BadStartup(LineRule):
    id = "CFG005"
    name = "daemon-startup-failure"
    title = "Postfix daemons fail at startup (exit status 1, bad command startup -- throttling)"
    category = "config"
    severity = "error"
    kinds = ("bad_startup", "process_exit")
    count_unit = "master warning lines"
    what = """master reports that a daemon it started exited with status 1 (`process
    /usr/lib/postfix/sbin/NAME pid N exit status 1`), and if that happens at startup, stops starting it
    for a while (`bad command startup -- throttling`). The daemon's own `fatal:` line just before says
    why (missing file, bad setting, chroot problem)."""
    why = """While a service is throttled nothing is done by it: no mail received (smtpd), sent (smtp) or
    delivered (local). master retries about once a minute, and the log fills with the same error."""
    example = (
        "Nov 25 12:00:01 mail postfix/master[1000]: warning: process /usr/lib/postfix/sbin/smtpd pid 1234 exit status 1",
        "Nov 25 12:00:01 mail postfix/master[1000]: warning: /usr/lib/postfix/sbin/smtpd: bad command startup -- throttling",
    )
    fix = """Find the daemon's `fatal:` line right before the master warning (the other findings usually
    show it: GEN001, CHR001, CFG004...), fix that, then `postfix reload`."""
    remediation = (
        "Find the cause: `grep -E 'fatal|panic' /var/log/mail.log | head` (the first one counts most, DEBUG_README).",
        "Validate the configuration: `postfix check`, `postconf -n`, `postconf -M` (master.cf).",
        "After the fix: `postfix reload` (throttled services restart at once).",
    )
    parameters = (
        ("service_throttle_time", "60s", "how long master waits before restarting a throttled service"),
    )
    references = ("DEBUG_README: Look for obvious signs of trouble",
                  "DEBUG_README: Try turning off chroot operation in master.cf")
    incident = IncidentSpec(
        leads_to=(Link("GEN002", within=60, same="mention", why="the other end of the dead daemon's socket"),
                  Link("DLV001", within=86400, why="mail for the throttled transport is deferred"),
                  Link("QUE001", within=86400, why="that mail is still queued at the end")))

    def match(self, ev):
        if ev.kind == "bad_startup":
            return True
        return ev.f.get("exit_status") == 1

    def subject(self, ev):
        return (ev.f.get("command") or "?").rsplit("/", 1)[-1]

    def tally(self, ev, g):
        cmd = ev.f.get("command") or "?"
        g.tally("by_command", cmd.rsplit("/", 1)[-1])
        g.tally("by_kind", "bad command startup -- throttling" if ev.kind == "bad_startup" else "exit status 1")

    def summarize(self, g):
        cmds = ", ".join(k for k, _ in g.top("by_command", 5))
        return f"{plural(g.count, 'daemon failure')} reported by master ({cmds}): look at the fatal lines before them."

    def evidence(self, g):
        return {"by_command": g.breakdown("by_command"), "by_kind": g.breakdown("by_kind")}


@register
class LoopsBack(LineRule):
    id = "CFG006"
    name = "mail-loops-back"
    title = "Mail for a domain loops back to this server"
    category = "config"
    severity = "error"
    kinds = ("loops_back", "delivery")  # every delivery status: any reason may say "loops back"
    count_unit = "lines"
    what = """The SMTP client found that the next hop for a domain is this very server (the MX or relayhost
    points here), but Postfix is not configured to accept that domain as final destination: `mail for
    DOMAIN loops back to myself`."""
    why = """Mail for that domain bounces (or defers) instead of being delivered: the domain is missing
    from mydestination / virtual domains, or a relayhost/transport points back at this host, or the
    server's own address is not in inet_interfaces/proxy_interfaces behind NAT."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtp[2345]: 3F1A2160137: to=<user@example.com>, relay=mail.example.com[192.0.2.1]:25, delay=0.1, delays=0/0/0.1/0, dsn=5.4.6, status=bounced (mail for example.com loops back to myself)",
    )
    fix = """If this server should receive the domain, add it to mydestination (or virtual_mailbox_domains /
    virtual_alias_domains). If it should relay it, point relayhost/transport_maps elsewhere. Behind NAT
    or a proxy, list the public address in proxy_interfaces."""
    remediation = (
        "Receive it here: `postconf -e 'mydestination = $myhostname, localhost.$mydomain, localhost, DOMAIN'` "
        "(or add it to virtual_mailbox_domains), then `postfix reload`.",
        "Or fix the route: `postconf relayhost transport_maps` must not point back at this host.",
        "Behind NAT: `postconf -e 'proxy_interfaces = PUBLIC_IP'`.",
    )
    parameters = (
        ("mydestination", "$myhostname, localhost.$mydomain, localhost", "domains delivered locally"),
        ("proxy_interfaces", "(empty)", "public addresses of this host behind NAT/proxy"),
        ("inet_interfaces", "all", "local addresses Postfix listens on"),
    )
    references = ("BASIC_CONFIGURATION_README: What domains to receive mail for", "VIRTUAL_README")

    def match(self, ev):
        if ev.kind == "loops_back":
            return True
        r = ev.f.get("reason")
        return bool(r) and "loops back to myself" in r

    def subject(self, ev):
        return self._domain(ev)

    @staticmethod
    def _domain(ev):
        d = ev.f.get("domain")
        if d is None:
            r = ev.f.get("reason") or ""
            i = r.find("mail for ")
            d = r[i + 9:].split(" ", 1)[0] if i >= 0 else None
        return d

    def tally(self, ev, g):
        g.tally("by_domain", self._domain(ev))

    def summarize(self, g):
        doms = ", ".join(k for k, _ in g.top("by_domain", 3))
        return f"{plural(g.count, 'delivery')} looped back to this host ({doms})."

    def evidence(self, g):
        return {"by_domain": g.breakdown("by_domain")}


@register
class DomainInTwoClasses(LineRule):
    id = "CFG007"
    name = "domain-in-two-address-classes"
    title = "A domain is listed in two address classes (e.g. mydestination and virtual_*_domains)"
    category = "config"
    severity = "warning"
    kinds = ("warning",)
    count_unit = "warning lines; key = the domain"
    what = """trivial-rewrite found a domain in two address classes at once: `do not list domain X in BOTH
    mydestination and virtual_mailbox_domains` (or virtual_alias_domains, relay_domains). Each domain
    must belong to exactly one class."""
    why = """Postfix picks one class and ignores the other, so mail for the domain is delivered
    differently from what the configuration seems to say (to local UNIX accounts instead of virtual
    mailboxes, or the reverse), and recipients can be rejected as unknown."""
    example = (
        "Nov 25 12:00:01 mail postfix/trivial-rewrite[1240]: warning: do not list domain example.com in BOTH mydestination and virtual_mailbox_domains",
    )
    fix = """Remove the domain from one of the two parameters: virtual domains must not be in
    mydestination. Keep mydestination for $myhostname, localhost.$mydomain, localhost."""
    remediation = (
        "See which parameters list it: `postconf mydestination virtual_alias_domains virtual_mailbox_domains relay_domains`.",
        "Remove it from one of them, e.g. `postconf -e 'mydestination = $myhostname, localhost.$mydomain, localhost'`, then `postfix reload`.",
    )
    parameters = (
        ("mydestination", "$myhostname, localhost.$mydomain, localhost", "local domains (UNIX accounts, aliases)"),
        ("virtual_mailbox_domains", "$virtual_mailbox_maps", "virtual mailbox domains"),
        ("virtual_alias_domains", "$virtual_alias_maps", "virtual alias domains"),
    )
    references = ("VIRTUAL_README", "ADDRESS_CLASS_README")

    def match(self, ev):
        return ev.text.startswith("do not list domain ") and " in BOTH " in ev.text

    def subject(self, ev):
        return ev.text[len("do not list domain "):].split(" ", 1)[0]

    def tally(self, ev, g):
        g.tally("by_domain", self.subject(ev))
        g.tally("by_classes", ev.text.split(" in BOTH ", 1)[-1])

    def summarize(self, g):
        doms = ", ".join(k for k, _ in g.top("by_domain", 3))
        return f"{plural(g.count, 'warning')}: domains listed in two address classes ({doms})."

    def evidence(self, g):
        return {"by_domain": g.breakdown("by_domain"), "by_classes": g.breakdown("by_classes")}
