"""Configuration mistakes: unknown restrictions, duplicate settings, stale or missing lookup
tables, daemons that cannot start, and mail looping back to this host."""

from __future__ import annotations

from ..config import fixes
from ..config.shell import quote
from ..config.syntax import split_quoted
from .base import LineRule, plural, register
from .incident_spec import IncidentSpec, Link
from .settings import (
    Facts,
    is_alias_database,
    log_path,
    next_hop_of,
    rebuild_command,
    services_for_tags,
    step,
    tables_named,
)

CHECK = "Run `postfix check` and `postconf -n` and read the warnings they print."
CONFIG_ERROR = "Server configuration error"
MAP_KINDS = ("map_missing", "map_unavailable", "lookup_error")
MAX_PIDS = 10_000


class _ConfigErrorRejects:
    """Which warning caused smtpd's `451 4.3.5 Server configuration error` rejects: smtpd logs
    the cause (an unknown restriction, a table lookup error) and then rejects, in the same
    process. Per smtpd process (host, pid): the config-error rejects and which causes it logged;
    at the end, the rejects of a process that logged only table errors are CFG004's, the others
    CFG001's. Counts and sets: the state merges by adding, wherever the log is cut."""

    def _note_pid(self, ev, what: str) -> None:
        key = (ev.host, ev.pid)
        entry = self.pids.get(key)
        if entry is None:
            if len(self.pids) >= MAX_PIDS:
                key = None
            entry = self.pids[key] = self.pids.get(key) or [0, False, False]
        if what == "reject":
            entry[0] += 1
        elif what == "restriction":
            entry[1] = True
        else:
            entry[2] = True

    def _merge_pids(self, later) -> None:
        for key, (n, restriction, table) in later.pids.items():
            entry = self.pids.get(key)
            if entry is None:
                if len(self.pids) >= MAX_PIDS:
                    key = None
                entry = self.pids[key] = self.pids.get(key) or [0, False, False]
            entry[0] += n
            entry[1] |= restriction
            entry[2] |= table

    def config_error_rejects(self) -> tuple[int, int]:
        """(rejects caused by unknown restrictions or unknown causes, rejects caused by tables)."""
        by_restriction = by_table = 0
        for n, restriction, table in self.pids.values():
            if table and not restriction:
                by_table += n
            else:
                by_restriction += n
        return by_restriction, by_table


def _is_config_error(ev) -> bool:
    return ev.kind == "reject" and CONFIG_ERROR in (ev.f.get("reason") or "")


