"""Connection: SMTP sessions that end badly, clients that pipeline without permission, and
clients that do not speak SMTP."""

from __future__ import annotations

from .base import LineRule, plural, register
from .incident_spec import IncidentSpec
from .settings import Facts, services_for_tags


def _stage(ev) -> str:
    return (ev.f.get("stage") or "?").split(" ", 1)[0]


@register
class LostConnection(LineRule):
    id = "CON001"
    name = "smtpd-lost-connection"
    title = "SMTP sessions ended by lost connections or timeouts"
    category = "connection"
    severity = "notice"
    kinds = ("lost_connection", "timeout")
    track_tags = True
    count_unit = "lines, broken down by stage (last command) and client"
    what = """smtpd logs `lost connection after CMD from CLIENT` when the client hung up without QUIT, and
    `timeout after CMD from CLIENT` when it stayed silent for smtpd_timeout. CMD is the last command
    before the end: the stage at which the session broke."""
    why = """After CONNECT, EHLO or AUTH these are mostly scanners, spam bots and monitoring probes
    (normal in small numbers). After DATA or END-OF-MESSAGE a client gave up in the middle of
    sending mail: look for network problems (MTU, firewalls), a too-small smtpd_timeout, or slow
    milters/content filters making the client time out. Many timeouts also keep smtpd processes busy
    (see PRC001)."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: lost connection after CONNECT from unknown[203.0.113.9]",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: NOQUEUE: lost connection after AUTH from unknown[203.0.113.9]",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: timeout after DATA (1024 bytes) from client.example.com[192.0.2.4]",
    )
    fix = """Look at the stage breakdown. Early stages from unknown clients need nothing (or postscreen).
    For DATA/END-OF-MESSAGE stages from real senders, check milters, content filters and network path;
    raise smtpd_timeout if clients are slow; check that nothing in between (firewall SMTP fixup, load
    balancer idle timeout) cuts sessions."""
    remediation = (
        "Check the stage breakdown: CONNECT/EHLO/AUTH losses are usually probes; DATA/END-OF-MESSAGE losses are real senders giving up.",
        "For late-stage losses, time the milters/content filter and the network path (MTU, firewall SMTP inspection, load-balancer idle timeouts).",
        "Keep bots away from smtpd with postscreen; keep smtpd_timeout at its default "
        "(`postconf -e 'smtpd_timeout = ${stress?{10}:{300}}s'`) unless slow clients need more.",
    )
    parameters = (
        ("smtpd_timeout", "300s (10s under stress)", "how long smtpd waits for a client command"),
    )
    references = ("DEBUG_README: Look for obvious signs of trouble", "STRESS_README: Spend less time per SMTP client")
    with_config = """Shows smtpd_timeout as each service the sessions broke on reads it (-o overrides)."""
    incident = IncidentSpec(subject="client")

    def subject(self, ev):
        return ev.f.get("client_ip")

    def tally(self, ev, g):
        g.tally("by_stage", f"{'timeout' if ev.kind == 'timeout' else 'lost connection'} after {_stage(ev)}")
        g.tally("top_clients", ev.client)

    def summarize(self, g):
        top = g.top("by_stage", 1)
        most = f"; most often {top[0][0]} ({top[0][1]})" if top else ""
        return f"{plural(g.count, 'SMTP session')} ended by a lost connection or timeout{most}."

    def refine(self, f):
        cfg = self.config
        services = services_for_tags(cfg, self.tags)
        if cfg is not None and services:
            facts = Facts(cfg)
            timeouts = [f"{s.key} smtpd_timeout = {facts.param('smtpd_timeout', (s.name, s.type))}" for s in services]
            f.remediation[2] = ("Keep bots away from smtpd with postscreen; the timeouts in effect: "
                                + "; ".join(timeouts) + " (Postfix's default: ${stress?{10}:{300}}s), "
                                "raise them only if slow clients need more.")
            f.config = dict(facts)

    def evidence(self, g):
        return {"by_stage": g.breakdown("by_stage"), "top_clients": g.top("top_clients"),
                "distinct_clients": len(g.counter("top_clients"))}


@register
class ImproperPipelining(LineRule):
    id = "CON002"
    name = "improper-pipelining"
    title = "Clients sent commands before the server replied (improper pipelining)"
    category = "connection"
    severity = "notice"
    kinds = ("pipelining",)
    count_unit = "lines"
    what = """smtpd logged `improper command pipelining after CMD from CLIENT`: the client sent more
    commands without waiting for replies where SMTP does not allow it (before the greeting, or before
    the server announced PIPELINING)."""
    why = """Mostly spam bots that do not wait for the server. A legitimate client doing this is broken
    and may fail with reject_unauth_pipelining or smtpd_forbid_unauth_pipelining."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: improper command pipelining after CONNECT from unknown[203.0.113.9]: EHLO x\\r\\nMAIL FROM:<a@b>\\r\\n",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: improper command pipelining after EHLO from unknown[203.0.113.9]: MAIL FROM:<a@b>\\r\\nRCPT TO:<c@d>\\r\\n",
    )
    fix = """Reject such clients: `smtpd_forbid_unauth_pipelining = yes` (Postfix 3.9+, and the 3.8.4/3.7.9
    updates), or reject_unauth_pipelining in smtpd_data_restrictions; postscreen's pipelining test
    catches them before smtpd."""
    remediation = (
        "Reject them: `postconf -e 'smtpd_forbid_unauth_pipelining = yes'` (where supported) or add "
        "reject_unauth_pipelining to smtpd_data_restrictions, then `postfix reload`.",
        "With postscreen: `postconf -e 'postscreen_pipelining_enable = yes'` (deep protocol test).",
    )
    parameters = (
        ("smtpd_forbid_unauth_pipelining", "no (yes from Postfix 3.9)", "disconnect clients that pipeline without permission"),
    )
    references = ("POSTSCREEN_README: Command pipelining test",)

    def subject(self, ev):
        return ev.f.get("client_ip")

    def tally(self, ev, g):
        g.tally("by_stage", _stage(ev))
        g.tally("top_clients", ev.client)

    def summarize(self, g):
        return (f"{plural(g.count, 'session')} from {plural(len(g.counter('top_clients')), 'client')} "
                f"pipelined commands improperly.")


