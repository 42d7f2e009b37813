"""chroot: daemons in the jail under the queue directory that miss files or sockets which exist
outside it (DEBUG_README: "Try turning off chroot operation in master.cf")."""

from __future__ import annotations

import re

from ..config import fixes
from ..events import place
from .base import UNDECIDED, LineRule, plural, register
from .incident_spec import IncidentSpec, Link
from .settings import Facts, chrooted, queue_directory, service_guess, services_for_tags, step

JAIL = "/var/spool/postfix"
CHROOT_REFS = (
    "DEBUG_README: Try turning off chroot operation in master.cf",
    "BASIC_CONFIGURATION_README: Postfix chroot setup",
)
CHROOT_PARAMS = (
    ("queue_directory", "/var/spool/postfix", "the directory chrooted daemons are jailed in"),
)
TURN_OFF_CHROOT = (
    "To confirm, turn chroot off for the affected service (DEBUG_README): list the chroot column with "
    "`postconf -F '*/*/chroot'` (y: chrooted; -: chrooted only below compatibility_level 1, so not with "
    "Debian's 3.6), set the failing service's to `n` (`postconf -F 'SERVICE/TYPE/chroot=n'`: smtp/inet "
    "for smtpd on port 25, smtp/unix for the smtp client), then `postfix reload`."
)
CHROOT_WITH_CONFIG = """Names the master.cf services the failing lines come from (by their syslog_name and
command, so `postfix/smtp` is the smtp client, smtp/unix, not smtp/inet) with their chroot column as
Postfix reads it (`-` is n from compatibility_level 1 on), and gives `postconf -F` for exactly those
services; a service that is not chrooted is not a jail problem."""


def turn_off_chroot(cfg, services, tags) -> list[str]:
    """The confirm step: turn chroot off for the failing services (exact with master.cf; from the
    log's tags without it)."""
    if cfg is not None and services:
        cmds = [fixes.set_service_field(s.name, s.type, "chroot", "n", cfg) for s in services if s.chrooted]
        if not cmds:
            return []
        return ["To confirm, turn chroot off for the failing service (DEBUG_README): "
                + " ".join(step(c) for c in cmds) + " Then `postfix reload`."]
    guesses = list(dict.fromkeys(service_guess(*tag) for tag, _ in tags.most_common(3) if isinstance(tag, tuple)))
    if not guesses:
        return [TURN_OFF_CHROOT]
    cmds = " ".join(f"`postconf -F '{name}/{type_}/chroot'`" for name, type_ in guesses)
    sets = " ".join(f"`postconf -F '{name}/{type_}/chroot=n'`" for name, type_ in guesses)
    return [f"To confirm, turn chroot off for the failing service (DEBUG_README): see its chroot column with "
            f"{cmds} (y: chrooted; -: chrooted only below compatibility_level 1), set it to n with {sets}, "
            "then `postfix reload`."]


def chroot_facts(facts: Facts, services) -> tuple[list, list]:
    """(chrooted services, the others), each service's chroot column recorded as a fact."""
    yes, no = [], []
    for svc in services:
        (yes if facts.column(svc, "chroot") else no).append(svc)
    return yes, no

_ENOENT = "No such file or directory"


def host_path(sock: str | None) -> str | None:
    """The absolute host path of a socket endpoint ("unix:/run/x", "/run/x"), else None."""
    if not sock:
        return None
    s = sock.strip("'\"")
    for prefix in ("unix:", "local:"):
        if s.startswith(prefix):
            s = s[len(prefix):]
    if s.startswith("/") and not s.startswith(JAIL + "/"):
        return s
    return None


def chroot_socket_suspect(sock: str | None, reason: str | None) -> bool:
    """A socket given as a host path that a (chrooted) daemon cannot find."""
    return bool(reason) and _ENOENT in reason and host_path(sock) is not None


