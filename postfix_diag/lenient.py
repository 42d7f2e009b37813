"""Lines that no strict envelope format (grammars/envelope.grammar) matches, read leniently.

This runs only for lines the strict formats did not match, so real logs pay nothing for it.
Each line is judged on its own: journalctl's JSON and the journal's own lines, then prefixes that
pasted snippets carry, stripped one at a time until a strict format matches what is left, then a
header-less body. Every step is named in the event's format (``fmt``), the steps in order and then
the strict format the rest matched, joined by "+": ``compose+classic``, ``quote+classic``,
``iso-stamp+level+no-timestamp``. The Coverage section lists formats, so a report says which lines
it read leniently (`is_lenient`); `postfix-diag explain-line` shows what each step stripped.

| step | reads | example |
|---|---|---|
| journal-json | `journalctl -o json` (see journal.py) | `{"SYSLOG_IDENTIFIER":"postfix/smtpd","MESSAGE":...}` |
| journal-marker | the journal's header, footer, boot and catalog lines (counted as foreign) | `-- Boot 9f2c... --` |
| json-message | a syslog line inside JSON (Docker json-file "log", filebeat "message") | `{"log":"Nov 25 ..."}` |
| compose | `docker compose logs` prefix | `mailserver-1  \\| Nov 25 ...` |
| quote | quoted in a mail or a forum | `> Nov 25 ...`, `\\| Nov 25 ...` |
| indent | indented (a Markdown code block) | `    Nov 25 ...` |
| localized-month | a month name of another locale (locale_months.py) | `Okt 25 ...`, `déc. 25 ...` |
| classic-stamp, iso-stamp | a time stamp before something other than a host name | `Nov 25 13:29:42 postfix/smtpd[1]: ...` |
| level | a container logger's level | `INFO    postfix/smtp[1]: ...` |
| bare-tag | a daemon name without syslog name (taken as `postfix/NAME`) | `smtpd[123]: connect from ...` |
| body-only | a message without any header; the daemon is told from the grammar | `NOQUEUE: reject: RCPT from ...` |
| joined | a line the paste wrapped, re-joined (see `Lenient.rejoin`) | |

A header-less body gets no timestamp (None), never a guessed one. Its program is the one daemon
whose own grammar rules match it; when several daemons (or any, through the shared rules) log
that text, the event keeps its kind and fields but no program; when they would read it as
different kinds, it stays unrecognized.
"""

from __future__ import annotations

import re
import time

from . import journal
from .events import FOREIGN, GENERIC_SEVERITY_KINDS, SEVERITY_PREFIXES, UNRECOGNIZED, Event
from .inputs import MAX_LINE
from .locale_months import MONTHS as LOCALE_MONTHS
from .timestamps import MONTHS, YearGuesser, iso_epoch

NO_ENVELOPE = "no syslog envelope"
# Events parse_stream holds for a look at the next line: a Postfix line that no rule claims may be
# the first part of a line a paste wrapped.
HOLD = frozenset((UNRECOGNIZED, *GENERIC_SEVERITY_KINDS))
MAX_STEPS = 6  # prefixes stripped from one line at most
MAX_CONTINUATIONS = 8  # lines a wrapped line is re-joined from, after its first
MAIL_WRAP = 78  # mail clients wrap lines at 72-78 characters; terminals are at least 80 wide
LAYERS = frozenset(("journal-json", "journal-marker", "json-message", "compose", "quote", "indent",
                    "localized-month", "classic-stamp", "iso-stamp", "level", "bare-tag", "body-only",
                    "joined"))
_MONTH_NAMES = {**{m.lower(): m for m in MONTHS}, **LOCALE_MONTHS}
_KIND_NOT_FROM_TEXT = frozenset(("debug",))  # verbose.grammar: matches too much to tell a body by

_SGR = r"(?:\x1b\[[0-9;]*m)*"  # colours of `docker compose logs`
_COMPOSE = re.compile(rf"{_SGR}[A-Za-z0-9][A-Za-z0-9_.-]*{_SGR}[ \t]+{_SGR}\|{_SGR} ?")
_QUOTE = re.compile(r"(?:[>|][ \t]?)+")
_LOCAL_MONTH = re.compile(r"([^\W\d_]{3,6})\.?(?= {1,2}\d{1,2} \d\d:\d\d:\d\d)")
_STAMP = re.compile(
    r"(?:(?P<classic>(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)?)"
    r"|(?P<iso>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?))[ \t]+(?=\S)")
