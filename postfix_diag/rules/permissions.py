"""Permissions: Postfix's own files and directories (the queue, master.lock, maildrop, a
mailbox) that a daemon or command is not allowed to open, create or lock, and the ownership and
mode warnings of `postfix check`."""

from __future__ import annotations

import re

from .base import Group, Rule, group_in, merge_groups, plural, register

QUEUE_DIRS = frozenset(("maildrop", "incoming", "active", "deferred", "defer", "bounce", "trace", "hold",
                        "corrupt", "flush", "saved", "private", "public", "pid"))
# local(8)/virtual(8) delivery reasons (DSN0043, DSN0029) whose system error is a permission one
_MAILBOX = re.compile(r"cannot update mailbox (\S+) for user (\S+)\. |cannot append message to file ([^\s:]+): ")
_PERM = ("Permission denied", "Operation not permitted", "Read-only file system")
MAX_PATHS = 500


def path_key(path: str) -> str:
    """What a finding is about: a queue directory for a path inside it (``maildrop/253061.3097``
    -> ``maildrop``), else the path itself."""
    if not path.startswith("/"):
        head = path.split("/", 1)[0]
        if head in QUEUE_DIRS:
            return head
    return path


def mailbox_of(reason: str) -> str | None:
    """The mailbox or file of a local delivery that failed on a permission error."""
    if not any(p in reason for p in _PERM):
        return None
    m = _MAILBOX.match(reason)
    if m is None:
        return None
    return m.group(1) or m.group(3)


