"""Limits: smtpd's per-session error limit, and master's per-service process limit."""

from __future__ import annotations

from ..config import fixes
from .base import Group, LineRule, Rule, plural, register
from .incident_spec import IncidentSpec, Link
from .settings import Facts, log_path, services_for_tags, step


@register
class ErrorLimit(LineRule):
    id = "ERR001"
    name = "smtpd-error-limit"
    title = "SMTP clients disconnected after too many errors (smtpd_hard_error_limit)"
    category = "error-limit"
    severity = "warning"
    kinds = ("error_limit",)
    track_tags = True
    count_unit = "lines (sessions cut off); top offenders per client and per command"
    what = """smtpd counts the errors of each session (unknown or bad commands, rejected recipients,
    access-restriction hits). When the count reaches smtpd_hard_error_limit it logs `too many errors
    after CMD from CLIENT` and hangs up. From smtpd_soft_error_limit on it already delays each reply by
    smtpd_error_sleep_time."""
    why = """Usually these are dictionary attacks (RCPT after RCPT to unknown users), password guessing
    or broken clients. Each of them holds an smtpd process while it is being slowed down, which can
    exhaust the smtpd process limit (PRC001). If a legitimate client (your own application, a backup MX)
    is among the top offenders, it is sending something Postfix rejects and needs fixing."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: too many errors after RCPT from unknown[203.0.113.9]",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: NOQUEUE: too many errors after AUTH from unknown[203.0.113.9]",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: too many errors after DATA (0 bytes) from client.example.com[192.0.2.4]",
    )
    fix = """For hostile clients: block them before smtpd, with postscreen (pregreet and DNSBL tests), a
    fail2ban jail on the `too many errors` line, or a check_client_access entry; lowering
    smtpd_hard_error_limit (e.g. 10) and smtpd_soft_error_limit (e.g. 3) cuts them off sooner. For a
    legitimate client, look at its rejected commands in the log and fix the client or its
    authorization."""
    remediation = (
        "Look at what the top clients did before they were cut off: `grep 'IP' /var/log/mail.log | grep -E 'reject|error'`.",
        "Cut abusers off sooner: `postconf -e 'smtpd_soft_error_limit = 3' 'smtpd_hard_error_limit = 10'` "
        "(defaults 10 and 20; smtpd_error_sleep_time = 1s per reply from the soft limit on), then `postfix reload`.",
        "Keep them away from smtpd: enable postscreen (POSTSCREEN_README) or a fail2ban jail matching "
        "'too many errors after .* from .*\\[<HOST>\\]'.",
        "If a legitimate client is listed, fix what it sends (unknown recipients, missing authentication).",
    )
    parameters = (
        ("smtpd_soft_error_limit", "10", "errors per session before each reply is delayed"),
        ("smtpd_hard_error_limit", "20 (1 under stress)", "errors per session before smtpd disconnects"),
        ("smtpd_error_sleep_time", "1s", "delay per reply once the soft limit is reached"),
        ("smtpd_junk_command_limit", "100 (1 under stress)", "NOOP/VRFY/ETRN/RSET commands before they count as errors"),
    )
    references = ("TUNING_README: Slowing down SMTP clients that make many errors",
                  "STRESS_README: Disconnect suspicious SMTP clients", "POSTSCREEN_README")
    with_config = """Shows the error limits the failing services use (smtpd_soft_error_limit,
    smtpd_hard_error_limit, smtpd_error_sleep_time, with -o overrides) and changes them where that
    service reads them; the log to grep is maillog_file when it is set."""
    incident = IncidentSpec(subject="client", unit="cut_off", title="sessions cut off after too many errors (top client {key})")

    def subject(self, ev):
        return ev.f.get("client_ip")

    def refine(self, f):
        cfg = self.config
        top = self.key() or "IP"
        steps = [f"Look at what the top clients did before they were cut off: `grep -F '[{top}]' {log_path(cfg)} | "
                 "grep -E 'reject|error'`."]
        services = services_for_tags(cfg, self.tags)
        if cfg is not None and services:
            facts = Facts(cfg)
            for svc in services:
                key = (svc.name, svc.type)
                soft = facts.param("smtpd_soft_error_limit", key, expanded=True)
                hard = facts.param("smtpd_hard_error_limit", key, expanded=True)
                facts.param("smtpd_error_sleep_time", key, expanded=True)
                changes = [fixes.set_effective(name, want, cfg, key)
                           for name, now, want in (("smtpd_soft_error_limit", soft, "3"),
                                                   ("smtpd_hard_error_limit", hard, "10"))
                           if (now or "").strip().isdigit() and int(now) > int(want)]
                if changes:
                    steps.append(f"Cut abusers off sooner on {svc.key} (soft limit {soft}, hard limit {hard}): "
                                 + " ".join(step(c) for c in changes) + " Then `postfix reload`.")
                else:
                    steps.append(f"{svc.key} already cuts clients off early (soft limit {soft}, hard limit {hard}).")
            f.config = dict(facts)
        else:
            steps.append(self.remediation[1])
        f.remediation = steps + list(self.remediation[2:])

    def tally(self, ev, g):
        g.tally("top_clients", ev.client)
        stage = (ev.f.get("stage") or "?").split(" ", 1)[0]
        g.tally("by_command", stage)

    def summarize(self, g):
        clients = g.counter("top_clients")
        top = g.top("top_clients", 1)
        who = f"; most from {top[0][0]} ({top[0][1]})" if top else ""
        return (f"{plural(g.count, 'session')} from {plural(len(clients), 'client')} hit the smtpd hard "
                f"error limit{who}.")

    def evidence(self, g):
        return {"top_clients": g.top("top_clients"), "by_command": g.breakdown("by_command"),
                "distinct_clients": len(g.counter("top_clients"))}


@register
class ProcessLimit(Rule):
    id = "PRC001"
    name = "process-limit-reached"
    title = "A master.cf service reached its process limit"
    category = "process-limit"
    severity = "warning"
    kinds = ("process_limit", "stress", "warning")
    count_unit = "warning lines, one finding per service (key = master.cf service name)"
    what = """master started as many processes for a service as its master.cf maxproc column (or
    default_process_limit) allows, and logged `service "NAME" (ENDPOINT) has reached its process limit
    "N": new clients may experience noticeable delays`. New connections wait in the listen queue
    until a process becomes free."""
    why = """For smtpd this means clients wait or time out: mail arrives late or is retried by senders.
    Common causes are a flood of (spam) connections, slow clients held by error delays, slow DNS or
    policy lookups making each session take longer, or a limit set too low for the traffic. For a
    delivery transport it limits concurrency and lets the queue grow."""
    example = (
        'Nov 25 12:00:01 mail postfix/master[1000]: warning: service "smtp" (25) has reached its process limit "100": new clients may experience noticeable delays',
        "Nov 25 12:00:01 mail postfix/master[1000]: warning: to avoid this condition, increase the process count in master.cf or reduce the service time per client",
        "Nov 25 12:00:01 mail postfix/master[1000]: warning: see http://www.postfix.org/STRESS_README.html for examples of stress-adapting configuration settings",
    )
    fix = """If the load is legitimate and the host has memory to spare, raise the service's maxproc in
    master.cf (or default_process_limit). If it is an attack, spend less time per client instead:
    Postfix 2.6+ switches to stress-adaptive settings automatically when smtpd hits the limit (shorter
    timeouts, lower error limits); postscreen keeps zombies away from smtpd entirely."""
    remediation = (
        "See how often and when it happens (evidence: per service, limit and time span); check "
        "`ps -C smtpd --no-headers | wc -l` during the peak.",
        "Raise the limit for that service: `postconf -F 'smtp/inet/process_limit'` shows it (the maxproc column; "
        "`-` means default_process_limit), `postconf -F 'smtp/inet/process_limit=200'` sets it, or "
        "`postconf -e 'default_process_limit = 200'` for every service using `-`; then `postfix reload`.",
        "Spend less time per client (STRESS_README): lower smtpd_timeout and the error limits under stress, "
        "e.g. `postconf -e 'smtpd_timeout = ${stress?{10}:{300}}s' 'smtpd_hard_error_limit = ${stress?{1}:{20}}'`.",
        "Keep zombies away from smtpd with postscreen (POSTSCREEN_README), and check slow DNS/policy/milter lookups.",
    )
    parameters = (
        ("default_process_limit", "100", "process limit of every master.cf service with `-` in the maxproc column"),
        ("smtpd_timeout", "300s (10s under stress)", "time an idle client may hold an smtpd process"),
        ("smtpd_hard_error_limit", "20 (1 under stress)", "errors before an smtpd session is cut off"),
        ("stress", "(empty)", "set to yes by master while a service is overloaded"),
    )
    with_config = """Reads the service's maxproc column (postconf -F calls it process_limit; `-` is
    default_process_limit) and gives the `postconf -F` command for exactly that master.cf entry."""
    references = ("STRESS_README: Symptoms of Postfix SMTP server overload",
                  "STRESS_README: Automatic stress-adaptive behavior",
                  "STRESS_README: Service more SMTP clients at the same time",
                  "TUNING_README: Tuning the number of Postfix processes")
    incident = IncidentSpec(
        subject="service", title="service {key} at its process limit",
        leads_to=(Link("CON001", within=600, why="waiting clients time out or hang up"),))

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.groups: dict[str, Group] = {}
        self.limits: dict[str, int] = {}
        self.endpoints: dict[str, str] = {}
        self.hints = self.group()

    def feed(self, ev):
        kind = ev.kind
        if kind == "warning":
            t = ev.text
            if ev.program == "master" and (t.startswith("to avoid this condition, increase the process count")
                                           or "STRESS_README" in t):
                self.hints.see(ev, sample=False)
                return True
            return None
        if kind == "stress" and "process limit" not in (ev.f.get("what") or ""):
            return None  # "is in stress" lines without a limit are left to the catch-all
        svc = ev.f.get("service_name") or "?"
        g = self.groups.get(svc)
        if g is None:
            if len(self.groups) >= 200:
                return True
            g = self.groups[svc] = self.group()
        g.add(ev)
        if ev.f.get("limit") is not None:
            self.limits[svc] = ev.f["limit"]
        if ev.f.get("endpoint"):
            self.endpoints[svc] = ev.f["endpoint"]
        return True

    def merge(self, later):
        for svc, g in later.groups.items():
            if svc in self.groups:
                self.groups[svc].merge(g)
            elif len(self.groups) < 200:
                self.groups[svc] = g
        self.limits.update(later.limits)  # the later piece's lines came last
        self.endpoints.update(later.endpoints)
        self.hints.merge(later.hints)

    def finish(self, queued, end_ts):
        out = []
        for svc, g in sorted(self.groups.items()):
            limit = self.limits.get(svc)
            ev = {"service": svc, "endpoint": self.endpoints.get(svc), "process_limit": limit}
            if g.first is not None and g.last is not None:
                ev["span_seconds"] = round(g.last - g.first, 3)
            steps = list(self.remediation)
            ep = self.endpoints.get(svc) or ""
            typ = "unix" if ep.startswith(("private/", "public/")) else "inet"
            new = str(max(limit * 2, 10)) if limit is not None else "200"
            steps[1] = steps[1].replace("smtp/inet/", f"{svc}/{typ}/").replace("process_limit=200",
                                                                              f"process_limit={new}")
            facts = Facts(self.config)
            entry = self.config.service(svc, typ) if self.config is not None and self.config.has_master else None
            if entry is not None:
                facts.column(entry, "maxproc")
                change = [fixes.set_service_field(entry.name, entry.type, "process_limit", new, self.config)]
                if entry.maxproc == "-":
                    facts.param("default_process_limit")
                    change.append(fixes.set_param("default_process_limit", new, self.config))
                    steps[1] = ("Raise the limit of that service (its maxproc is `-`: default_process_limit): "
                                + step(change[0]) + " Or for every service using `-`: " + step(change[1])
                                + " Then `postfix reload`.")
                else:
                    steps[1] = "Raise the limit of that service: " + step(change[0], "`postfix reload`")
            out.append(self.make(g, f"service \"{svc}\" hit its process limit"
                                    f"{f' of {limit}' if limit is not None else ''} "
                                    f"{plural(g.count, 'time')}: new clients waited.",
                                 key=svc, evidence=ev, remediation=steps, config=dict(facts)))
        return out