_LEVEL = re.compile(r"\[?(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRIT|CRITICAL|ALERT|EMERG|FATAL)\]?:?"
                    r"[ \t]+(?=\S)")
# Lines without an envelope that are still no continuation: another time-stamped line we cannot
# read, a comment, a shell prompt, a trailer.
_NOT_A_CONTINUATION = re.compile(
    r"\s*(?:\d{4}-\d\d-\d\d|[A-Z][a-z]{2} [ \d]\d \d\d:|#|--|\$ |\[[\w.-]+@[\w.-]+)")
_BARE_TAG = re.compile(r"([a-z][a-z0-9-]*)(?:\[(\d{1,10})\])?: (?=\S)")


def _cut_inside_brackets(line: str) -> bool:
    return any(line.count(o) > line.count(c) for o, c in ("<>", "()", "[]"))


def is_lenient(fmt: str | None) -> bool:
    """Whether a line of this format was read leniently."""
    return fmt is not None and any(step in LAYERS for step in fmt.split("+"))


def _peel(text: str):
    """(step, what it stripped, the rest, (stamp kind, stamp) or None) for the first step that
    applies to ``text``, or None."""
    m = _COMPOSE.match(text)
    if m:
        return "compose", m.group(), text[m.end():], None
    m = _QUOTE.match(text)
    if m:
        return "quote", m.group(), text[m.end():], None
    if text[:1] in (" ", "\t"):
        rest = text.lstrip(" \t")
        return "indent", text[: len(text) - len(rest)], rest, None
    m = _LOCAL_MONTH.match(text)
    if m:
        english = _MONTH_NAMES.get(m.group(1).lower())
        if english is not None and english != m.group(1):
            return "localized-month", f"{m.group()} = {english}", english + text[m.end():], None
    m = _STAMP.match(text)
    if m:
        kind = "classic" if m.group("classic") else "iso"
        return f"{kind}-stamp", m.group(), text[m.end():], (kind, m.group(kind))
    m = _LEVEL.match(text)
    if m:
        return "level", m.group(), text[m.end():], None
    return None


def _display_time(ts: float) -> str:
    whole = int(ts)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{round((ts - whole) * 1e6):06d}+00:00"


