"""Lines → typed events: the syslog envelope, the tag, then the program's compiled grammar.

Hot path: one envelope regex match, one body regex match, dictionary lookups. Timestamps, tags
and matchers are cached, so per-line work stays small.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterable, Iterator

from . import grammar as grammar_mod
from .events import ACCESS_KINDS, ACCESS_OTHER, FOREIGN, UNRECOGNIZED, Event
from .inputs import Source, read_lines, resolve

MAX_LINE = 32 * 1024  # longer lines are not matched (Postfix's own log records are far shorter)
_MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}
_SEVERITY_PREFIXES = ("warning: ", "error: ", "fatal: ", "panic: ")
# Postfix programs that log without being named in a grammar section.
EXTRA_PROGRAMS = frozenset(
    "postfix postfix-script postfix-tls-script postmulti postmulti-script postqueue postdrop sendmail "
    "postmap postalias postcat postconf postkick postlock postlog postsuper oqmgr qmqpd showq flush "
    "spawn proxymap tlsmgr verify trivial-rewrite discard error retry relay virtual local pipe lmtp "
    "smtp smtpd qmgr cleanup pickup bounce defer trace anvil scache postscreen dnsblog tlsproxy "
    "master postlogd nqmgr".split()
)


class YearGuesser:
    """Gives year-less (classic syslog) timestamps a year.

    With an explicit year, the log is assumed to start in that year and each December→January
    step moves it on. Without one, the file's modification time is taken as the time of its
    last line: a stamp that would lie more than a day after it belongs to the year before.
    """

    def __init__(self, year: int | None, mtime: float | None):
        self.explicit = year
        self.mtime = mtime if mtime is not None else time.time()
        self.year = year if year is not None else time.gmtime(self.mtime).tm_year
        self.last_month = 0
        self.cache: dict = {}
        self.years_used: set = set()

    def describe(self) -> str:
        if self.explicit is not None:
            return f"year {self.explicit} given with --year (December→January rollover advances it)"
        return (f"year from the file's modification time ({time.strftime('%Y-%m-%d', time.gmtime(self.mtime))}):"
                " stamps later than that are taken from the year before")

    def epoch(self, ts: str) -> float | None:
        hit = self.cache.get(ts)
        if hit is not None:
            return hit
        try:
            mon = _MONTHS[ts[:3]]
            day_s, clock = ts[3:].split()
            h, m, s = clock.split(":")
            frac = 0.0
            if "." in s:
                s, f = s.split(".", 1)
                frac = float("0." + f)
            parts = (int(day_s), int(h), int(m), int(s))
        except (KeyError, ValueError):
            return None
        if self.explicit is not None:
            if mon < self.last_month:
                self.year += 1
                self.cache.clear()
            self.last_month = mon
            year = self.year
        else:
            year = self.year
        try:
            value = calendar.timegm((year, mon, *parts)) + frac
            if self.explicit is None and value > self.mtime + 86400:
                year -= 1
                value = calendar.timegm((year, mon, *parts)) + frac
        except (ValueError, OverflowError):
            return None
        self.years_used.add(year)
        if self.explicit is None or mon == self.last_month:
            self.cache[ts] = value
        return value


_iso_cache: dict = {}


def iso_epoch(ts: str):
    """RFC 3339 / journal / ISO stamp → (wall-clock epoch, format name). The offset is kept
    out of the arithmetic so that all formats share the log's own wall clock."""
    hit = _iso_cache.get(ts)
    if hit is not None:
        return hit
    try:
        value = calendar.timegm((int(ts[0:4]), int(ts[5:7]), int(ts[8:10]),
                                 int(ts[11:13]), int(ts[14:16]), int(ts[17:19])))
    except (ValueError, OverflowError):
        return None, "iso-invalid"
    tail = ts[19:]
    frac = ""
    if tail[:1] in (".", ","):
        i = 1
        while i < len(tail) and tail[i].isdigit():
            i += 1
        frac, tail = tail[1:i], tail[i:]
        value += float("0." + frac)
    if ts[10] == " ":
        name = "iso-space"
    elif tail == "Z" or (len(tail) == 6 and tail[3] == ":"):
        name = "rfc3339-fraction" if frac else "rfc3339"
    elif tail:
        name = "journal-short-iso-precise" if frac else "journal-short-iso"
    else:
        name = "iso-local"
    result = (value, name)
    if len(_iso_cache) > 200_000:
        _iso_cache.clear()
    _iso_cache[ts] = result
    return result


