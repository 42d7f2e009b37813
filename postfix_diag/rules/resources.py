"""Resources: disk space for the queue, fork and memory failures, milters (which need their
own process to be up), and postscreen's summary of blocked zombies."""

from __future__ import annotations

import re

from ..config import fixes
from ..model import Occurrences
from .base import LineRule, ProblemRule, plural, register
from .chroot import chroot_socket_suspect
from .incident_spec import IncidentSpec, Link
from .settings import Facts, queue_directory, services_for_tags, step

_FREE = re.compile(r"not enough free space in mail queue: (\d+) bytes")
_DISK = ("No space left on device", "queue file write error", "not enough free space in mail queue",
         "Insufficient system storage", "File too large", "Disk quota exceeded")


def _disk(text: str) -> str | None:
    for d in _DISK:
        if d in text:
            return d
    return None


@register
class QueueDisk(ProblemRule):
    id = "RES001"
    name = "queue-disk-full"
    title = "Mail queue file system full, or queue file write errors"
    category = "resources"
    severity = "critical"
    kinds = ("queue_write", "resource", "warning", "error", "fatal", "reject")
    count_unit = "lines"
    what = """Postfix could not write queue files: `No space left on device`, `queue file write error`,
    smtpd's `not enough free space in mail queue`, and the matching client reply `452 4.3.1
    Insufficient system storage`."""
    why = """With a full queue file system Postfix accepts no mail: every client gets a temporary error,
    local submissions fail, and bounces cannot be written. Mail keeps arriving late until space is
    freed."""
    example = (
        "Nov 25 12:00:01 mail postfix/cleanup[1300]: warning: 3F1A2160137: queue file write error",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: not enough free space in mail queue: 1024000 bytes < 1.5*message size limit",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: NOQUEUE: reject: MAIL from unknown[192.0.2.7]: 452 4.3.1 Insufficient system storage; proto=ESMTP helo=<x>",
    )
    fix = """Free space on the file system holding the queue directory (or the mailboxes, for local
    delivery): remove old logs, move the queue to a larger volume, delete junk from the queue. Check
    queue_minfree and message_size_limit: smtpd wants 1.5 x message_size_limit free."""
    remediation = (
        "See what is full: `df -h $(postconf -h queue_directory)` and `df -i` (inodes); `du -sh /var/spool/postfix/*`.",
        "Free space (old logs, core files; junk in the queue: `postsuper -d ALL deferred` only if it is junk).",
        "Check the thresholds: `postconf queue_minfree message_size_limit` (smtpd needs 1.5 x message_size_limit free).",
        "Retry deferred mail after freeing space: `postqueue -f`.",
    )
    parameters = (
        ("queue_minfree", "0", "free bytes smtpd requires before accepting mail (also >= 1.5 x message_size_limit)"),
        ("message_size_limit", "10240000", "largest message accepted"),
        ("queue_directory", "/var/spool/postfix", "where the queue lives"),
    )
    references = ("DEBUG_README: Look for obvious signs of trouble", "QSHAPE_README: Postfix queue directories")
    with_config = """Compares the free space smtpd logged with queue_minfree and 1.5 x message_size_limit
    (the values in effect, where they are set), to tell a full disk from a threshold set too high."""

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.free: int | None = None  # the least free space smtpd reported (bytes)

    def match(self, ev):
        kind = ev.kind
        if kind == "reject":
            r = ev.f.get("reason") or ""
            self._what = _disk(r)
        elif kind == "queue_write":
            self._what = "queue file write error"
        else:
            self._what = _disk(ev.text)
            m = _FREE.search(ev.text) if self._what else None
            if m is not None and (self.free is None or int(m.group(1)) < self.free):
                self.free = int(m.group(1))
        return self._what is not None

    def merge(self, later):
        super().merge(later)
        if later.free is not None and (self.free is None or later.free < self.free):
            self.free = later.free

    def refine(self, f):
        cfg = self.config
        if self.free is not None:
            f.evidence["least_free_bytes_reported"] = self.free
        if cfg is None or not cfg.has_main:
            return
        facts = Facts(cfg)
        minfree = facts.param("queue_minfree", expanded=True) or "0"
        size = facts.param("message_size_limit", expanded=True) or "0"
        steps = [self.remediation[0].replace("$(postconf -h queue_directory)", queue_directory(cfg))]
        if self.free is not None and minfree.isdigit() and size.isdigit():
            need = max(int(minfree), int(int(size) * 1.5))
            if int(minfree) > self.free:
                steps.append(f"queue_minfree = {minfree} ({cfg.where('queue_minfree')}) asks for more than the "
                             f"{self.free} bytes free: smtpd refuses all mail until that much is free. "
                             + step(fixes.set_param("queue_minfree", "0", cfg), "`postfix reload`")
                             + " (0 is Postfix's default: smtpd then needs 1.5 x message_size_limit.)")
            elif int(size) * 1.5 > self.free:
                steps.append(f"smtpd needs 1.5 x message_size_limit = {int(int(size) * 1.5)} bytes "
                             f"(message_size_limit = {size}, {cfg.where('message_size_limit')}) and "
                             f"{self.free} are free: free space, or lower message_size_limit.")
            else:
                steps.append(f"smtpd needs {need} bytes free and saw {self.free}: the file system was full then.")
        f.remediation = steps + list(self.remediation[1:])
        f.config = dict(facts)

    def problem(self, ev):
        return self._what

    def summarize(self, g):
        probs = self.top_problems(g)
        return f"{plural(g.count, 'line')} about queue storage ({probs}): Postfix cannot accept mail."


