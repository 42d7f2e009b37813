"""Security: SASL password guessing, relay attempts, and anvil rate limits."""

from __future__ import annotations

import re

from .base import LineRule, ip_kind, plural, register
from .incident_spec import IncidentSpec

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
        "Rate-limit AUTH per client: `postconf -e 'smtpd_client_auth_rate_limit = 10'` (per anvil_rate_time_unit = 60s), then `postfix reload`.",
        "Ban the top clients: fail2ban jail `postfix-sasl` (filter on 'SASL (?:LOGIN|PLAIN|(?:CRAM|DIGEST)-MD5) authentication failed').",
        "Offer AUTH only on submission/submissions: `postconf -e 'smtpd_sasl_auth_enable = no'` in main.cf and "
        "`-o smtpd_sasl_auth_enable=yes` on the submission lines of master.cf.",
        "If a failure is followed by a success for the same user from a strange client, reset that user's password.",
    )
    parameters = (
        ("smtpd_sasl_auth_enable", "no", "offer SMTP AUTH"),
        ("smtpd_client_auth_rate_limit", "0 (no limit)", "AUTH commands per client per anvil_rate_time_unit"),
        ("anvil_rate_time_unit", "60s", "time unit of the anvil rate limits"),
    )
    references = ("SASL_README", "TUNING_README: Measures against clients that make too many connections")
    incident = IncidentSpec(subject="client", unit="rejected", title="SASL authentication failures (top client {key})")

    def match(self, ev):
        return ev.kind == "sasl_failure"

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
    count_unit = "reject lines"
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
        "Check who is rejected: internal/loopback clients or your own domains in evidence mean a config problem.",
        "For internal clients: `postconf -e 'mynetworks = 127.0.0.0/8 [::1]/128 192.0.2.0/24'` (your networks), "
        "or require SASL on submission (`permit_sasl_authenticated` in smtpd_relay_restrictions).",
        "For your own domains: `postconf mydestination virtual_mailbox_domains relay_domains` must list them.",
        "For Internet probes: nothing to fix; postscreen or a fail2ban jail reduces the noise.",
    )
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

    def match(self, ev):
        r = ev.f.get("reason")
        return bool(r) and "Relay access denied" in r

    def subject(self, ev):
        return ev.f.get("client_ip")

    def tally(self, ev, g):
        g.tally("top_clients", ev.client)
        g.tally("top_recipient_domains", (ev.f.get("to") or "").rsplit("@", 1)[-1].lower() or None)
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

    def grade(self, g):
        if self.internal or self.max_window >= self.BURST or g.count >= self.BURST * 3:
            return "warning"
        return "notice"

    def summarize(self, g):
        extra = f"; {plural(self.internal, 'reject')} of internal clients (mynetworks/SASL problem?)" if self.internal else ""
        return (f"{plural(g.count, 'relay attempt')} denied from "
                f"{plural(len(g.counter('top_clients')), 'client')}, at most {self.max_window} in 10 minutes{extra}.")

    def evidence(self, g):
        return {"top_clients": g.top("top_clients"), "top_recipient_domains": g.top("top_recipient_domains"),
                "internal_clients": g.top("internal_clients"), "max_per_10_minutes": self.max_window}


@register
class RateLimits(LineRule):
    id = "SEC003"
    name = "client-rate-limits"
    title = "Clients exceeded anvil rate or concurrency limits"
    category = "security"
    severity = "notice"
    kinds = ("rate_limit", "warning")
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
        "Exempt trusted clients: `postconf -e 'smtpd_client_event_limit_exceptions = $mynetworks, 192.0.2.10'`, "
        "or raise the limit named in by_limit (e.g. `postconf -e 'smtpd_client_connection_rate_limit = 100'`), then `postfix reload`.",
    )
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
        if ev.kind == "rate_limit":
            self._what = ev.f.get("what") or "rate limit exceeded"
            return True
        t = ev.text
        if ev.program == "smtpd" and ("limit exceeded: " in t) and " for service " in t:
            self._what = t.split(":", 1)[0]
            return True
        return False

    def subject(self, ev):
        ip = ev.f.get("client_ip")
        if ip is None:
            m = _CLIENT_IN_TEXT.search(ev.text)
            ip = m.group(1) if m else None
        return ip

    def tally(self, ev, g):
        g.tally("by_limit", self._what)
        client = ev.client
        if client is None:
            m = _CLIENT_IN_TEXT.search(ev.text)
            client = m.group(0) if m else None
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

    def summarize(self, g):
        extra = f"; {plural(self.internal, 'refusal')} of internal clients" if self.internal else ""
        limits = ", ".join(k for k, _ in g.top("by_limit", 3))
        return f"Clients were refused {plural(g.count, 'time')} by anvil limits ({limits}){extra}."

    def evidence(self, g):
        return {"by_limit": g.breakdown("by_limit"), "top_clients": g.top("top_clients"),
                "by_service": g.breakdown("by_service"), "internal_clients": g.top("internal_clients")}


_CLIENT_IN_TEXT = re.compile(r"\S*\[([0-9A-Fa-f.:]+)\]")