@register
class UnknownService(LineRule):
    id = "CHR001"
    name = "chroot-unknown-service"
    title = "Daemon cannot resolve a service name (chroot lacks etc/services)"
    category = "chroot"
    severity = "error"
    kinds = ("unknown_service",)
    track_tags = True
    count_unit = "fatal lines"
    what = """A daemon died with `fatal: unknown service: NAME/tcp`: getservbyname() could not translate a
    service name such as `smtp` into a port number (a standard name, in a daemon other than master;
    master's own and non-standard names are CFG008). Chrooted daemons read etc/services inside the jail
    (/var/spool/postfix/etc/services), not the host's /etc/services."""
    why = """The daemon exits at once, so master throttles the service: no mail is received (smtpd) or
    sent (smtp) while the jail's etc/services is missing or incomplete."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtp[2345]: fatal: unknown service: smtp/tcp",
        "Nov 25 12:00:02 mail postfix/master[1000]: warning: process /usr/lib/postfix/sbin/smtp pid 2345 exit status 1",
        "Nov 25 12:00:02 mail postfix/master[1000]: warning: /usr/lib/postfix/sbin/smtp: bad command startup -- throttling",
    )
    fix = """Put a copy of /etc/services into the jail, or let the distribution's init script populate it
    (Debian/Ubuntu copy etc/services, etc/resolv.conf, etc/hosts and friends on every start). Or run the
    service without chroot."""
    remediation = (
        f"Copy the file into the jail: `mkdir -p {JAIL}/etc && cp -p /etc/services {JAIL}/etc/services`.",
        "On Debian/Ubuntu restart through the init script, which re-populates the jail: "
        "`systemctl restart postfix` (or run /usr/lib/postfix/configure-instance.sh).",
        TURN_OFF_CHROOT,
    )
    parameters = CHROOT_PARAMS
    references = CHROOT_REFS
    with_config = CHROOT_WITH_CONFIG

    def match(self, ev):
        # master's own (never chrooted) and non-standard names are the host's /etc/services: CFG008
        from .config_fatals import host_services_problem

        return not host_services_problem(ev)

    incident = IncidentSpec(
        leads_to=(Link("CFG005", within=300, why="the daemon dies at startup and master throttles it"),
                  Link("DLV001", within=86400, why="mail for the failing transport is deferred"),
                  Link("QUE001", within=86400, why="that mail is still queued at the end")))

    def subject(self, ev):
        return ev.f.get("service_name")

    def refine(self, f):
        cfg = self.config
        facts = Facts(cfg)
        services = services_for_tags(cfg, self.tags)
        jail = queue_directory(cfg)
        names = [k.split("/", 1)[0] for k, _ in self.g.top("by_service")]
        steps = [f"Copy the file into the jail: `mkdir -p {jail}/etc && cp -p /etc/services {jail}/etc/services`.",
                 self.remediation[1]]
        if cfg is not None and services:
            yes, no = chroot_facts(facts, services)
            if no and not yes:
                steps = [f"{', '.join(s.key for s in no)} {'is' if len(no) == 1 else 'are'} not chrooted: the host's "
                         f"own /etc/services lacks {', '.join(names)}: `grep -w {names[0]} /etc/services`."]
            relay = facts.param("relayhost", expanded=True) if cfg.has_main else None
            if relay and any(n in relay for n in names):
                steps.append(f"relayhost = {relay} ({cfg.where('relayhost')}) names the port by service name: a "
                             "numeric port (e.g. [host]:465) needs no etc/services.")
        steps += turn_off_chroot(cfg, services, self.tags)
        f.remediation = steps
        f.config = dict(facts)

    def tally(self, ev, g):
        g.tally("by_service", f"{ev.f.get('service_name')}/{ev.f.get('proto')}")
        g.tally("by_program", ev.program)

    def summarize(self, g):
        svcs = ", ".join(k for k, _ in g.top("by_service"))
        return f"{plural(g.count, 'daemon start')} failed: unknown service {svcs} (etc/services missing in the chroot?)."


@register
class ChrootFilesDiffer(LineRule):
    id = "CHR002"
    name = "chroot-files-differ"
    title = "Files in the chroot jail differ from the host's copies"
    category = "chroot"
    severity = "warning"
    kinds = ("chroot_differs",)
    defers_to = ("DNS002", "DNS003", "DNS005", "CHR001")  # lookups failing in chrooted daemons
    count_unit = "warning lines"
    what = """postfix-script (run by `postfix start` and `postfix check`) found that a file copied into the
    jail, such as /var/spool/postfix/etc/resolv.conf, differs from the host's /etc file."""
    why = """Chrooted daemons use the jail's copy. A stale etc/resolv.conf or etc/hosts makes name lookups
    fail or give other answers only inside Postfix (clients become unknown[IP], deliveries defer with
    DNS errors); a stale etc/services or etc/localtime gives fatal errors or wrong log times."""
    example = (
        "Nov 25 12:00:00 mail postfix/postfix-script[900]: warning: /var/spool/postfix/etc/resolv.conf and /etc/resolv.conf differ",
        "Nov 25 12:00:00 mail postfix/postfix-script[900]: warning: /var/spool/postfix/etc/hosts and /etc/hosts differ",
    )
    fix = """Refresh the copies in the jail from /etc, e.g. by restarting through the distribution's init
    script (Debian/Ubuntu copy them at each start), then reload Postfix."""
    remediation = (
        f"Copy the host's files into the jail: `cp -p /etc/resolv.conf /etc/hosts /etc/services {JAIL}/etc/` "
        "(the files named in the warnings).",
        "On Debian/Ubuntu `systemctl restart postfix` re-copies them; if resolv.conf changes often "
        "(DHCP, VPN), re-run that after each change.",
        "`postfix reload`, then `postfix check` to confirm the warnings are gone.",
    )
    parameters = CHROOT_PARAMS
    references = CHROOT_REFS
    severity_rule = """Warning: postfix-script reports any difference, also a harmless one (a comment in
    /etc/hosts, a resolv.conf rewritten by DHCP), and Debian's init script re-copies the files at
    every start. Error when the same log shows lookups failing in chrooted daemons for a file that
    differs: hosts, resolv.conf or nsswitch.conf with DNS002 (smtpd cannot resolve clients), DNS003 or
    DNS005 (the smtp client's lookups), services with CHR001; with the configuration, only when those
    daemons are chrooted."""
    with_config = """Checks that the daemons whose lookups fail are chrooted (master.cf) before raising
    the difference to an error."""
    # files of the jail whose difference breaks which lookups (rule ids), and by which program
    BREAKS = {"DNS002": (("hosts", "resolv.conf", "nsswitch.conf", "host.conf"), "smtpd"),
              "DNS003": (("hosts", "resolv.conf", "nsswitch.conf", "host.conf"), "smtpd"),
              "DNS005": (("hosts", "resolv.conf", "nsswitch.conf", "host.conf"), "smtp"),
              "CHR001": (("services",), None)}

    def defer(self, finding, owners):
        """Lookups fail in the same log: an error when a file they read differs."""
        files = {k.rsplit("/", 1)[-1] for k in finding.evidence.get("by_file", {})}
        cfg = self.config
        why = []
        for owner in owners:
            names, program = self.BREAKS[owner.id]
            hit = sorted(files.intersection(names))
            if not hit:
                continue
            if program is not None and cfg is not None and chrooted(cfg, program) is False:
                continue  # those daemons read the host's files
            why.append(f"{owner.id} ({', '.join(hit)})")
        if why:
            finding.severity = "error"
            finding.summary += f" Lookups fail in chrooted daemons: {', '.join(why)}."
            finding.evidence["lookups_failing"] = why
        return finding

    incident = IncidentSpec(
        title="chroot jail out of date ({key})",
        leads_to=(Link("DNS002", within=86400, why="chrooted smtpd cannot resolve client names"),
                  Link("DNS005", within=86400, why="the chrooted smtp client cannot resolve destinations"),
                  Link("CHR001", within=86400, why="chrooted daemons cannot resolve service names"),
                  Link("CHR003", within=86400, why="chrooted daemons cannot reach their sockets")))

    def subject(self, ev):
        return ev.f.get("path_a")

    def subject_rank(self, subject):
        # files that break name resolution first: they make every client unknown[IP]
        for i, name in enumerate(("/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/services")):
            if subject.endswith(name):
                return i
        return 9

    def tally(self, ev, g):
        g.tally("by_file", ev.f.get("path_b") or ev.f.get("path_a"))

    def summarize(self, g):
        files = ", ".join(k for k, _ in g.top("by_file"))
        return f"{plural(g.count, 'warning')} that jail copies differ from the host: {files}."

    def evidence(self, g):
        return {"by_file": g.breakdown("by_file")}