_MEM_RE = re.compile(r"\bfork\b[^:]{0,40}: |Cannot allocate memory|out of memory|Resource temporarily unavailable|"
                     r"Too many open files|insufficient memory")


@register
class ForkMemory(ProblemRule):
    id = "RES002"
    name = "fork-memory-failure"
    title = "Processes cannot fork or allocate memory"
    category = "resources"
    severity = "critical"
    kinds = ("resource", "warning", "error", "fatal", "panic")
    count_unit = "lines"
    what = """A Postfix process could not create a process or get memory or file descriptors: `fork:
    Resource temporarily unavailable`, `master_spawn: fork: ... -- throttling`, `Cannot allocate
    memory`, `out of memory`, `Too many open files`."""
    why = """The system is out of processes, memory or descriptors: master cannot start daemons, so mail
    stops moving; the OOM killer may kill Postfix or other services. Often caused by too-high process
    limits for the memory available, a runaway content filter, or a mail flood."""
    example = (
        "Nov 25 12:00:01 mail postfix/master[1000]: warning: master_spawn: fork: Resource temporarily unavailable -- throttling",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: fatal: out of memory",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: fork: Cannot allocate memory",
    )
    fix = """Find what uses the memory/processes (`free -m`, `ps aux --sort=-rss | head`, `dmesg | grep -i
    oom`), lower default_process_limit or maxproc of heavy services to what fits, and raise the
    system limits (ulimit -u/-n, kernel pid_max) if they are too low."""
    remediation = (
        "Check memory and process usage: `free -m`, `ps aux --sort=-rss | head`, `dmesg | grep -i -E 'oom|killed process'`.",
        "Fit the process limits to memory: `postconf default_process_limit` shows it; `postconf -e "
        "'default_process_limit = 50'` (or lower a service's maxproc: `postconf -F 'SERVICE/TYPE/process_limit=N'`), "
        "then `postfix reload`.",
        "Check limits: `ulimit -u`, `ulimit -n`, `cat /proc/sys/kernel/pid_max`, `postconf -d file` ...",
    )
    parameters = (
        ("default_process_limit", "100", "processes per service"),
    )
    with_config = """Shows default_process_limit and the services with the largest maxproc columns, which
    bound how many processes Postfix may start."""
    references = ("TUNING_README: Tuning the number of processes on the system",
                  "TUNING_README: Tuning the number of open files or sockets",
                  "STRESS_README: Symptoms of Postfix SMTP server overload")

    def match(self, ev):
        t = ev.text
        if _disk(t):
            return False
        m = _MEM_RE.search(t)
        if m is None:
            return False
        self._what = "fork failed" if m.group(0).startswith("fork") else m.group(0)
        return True

    def problem(self, ev):
        return self._what

    def summarize(self, g):
        probs = self.top_problems(g)
        return f"{plural(g.count, 'line')} about exhausted system resources ({probs})."

    def refine(self, f):
        cfg = self.config
        if cfg is None or not cfg.has_master:
            return
        facts = Facts(cfg)
        limit = facts.param("default_process_limit", expanded=True)
        big = sorted((s for s in cfg.services.values() if isinstance(s.process_limit, int) and s.process_limit > 1),
                     key=lambda s: -s.process_limit)[:3]
        for svc in big:
            facts.column(svc, "maxproc")
        shown = ", ".join(f"{s.key} {s.process_limit}" for s in big)
        first = big[0].key if big else "smtp/inet"
        f.remediation[1] = (f"Fit the process limits to memory: default_process_limit = {limit} "
                            f"({cfg.where('default_process_limit')}); the largest maxproc: {shown}. Lower them to "
                            "what the memory holds (e.g. `postconf -e 'default_process_limit = 50'`, or one "
                            f"service's: `postconf -F '{first}/process_limit=50'`), then `postfix reload`.")
        f.config = dict(facts)


