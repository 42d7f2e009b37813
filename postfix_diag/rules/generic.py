"""Catch-all: every warning, error, fatal or panic line that no specific rule claimed, grouped by
its normalized text (queue ids, addresses and numbers masked). DEBUG_README's first step is
`egrep '(warning|error|fatal|panic):'`: these rules make sure nothing it would show is lost."""

from __future__ import annotations

from ..coverage import shape
from ..events import place
from .base import OTHER, FirstSeenCounter, Group, Rule, plural, register

MAX_SHAPES = 500  # distinct normalized texts per rule; the rest are grouped under OTHER


class _CatchAll(Rule):
    category = "other"
    count_unit = "lines (one finding, each normalized text with its count in evidence; key = the most frequent text)"

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.groups: dict[str, Group] = {}
        # first-seen counters: a line held back by a later piece of the log is caught at the merge
        self.programs: dict[str, FirstSeenCounter] = {}
        self.levels: dict[str, FirstSeenCounter] = {}

    def catch(self, ev):
        key = shape(ev.text)
        g = self.groups.get(key)
        if g is None:
            if len(self.groups) >= MAX_SHAPES:
                key = OTHER
                g = self.groups.get(key)
            if g is None:
                g = self.groups[key] = self.group()
                self.programs[key] = FirstSeenCounter(50)
                self.levels[key] = FirstSeenCounter(5)
        g.add(ev)
        at = place(ev)
        self.programs[key].add(f"{ev.instance}/{ev.program}" if ev.instance else ev.program, at=at)
        self.levels[key].add(ev.severity, at=at)

    def merge(self, later):
        for theirs, g in later.groups.items():
            key = theirs if theirs in self.groups or len(self.groups) < MAX_SHAPES else OTHER
            programs, levels = later.programs[theirs], later.levels[theirs]
            if key in self.groups:
                self.groups[key].merge(g)
                self.programs[key].merge(programs)
                self.levels[key].merge(levels)
            else:
                self.groups[key], self.programs[key], self.levels[key] = g, programs, levels

    def severity_of(self, g: Group, levels: FirstSeenCounter) -> str:
        return self.severity

    def finish(self, queued, end_ts):
        """One finding for all the rule's lines (its title is the same for every text), with each
        normalized text (template) and its count as evidence, the most frequent first (ties: the
        first in the log); the key is the most frequent text, as other rules key by their top
        subject."""
        if not self.groups:
            return []
        order = sorted(self.groups.items(), key=lambda kv: (-kv[1].count, *_first_place(kv[1])))
        g = self.group()
        programs, levels = FirstSeenCounter(50), FirstSeenCounter(5)
        for key, part in order:
            g.merge(_without_samples(part))
            programs.merge(self.programs[key])
            levels.merge(self.levels[key])
        # a sample of each text first, in order of frequency, so that every kind of line is shown
        g.samples = [s for _, part in order for s in part.samples[:1]][: self.max_samples]
        if len(g.samples) < self.max_samples:
            rest = sorted((s for _, part in order for s in part.samples[1:]), key=_sample_place)
            g.samples += rest[: self.max_samples - len(g.samples)]
        top_key, top = order[0]
        summary = (f"{plural(g.count, g.worst + ' line')} like: {top_key}" if len(order) == 1 else
                   f"{plural(g.count, 'line')} of {len(order)} kinds; most: {top_key} ({top.count})")
        return [self.make(
            g, summary, key=top_key, severity=self.severity_of(g, levels),
            evidence={"templates": [[k, part.count] for k, part in order[:TEMPLATES]],
                      "more_templates": max(0, len(order) - TEMPLATES),
                      "by_program": dict(programs.most_common()), "by_level": dict(levels.most_common())})]


TEMPLATES = 20  # normalized texts listed in the evidence


def _sample_place(s) -> tuple:
    return (getattr(s.file, "rank", 0), s.line)


def _first_place(g: Group) -> tuple:
    return _sample_place(g.samples[0]) if g.samples else (1 << 30, 0)


def _without_samples(g: Group) -> Group:
    part = Group(g.max_samples)
    part.count, part.first, part.last, part.worst = g.count, g.first, g.last, g.worst
    return part


@register
class UnclaimedFatal(_CatchAll):
    id = "GEN001"
    name = "fatal-or-panic"
    title = "Postfix daemon stopped on a fatal error or panic"
    severity = "error"
    catch_all = ("fatal", "panic")
    what = """A Postfix program logged `fatal:` (it cannot continue: a missing file, wrong permissions, an
    invalid setting) or `panic:` (a software bug), and no more specific rule explains it. The lines
    make one finding; its evidence lists each text (queue ids, addresses and numbers masked) with
    its count, the most frequent first."""
    why = """DEBUG_README: "fatal" means Postfix cannot proceed until this is fixed; "panic" is a problem
    only a programmer can fix. The process exits; master restarts it and throttles the service if it
    keeps failing at startup (CFG005). The first fatal line in the log is the most important one."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: fatal: open /etc/postfix/main.cf: Is a directory",
        "Nov 25 12:00:01 mail postfix/qmgr[1001]: fatal: scan_dir_push: open directory defer: No such file or directory",
    )
    fix = """Read the text: it names the file, parameter or permission at fault. Fix it, then `postfix
    check` and `postfix reload`. For a panic, collect the log lines and report it to
    postfix-users@postfix.org (DEBUG_README: Reporting problems)."""
    remediation = (
        "Start with the earliest fatal line (DEBUG_README: the most important message is near the beginning).",
        "Run `postfix check` (permissions, missing files) and `postconf -n` (settings); fix what the fatal line names.",
        "`postfix reload` (or `postfix start`), then confirm the line does not come back.",
    )
    references = ("DEBUG_README: Look for obvious signs of trouble",
                  "DEBUG_README: Reporting problems to postfix-users@postfix.org")

    severity_rule = """Error; critical when the group holds a panic line."""

    def severity_of(self, g, levels):
        return "critical" if "panic" in levels else "error"


@register
class UnclaimedWarning(_CatchAll):
    id = "GEN002"
    name = "other-warnings"
    title = "Other warnings and errors"
    severity = "warning"
    catch_all = ("warning", "error")
    what = """A Postfix program logged `warning:` or `error:` and no more specific rule explains it. The
    lines make one finding; its evidence lists each text (queue ids, addresses and numbers masked)
    with its count, the most frequent first. A warning a specific rule claims is not here."""
    why = """DEBUG_README: a warning is a non-fatal problem, either outside your control (a broken DNS
    server elsewhere) or a local configuration error that may become a real problem later; an error
    is worse: a process terminates after 13 of them."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: Illegal address syntax from unknown[203.0.113.9] in MAIL command: <bad@@example>",
        "Nov 25 12:00:01 mail postfix/qmgr[1001]: warning: private/retry socket: malformed response",
    )
    fix = """Read the text and check the setting or peer it names; `postfix check` and `postconf -n` show
    local configuration problems."""
    remediation = (
        "Read the grouped text and its samples; look it up in the Postfix documentation for the parameter it names.",
        "Run `postfix check`; fix configuration warnings first, they can become failures later.",
    )
    references = ("DEBUG_README: Look for obvious signs of trouble",)

    severity_rule = """Warning; error when the group holds `error:` lines."""

    def severity_of(self, g, levels):
        return "error" if "error" in levels else "warning"
