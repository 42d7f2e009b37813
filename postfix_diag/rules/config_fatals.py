"""Configuration that stops a daemon or a service it needs: a restriction list without
reject_unauth_destination, a setting of the wrong type, an endpoint whose host does not resolve,
a transport master.cf does not define, a service name the host's /etc/services lacks."""

from __future__ import annotations

import re

from ..events import place
from .base import OTHER, UNDECIDED, FirstSeenCounter, Group, Rule, group_in, merge_groups, plural, register

# Service names every /etc/services has (Debian's netbase): a chrooted daemon that cannot
# resolve one of these lacks the jail's copy (CHR001); any other name is missing from the
# host's file, as is any name master itself (never chrooted) cannot resolve.
STANDARD_SERVICES = frozenset((
    "smtp", "submission", "submissions", "smtps", "ssmtp", "lmtp", "domain", "http", "https", "imap",
    "imaps", "pop3", "pop3s", "ldap", "ldaps", "mysql", "postgresql", "sieve", "auth", "ident", "ntp",
))
MAX_KEYS = 500
_WHAT = {
    "config_fatal": "setting",
    "inet_unresolved": "endpoint",
    "transport_missing": "transport",
    "unknown_service": "service",
}


def host_services_problem(ev) -> bool:
    """A ``fatal: unknown service: NAME/tcp`` that the host's /etc/services explains (not the
    chroot's copy): master's (never chrooted), or a name no standard services file has."""
    return ev.kind == "unknown_service" and (
        ev.program == "master" or (ev.f.get("service_name") or "") not in STANDARD_SERVICES)