@register
class UnknownRestriction(_ConfigErrorRejects, LineRule):
    id = "CFG001"
    name = "unknown-restriction"
    title = "Unknown restriction in an smtpd_*_restrictions list"
    category = "config"
    severity = "error"
    kinds = ("unknown_restriction", "reject", *MAP_KINDS)
    track_tags = True
    count_unit = "warning/fatal lines"
    what = """smtpd found a name it does not know in a restriction list: `warning: unknown smtpd
    restriction: "NAME"` (a typo, a restriction class that is not defined in
    smtpd_restriction_classes, or a feature removed from this Postfix version). Clients then get
    `451 4.3.5 Server configuration error`.

    smtpd gives the same reply when a lookup table fails (CFG004): a process's config-error rejects
    count here unless the only cause it logged was a table error."""
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
        "Fix the spelling (see postconf(5) for valid names) or declare the class, keeping the classes there are: "
        "`postconf -e \"smtpd_restriction_classes = $(postconf -h smtpd_restriction_classes), NAME\"` plus `NAME = ...`.",
        "`postfix reload`, then send a test message.",
    )
    with_config = """Names the parameter that lists the unknown name and where it is set (main.cf line, or
    the -o override of the master.cf service whose smtpd logged the warning)."""
    parameters = (
        ("smtpd_recipient_restrictions", "(empty)", "where most restriction names are listed"),
        ("smtpd_relay_restrictions", "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination", "relay policy"),
        ("smtpd_restriction_classes", "(empty)", "user-defined restriction class names"),
    )
    references = ("SMTPD_ACCESS_README", "RESTRICTION_CLASS_README")

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.pids: dict = {}  # (host, pid) -> [config-error rejects, restriction warned, table failed]

    def feed(self, ev):
        kind = ev.kind
        if kind in MAP_KINDS:
            self._note_pid(ev, "table")
            return None  # CFG004's lines
        if kind == "unknown_restriction":
            self._note_pid(ev, "restriction")
        return super().feed(ev)

    def match(self, ev):
        return ev.kind == "unknown_restriction"

    def claim_only(self, ev):
        if _is_config_error(ev):
            self._note_pid(ev, "reject")
            return True
        return False

    def merge(self, later):
        super().merge(later)
        self._merge_pids(later)

    def subject(self, ev):
        return ev.f.get("restriction")

    def tally(self, ev, g):
        g.tally("by_restriction", f"{ev.f.get('what')}: {ev.f.get('restriction')}")

    def summarize(self, g):
        names = ", ".join(k for k, _ in g.top("by_restriction", 3))
        rejects = self.config_error_rejects()[0]
        rej = f"; {plural(rejects, 'client request')} rejected with 'Server configuration error'" if rejects else ""
        return f"{plural(g.count, 'unknown restriction warning')} ({names}){rej}."

    def evidence(self, g):
        return {"by_restriction": g.breakdown("by_restriction"),
                "server_configuration_error_rejects": self.config_error_rejects()[0]}

    def refine(self, f):
        cfg = self.config
        if cfg is None:
            return
        facts = Facts(cfg)
        names = [k.split(": ", 1)[-1] for k, _ in self.g.top("by_restriction", 5)]
        services = services_for_tags(cfg, self.tags)
        places = []
        with cfg.unrecorded():
            candidates = [(name, None) for name in cfg.definitions]
            candidates += [(name, (s.name, s.type)) for s in services for name in s.overrides]
            found = [(name, svc) for name, svc in candidates
                     if any(n in split_quoted(cfg.value(name, svc) or "") for n in names)]
        for name, svc in found:
            facts.param(name, svc)
            label = f"{svc[0]}/{svc[1]} {name}" if svc else name
            places.append(f"{label} ({cfg.where(name, svc)})")
        if places:
            f.remediation = [f"{', '.join(names)} is listed in {', '.join(places)}: correct the name there (see "
                             "postconf(5) for valid restrictions), or declare a restriction class of that name "
                             "(smtpd_restriction_classes).", self.remediation[2]]
        f.config = dict(facts)


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
        "Delete the line you do not want (the last one wins; `postconf -e` would set every one of them to the "
        "new value and keep them all), then `postfix reload`.",
    )
    references = ("postconf(5)", "DEBUG_README: Look for obvious signs of trouble")
    with_config = """Shows the value in effect of each parameter set twice and where it is set (with a
    main.cf given, every line that sets it)."""

    def subject(self, ev):
        return (ev.f.get("entry") or "").split("=", 1)[0].strip() or None

    def refine(self, f):
        places = [k.rsplit(": ", 1) for k, _ in self.g.top("by_parameter", 5)]
        greps = [f"`grep -n {quote(f'^{parts[1].strip()} *=')} {quote(parts[0])}`" for parts in places
                 if len(parts) == 2 and parts[1].strip()]
        if greps:
            f.remediation[0] = f"Find the lines: {', '.join(greps)}."
        cfg = self.config
        if cfg is None or not cfg.has_main:
            return
        facts = Facts(cfg)
        names = list(dict.fromkeys(k.split(": ", 1)[-1].strip() for k, _ in self.g.top("by_parameter", 5)))
        shown = []
        for name in names:
            value = facts.param(name)
            lines = [d.where for d in cfg.definitions.get(name, [])]
            shown.append(f"{name} = {value} ({', '.join(lines) or cfg.where(name)}"
                         + ("; the last one wins)" if len(lines) > 1 else ")"))
        f.remediation = ["In effect: " + "; ".join(shown) + ".", *f.remediation]
        f.config = dict(facts)

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
        "Rebuild it: `postmap /etc/postfix/FILE`; only for the alias_database table (`postconf alias_database`) "
        "`newaliases` (or `postalias /etc/aliases`).",
        "`postfix reload` so that long-running daemons re-open it.",
    )
    references = ("DATABASE_README", "postmap(1)")
    with_config = """Names the parameters that use the table (main.cf or -o overrides) and gives the one
    command that rebuilds it: newaliases/postalias only for alias_database tables, postmap with the
    table's type for the others."""

    def refine(self, f):
        steps, facts = rebuild_steps(self.config, [k for k, _ in self.g.top("by_map", 5)])
        f.remediation = steps + [self.remediation[1]]
        f.config = facts

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
class MissingMap(_ConfigErrorRejects, LineRule):
    id = "CFG004"
    name = "map-missing-or-unavailable"
    title = "Lookup table missing, unavailable, or failing"
    category = "config"
    severity = "error"
    kinds = (*MAP_KINDS, "reject", "unknown_restriction")
    count_unit = "lines; rejects they caused are counted apart (rejects_by_reply)"
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
        "Build a missing indexed table: `postmap TYPE:/etc/postfix/NAME` (`newaliases` only for the alias_database "
        "table, `postconf alias_database`); check the type is supported: `postconf -m`.",
        "For SQL/LDAP/socketmap tables, test the lookup: `postmap -q KEY TYPE:/etc/postfix/NAME.cf`.",
        "`postfix reload`, then `postqueue -f` for mail deferred meanwhile.",
    )
    with_config = """Names the parameters that use each failing table (main.cf or a service's -o override)
    and gives the command that builds it (newaliases/postalias only for alias_database tables)."""
    parameters = (
        ("alias_maps", "hash:/etc/aliases, nis:mail.aliases", "typical table parameter"),
        ("transport_maps", "(empty)", "typical table parameter"),
    )
    references = ("DATABASE_README", "DEBUG_README: Look for obvious signs of trouble")

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.lookup_rejects = 0
        self.pids: dict = {}  # (host, pid) -> [config-error rejects, restriction warned, table failed]

    def feed(self, ev):
        kind = ev.kind
        if kind == "unknown_restriction":
            self._note_pid(ev, "restriction")
            return None  # CFG001's line
        if kind == "reject":
            if _is_config_error(ev):
                self._note_pid(ev, "reject")
                return True
        elif self.match(ev):
            self._note_pid(ev, "table")
        return super().feed(ev)

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
        self._merge_pids(later)

    def rejects_by_reply(self) -> dict:
        out = {}
        if self.lookup_rejects:
            out["Temporary lookup failure"] = self.lookup_rejects
        config_errors = self.config_error_rejects()[1]
        if config_errors:
            out[CONFIG_ERROR] = config_errors
        return out

    def refine(self, f):
        steps, facts = rebuild_steps(self.config, [k for k, _ in self.g.top("by_map", 5)])
        f.remediation = [self.remediation[0], *steps, *self.remediation[2:]]
        f.config = facts

    def subject(self, ev):
        return ev.f.get("map")

    def tally(self, ev, g):
        g.tally("by_map", ev.f.get("map"))
        g.tally("by_kind", {"map_missing": "open database failed", "map_unavailable": "table unavailable",
                            "lookup_error": "lookup error"}.get(ev.kind, ev.kind))

    def summarize(self, g):
        maps = ", ".join(k for k, _ in g.top("by_map", 3))
        rejects = self.rejects_by_reply()
        rej = "".join(f"; {plural(n, 'request')} rejected with '{reply}'" for reply, n in rejects.items())
        return f"{plural(g.count, 'line')} about unusable lookup tables ({maps}){rej}."

    def evidence(self, g):
        rejects = self.rejects_by_reply()
        return {"by_map": g.breakdown("by_map"), "by_kind": g.breakdown("by_kind"),
                "rejects": sum(rejects.values()), "rejects_by_reply": rejects}


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
    with_config = """Names the real mail log to search (maillog_file, when the configuration sets it)."""
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

    def refine(self, f):
        if self.config is not None:
            path = log_path(self.config)
            f.remediation[0] = self.remediation[0].replace("/var/log/mail.log", path)
            if path != "/var/log/mail.log":
                Facts(self.config).param("maillog_file")
                f.config = {"maillog_file": {"value": path, "where": self.config.where("maillog_file")}}

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
        "Receive it here, keeping the domains there are: `postconf mydestination`, then "
        "`postconf -e \"mydestination = $(postconf -h mydestination), DOMAIN\"` (or add it to virtual_mailbox_domains), "
        "then `postfix reload`.",
        "Or fix the route: `postconf relayhost transport_maps` must not point back at this host.",
        "Behind NAT: `postconf -e \"proxy_interfaces = $(postconf -h proxy_interfaces), PUBLIC_IP\"`.",
    )
    with_config = """Tells a route that points back here (the domain is the relayhost or a transport's next
    hop: fix that setting) from a domain this server should accept (the exact mydestination
    command with the domains it has)."""
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
        g.tally("deliveries_by_domain", self._domain(ev))

    def summarize(self, g):
        doms = ", ".join(k for k, _ in g.top("deliveries_by_domain", 3))
        return f"{plural(g.count, 'delivery', 'deliveries')} looped back to this host ({doms})."

    def refine(self, f):
        cfg = self.config
        if cfg is None or not cfg.has_main:
            return
        facts = Facts(cfg)
        domain = f.key or ""
        hop = next_hop_of(cfg, f"{domain}[{domain}]") if domain else None
        if hop is not None:
            facts.param(hop.parameter.rsplit(" ", 1)[-1])
            f.remediation = [f"{domain} is {hop.role}: {hop.parameter} = {hop.value} ({hop.where}) points back at "
                             f"this server. Point {hop.parameter} at the host that should receive this mail "
                             f"(`postconf {hop.parameter.rsplit(' ', 1)[-1]}`), then `postfix reload`.",
                             "If this server should accept that mail itself, list the domain in mydestination "
                             "or a virtual domain parameter instead of relaying it."]
        else:
            facts.param("mydestination")
            f.remediation = ["Receive it here: " + step(fixes.add_to_list("mydestination", domain, cfg),
                                                        "`postfix reload`"),
                             *self.remediation[1:]]
        f.config = dict(facts)

    def evidence(self, g):
        return {"deliveries_by_domain": g.breakdown("deliveries_by_domain")}


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
        "Remove it from the one it does not belong to (a virtual domain does not belong in mydestination): edit that "
        "line of main.cf and keep its other domains, then `postfix reload`.",
    )
    with_config = """Shows each parameter that lists the domain, with its value and where it is set, so the
    line to edit and the domains to keep are in the report."""

    def refine(self, f):
        cfg = self.config
        if cfg is None or not cfg.has_main:
            return
        facts = Facts(cfg)
        domains = [k for k, _ in self.g.top("warnings_by_domain", 3)]
        classes = {c.strip() for k in self.g.breakdown("by_classes") for c in k.split(" and ")}
        shown = []
        for name in sorted(classes):
            value = facts.param(name)
            items = split_quoted(cfg.expanded(name) or "")
            if any(d in items for d in domains):
                keep = [i for i in split_quoted(value or "") if i not in domains]
                shown.append(f"{name} = {value} ({cfg.where(name)}; without it: {', '.join(keep) or '(empty)'})")
        if shown:
            f.remediation = [f"{', '.join(domains)} is listed in: " + "; ".join(shown) + ".",
                             self.remediation[1]]
        f.config = dict(facts)
        return
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
        g.tally("warnings_by_domain", self.subject(ev))
        g.tally("by_classes", ev.text.split(" in BOTH ", 1)[-1])

    def summarize(self, g):
        doms = ", ".join(k for k, _ in g.top("warnings_by_domain", 3))
        return f"{plural(g.count, 'warning')}: domains listed in two address classes ({doms})."

    def evidence(self, g):
        return {"warnings_by_domain": g.breakdown("warnings_by_domain"), "by_classes": g.breakdown("by_classes")}