@register
class NonSmtpCommand(LineRule):
    id = "CON003"
    name = "non-smtp-command"
    title = "Clients sent non-SMTP commands (HTTP requests, garbage)"
    category = "connection"
    severity = "notice"
    kinds = ("non_smtp",)
    count_unit = "warning lines"
    what = """smtpd logged `warning: non-SMTP command from CLIENT: TEXT`: the client sent something that is
    not SMTP, such as an HTTP request (`GET / HTTP/1.1`, `CONNECT host:port`) or binary data, and was
    disconnected (smtpd_forbidden_commands)."""
    why = """Mostly port scanners and open-proxy probes, harmless in small numbers. If the clients are
    your own, something (a web proxy, a TLS client on the plain port, a monitoring check) talks to the
    wrong port."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: non-SMTP command from unknown[203.0.113.9]: GET / HTTP/1.1",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: non-SMTP command from unknown[203.0.113.9]: CONNECT 198.51.100.1:25 HTTP/1.0",
    )
    fix = """Nothing for scanners (postscreen's non-SMTP-command test blocks them earlier). For your own
    clients, point them at the right port or protocol (e.g. implicit TLS on port 465 needs the
    smtps/submissions service)."""
    remediation = (
        "If the clients are internal, fix their port/protocol (465 needs `smtpd_tls_wrappermode=yes`).",
        "Block scanners before smtpd: `postconf -e 'postscreen_non_smtp_command_enable = yes'`.",
    )
    parameters = (
        ("smtpd_forbidden_commands", "CONNECT GET POST regexp:{{/^[^A-Z]/ Bogus}}", "commands that end the session at once"),
    )
    references = ("POSTSCREEN_README: Non-SMTP command test",)

    def subject(self, ev):
        return ev.f.get("client_ip")

    def tally(self, ev, g):
        g.tally("top_clients", ev.client)
        data = (ev.f.get("data") or "").split(" ", 1)[0][:40]
        g.tally("by_command", data or "?")

    def summarize(self, g):
        return (f"{plural(g.count, 'non-SMTP command')} from "
                f"{plural(len(g.counter('top_clients')), 'client')}.")