_SASL_CONNECT = re.compile(r"SASL: Connect to (?:Dovecot auth socket )?'?([^'\s]+)'? failed: (.*)")
_TALK = re.compile(r"problem talking to server (\S+): (.*)")
_CONNECT = re.compile(r"connect to (\S+?)(?:\[[^\]]{0,255}\])?: (.*)")  # bounded: linear


@register
class ChrootSockets(LineRule):
    id = "CHR003"
    name = "chroot-host-socket-missing"
    title = "Chrooted daemon cannot reach a socket given as a host path"
    category = "chroot"
    severity = "error"
    kinds = ("socket_error", "sasl_misc", "milter_error", "dns_error", "connect_error", "delivery",
             "warning", "error", "fatal")
    delivery_statuses = ("deferred", "bounced")
    track_tags = True
    count_unit = "warning/error lines"
    what = """A daemon tried to connect to a UNIX-domain socket given as an absolute host path (a Dovecot
    SASL or LMTP socket, a policy service, a milter, a socketmap server) and got `No such file or
    directory`. A chrooted daemon resolves that path inside /var/spool/postfix, where the socket does
    not exist."""
    why = """SASL authentication, policy checks, milters or LMTP delivery fail for every message while the
    socket is unreachable: submission clients cannot log in, mail is deferred or tempfailed
    (milter_default_action = tempfail)."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: SASL: Connect to /var/run/dovecot/auth-client failed: No such file or directory",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: connect to Milter service unix:/run/opendkim/opendkim.sock: No such file or directory",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: connect to /run/policyd/policy.sock: No such file or directory",
    )
    fix = """Either create the socket inside the jail and name it relative to the queue directory (for
    Dovecot: `unix_listener /var/spool/postfix/private/auth` and `smtpd_sasl_path = private/auth`; for
    milters `unix:/opendkim/opendkim.sock` with the milter's socket under /var/spool/postfix/opendkim), or
    turn chroot off for the services that use it (chroot column `n` in master.cf)."""
    remediation = (
        "Check whether the daemon is chrooted: `postconf -F '*/*/chroot'` (y: chrooted; -: chrooted only below "
        "compatibility_level 1, so not with Debian's compatibility_level = 3.6).",
        "Move the socket under the queue directory and name it relative to it, e.g. Dovecot "
        "`service auth { unix_listener /var/spool/postfix/private/auth { mode = 0660 user = postfix group = postfix } }` "
        "with `postconf -e 'smtpd_sasl_type = dovecot' 'smtpd_sasl_path = private/auth'` (a service with its own "
        "-o smtpd_sasl_path in master.cf, as submission often has, needs "
        "`postconf -P 'submission/inet/smtpd_sasl_path=private/auth'` instead: `postconf -P '*/*/smtpd_sasl_path'` "
        "lists them); a milter socket in /var/spool/postfix/NAME/ named unix:/NAME/NAME.sock in smtpd_milters.",
        TURN_OFF_CHROOT,
        "Verify the peer is running and the socket exists: `ls -l PATH`, `ss -xlp | grep PATH`.",
    )
    with_config = """Names the failing services with their chroot column and the parameter that names the
    socket (main.cf or the service's -o override, e.g. submission's -o smtpd_sasl_path), and gives the
    per-service commands (`postconf -P` for an overridden smtpd_sasl_path, `postconf -F` for chroot)."""
    parameters = CHROOT_PARAMS + (
        ("smtpd_sasl_path", "smtpd", "SASL socket (dovecot: relative to the queue directory)"),
        ("smtpd_milters", "(empty)", "milter endpoints, unix:PATH or inet:host:port"),
    )
    references = CHROOT_REFS + ("SASL_README: Dovecot SASL", "MILTER_README")
    incident = IncidentSpec(
        leads_to=(Link("DLV001", within=3600, why="deliveries through the unreachable socket are deferred"),))

    def _endpoint(self, ev):
        kind, f, text = ev.kind, ev.f, ev.text
        if kind == "socket_error":
            return f.get("socket"), f.get("reason"), "socket"
        if kind == "sasl_misc":
            m = _SASL_CONNECT.search(text)
            if m:
                return m.group(1), m.group(2), "sasl"
            return f.get("socket"), f.get("reason"), "sasl"
        if kind == "milter_error":
            return f.get("milter"), f.get("reason"), "milter"
        if kind == "dns_error":
            if f.get("server"):
                return f.get("server"), f.get("reason"), "server"
            return None, None, None
        if kind == "connect_error":
            return f.get("relay_host"), f.get("reason"), "lmtp"
        if kind == "delivery":
            r = f.get("reason") or ""
            if _ENOENT not in r or f.get("status") not in ("deferred", "bounced"):
                return None, None, None
            m = _CONNECT.search(r)
            return (m.group(1), m.group(2), "lmtp") if m else (None, None, None)
        # generic warning/error/fatal lines
        if _ENOENT not in text:
            return None, None, None
        for rx, what in ((_SASL_CONNECT, "sasl"), (_TALK, "server"), (_CONNECT, "socket")):
            m = rx.search(text)
            if m:
                return m.group(1), m.group(2), what
        return None, None, None

    def match(self, ev):
        sock, reason, what = self._endpoint(ev)
        if not chroot_socket_suspect(sock, reason):
            return False
        self._last = (host_path(sock), what)
        if what == "sasl":
            pid = (ev.host, ev.pid)
            seen = self._sasl_pids.get(pid)
            if seen is None and len(self._sasl_pids) < 10_000 or seen is not None and place(ev) < seen:
                self._sasl_pids[pid] = place(ev)
        return True

    def claim_only(self, ev):
        # smtpd dies right after its SASL socket failed: that fatal line is this finding's consequence
        if ev.kind == "fatal" and ev.text.startswith("no SASL authentication mechanisms"):
            seen = self._sasl_pids.get((ev.host, ev.pid))
            if seen is not None and seen < place(ev):
                self.sasl_fatals += 1
                return True
            return UNDECIDED  # the failure may be in a piece of the log before this one
        return False

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self._sasl_pids: dict = {}  # (host, pid) -> place of the process's first SASL socket failure
        self.sasl_fatals = 0  # "fatal: no SASL authentication mechanisms" right after a SASL socket failure

    def merge(self, later):
        super().merge(later)
        self.sasl_fatals += later.sasl_fatals
        for pid, seen in later._sasl_pids.items():
            mine = self._sasl_pids.get(pid)
            if mine is None and len(self._sasl_pids) < 10_000 or mine is not None and seen < mine:
                self._sasl_pids[pid] = seen

    def subject(self, ev):
        return self._last[0]

    def tally(self, ev, g):
        path, what = self._last
        g.tally("by_socket", path)
        g.tally("by_kind", what)
        g.tally("by_program", ev.program)

    def summarize(self, g):
        socks = ", ".join(k for k, _ in g.top("by_socket", 3))
        return f"{plural(g.count, 'failed connection')} to host-path sockets ({socks}): missing inside the chroot?"

    def evidence(self, g):
        return {"by_socket": g.top("by_socket"), "by_kind": g.breakdown("by_kind"),
                "by_program": g.breakdown("by_program"), "sasl_fatal_exits": self.sasl_fatals}

    def refine(self, f):
        cfg = self.config
        services = services_for_tags(cfg, self.tags)
        if cfg is None or not services:
            f.remediation = [f.remediation[0], f.remediation[1], *turn_off_chroot(None, [], self.tags),
                             f.remediation[3]]
            return
        facts = Facts(cfg)
        yes, no = chroot_facts(facts, services)
        sockets = [k for k, _ in self.g.top("by_socket")]
        steps = []
        for svc in yes:
            key = (svc.name, svc.type)
            named = _naming(cfg, key, sockets)
            for param, _ in named:
                facts.param(param, key)
            text = ", ".join(f"{p} = {v}" for p, v in named) or "a host path"
            inside = [queue_directory(cfg) + sock for sock in sockets if any(sock in v for _, v in named)]
            steps.append(f"{svc.key} runs chrooted (chroot y, {svc.where}) and reads {text}: inside the jail "
                         f"{'that is' if len(inside) == 1 else 'those are'} {', '.join(inside) or 'under the jail'}, "
                         "which does not exist.")
            if any(p == "smtpd_sasl_path" for p, _ in named):
                sasl_type = (cfg.service_param(svc.name, svc.type, "smtpd_sasl_type") or "").strip()
                if sasl_type == "dovecot":
                    steps.append("Let Dovecot listen inside the jail (`service auth { unix_listener "
                                 f"{queue_directory(cfg)}/private/auth {{ mode = 0660 user = postfix group = postfix }} }}`"
                                 ") and point the service at it: "
                                 + step(fixes.set_effective("smtpd_sasl_path", "private/auth", cfg, key),
                                        "`postfix reload`"))
            elif named:
                steps.append(f"Move the socket under {queue_directory(cfg)} and change that item of "
                             f"{named[0][0]} ({cfg.where(named[0][0], key)}) to the path relative to it, "
                             "keeping the other items.")
        for svc in no:
            steps.append(f"{svc.key} is not chrooted ({svc.where}): the socket itself is missing.")
        steps += turn_off_chroot(cfg, yes, self.tags)
        steps.append("Verify the peer is running and the socket exists: "
                     + ", ".join(f"`ls -l {sock}`" for sock in sockets[:3]) + ".")
        f.remediation = steps
        f.config = dict(facts)


def _naming(cfg, service, sockets) -> list[tuple[str, str]]:
    """(parameter, value) of the parameters that name one of the socket paths, as that service
    reads them (its -o overrides first)."""
    found = []
    svc = cfg.service(*service)
    with cfg.unrecorded():
        names = list(dict.fromkeys([*svc.overrides, *cfg.definitions, "smtpd_sasl_path", "smtpd_milters"]))
        for name in names:
            value = cfg.service_param(service[0], service[1], name) or ""
            if any(sock in value for sock in sockets):
                found.append((name, value))
    return found