@register
class MilterFailure(LineRule):
    id = "MLT001"
    name = "milter-unreachable"
    title = "Milter (mail filter) unreachable or failing"
    category = "milter"
    severity = "error"
    kinds = ("milter_error", "reject", "client")  # client: smtpd accepted a message (the milter works)
    track_tags = True
    count_unit = "lines"
    what = """smtpd or cleanup could not talk to a milter (OpenDKIM, OpenDMARC, rspamd, spamass-milter,
    ...): `connect to Milter service unix:/path: Connection refused` or `milter NAME: can't read
    SMFIC_OPTNEG reply packet header: Connection reset by peer`."""
    why = """What happens to the mail depends on milter_default_action: with the default `tempfail`
    every message is refused with `451 4.7.1 Service unavailable - try again later` while the milter is
    down; with `accept` mail flows unsigned/unfiltered."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: connect to Milter service inet:127.0.0.1:8891: Connection refused",
        "Nov 25 12:00:01 mail postfix/cleanup[1300]: warning: milter unix:/run/opendkim/opendkim.sock: can't read SMFIC_OPTNEG reply packet header: Connection reset by peer",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: NOQUEUE: milter-reject: CONNECT from localhost[127.0.0.1]: 451 4.7.1 Service unavailable - try again later; proto=SMTP",
    )
    fix = """Start the milter and make the socket reachable by Postfix (permissions, path inside the chroot
    - see CHR003, inet address/port). Decide what should happen while it is down with
    milter_default_action."""
    remediation = (
        "Check the milter: `systemctl status opendkim` (or the milter named in the evidence), `ss -xlp`/`ss -tlnp` for its socket.",
        "Check the endpoints: `postconf smtpd_milters non_smtpd_milters milter_default_action`.",
        "Fix permissions of a unix socket (the postfix user must be able to connect) or the inet address, then `postfix reload`.",
        "If mail must flow while the milter is down: `postconf -e 'milter_default_action = accept'` (a service "
        "with its own -o milter_default_action keeps that one).",
    )
    with_config = """Names the milters each failing service uses (smtpd_milters, non_smtpd_milters and
    milter_default_action, with -o overrides and where they are set), tests the failing endpoint,
    and changes milter_default_action where that service reads it."""
    parameters = (
        ("smtpd_milters", "(empty)", "milters of mail received by SMTP"),
        ("non_smtpd_milters", "(empty)", "milters of locally submitted mail"),
        ("milter_default_action", "tempfail", "what to do when a milter is unavailable"),
        ("milter_connect_timeout", "30s", "milter connect timeout"),
    )
    references = ("MILTER_README",)
    incident = IncidentSpec(
        subject="milter", title="milter {key} failing", resumed="smtpd accepted mail again",
        leads_to=(Link("CON001", within=600, why="clients hang up on the tempfail replies"),))

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.tempfails = 0
        # times of the tempfailed requests, and of the messages smtpd accepted (signs of recovery)
        self.tempfailed = Occurrences()
        self.accepted = Occurrences()

    def feed(self, ev):
        if ev.kind == "client":
            if ev.program == "smtpd" and ev.ts is not None:
                self.accepted.add(ev.ts)
            return None
        return super().feed(ev)

    def match(self, ev):
        if ev.kind == "reject":
            return False
        return not chroot_socket_suspect(ev.f.get("milter"), ev.f.get("reason"))

    def claim_only(self, ev):
        if (ev.kind == "reject" and (ev.f.get("action") or "").startswith("milter")
                and "Service unavailable - try again later" in (ev.f.get("reason") or "")):
            self.tempfails += 1
            if ev.ts is not None:
                self.tempfailed.add(ev.ts)
            return True
        return False

    def merge(self, later):
        super().merge(later)
        self.tempfails += later.tempfails
        self.tempfailed.merge(later.tempfailed)
        self.accepted.merge(later.accepted)

    def finish(self, queued, end_ts):
        out = super().finish(queued, end_ts)
        for f in out:
            f.signals = {"resumed": self.accepted, "tempfailed": self.tempfailed}
        return out

    def subject(self, ev):
        return ev.f.get("milter")

    def tally(self, ev, g):
        g.tally("by_milter", ev.f.get("milter"))
        reason = (ev.f.get("reason") or "").rsplit(": ", 1)[-1]
        g.tally("by_reason", reason[:80])

    def summarize(self, g):
        ms = ", ".join(k for k, _ in g.top("by_milter", 3))
        tf = f"; {plural(self.tempfails, 'SMTP request')} tempfailed by milter_default_action" if self.tempfails else ""
        return f"{plural(g.count, 'milter failure')} ({ms}){tf}."

    def evidence(self, g):
        return {"by_milter": g.breakdown("by_milter"), "by_reason": g.breakdown("by_reason"),
                "tempfailed_requests": self.tempfails}

    def refine(self, f):
        cfg = self.config
        milters = [k for k, _ in self.g.top("by_milter", 3) if k]
        tests = []
        for m in milters:
            inet = re.fullmatch(r"inet:\[?([^\]]+?)\]?:(\d+)", m)
            unix = re.fullmatch(r"(?:unix|local):(.+)", m)
            if inet:
                tests.append(f"`nc -vz {inet.group(1)} {inet.group(2)}`")
            elif unix:
                tests.append(f"`ls -l {unix.group(1)}`")
        if tests:
            f.remediation[0] = (f"Check the milter's endpoint: {', '.join(tests)}; is the milter running "
                                "(`systemctl status opendkim`, or the service of the milter named)?")
        services = services_for_tags(cfg, self.tags)
        if cfg is None or not services:
            return
        facts = Facts(cfg)
        steps = []
        for svc in services:
            key = (svc.name, svc.type)
            facts.param("smtpd_milters", key)
            action = facts.param("milter_default_action", key, expanded=True)
            if (action or "").strip() == "tempfail":
                steps.append(f"{svc.key} tempfails mail while the milter is down (milter_default_action = tempfail, "
                             f"{cfg.where('milter_default_action', key)}). If mail must flow meanwhile: "
                             + step(fixes.set_effective("milter_default_action", "accept", cfg, key),
                                    "`postfix reload`"))
        f.remediation = f.remediation[:3] + (steps or f.remediation[3:])
        f.config = dict(facts)


_BLOCKING = {"PREGREET", "DNSBL", "HANGUP", "COMMAND PIPELINING", "NON-SMTP COMMAND", "BARE NEWLINE",
             "COMMAND TIME LIMIT", "COMMAND COUNT LIMIT", "COMMAND LENGTH LIMIT", "DENYLISTED",
             "BLACKLISTED", "DATA without valid RCPT", "BDAT without valid RCPT"}


@register
class PostscreenBlocks(LineRule):
    id = "PSC001"
    name = "postscreen-blocked-clients"
    title = "postscreen blocked zombie clients"
    category = "postscreen"
    severity = "notice"
    kinds = ("postscreen", "reject", "dnsbl_listed")
    count_unit = "lines (postscreen verdicts and rejects)"
    what = """postscreen, the zombie blocker in front of smtpd, caught clients: talking before the greeting
    (PREGREET), listed in DNSBLs (DNSBL rank N), hanging up, pipelining or sending non-SMTP commands,
    and rejected them (`NOQUEUE: reject: RCPT from [IP]:PORT: 550 5.7.1 Service unavailable; client
    [IP] blocked using zen.spamhaus.org`)."""
    why = """This is postscreen doing its job (notice). Check the evidence only if legitimate senders
    appear there (a false positive from a DNSBL, a badly behaved but wanted client), or if the
    volume is so large that postscreen enters STRESS mode."""
    example = (
        "Nov 25 12:00:01 mail postfix/postscreen[1100]: PREGREET 11 after 0.06 from [203.0.113.9]:51234: EHLO x\\r\\n",
        "Nov 25 12:00:01 mail postfix/postscreen[1100]: DNSBL rank 3 for [203.0.113.9]:51234",
        "Nov 25 12:00:01 mail postfix/postscreen[1100]: NOQUEUE: reject: RCPT from [203.0.113.9]:51234: 550 5.7.1 Service unavailable; client [203.0.113.9] blocked using zen.spamhaus.org; from=<a@example.com>, to=<b@example.org>, proto=ESMTP, helo=<x>",
    )
    fix = """Nothing, unless a wanted client is blocked: allowlist it in postscreen_access_list (e.g.
    `permit_mynetworks, cidr:/etc/postfix/postscreen_access.cidr`), or lower that DNSBL's weight in
    postscreen_dnsbl_sites."""
    remediation = (
        "Review the top clients; for a false positive add `IP/32 permit` to a cidr table that postscreen_access_list "
        "names (`postconf postscreen_access_list`), or list a new one, keeping the current entries: "
        "`postconf -e \"postscreen_access_list = $(postconf -h postscreen_access_list), "
        "cidr:/etc/postfix/postscreen_access.cidr\"`.",
        "Tune DNSBL weights/threshold: `postconf postscreen_dnsbl_sites postscreen_dnsbl_threshold`.",
    )
    parameters = (
        ("postscreen_greet_action", "ignore", "what to do with PREGREET clients (enforce, drop, ignore)"),
        ("postscreen_dnsbl_action", "ignore", "what to do with DNSBL-listed clients"),
        ("postscreen_dnsbl_threshold", "1", "DNSBL score that blocks a client"),
    )
    references = ("POSTSCREEN_README", "STRESS_README: Other measures to off-load zombies")

    def match(self, ev):
        if ev.program != "postscreen" and ev.kind != "dnsbl_listed":
            return False
        if ev.kind == "postscreen":
            v = ev.f.get("verdict")
            self._what = v
            return v in _BLOCKING
        self._what = "reject" if ev.kind == "reject" else "DNSBL listed (dnsblog)"
        return True

    def subject(self, ev):
        return ev.f.get("client_ip")

    def tally(self, ev, g):
        g.tally("by_verdict", self._what)
        ip = ev.f.get("client_ip")
        if ip:
            g.tally("top_clients", f"[{ip}]")
        if ev.f.get("dnsbl"):
            g.tally("by_dnsbl", ev.f["dnsbl"])

    def summarize(self, g):
        return (f"{plural(g.count, 'postscreen block')} of "
                f"{plural(len(g.counter('top_clients')), 'client')}.")

    def evidence(self, g):
        return {"by_verdict": g.breakdown("by_verdict"), "top_clients": g.top("top_clients"),
                "by_dnsbl": g.breakdown("by_dnsbl")}
