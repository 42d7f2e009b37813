"""chroot: daemons in the jail under the queue directory that miss files or sockets which exist
outside it (DEBUG_README: "Try turning off chroot operation in master.cf")."""

from __future__ import annotations

import re

from ..events import place
from .base import UNDECIDED, LineRule, plural, register
from .incident_spec import IncidentSpec, Link

JAIL = "/var/spool/postfix"
CHROOT_REFS = (
    "DEBUG_README: Try turning off chroot operation in master.cf",
    "BASIC_CONFIGURATION_README: Postfix chroot setup",
)
CHROOT_PARAMS = (
    ("queue_directory", "/var/spool/postfix", "the directory chrooted daemons are jailed in"),
)
TURN_OFF_CHROOT = (
    "To confirm, turn chroot off for the affected service (DEBUG_README): set its chroot column in "
    "master.cf to `n` (e.g. `postconf -F 'smtp/inet/chroot=n'`; list them with `postconf -F '*/*/chroot'`), "
    "then `postfix reload`."
)

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
    count_unit = "fatal lines"
    what = """A daemon died with `fatal: unknown service: NAME/tcp`: getservbyname() could not translate a
    service name such as `smtp` into a port number. Chrooted daemons read etc/services inside the jail
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
    incident = IncidentSpec(
        leads_to=(Link("CFG005", within=300, why="the daemon dies at startup and master throttles it"),
                  Link("DLV001", within=86400, why="mail for the failing transport is deferred"),
                  Link("QUE001", within=86400, why="that mail is still queued at the end")))

    def subject(self, ev):
        return ev.f.get("service_name")

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
    severity = "error"
    kinds = ("chroot_differs",)
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
_CONNECT = re.compile(r"connect to (\S+?)(?:\[[^\]]*\])?: (.*)")


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
        "Check whether the daemon is chrooted: `postconf -F '*/*/chroot'` (y or - on Debian means chrooted).",
        "Move the socket under the queue directory and name it relative to it, e.g. Dovecot "
        "`service auth { unix_listener /var/spool/postfix/private/auth { mode = 0660 user = postfix group = postfix } }` "
        "with `postconf -e 'smtpd_sasl_type = dovecot' 'smtpd_sasl_path = private/auth'`; a milter socket "
        "in /var/spool/postfix/NAME/ with `smtpd_milters = unix:/NAME/NAME.sock`.",
        TURN_OFF_CHROOT,
        "Verify the peer is running and the socket exists: `ls -l PATH`, `ss -xlp | grep PATH`.",
    )
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