@register
class PostfixPermissions(Rule):
    id = "PRM001"
    name = "permission-denied"
    title = "Postfix cannot access its own files or directories (ownership, permissions)"
    category = "config"
    severity = "error"
    preview = True
    kinds = ("file_access", "file_owner", "delivery")
    delivery_statuses = ("deferred", "bounced")
    message_kinds = ("delivery",)
    count_unit = "lines (for a mailbox: messages); key = the queue directory or path"
    what = """A Postfix daemon or command got `Permission denied` (or `Operation not permitted`,
    `Read-only file system`) on one of Postfix's own files or directories: pickup cannot read the
    maildrop directory (`fatal: scan_dir_push: open directory maildrop: Permission denied`),
    sendmail's postdrop cannot create a file in it (`warning: mail_queue_enter: create file
    maildrop/...: Permission denied`), master cannot open its lock file, a daemon cannot open
    main.cf or a queue file, local cannot write a mailbox (`cannot update mailbox /var/mail/USER
    for user USER. cannot open file: Permission denied`); and `postfix check`'s warnings (`not owned
    by postfix: ...`, `group or other writable: ...`). Usually after files were copied or restored
    without their owners, a package upgrade, or a manual chmod/chown."""
    why = """The daemon stops (a fatal line; master throttles it, CFG005) or the file is skipped: mail
    submitted with sendmail waits in maildrop or is lost to the submitting program, a mailbox
    rejects every delivery (bounced: 5.2.0) or defers it."""
    example = (
        "Dec 01 22:27:09 mail postfix/pickup[3012]: fatal: scan_dir_push: open directory maildrop: Permission denied",
        "Dec 01 22:27:14 mail postfix/postdrop[3097]: warning: mail_queue_enter: create file maildrop/253061.3097: Permission denied",
        "Dec 01 22:27:41 mail postfix/local[3027]: 67CF216209E: to=<carol@capture.example>, relay=local, delay=0.02, delays=0/0/0/0.02, dsn=5.2.0, status=bounced (cannot update mailbox /var/mail/carol for user carol. cannot open file: Permission denied)",
        "Nov 25 12:00:01 mail postfix/postfix-script[1200]: warning: not owned by postfix: /var/spool/postfix/private/bounce",
    )
    fix = """For Postfix's own files and queue: `postfix set-permissions` (it resets owners and modes from
    Postfix's postfix-files list), then `postfix check` (prints what is still wrong) and `postfix
    reload`. For a mailbox: it must belong to its user (mail_spool_directory with mode 1777 or
    group mail), e.g. `chown USER:mail /var/mail/USER && chmod 0600 /var/mail/USER`."""
    remediation = (
        "Reset Postfix's owners and modes: `postfix set-permissions`, then `postfix check` (no output = fine).",
        "`postfix reload` (a throttled daemon starts again at once); mail waiting in maildrop is picked up.",
        "For a mailbox: `ls -l /var/mail/USER` must show the recipient as owner: "
        "`chown USER:mail /var/mail/USER && chmod 0600 /var/mail/USER`.",
        "Look for what changed the owners (a restore, an rsync without -o/-g, an image build, SELinux/AppArmor "
        "denials in the audit log).",
    )
    parameters = (
        ("mail_owner", "postfix", "owner of the queue and of most daemons"),
        ("setgid_group", "postdrop", "group of maildrop and public, and of the set-gid postdrop/postqueue"),
        ("queue_directory", "/var/spool/postfix", "the queue (maildrop, private, public, pid ...)"),
        ("mail_spool_directory", "/var/mail", "mailboxes of local(8)"),
    )
    references = ("postfix(1): set-permissions, check", "DEBUG_README: Look for obvious signs of trouble",
                  "LOCAL_README: Mailbox locking and permissions")

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.paths: dict[str, Group] = {}  # queue directory or path -> its lines
        self.mailboxes: dict[str, Group] = {}  # mailbox -> its failed messages (counted per message)

    def _group(self, groups: dict, key: str) -> Group:
        return group_in(groups, key, self.group, MAX_PATHS)

    def feed(self, ev):
        kind = ev.kind
        if kind == "delivery":
            box = mailbox_of(ev.f.get("reason") or "")
            if box is None:
                return None
            g = self._group(self.mailboxes, box)
            g.see(ev)
            g.tally("by_program", ev.program)
            g.tally("by_status", ev.f.get("status"))
            return True
        path = ev.f.get("path") or ""
        g = self._group(self.paths, path_key(path.strip()))
        g.add(ev)
        g.tally("by_program", ev.program)
        g.tally("by_problem", f"{ev.f.get('op')}: {ev.f.get('reason')}" if kind == "file_access"
                else ev.f.get("problem"))
        g.tally("paths", path)
        return True

    def feed_message_line(self, ev, msg):
        box = mailbox_of(ev.f.get("reason") or "")
        if box is None:
            return
        seen = msg.facts.setdefault(self.id, set())
        if box not in seen:
            seen.add(box)
            self._group(self.mailboxes, box).count += 1

    def merge(self, later):
        merge_groups(self.paths, later.paths, MAX_PATHS)
        merge_groups(self.mailboxes, later.mailboxes, MAX_PATHS)

    def finish(self, queued, end_ts):
        out = []
        for key, g in self.paths.items():
            programs = ", ".join(k for k, _ in g.top("by_program", 3))
            problems = ", ".join(k for k, _ in g.top("by_problem", 2))
            where = f"the queue directory {key}" if key in QUEUE_DIRS else key
            out.append(self.make(
                g, f"{plural(g.count, 'line')}: {programs} cannot access {where} ({problems}).", key=key,
                evidence={"by_program": g.breakdown("by_program"), "by_problem": g.breakdown("by_problem"),
                          "paths": g.top("paths")}))
        for box, g in self.mailboxes.items():
            if not g.count:
                continue
            steps = [self.remediation[2], *self.remediation[:2], self.remediation[3]]
            out.append(self.make(
                g, f"{plural(g.count, 'message')} could not be written to {box} (permission denied): "
                   f"{', '.join(f'{n} {s}' for s, n in g.top('by_status'))}.",
                key=box, remediation=steps,
                evidence={"by_program": g.breakdown("by_program"), "by_status": g.breakdown("by_status")}))
        return out