@register
class ConfigFatal(Rule):
    id = "CFG008"
    name = "config-stops-service"
    title = "A setting stops a daemon or a service it needs"
    category = "config"
    severity = "error"
    preview = True
    kinds = ("config_fatal", "inet_unresolved", "transport_missing", "unknown_service", "warning", "reject")
    count_unit = "lines of the mistake (fatal, or the warning that names it); key = the parameter, endpoint or transport"
    what = """A daemon stopped on a setting, or cannot use a service a setting names:
    `fatal: in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at least
    one working instance of: reject_unauth_destination, ...` (smtpd refuses to run as an open
    relay); `fatal: bad numerical configuration: NAME = VALUE` (and boolean, time, range errors);
    `warning: host or service HOST:PORT not found` (an inet: endpoint such as a
    check_policy_service whose host does not resolve; smtpd then logs `connect to HOST:PORT: Cannot
    assign requested address` and answers `451 4.3.5 Server configuration problem`; the key is the
    `inet:` endpoint, not those follow-up lines); `warning: connect to transport private/NAME: No
    such file or directory` (transport_maps or a *_transport names a transport master.cf does not
    define: mail is deferred `mail transport unavailable`); `fatal: unknown service: NAME/tcp` for a
    name the host's /etc/services lacks (master's own, or a non-standard name; a standard name in a
    chrooted daemon is CHR001)."""
    why = """The daemon exits and master throttles the service (CFG005), so nothing is received or
    delivered by it; an unresolvable policy service tempfails every recipient it checks; mail for
    a missing transport waits in the queue and bounces after maximal_queue_lifetime."""
    example = (
        "Dec 01 22:37:50 mail postfix/norelay/smtpd[14317]: fatal: in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at least one working instance of: reject_unauth_destination, defer_unauth_destination, reject, defer, defer_if_permit or check_relay_domains",
        "Dec 01 22:38:11 mail postfix/policy/smtpd[14347]: warning: host or service policy.invalid:10040 not found: Name or service not known",
        "Dec 01 22:38:13 mail postfix/badnum/smtpd[14404]: fatal: bad numerical configuration: smtpd_hard_error_limit = twenty",
        "Dec 01 22:38:22 mail postfix/qmgr[14282]: warning: connect to transport private/smtp-relay: No such file or directory",
    )
    fix = """Correct the setting the line names, with postconf so that nothing else is lost: add
    reject_unauth_destination (or defer_unauth_destination) to smtpd_relay_restrictions; give the
    numerical parameter a number; point check_policy_service at a host that resolves (or a unix:
    socket); define the transport in master.cf (or correct transport_maps). Check with `postfix
    check` and `postconf -n`, then `postfix reload`."""
    remediation = (
        "See where the setting comes from: `postconf -n PARAMETER` and `postconf -P '*/*/PARAMETER'` "
        "(a master.cf -o override wins over main.cf).",
        "Relay restrictions: put reject_unauth_destination in smtpd_relay_restrictions "
        "(default: permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination).",
        "Policy endpoint: `getent hosts HOST` on the server; fix the name in smtpd_*_restrictions "
        "(check_policy_service inet:HOST:PORT) or use the policy server's unix: socket.",
        "Transport: `postconf -M 'NAME/unix'` must show the transport; add its master.cf entry "
        "(e.g. `postconf -Me 'NAME/unix = NAME unix - - n - - smtp'`) or fix transport_maps, then `postqueue -f`.",
        "`postfix check` and `postfix reload`; the throttled service starts again at once.",
    )
    parameters = (
        ("smtpd_relay_restrictions", "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination",
         "must hold reject_unauth_destination or defer_unauth_destination (or smtpd_recipient_restrictions must)"),
        ("smtpd_policy_service_timeout", "100s", "how long smtpd waits for a policy service"),
        ("transport_maps", "(empty)", "next-hop transports per domain; each must exist in master.cf"),
        ("default_transport", "smtp", "transport of non-local mail; must exist in master.cf"),
    )
    references = ("SMTPD_ACCESS_README", "SMTPD_POLICY_README", "postconf(5): smtpd_relay_restrictions",
                  "transport(5)", "master(5)")

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.mistakes: dict[str, Group] = {}  # parameter / inet:endpoint / transport / service -> lines
        self.what: dict[str, str] = {}  # key -> setting, endpoint, transport, service
        self.endpoints: dict = {}  # unresolvable host:port -> place of its first line
        self.follow_ups: dict[str, Group] = {}  # inet:endpoint -> its connect/problem-talking lines
        self.tempfails = FirstSeenCounter()  # syslog service -> "451 4.3.5 Server configuration problem" rejects

    def _add(self, key: str, what: str, ev) -> Group:
        if key not in self.mistakes and len(self.mistakes) >= MAX_KEYS:
            key = OTHER
        g = group_in(self.mistakes, key, self.group, MAX_KEYS)
        self.what.setdefault(key, what)
        g.add(ev)
        g.tally("by_service", ev.service)
        return g

    def feed(self, ev):
        kind, f = ev.kind, ev.f
        if kind == "config_fatal":
            g = self._add(f.get("parameter") or "?", "setting", ev)
            g.tally("by_problem", f.get("problem") or "no working reject_unauth_destination")
            if f.get("value") is not None:
                g.tally("values", f.get("value"))
            return True
        if kind == "inet_unresolved":
            endpoint = f.get("endpoint") or "?"
            g = self._add("inet:" + endpoint, "endpoint", ev)
            g.tally("by_problem", f.get("reason"))
            at = place(ev)
            seen = self.endpoints.get(endpoint)
            if seen is None and len(self.endpoints) < MAX_KEYS or seen is not None and at < seen:
                self.endpoints[endpoint] = at
            return True
        if kind == "transport_missing":
            g = self._add(f.get("transport") or "?", "transport", ev)
            g.tally("by_problem", f.get("reason"))
            return True
        if kind == "unknown_service":
            if not host_services_problem(ev):
                return None
            g = self._add(f.get("service_name") or "?", "service", ev)
            g.tally("by_problem", f"unknown service: {f.get('service_name')}/{f.get('proto')}")
            return True
        if kind == "reject":
            if f.get("dsn") == "4.3.5" and (f.get("reason") or "").endswith("Server configuration problem"):
                self.tempfails.add(ev.service or "?", at=place(ev))
            return None
        # a generic warning after an unresolvable endpoint: "connect to H:P: ..." (inet_connect)
        # and "problem talking to server H:P: ..." (attr_clnt) are that endpoint's follow-ups
        text = ev.text
        for prefix in ("connect to ", "problem talking to server "):
            if text.startswith(prefix):
                endpoint = text[len(prefix):].split(": ", 1)[0]
                break
        else:
            return None
        seen = self.endpoints.get(endpoint)
        if seen is None or place(ev) < seen:
            return UNDECIDED  # an earlier piece of the log may hold the endpoint's first line
        g = self.follow_ups.get("inet:" + endpoint)
        if g is None:
            g = self.follow_ups["inet:" + endpoint] = Group(0)
        g.add(ev, sample=False)
        return True

    def merge(self, later):
        for key, what in later.what.items():
            self.what.setdefault(key, what)
        merge_groups(self.mistakes, later.mistakes, MAX_KEYS)
        merge_groups(self.follow_ups, later.follow_ups)
        for endpoint, at in later.endpoints.items():
            seen = self.endpoints.get(endpoint)
            if seen is None and len(self.endpoints) < MAX_KEYS or seen is not None and at < seen:
                self.endpoints[endpoint] = at
        self.tempfails.merge(later.tempfails)

    def finish(self, queued, end_ts):
        out = []
        for key, g in self.mistakes.items():
            what = self.what.get(key, "setting")
            evidence = {what: key, "by_problem": g.breakdown("by_problem"), "by_service": g.breakdown("by_service")}
            steps = list(self.remediation)
            if what == "setting":
                evidence["values"] = g.top("values")
                summary = (f"{plural(g.count, 'fatal line')}: the daemon stops on {key} "
                           f"({', '.join(k for k, _ in g.top('by_problem', 2))}).")
                if key in ("smtpd_relay_restrictions", "smtpd_recipient_restrictions"):
                    steps = [steps[1], steps[0], steps[4]]
                else:
                    steps = [steps[0], "Give the parameter a value of its type (`postconf -d PARAMETER` shows "
                                       "the default), then `postfix reload`.", steps[4]]
            elif what == "endpoint":
                follow = self.follow_ups.get(key)
                services = [s for s, _ in g.top("by_service")]
                tempfailed = sum(n for s, n in self.tempfails.items() if s in services)
                evidence["follow_up_lines"] = follow.count if follow else 0
                evidence["tempfailed_requests"] = tempfailed  # 451 4.3.5 Server configuration problem
                summary = (f"{plural(g.count, 'lookup')} of {key} failed ({', '.join(k for k, _ in g.top('by_problem', 1))})"
                           + (f"; {plural(tempfailed, 'request')} answered 451 4.3.5 Server configuration problem"
                              if tempfailed else "") + ".")
                steps = [steps[2], steps[0], steps[4]]
            elif what == "transport":
                summary = (f"{plural(g.count, 'line')}: transport {key} is not defined in master.cf; its mail is "
                           f"deferred (mail transport unavailable).")
                steps = [steps[3], steps[0], steps[4]]
            elif "/" in key:  # lmtp:private/dovecot-lmtp read as host "private", service "dovecot-lmtp"...
                summary = (f"{plural(g.count, 'fatal line')}: {key} is used as a TCP service: a UNIX socket "
                           "path written without unix: (e.g. in mailbox_transport or virtual_transport).")
                shown = key if re.fullmatch(r"[A-Za-z0-9._/-]{1,200}", key) else "PATH"
                steps = [f"Write the socket with its type: `lmtp:unix:{shown}` (relative to the queue directory), "
                         "in the parameter that names it (`postconf -n` shows which).", steps[4]]
            else:
                summary = (f"{plural(g.count, 'fatal line')}: service name {key} is not in /etc/services "
                           "(master.cf or a setting names it).")
                steps = ["Add the service to /etc/services (`getent services NAME` prints nothing now) or write "
                         "the port number instead of the name in master.cf / the setting.", steps[4]]
            out.append(self.make(g, summary, key=key, evidence=evidence, remediation=steps))
        return out
