"""Security: SASL password guessing, relay attempts, and anvil rate limits."""

from __future__ import annotations

import re

from ..config import fixes
from .base import OTHER, FirstKeysCounter, LineRule, ip_kind, plural, register
from .incident_spec import IncidentSpec
from .sasl import backend_failure
from .settings import Facts, services_for_tags, step

BRUTE_FORCE = 10  # failures from one client that make it look like password guessing
_USER = re.compile(r"sasl_username=(\S+)")


@register
class SaslFailures(LineRule):
    id = "SEC001"
    name = "sasl-auth-failures"
    title = "SASL authentication failures (password guessing?)"
    category = "security"
    severity = "warning"
    kinds = ("sasl_failure", "sasl_misc")
    track_tags = True
    count_unit = "warning lines; top offenders per client"
    what = """smtpd logged `warning: CLIENT: SASL LOGIN authentication failed: REASON` (or PLAIN, CRAM-MD5,
    ...): a client tried to AUTH with a wrong user name or password, or aborted the exchange."""
    why = """Many failures from a few clients are password-guessing attacks against your users'
    accounts; a guessed password turns your server into a spam relay. Failures of one of your own
    users (a phone with an old password) lock nothing in Postfix but fill the log and may trigger
    fail2ban against them."""
    example = (
        "Nov 25 12:00:01 mail postfix/submission/smtpd[1234]: warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: unknown[203.0.113.9]: SASL PLAIN authentication failed: authentication failure, sasl_username=admin",
    )
    fix = """Block the guessing clients (fail2ban's postfix-sasl jail, a firewall rule, or
    smtpd_client_auth_rate_limit), offer AUTH only on the submission ports (587/465) and not on port
    25, and check that no account with a weak password was compromised."""
    remediation = (
        "Rate-limit AUTH per client: `postconf smtpd_client_auth_rate_limit` shows the limit (0: none); "
        "`postconf -e 'smtpd_client_auth_rate_limit = 10'` (per anvil_rate_time_unit = 60s; a service with its own "
        "-o smtpd_client_auth_rate_limit in master.cf keeps that one), then `postfix reload`.",
        "Ban the top clients: fail2ban jail `postfix-sasl` (filter on 'SASL (?:LOGIN|PLAIN|(?:CRAM|DIGEST)-MD5) authentication failed').",
        "Offer AUTH only on submission/submissions: check which services offer it with `postconf -P '*/*/smtpd_sasl_auth_enable'` "
        "and `postconf smtpd_sasl_auth_enable`; give each submission service `-o smtpd_sasl_auth_enable=yes` "
        "(`postconf -P 'submission/inet/smtpd_sasl_auth_enable=yes'`) before main.cf's `smtpd_sasl_auth_enable = no`.",
        "If a failure is followed by a success for the same user from a strange client, reset that user's password.",
    )
    with_config = """Names the services (master.cf entries) that offer AUTH where the failures happen, with
    their smtpd_sasl_auth_enable and smtpd_client_auth_rate_limit (main.cf or -o override), and gives
    the exact per-service commands: the rate limit where the failing service reads it, AUTH moved
    off port 25 only when a submission service keeps it."""
    parameters = (
        ("smtpd_sasl_auth_enable", "no", "offer SMTP AUTH"),
        ("smtpd_client_auth_rate_limit", "0 (no limit)", "AUTH commands per client per anvil_rate_time_unit"),
        ("anvil_rate_time_unit", "60s", "time unit of the anvil rate limits"),
    )
    references = ("SASL_README", "TUNING_README: Measures against clients that make too many connections")
    incident = IncidentSpec(subject="client", unit="rejected", title="SASL authentication failures (top client {key})")

    # An AUTH that failed because the password checker was unreachable (`generic failure`,
    # `Connection lost to authentication server`) is no guess: when SAS001 reports the backend,
    # this rule's finding leaves those lines out (defer), and is dropped if nothing else is left.
    defers_to = ("SAS001",)

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.backend = self.group()  # the failures of those lines, counted apart

    def match(self, ev):
        if ev.kind != "sasl_failure":
            return False
        if backend_failure(ev):
            self.backend.add(ev)
            self.backend.tally("top_clients", ev.client)
        return True

    def merge(self, later):
        super().merge(later)
        self.backend.merge(later.backend)

    def defer(self, finding, owners):
        if not self.backend.count:
            return finding
        if self.backend.count >= self.g.count:
            return None
        from .base import BoundedCounter, Group

        rest = Group(self.max_samples)
        rest.merge(self.g)
        rest.count -= self.backend.count
        rest.samples = [s for s in rest.samples if s not in self.backend.samples]
        for name, mine in list(rest.counters.items()):
            left = rest.counters[name] = BoundedCounter(mine.cap)  # a copy: self.g stays as it is
            theirs = self.backend.counters.get(name, {})
            for k, n in mine.items():
                if n - theirs.get(k, 0) > 0:
                    left[k] = n - theirs.get(k, 0)
        kept = self.make(rest, self.summarize(rest) + f" ({plural(self.backend.count, 'failure')} of an "
                         "unreachable backend left out: SAS001)", severity=finding.severity,
                         evidence=self.evidence(rest), key=finding.key)
        return kept

    def claim_only(self, ev):
        # Cyrus SASL's own line that accompanies the failure line ("SASL authentication failure: ...")
        return ev.kind == "sasl_misc" and ev.text.startswith("SASL authentication failure")

    def subject(self, ev):
        return ev.f.get("client_ip")

    def tally(self, ev, g):
        g.tally("top_clients", ev.client)
        g.tally("by_method", ev.f.get("sasl_method"))
        m = _USER.search(ev.f.get("reason") or "")
        if m:
            g.tally("top_usernames", m.group(1))

    def grade(self, g):
        return self.severity

    def refine(self, f):
        cfg = self.config
        if cfg is None or not cfg.has_master:
            return
        facts = Facts(cfg)
        failing = services_for_tags(cfg, self.tags)
        steps = []
        for svc in failing:
            key = (svc.name, svc.type)
            facts.param("smtpd_sasl_auth_enable", key)
            limit = facts.param("smtpd_client_auth_rate_limit", key, expanded=True)
            if (limit or "0").strip() in ("", "0"):
                steps.append(f"{svc.key} has no AUTH rate limit: "
                             + step(fixes.set_effective("smtpd_client_auth_rate_limit", "10", cfg, key),
                                    "`postfix reload`"))
            else:
                steps.append(f"{svc.key} limits AUTH to {limit} per client and anvil_rate_time_unit "
                             f"({cfg.where('smtpd_client_auth_rate_limit', key)}); lower it if the guessing goes on.")
        on_25 = [svc for svc in failing if svc.name.rsplit(":", 1)[-1] in ("smtp", "25") and svc.type == "inet"
                 and (cfg.service_param(svc.name, svc.type, "smtpd_sasl_auth_enable") or "").lower() == "yes"]
        submission = [s for s in cfg.find_services(command="smtpd", type="inet")
                      if s.name.rsplit(":", 1)[-1] in ("submission", "submissions", "587", "465")]
        if on_25:
            where = ", ".join(s.key for s in on_25)
            if submission:
                keep = [step(fixes.set_service_param(s.name, s.type, "smtpd_sasl_auth_enable", "yes", cfg))
                        for s in submission if "smtpd_sasl_auth_enable" not in s.overrides]
                off = fixes.set_effective("smtpd_sasl_auth_enable", "no", cfg, (on_25[0].name, on_25[0].type))
                steps.append(f"AUTH is offered on port 25 ({where}); offer it on "
                             f"{', '.join(s.key for s in submission)} only. " + " ".join(keep + [step(off)]))
            else:
                steps.append(f"AUTH is offered on port 25 ({where}) and master.cf has no submission service: "
                             "enable the `submission inet` entry of master.cf with `-o smtpd_sasl_auth_enable=yes`, "
                             "then turn AUTH off for port 25 (smtpd_sasl_auth_enable = no).")
        f.remediation = (steps or [self.remediation[0]]) + [self.remediation[1], self.remediation[3]]
        f.config = dict(facts)

    def summarize(self, g):
        top = g.top("top_clients", 1)
        brute = [c for c, n in g.top("top_clients") if n >= BRUTE_FORCE]
        tail = (f"; {plural(len(brute), 'client')} with {BRUTE_FORCE}+ failures look like password guessing"
                if brute else (f"; most from {top[0][0]} ({top[0][1]})" if top else ""))
        return (f"{plural(g.count, 'SASL authentication failure')} from "
                f"{plural(len(g.counter('top_clients')), 'client')}{tail}.")

    def evidence(self, g):
        return {"top_clients": g.top("top_clients"), "by_method": g.breakdown("by_method"),
                "top_usernames": g.top("top_usernames"),
                "brute_force_clients": [c for c, n in g.top("top_clients", 100) if n >= BRUTE_FORCE]}