class Parser:
    """Parses lines of one or more sources. Keeps the per-file year assumptions it made."""

    def __init__(self, year: int | None = None, grammar=None):
        self.grammar = grammar or grammar_mod.load()
        self.year = year
        self.assumptions: dict = {}  # file → description of the year assumption
        self._tags: dict = {}
        self._matchers: dict = {}
        self._known = frozenset(self.grammar.programs) | EXTRA_PROGRAMS
        env = self.grammar.envelope
        self._env_regex = env.regex
        self._env_rules = env.by_group

    # -- tag → (instance, service, program, is_postfix) -----------------------------------------
    def _split_tag(self, tag: str):
        parts = [p for p in tag.split("/") if p]
        program = parts[-1] if parts else tag
        instance = parts[0] if parts else tag
        service = parts[-2] if len(parts) > 2 else program
        is_postfix = program in self._known and (instance.startswith("postfix") or len(parts) >= 2)
        if len(parts) == 1 and instance.startswith("postfix") and program not in self._known:
            is_postfix = True  # e.g. postfix-script variants under a syslog_name
        result = (instance, service, program, is_postfix)
        self._tags[tag] = result
        return result

    def _matcher(self, program: str, severity: str):
        key = (program, severity)
        m = self._matchers.get(key)
        if m is None:
            m = self._matchers[key] = self.grammar.body(program, severity)
        return m

    def parse_source(self, source: Source) -> Iterator[Event]:
        years = YearGuesser(self.year, source.mtime)
        seen_classic = False
        parse = self.parse_line
        for lineno, line in enumerate(read_lines(source), 1):
            ev = parse(line, source.display, lineno, years)
            if ev.fmt in ("classic", "container") and not seen_classic:
                seen_classic = True
            yield ev
        if seen_classic:
            self.assumptions[source.display] = years.describe()

    def parse_line(self, line: str, file: str = "<string>", lineno: int = 0,
                   years: YearGuesser | None = None) -> Event:
        if line[:1] == "\x00":
            line = line.lstrip("\x00")
        if len(line) > MAX_LINE:
            return Event(UNRECOGNIZED, None, None, None, None, None, None, "info", None,
                         line[:200], {"reason": "line too long"}, file, lineno, line[:MAX_LINE])
        m = self._env_regex.match(line)
        if m is None:
            return Event(UNRECOGNIZED, None, None, None, None, None, None, "info", None,
                         line, {"reason": "no syslog envelope"}, file, lineno, line)
        info = self._env_rules[m.lastindex]
        fmt = info.kind
        vals = dict(zip((n for n, _ in info.fields), m.group(*info.group_indexes), strict=True))
        ts_s = vals.get("ts")
        if fmt == "classic" or fmt == "container":
            if years is None:
                years = YearGuesser(self.year, None)
            ts = years.epoch(ts_s)
            if fmt == "container" and vals.get("outer_ts"):
                ts = iso_epoch(vals["outer_ts"])[0] or ts
        elif ts_s:
            ts, name = iso_epoch(ts_s)
            if fmt == "iso":  # name the ISO variant; other envelopes (rfc5424) keep their own name
                fmt = name
        else:
            ts = None
        tag = vals["tag"]
        t = self._tags.get(tag) or self._split_tag(tag)
        pid = vals.get("pid")
        pid = int(pid) if pid and pid.isdigit() else None
        body = vals["body"]
        if body[-3:] == ",,,":  # damage from CSV exports of logs: a run of commas after the message
            body = body.rstrip(",")
        host = vals.get("host")
        if not t[3]:
            return Event(FOREIGN, ts, host, t[0], t[1], t[2], pid, "info", None, body, {},
                         file, lineno, line, fmt)
        severity = "info"
        text = body
        if body[:1] in "wefp" and body.startswith(_SEVERITY_PREFIXES):
            severity, text = body.split(": ", 1)
        hit = self._matcher(t[2], severity).match(text)
        if hit is None:
            if severity == "info":
                return Event(UNRECOGNIZED, ts, host, t[0], t[1], t[2], pid, severity, None, text,
                             {"reason": "no grammar rule"}, file, lineno, line, fmt)
            return Event(severity, ts, host, t[0], t[1], t[2], pid, severity, None, text, {},
                         file, lineno, line, fmt)
        rule, fields = hit
        kind = rule.kind
        if kind == "reject":
            action = fields.pop("kind", None) or fields.get("action", "reject")
            fields["action"] = action
            kind = ACCESS_KINDS.get(action, ACCESS_OTHER)
        qid = fields.pop("qid", None)
        return Event(kind, ts, host, t[0], t[1], t[2], pid, severity, qid, text, fields,
                     file, lineno, line, fmt)

    def parse_lines(self, lines: Iterable[str], file: str = "<string>", year: int | None = None):
        years = YearGuesser(year if year is not None else self.year, None)
        for lineno, line in enumerate(lines, 1):
            yield self.parse_line(line, file, lineno, years)


def iter_events(paths, year: int | None = None, parser: Parser | None = None) -> Iterator[Event]:
    """Events of every line of the given paths (see `inputs.resolve`), oldest rotation first."""
    parser = parser or Parser(year=year)
    for source in resolve(list(paths) if paths else []):
        yield from parser.parse_source(source)