def rebuild_steps(cfg, maps: list[str]) -> tuple[list[str], dict]:
    """How to rebuild (or test) each table of ``maps`` (as the log names them: type:name, or a
    .db file), with the parameters that use it when the configuration is known."""
    facts = Facts(cfg)
    steps, done = [], set()
    for text in maps:
        named = tables_named(cfg, text)
        if named:
            table = named[0][2]
            if table.text in done:
                continue
            done.add(table.text)
            for name, svc, _ in named:
                facts.param(name, svc)
            users = ", ".join(f"{svc[0]}/{svc[1]} {name}" if svc else name for name, svc, _ in named)
            alias = is_alias_database(cfg, table)
            command = "newaliases" if alias else rebuild_command(table, False)
            if command:
                steps.append(f"{table.text} is used by {users}: build it with `{command}`"
                             + (" (it is the alias_database)" if alias else "") + ".")
            else:
                steps.append(f"{table.text} is used by {users}: test it with `postmap -q KEY {table.text}`.")
            continue
        if ":" in text.split("/", 1)[0]:
            type_ = text.split(":", 1)[0]
            command = f"postmap {text}" if type_ in ("hash", "btree", "lmdb", "cdb", "dbm", "sdbm") else None
            steps.append(f"Build {text}: `{command}`." if command else f"Test {text}: `postmap -q KEY {text}`.")
        else:
            source = text.rsplit(".", 1)[0] if text.endswith((".db", ".lmdb", ".cdb")) else text
            steps.append(f"Rebuild {text}: `postmap {source}` (`newaliases` instead if it is the alias_database: "
                         "`postconf alias_database`).")
    return steps, dict(facts)