class Lenient:
    """The lenient reader of one Parser (``parser.parse_line(..., lenient=False)`` is the strict one)."""

    def __init__(self, parser):
        self.parser = parser
        self._combined: dict = {}  # severity -> one matcher of every rule: can any daemon log this?
        self._shared_sources: frozenset | None = None

    # -- one line ----------------------------------------------------------------------------
    def read(self, line: str, file: str = "<string>", lineno: int = 0, years: YearGuesser | None = None,
             trace: list | None = None) -> Event:
        """The event of a line no strict format matched. ``trace``, when given, receives the
        steps as (step, what it stripped or read) pairs."""
        first = line[:1]
        if first == "{":
            ev = self._json(line, file, lineno, years, trace)
            if ev is not None:
                return ev
        elif (first == "-" or first == "\u2591") and journal.is_marker(line):
            if trace is not None:
                trace.append(("journal-marker", line))
            return Event(FOREIGN, None, None, None, None, None, None, "info", None, line, {}, file, lineno, line,
                         "journal-marker")
        strict = self.parser.parse_line
        text, steps, stamp = line, [], None
        for _ in range(MAX_STEPS):
            peeled = _peel(text)
            if peeled is None:
                break
            name, stripped, text, found = peeled
            steps.append((name, stripped))
            if found is not None:
                stamp = found
                level = _LEVEL.match(text)  # "2024-11-25 13:29:42,123 INFO postfix/...": INFO is no host
                if level:
                    steps.append(("level", level.group()))
                    text = text[level.end():]
            ev = strict(text, file, lineno, years, False)
            if ev.fmt is not None:
                return self._done(ev, line, steps, stamp, years, trace, ev.fmt)
        ev = self._headerless(text, file, lineno, steps)
        if ev is not None:
            return self._done(ev, line, steps, stamp, years, trace, None)
        if trace is not None:
            trace.extend(steps)
        return Event(UNRECOGNIZED, None, None, None, None, None, None, "info", None, line,
                     {"reason": NO_ENVELOPE}, file, lineno, line)

    def _done(self, ev: Event, line: str, steps: list, stamp, years, trace, inner: str | None) -> Event:
        ev.line = line
        names = [name for name, _ in steps]
        if inner is not None:
            names.append(inner)
        ev.fmt = "+".join(names)
        if ev.ts is None and stamp is not None:
            kind, text = stamp
            if kind == "classic":
                ev.ts = (years or YearGuesser(self.parser.year, None)).epoch(text)
            else:
                ev.ts = iso_epoch(text)[0]
        if trace is not None:
            trace.extend(steps)
        return ev

    # -- JSON ----------------------------------------------------------------------------------
    def _json(self, line, file, lineno, years, trace) -> Event | None:
        obj = journal.decode_object(line)
        if obj is None:
            return None
        entry = journal.entry(obj)
        if entry is not None:
            if trace is not None:
                trace.append(("journal-json", "a journalctl -o json entry"))
            return self._journal_event(entry, "MESSAGE" in obj, file, lineno)
        wrapped = journal.wrapped_line(obj)
        if wrapped is not None and wrapped[:1] != "{" and len(wrapped) <= MAX_LINE:
            ev = self.parser.parse_line(wrapped, file, lineno, years)
            if ev.fmt is not None:
                if trace is not None:
                    trace.insert(0, ("json-message", "the syslog line inside a JSON object"))
                ev.fmt = "json-message+" + ev.fmt
                ev.line = wrapped
                return ev
        return Event(UNRECOGNIZED, None, None, None, None, None, None, "info", None, line,
                     {"reason": "JSON, not a journalctl -o json entry"}, file, lineno, line)

    def _journal_event(self, e: journal.Entry, has_message: bool, file, lineno) -> Event:
        ident = e.identifier or "-"
        pid = f"[{e.pid}]" if e.pid is not None else ""
        message = e.message
        display = f"{_display_time(e.ts)} {e.host or '-'} {ident}{pid}: {message or ''}"
        ev = None
        if message is not None:
            # the strict reader does the rest (tag, severity, grammar) on a line made of the entry
            ev = self.parser.parse_line(f"2000-01-01T00:00:00 h {ident}{pid}: {message}", file, lineno, None, False)
        if ev is None or ev.fmt is None:
            program = ident.rsplit("/", 1)[-1]
            ev = Event(FOREIGN, None, None, None, None, program, e.pid, "info", None, message or "", {},
                       file, lineno, display)
            if message is None and ident.startswith("postfix"):
                why = ("MESSAGE is null: longer than 4096 bytes (journalctl prints it with --all)" if has_message
                       else "journal entry without MESSAGE")
                ev.kind, ev.f, ev.instance = UNRECOGNIZED, {"reason": why}, ident.split("/", 1)[0]
        ev.ts, ev.host, ev.line, ev.fmt = e.ts, e.host, display, "journal-json"
        return ev

    # -- no header -------------------------------------------------------------------------------
    def _headerless(self, text: str, file, lineno, steps: list) -> Event | None:
        strict = self.parser.parse_line
        m = _BARE_TAG.match(text)
        if m and m.group(1) in self.parser._known:
            pid = f"[{m.group(2)}]" if m.group(2) else ""
            ev = strict(f"postfix/{m.group(1)}{pid}: {text[m.end():]}", file, lineno, None, False)
            if ev.fmt is not None:
                steps.append(("bare-tag", m.group()))
                return ev
        return self._body_only(text, file, lineno, steps)

    def _body_only(self, text: str, file, lineno, steps: list) -> Event | None:
        severity, body = "info", text
        if text[:1] in "wefp" and text.startswith(SEVERITY_PREFIXES):
            severity, body = text.split(": ", 1)
        found = self.programs_for(body, severity)
        if found is None:
            return None
        programs, known, reader = found
        if known is None:  # daemons that would read it as different kinds
            steps.append(("body-only", f"logged by {', '.join(programs)}: which one is not told"))
            return Event(UNRECOGNIZED, None, None, None, None, None, None, severity, None, body,
                         {"reason": "header-less body that several daemons log as different events"},
                         file, lineno, text)
        ev = self.parser.parse_line(f"postfix/{reader}: {text}", file, lineno, None, False)
        if ev.fmt is None or ev.kind == UNRECOGNIZED:
            return None
        if known:
            steps.append(("body-only", f"only {programs[0]} logs this"))
        else:
            ev.instance = ev.service = ev.program = None
            who = ", ".join(programs) or "any daemon"
            steps.append(("body-only", f"logged by {who}: no program"))
        return ev

    def programs_for(self, body: str, severity: str):
        """Which daemons' grammar rules match a header-less body: None when none does; else
        (programs, known, reader): known is True when exactly one daemon's own rules match it,
        False when several daemons (or any: programs empty) log it as the same kind, None when
        they would read it as different kinds; reader is a daemon that reads it as that kind."""
        grammar = self.parser.grammar
        combined = self._combined.get(severity)
        if combined is None:
            from .grammar.compiler import build_matcher

            rules = [r for r in grammar._rules if r.severity == severity and r.kind not in _KIND_NOT_FROM_TEXT]
            combined = self._combined[severity] = build_matcher(rules, grammar.compiler)
            self._shared_sources = frozenset(
                f"{r.file}:{r.line}" for r in grammar._rules if "*" in r.programs)
        if combined.regex is None or combined.regex.match(body) is None:
            return None
        own: dict = {}
        shared = None  # (a daemon that reads it through the rules every daemon shares, the kind)
        tried: dict = {}  # id(matcher) -> rule info or None: daemons without rules of their own share one
        for program in grammar.programs:
            m = grammar.body(program, severity)
            key = id(m)
            if key not in tried:
                hit = m.regex.match(body) if m.regex is not None else None
                tried[key] = None if hit is None else m.by_group[hit.lastindex]
            info = tried[key]
            if info is None:
                continue
            if info.kind in _KIND_NOT_FROM_TEXT:
                continue
            if info.source in self._shared_sources:
                shared = shared or (program, info.kind)
            else:
                own[program] = info.kind
        if not own:
            return ([], False, shared[0]) if shared is not None else None
        programs = sorted(own)
        kinds = set(own.values())
        if shared is not None:  # any daemon logs it too (one daemon's broad rule overlaps a shared one)
            kinds.add(shared[1])
            programs.append("any daemon")
        if len(kinds) > 1:
            return programs, None, programs[0]
        if len(own) == 1 and shared is None:
            return programs, True, programs[0]
        return programs, False, programs[0]

    # -- wrapped lines ---------------------------------------------------------------------------
    def rejoin(self, held: Event, waiting: list, file: str, years, again: bool = False) -> Event | None:
        """``held`` joined with the ``waiting`` lines after it, or None. Those lines have no envelope
        of their own (strict or lenient): they may be the rest of ``held``'s line that a paste
        wrapped. The join is taken only when it is unambiguous: ``held`` is a Postfix line, the
        waiting lines do not start like a line of their own (a time stamp, a comment, a shell
        prompt, a "--" trailer), a grammar rule claims the joined line, and either no rule claimed
        ``held`` alone, or the joined line is the same kind of event with more fields (a reject
        reason cut short, its from=/to= on the next line), or with as many when ``held`` was cut
        inside <...>, (...) or [...], or ``again``: held joined with fewer of the waiting lines
        already read. A line cut inside free text at its end (a disconnect's command counts) stays
        two lines: text after a complete line may as well be a note."""
        if held.fmt is None or held.kind == FOREIGN or _NOT_A_CONTINUATION.match(waiting[-1][0]):
            return None
        joined = self._joined(held, [line for line, _ in waiting], file, years)
        if joined is None:
            return None
        if held.kind in HOLD:
            return joined
        if joined.kind != held.kind or len(joined.f) < len(held.f):
            return None
        if len(joined.f) > len(held.f) or _cut_inside_brackets(held.line) or again:
            return joined
        return None

    def _joined(self, ev: Event, continuations: list, file: str, years) -> Event | None:
        head = ev.line
        prefix = self._prefix_of(head)
        if prefix:  # a quoted or prefixed paste repeats the prefix on the wrapped part
            continuations = [c[len(prefix):] if c.startswith(prefix) else c for c in continuations]
        if len(head) + sum(len(c) for c in continuations) + len(continuations) > MAX_LINE:
            return None
        # A terminal breaks a line at its width, inside a word: the parts join as they are. A
        # mail client breaks lines shorter than that at a space it drops: joined with one.
        texts = [head + "".join(continuations)]
        if not head[-1:].isspace() and not any(c[:1].isspace() for c in continuations):
            spaced = head + " " + " ".join(continuations)
            texts.insert(0 if len(head) < MAIL_WRAP else 1, spaced)  # a short first part: the space first
        best = None
        for text in texts:
            candidate = self.parser.parse_line(text, file, ev.lineno, years)
            if candidate.kind in HOLD:
                continue
            if best is None or len(candidate.f) > len(best.f):
                best = candidate
        if best is not None:
            best.fmt = "joined+" + best.fmt
        return best

    def _prefix_of(self, line: str) -> str:
        """What the compose/quote/indent steps strip from the start of ``line``."""
        prefix = ""
        text = line
        for _ in range(MAX_STEPS):
            peeled = _peel(text)
            if peeled is None or peeled[0] not in ("compose", "quote", "indent"):
                break
            prefix += peeled[1]
            text = peeled[2]
        return prefix