@register
class RelayDenied(LineRule):
    id = "SEC002"
    name = "relay-access-denied"
    title = "Relay access denied"
    category = "security"
    severity = "warning"
    kinds = ("reject",)
    message_kinds = ("delivery",)
    delivery_statuses = ("sent",)  # mail of a rejected client that was relayed anyway
    count_unit = "reject lines (rejects_by_recipient_domain: by the domain of the refused recipient)"
    what = """smtpd rejected `RCPT TO` with `554 5.7.1 <addr>: Relay access denied`: a client that is not
    in mynetworks and not authenticated tried to send to a domain this server is not the destination
    of."""
    why = """From remote clients in bursts these are open-relay probes: your server is doing its job, but
    the probes tell you it is being scanned. From your own networks, or for domains you do host, it is
    a configuration problem: mynetworks, SASL on the submission port, or relay_domains /
    mydestination / virtual domains missing the domain, so your own users or partners cannot send."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 554 5.7.1 <victim@example.net>: Relay access denied; from=<spam@example.com> to=<victim@example.net> proto=ESMTP helo=<x>",
    )
    fix = """For probes from the Internet nothing needs fixing (postscreen or fail2ban cut the noise). For
    your own clients, let them relay the right way: add their network to mynetworks, or make them
    authenticate on the submission port; for your own domains, list them in mydestination,
    virtual_mailbox_domains or relay_domains."""
    remediation = (
        "Check who is rejected: `postconf mynetworks` lists the networks allowed to relay; a rejected client inside "
        "them, or one of your own domains in the evidence, means a configuration problem; clients outside them "
        "that did not authenticate are relay probes.",
        "For Internet probes: nothing to fix; postscreen or a fail2ban jail reduces the noise.",
        "Only if a rejected client is one of yours: add exactly its address, keeping the current networks: "
        "`postconf -e \"mynetworks = $(postconf -h mynetworks), 192.0.2.10/32\"`, or have it authenticate on submission "
        "(`permit_sasl_authenticated` in smtpd_relay_restrictions).",
        "For your own domains: `postconf mydestination virtual_mailbox_domains relay_domains` must list them.",
    )
    with_config = """Tells your own clients from outsiders by mynetworks (the value in effect, where it is
    set) instead of guessing from loopback/private addresses; outsiders' rejects are relay probes
    (notice) and no fix widens mynetworks for them."""
    severity_rule = """With the configuration: warning when a rejected client is in mynetworks (your own
    client cannot relay: a configuration problem) or when a rejected client also got mail relayed to a
    remote destination (a probe that succeeded); otherwise notice, however many probes. Without it:
    warning when a client has a loopback or private address (it may be yours), for bursts (10 in 10
    minutes) or 30 rejects in all; notice otherwise."""
    parameters = (
        ("smtpd_relay_restrictions", "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination",
         "who may relay"),
        ("mynetworks_style", "host (compatibility_level >= 2)", "which networks are trusted when mynetworks is unset"),
        ("relay_domains", "(empty from compatibility_level 2)", "domains this server relays to"),
    )
    references = ("SMTPD_ACCESS_README", "BASIC_CONFIGURATION_README: What clients to relay mail from")
    incident = IncidentSpec(subject="client", unit="rejected", title="relay access denied (top client {key})")

    BURST = 10  # rejects in one 10-minute window
    WINDOW = 600

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.windows: dict = {}
        self.max_window = 0
        self.internal = 0
        self.relayed = FirstKeysCounter()  # client address -> messages it got relayed by smtp/lmtp

    def match(self, ev):
        r = ev.f.get("reason")
        return bool(r) and "Relay access denied" in r

    def feed_message_line(self, ev, msg):
        if (ev.program in ("smtp", "lmtp") and msg.client_ip and self.id not in msg.facts
                and (ev.f.get("relay") or "").split("[", 1)[0] not in ("", "none", "local")):
            msg.facts[self.id] = True
            self.relayed.add(msg.client_ip)

    def subject(self, ev):
        return ev.f.get("client_ip")

    def tally(self, ev, g):
        g.tally("top_clients", ev.client)
        g.tally("rejects_by_recipient_domain", (ev.f.get("to") or "").rsplit("@", 1)[-1].lower() or None)
        if ip_kind(ev.f.get("client_ip")) in ("loopback", "private"):
            self.internal += 1
            g.tally("internal_clients", ev.client)
        if ev.ts is not None:
            w = int(ev.ts // self.WINDOW)
            n = self.windows[w] = self.windows.get(w, 0) + 1
            if n > self.max_window:
                self.max_window = n
            if len(self.windows) > 10_000:
                self.windows.clear()

    def merge(self, later):
        super().merge(later)
        self.internal += later.internal
        for w, n in later.windows.items():  # a window cut in two by a piece boundary adds up
            n = self.windows[w] = self.windows.get(w, 0) + n
            if n > self.max_window:
                self.max_window = n
        self.max_window = max(self.max_window, later.max_window)
        self.relayed.merge(later.relayed)

    def grade(self, g):
        if self.internal or self.max_window >= self.BURST or g.count >= self.BURST * 3:
            return "warning"
        return "notice"

    def refine(self, f):
        cfg = self.config
        split = by_mynetworks(cfg, self.subjects)
        if split is None:
            return  # no configuration, or mynetworks is computed on the server or a table
        facts, networks, own, probes = split
        relayed = {ip: self.relayed[ip] for ip in probes if self.relayed.get(ip)}
        facts.param("smtpd_relay_restrictions")
        parts = []
        if own:
            parts.append(f"{plural(sum(own.values()), 'reject')} of clients in mynetworks ({', '.join(own)}): "
                         "your own clients cannot relay")
        if probes:
            parts.append(f"{plural(sum(probes.values()), 'reject')} of {plural(len(probes), 'client')} outside "
                         f"mynetworks ({networks}): relay probes")
        if relayed:
            parts.append(f"{plural(sum(relayed.values()), 'message')} of those clients were relayed all the same")
        f.summary = (f"{plural(self.g.count, 'relay attempt')} denied from "
                     f"{plural(len(self.g.counter('top_clients')), 'client')}, at most {self.max_window} in 10 "
                     f"minutes; " + "; ".join(parts) + ".")
        f.severity = "warning" if own or relayed else "notice"
        f.evidence.pop("internal_clients", None)
        f.evidence["clients_in_mynetworks"] = [[ip, n] for ip, n in own.items()]
        f.evidence["clients_outside_mynetworks"] = [[ip, n] for ip, n in list(probes.items())[:10]]
        if relayed:
            f.evidence["relayed_messages_of_rejected_clients"] = [[ip, n] for ip, n in relayed.items()]
        steps = []
        if own:
            steps.append(f"Clients in mynetworks ({networks}, {cfg.where('mynetworks')}) were refused relaying: "
                         "smtpd_relay_restrictions (or smtpd_recipient_restrictions) must permit them "
                         "(`permit_mynetworks` before `reject_unauth_destination`); check the values with "
                         "`postconf smtpd_relay_restrictions smtpd_recipient_restrictions` and the services' -o "
                         "overrides with `postconf -P '*/*/smtpd_relay_restrictions'`.")
        if relayed:
            steps.append("Some rejected clients also got mail relayed to remote destinations: find how "
                         f"(`grep -F '[{next(iter(relayed))}]' ` in the log; SASL logins, check_*_access permits).")
        if probes and not own:
            steps.append(f"These clients are outside mynetworks ({networks}, {cfg.where('mynetworks')}) and did not "
                         "authenticate: relay probes, refused as they should be. Nothing to fix; postscreen or a "
                         "fail2ban jail reduces the noise.")
        if probes:
            ip = next(iter(probes))
            add = fixes.add_to_list("mynetworks", f"{ip}/32" if ":" not in ip else f"[{ip}]/128", cfg)
            steps.append("Only if one of them is yours (a host that must relay without authenticating): "
                         + step(add, "`postfix reload`"))
        steps.append(self.remediation[3])
        f.remediation = steps
        f.config = dict(facts)

    def summarize(self, g):
        extra = (f"; {plural(self.internal, 'reject')} of loopback/private clients (a mynetworks/SASL problem if "
                 "they are in mynetworks)" if self.internal else "")
        return (f"{plural(g.count, 'relay attempt')} denied from "
                f"{plural(len(g.counter('top_clients')), 'client')}, at most {self.max_window} in 10 minutes{extra}.")

    def evidence(self, g):
        return {"top_clients": g.top("top_clients"),
                "rejects_by_recipient_domain": g.top("rejects_by_recipient_domain"),
                "internal_clients": g.top("internal_clients"), "max_per_10_minutes": self.max_window}


@register
class RateLimits(LineRule):
    id = "SEC003"
    name = "client-rate-limits"
    title = "Clients exceeded anvil rate or concurrency limits"
    category = "security"
    severity = "notice"
    kinds = ("rate_limit",)
    count_unit = "warning lines"
    what = """smtpd refused a client that went over one of the anvil limits: `Connection rate limit
    exceeded`, `Connection concurrency limit exceeded`, `Message delivery request rate limit exceeded`,
    `Recipient address rate limit exceeded`, `AUTH command rate limit exceeded`, `New TLS session rate
    limit exceeded` (421 4.7.0 reply)."""
    why = """Against spam bots and password guessers the limits are doing their job (notice). When the
    client is one of yours (a web application, a mailing-list server, a NAT gateway many users share)
    its mail is delayed: raise the limit for it with smtpd_client_event_limit_exceptions."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: Connection rate limit exceeded: 31 from unknown[203.0.113.9] for service smtp",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: Message delivery request rate limit exceeded: 334 from app.example.com[192.168.1.30] for service submission",
    )
    fix = """For your own clients, exempt them (smtpd_client_event_limit_exceptions, default
    $mynetworks) or raise the specific limit; for others, nothing (or block them earlier with
    postscreen/fail2ban)."""
    remediation = (
        "Check whether the listed clients are yours; internal ones are listed under internal_clients.",
        "Exempt a trusted client, keeping the current exceptions: `postconf smtpd_client_event_limit_exceptions`, then "
        "`postconf -e \"smtpd_client_event_limit_exceptions = $(postconf -h smtpd_client_event_limit_exceptions), 192.0.2.10\"`, "
        "or raise the limit named in by_limit (e.g. `postconf -e 'smtpd_client_connection_rate_limit = 100'`), then `postfix reload`.",
    )
    with_config = """Tells your own clients (mynetworks) from others instead of guessing from loopback and
    private addresses, shows the limit and smtpd_client_event_limit_exceptions in effect, and exempts
    an own client by adding it to the exceptions that are there."""
    severity_rule = """Warning when a refused client is one of yours (with the configuration: in
    mynetworks; without it: a loopback or private address), notice otherwise."""
    parameters = (
        ("smtpd_client_connection_rate_limit", "0 (no limit)", "connections per client per anvil_rate_time_unit"),
        ("smtpd_client_connection_count_limit", "50", "simultaneous connections per client"),
        ("smtpd_client_message_rate_limit", "0 (no limit)", "messages per client per time unit"),
        ("smtpd_client_recipient_rate_limit", "0 (no limit)", "recipients per client per time unit"),
        ("smtpd_client_event_limit_exceptions", "${smtpd_client_connection_limit_exceptions:$mynetworks}",
         "clients exempt from these limits"),
        ("anvil_rate_time_unit", "60s", "time unit of the rate limits"),
    )
    references = ("TUNING_README: Measures against clients that make too many connections", "anvil(8)")

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.internal = 0

    def match(self, ev):
        # the grammar's rate_limit lines only (smtpd's templates, fields what, count, client,
        # service_name): a warning whose text merely contains "limit exceeded: ... for service"
        # (an address in an "Illegal address syntax" warning) is no rate limit
        if ev.kind == "rate_limit":
            self._what = ev.f.get("what") or "rate limit exceeded"
            return True
        return False

    def subject(self, ev):
        return ev.f.get("client_ip")

    def tally(self, ev, g):
        g.tally("by_limit", self._what)
        client = ev.client
        g.tally("top_clients", client)
        g.tally("by_service", ev.f.get("service_name"))
        if ip_kind(self.subject(ev)) in ("loopback", "private"):
            self.internal += 1
            g.tally("internal_clients", client)

    def merge(self, later):
        super().merge(later)
        self.internal += later.internal

    def grade(self, g):
        return "warning" if self.internal else self.severity

    def refine(self, f):
        cfg = self.config
        split = by_mynetworks(cfg, self.subjects)
        if split is None:
            return
        facts, networks, own, _ = split
        exceptions = facts.param("smtpd_client_event_limit_exceptions", expanded=True)
        f.evidence.pop("internal_clients", None)
        f.evidence["clients_in_mynetworks"] = [[ip, n] for ip, n in own.items()]
        f.severity = "warning" if own else "notice"
        limits = ", ".join(k for k, _ in self.g.top("by_limit", 3))
        if own:
            f.summary = (f"Clients were refused {plural(self.g.count, 'time')} by anvil limits ({limits}); "
                         f"{plural(sum(own.values()), 'refusal')} of clients in mynetworks ({', '.join(own)}).")
            ip = next(iter(own))
            f.remediation = [
                f"{', '.join(own)} {'is' if len(own) == 1 else 'are'} in mynetworks ({networks}) but not exempt from "
                f"the limits (smtpd_client_event_limit_exceptions = {exceptions or '(empty)'}, "
                f"{cfg.where('smtpd_client_event_limit_exceptions')}). "
                + step(fixes.add_to_list("smtpd_client_event_limit_exceptions",
                                         "$mynetworks" if not exceptions else ip, cfg), "`postfix reload`"),
                self.remediation[1]]
        else:
            f.summary = (f"Clients were refused {plural(self.g.count, 'time')} by anvil limits ({limits}); "
                         f"none of them is in mynetworks ({networks}).")
            ip = next((k for k in self.subjects if k != OTHER), "192.0.2.10")
            f.remediation = ["The refused clients are outside mynetworks: the limits did their job. Only if one of "
                             "them is a trusted sender, exempt it: "
                             + step(fixes.add_to_list("smtpd_client_event_limit_exceptions", ip, cfg),
                                    "`postfix reload`")]
        f.config = dict(facts)

    def summarize(self, g):
        extra = f"; {plural(self.internal, 'refusal')} of internal clients" if self.internal else ""
        limits = ", ".join(k for k, _ in g.top("by_limit", 3))
        return f"Clients were refused {plural(g.count, 'time')} by anvil limits ({limits}){extra}."

    def evidence(self, g):
        return {"by_limit": g.breakdown("by_limit"), "top_clients": g.top("top_clients"),
                "by_service": g.breakdown("by_service"), "internal_clients": g.top("internal_clients")}


def by_mynetworks(cfg, clients):
    """(facts, mynetworks, {ip: n} inside it, {ip: n} outside it) for a counter of client
    addresses; None without a configuration, or when mynetworks cannot tell (computed on the
    server, a table or a host name): the rule's judgement from the log then stands."""
    if cfg is None:
        return None
    facts = Facts(cfg)
    networks = facts.param("mynetworks")
    known = {ip: cfg.in_mynetworks(ip) for ip in clients if ip != OTHER}
    if networks is None or None in known.values():
        return None
    inside = {ip: n for ip, n in clients.items() if known.get(ip)}
    outside = {ip: n for ip, n in clients.items() if known.get(ip) is False}
    return facts, networks, inside, outside
