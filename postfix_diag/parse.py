"""Lines → typed events: the syslog envelope, the tag, then the program's compiled grammar.

Hot path: one envelope regex match, one body regex match, dictionary lookups. Timestamps, tags
and matchers are cached, so per-line work stays small. A line no envelope format matches goes to
the lenient reader (lenient.py: journald JSON, pasted snippets); wrapped lines are re-joined by
`Parser.parse_stream`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from itertools import compress
from operator import itemgetter

from . import grammar as grammar_mod
from .events import ACCESS_KINDS, ACCESS_OTHER, FOREIGN, SEVERITY_PREFIXES, UNRECOGNIZED, Event
from .inputs import MAX_LINE, Source, read_numbered, resolve
from .lenient import MAX_CONTINUATIONS, NO_ENVELOPE, Lenient
from .timestamps import STAMP_CACHE, YearGuesser, iso_epoch

__all__ = ["Parser", "YearGuesser", "iso_epoch", "iter_events", "MAX_LINE", "STAMP_CACHE", "NO_ENVELOPE"]

MAX_TAGS = 10_000  # distinct syslog tags remembered (see Parser._split_tag)
MAX_PID_DIGITS = 18  # a longer "pid" is none (int() refuses more than 4300 digits)
# Postfix programs that log without being named in a grammar section.
EXTRA_PROGRAMS = frozenset(
    "postfix postfix-script postfix-tls-script postmulti postmulti-script postqueue postdrop sendmail "
    "postmap postalias postcat postconf postkick postlock postlog postsuper oqmgr qmqpd showq flush "
    "spawn proxymap tlsmgr verify trivial-rewrite discard error retry relay virtual local pipe lmtp "
    "smtp smtpd qmgr cleanup pickup bounce defer trace anvil scache postscreen dnsblog tlsproxy "
    "master postlogd nqmgr".split()
)


class _Envelope:
    """One envelope format, compiled alone so the parser can try the last format that matched
    first, and read its fields by fixed group numbers."""

    __slots__ = ("name", "match", "idx", "has_ts", "outer", "in_order")

    def __init__(self, m):
        info = m.rules[0]
        pos = {}
        for name, index in zip(info.names, info.group_indexes, strict=True):
            if name in pos:
                raise ValueError(f"envelope format {info.kind}: field {name} captured twice")
            pos[name] = index
        for required in ("tag", "body"):
            if required not in pos:
                raise ValueError(f"envelope format {info.kind}: no {required} field")
        self.name = info.kind
        self.match = m.regex.match
        self.has_ts = "ts" in pos
        # ts, host, tag, pid, body (0 = the whole match, used only where has_ts/host/pid say so)
        self.idx = tuple(pos.get(n, 0) for n in ("ts", "host", "tag", "pid", "body"))
        self.outer = pos.get("outer_ts")
        # groups 1-5 are exactly ts, host, tag, pid, body, then the rule marker: m.groups() will do
        self.in_order = self.idx == (1, 2, 3, 4, 5) and m.regex.groups == 6


# Fields the parser itself reads from a rule's captures, whatever a consumer asks for.
_PARSER_FIELDS = ("qid", "kind", "action")


class Parser:
    """Parses lines of one or more sources. Keeps the per-file year assumptions it made.

    ``fields``: for a consumer that reads only some fields ({rule kind: field names}, rule kinds
    as in docs/events.md, "reject" for every access decision): events then carry only those
    fields (those of kinds not named: none), which makes parsing cheaper. Default: every field.

    ``select``: light events for consumers that name the kinds and fields they read (see
    postfix_diag/selection.py): only those kinds are events, their ``f`` a tuple of the declared
    fields; the other lines are counted in ``self.skipped`` ({kind: lines}) and parse_line
    returns None for them. Not together with ``fields``.

    ``pure``: True for the Python parser even when the compiled core (postfix_diag.core) is
    built; default: the core when available (not with POSTFIX_DIAG_PURE=1). Both give the same
    events; ``self.compiled`` says which one parse_line is.

    ``parse_block(lines, file, lineno, years)`` parses a list of lines in one call (the core
    loops in C) and returns their events (no re-joining of wrapped lines: see parse_stream).
    """

    def __init__(self, year: int | None = None, grammar=None, fields: dict | None = None,
                 pure: bool = False, select: dict | None = None):
        self.grammar = grammar or grammar_mod.load()
        self.year = year
        self.selection = None
        self.skipped: dict = {}  # with select: {kind: lines of the kinds not selected}
        if select is not None:
            if fields is not None:
                raise ValueError("Parser: give fields or select, not both")
            from .selection import Selection

            self.selection = Selection(select, self.grammar)
            fields = self.selection.projection()
        self._wanted = None if fields is None else self._check_fields(fields)
        self.assumptions: dict = {}  # file → description of the year assumption
        self._tags: dict = {}
        self._bodies: dict = {}
        self._tables: dict = {}  # id(grammar matcher) -> (match, table): matchers live as long as the grammar
        self._known = frozenset(self.grammar.programs) | EXTRA_PROGRAMS
        self._formats = [_Envelope(m) for m in self.grammar.envelope_matchers]
        full = self._make_parse_line()
        # the lenient reader works on the Python parser's full events (the compiled core's
        # parse_line takes no `lenient` argument, and with select events are light)
        self.lenient = Lenient(_FullEvents(self, full))
        self.parse_strict = functools.partial(full, lenient=False)  # strict envelopes only, Python
        self.parse_line = full if self.selection is None else self._light(full)
        self.parse_block = self._parse_block
        self.compiled = False
        if not pure:
            from . import core

            fast = core.make_parse_line(self, full, MAX_LINE, MAX_TAGS, YearGuesser, iso_epoch, MAX_PID_DIGITS)
            if fast is not None:
                self.parse_line, self.parse_block, self.compiled = fast.parse_line, fast.parse_block, True

    def _light(self, full):
        """parse_line of light events over the Python parser's full ones (the reference)."""
        convert, skipped = self.selection.convert, self.skipped

        def parse_line(line: str, file: str = "<string>", lineno: int = 0, years: YearGuesser | None = None,
                       lenient: bool = True):
            return convert(full(line, file, lineno, years, lenient), skipped)

        return parse_line

    def _parse_block(self, lines: list, file: str, lineno: int, years: YearGuesser | None) -> list:
        parse = self.parse_line
        out = []
        for i, line in enumerate(lines, lineno):
            ev = parse(line, file, i, years)
            if ev is not None:
                out.append(ev)
        return out

    # -- tag → (instance, service, program, is_postfix) -----------------------------------------
    def _split_tag(self, tag: str):
        """(instance, service, program, is_postfix) of a tag, cached."""
        parts = [p for p in tag.split("/") if p]
        program = parts[-1] if parts else tag
        instance = parts[0] if parts else tag
        service = parts[-2] if len(parts) > 2 else program
        is_postfix = program in self._known and (instance.startswith("postfix") or len(parts) >= 2)
        if len(parts) == 1 and instance.startswith("postfix") and program not in self._known:
            is_postfix = True  # e.g. postfix-script variants under a syslog_name
        result = (instance, service, program, is_postfix)
        if len(self._tags) >= MAX_TAGS:  # other programs' tags are many in some logs: keep memory flat
            self._tags.clear()
        self._tags[tag] = result
        return result

    def _check_fields(self, fields: dict) -> dict:
        """{kind: frozenset of names}, after checking that each kind and field exists."""
        known = self.grammar.fields_by_kind
        wanted = {}
        for kind, names in fields.items():
            if kind not in known:
                raise ValueError(f"no grammar rule makes events of kind {kind!r}")
            unknown = sorted(set(names).difference(known[kind]))
            if unknown:
                raise ValueError(f"events of kind {kind!r} have no field {', '.join(unknown)}")
            wanted[kind] = frozenset(names).union(_PARSER_FIELDS)
        return wanted

    def _table_entry(self, rule):
        """(kind, names, group indexes, conversions, single) of a rule: what parse_line reads."""
        names, indexes, conversions = rule.names, rule.group_indexes, rule.conversions
        if self._wanted is not None:
            keep = self._wanted.get(rule.kind, _PARSER_FIELDS)
            pairs = [(n, i) for n, i in zip(names, indexes, strict=True) if n in keep]
            names, indexes = tuple(n for n, _ in pairs), tuple(i for _, i in pairs)
            conversions = tuple((n, c) for n, c in conversions if n in keep)
        return rule.kind, names, indexes, conversions, len(indexes) == 1

    def _body_matcher(self, program: str, severity: str):
        """(regex.match, {group: (kind, names, indexes, conversions, single)}) for a program."""
        m = self.grammar.body(program, severity)
        result = self._tables.get(id(m))  # programs without rules of their own share a matcher
        if result is None:
            table = {g: self._table_entry(r) for g, r in m.by_group.items()}
            result = self._tables[id(m)] = (m.regex.match if m.regex is not None else (lambda _text: None), table)
        if len(self._bodies) >= MAX_TAGS:
            self._bodies.clear()
        self._bodies[(program, severity)] = result
        return result

    def parse_source(self, source: Source) -> Iterator[Event]:
        years = YearGuesser(self.year, source.mtime)
        name = source.display
        yield from self.parse_stream(read_numbered(source), name, years)
        if years.years_used:
            self.assumptions[name] = years.describe()

    def parse_stream(self, numbered: Iterable[tuple[int, str]], file: str, years: YearGuesser | None):
        """Events of (line number, line) pairs, one per line, except that a line a paste wrapped is
        read as one (see `lenient.Lenient.rejoin`). Each event is handed on when the next line with
        an envelope arrives (or the input ends): until then, a line without one may be its rest."""
        parse = self.parse_line
        if self.selection is not None:  # light events: each line on its own, none re-joined
            for lineno, line in numbered:
                ev = parse(line, file, lineno, years)
                if ev is not None:
                    yield ev
            return
        it = iter(numbered)
        held = None  # the last event: the lines after it without an envelope may be its rest
        for lineno, line in it:
            ev = parse(line, file, lineno, years)
            if ev.fmt is not None:  # a line with an envelope (strict or lenient): the common case
                if held is not None:
                    yield held
                held = ev
            elif held is None:
                yield ev
            else:  # a line without one after a held line: perhaps its rest
                held = yield from self._continued(held, line, ev, it, file, years)
        if held is not None:
            yield held

    def _continued(self, held, line, ev, it, file, years):
        """Events from a held line and the line without an envelope after it, reading on while
        lines have none (see `lenient.Lenient.rejoin`); returns the next event to hold (None when
        the input ended or too many such lines came)."""
        parse, rejoin = self.parse_line, self.lenient.rejoin
        waiting = [(line, ev)]  # the lines without an envelope after `held`, (line, event)
        joined, used = None, 0  # held joined with the first `used` of them, if that reads
        while True:
            longer = rejoin(held, waiting, file, years, joined is not None)
            if longer is not None:
                joined, used = longer, len(waiting)
            elif len(waiting) - used >= MAX_CONTINUATIONS:
                yield from self._flush(held, waiting, joined, used)
                return None
            nxt = next(it, None)
            if nxt is None:
                yield from self._flush(held, waiting, joined, used)
                return None
            later = parse(nxt[1], file, nxt[0], years)
            if later.fmt is not None:
                yield from self._flush(held, waiting, joined, used)
                return later
            waiting.append((nxt[1], later))

    @staticmethod
    def _flush(held, waiting, joined, used):
        yield held if joined is None else joined
        yield from (w for _, w in waiting[used:])

    def _make_parse_line(self):
        """Build ``parse_line(line, file="<string>", lineno=0, years=None) -> Event``.

        A closure rather than a method: the hot path reads the parser's tables and the module's
        names as local variables instead of looking up attributes and globals on every line.
        """
        formats = self._formats
        tags_get, split_tag = self._tags.get, self._split_tag
        bodies_get, body_matcher = self._bodies.get, self._body_matcher
        last_format = formats[0]

        def parse_line(line: str, file: str = "<string>", lineno: int = 0,
                       years: YearGuesser | None = None, lenient: bool = True) -> Event:
            nonlocal last_format
            if line[:1] == "\x00":
                line = line.lstrip("\x00")
            if len(line) > MAX_LINE:  # the reader hands over at most MAX_LINE + 1 characters of it
                return Event(UNRECOGNIZED, None, None, None, None, None, None, "info", None, line[:200],
                             {"reason": "overlong", "length": getattr(line, "length", len(line))},
                             file, lineno, line[:1000])
            fmt = last_format
            m = fmt.match(line)
            if m is None:
                for fmt in formats:
                    m = fmt.match(line)
                    if m is not None:
                        last_format = fmt
                        break
                else:
                    if lenient:  # pasted snippets, journald JSON, prefixes: see lenient.py
                        return self.lenient.read(line, file, lineno, years)
                    return Event(UNRECOGNIZED, None, None, None, None, None, None, "info", None,
                                 line, {"reason": NO_ENVELOPE}, file, lineno, line)
            if fmt.in_order:
                ts_s, host, tag, pid, body, _ = m.groups()
            else:
                ts_s, host, tag, pid, body = m.group(*fmt.idx)
            name = fmt.name
            if not fmt.has_ts:
                ts = None
                if not fmt.idx[1]:
                    host = None
            elif name == "classic":
                if years is None:
                    years = YearGuesser(self.year, None)
                ts = years.epoch(ts_s)
            elif fmt.outer:
                ts = iso_epoch(m.group(fmt.outer))[0]
                if ts is None and years is not None:
                    ts = years.epoch(ts_s)
            else:
                ts, iso_name = iso_epoch(ts_s)
                if name == "iso":  # name the ISO variant; other envelopes (rfc5424) keep their own name
                    name = iso_name
            instance, service, program, is_postfix = tags_get(tag) or split_tag(tag)
            if pid is not None:  # a pid of thousands of digits would make int() raise: no pid
                pid = int(pid) if pid.isdigit() and len(pid) <= MAX_PID_DIGITS else None
            if body[-3:] == ",,,":  # damage from CSV exports of logs: a run of commas after the message
                body = body.rstrip(",")
            if not is_postfix:
                return Event(FOREIGN, ts, host, instance, service, program, pid, "info", None, body, {},
                             file, lineno, line, name)
            severity = "info"
            text = body
            if body[:1] in "wefp" and body.startswith(SEVERITY_PREFIXES):
                severity, text = body.split(": ", 1)
            match, table = bodies_get((program, severity)) or body_matcher(program, severity)
            hit = match(text)
            if hit is None:
                if severity == "info":
                    return Event(UNRECOGNIZED, ts, host, instance, service, program, pid, severity, None,
                                 text, {"reason": "no grammar rule"}, file, lineno, line, name)
                return Event(severity, ts, host, instance, service, program, pid, severity, None, text, {},
                             file, lineno, line, name)
            kind, names, idx, conversions, single = table[hit.lastindex]
            if not idx:
                fields = {}
            else:
                values = (hit.group(idx[0]),) if single else hit.group(*idx)
                # names and group numbers come in pairs from the compiler; zip(strict=...) would
                # cost a keyword argument on every line
                if None in values:
                    fields = {k: v for k, v in zip(names, values) if v is not None}  # noqa: B905
                else:
                    fields = dict(zip(names, values))  # noqa: B905
                for key, conv in conversions:
                    value = fields.get(key)
                    if value is not None:
                        try:
                            fields[key] = conv(value)
                        except ValueError:
                            pass
            if kind == "reject":
                action = fields.pop("kind", None) or fields.get("action", "reject")
                fields["action"] = action
                kind = ACCESS_KINDS.get(action, ACCESS_OTHER)
            return Event(kind, ts, host, instance, service, program, pid, severity, fields.pop("qid", None),
                         text, fields, file, lineno, line, name)

        return parse_line

    def parse_lines(self, lines: Iterable[str], file: str = "<string>", year: int | None = None):
        """Events of the non-blank lines of ``lines``, numbered from 1 (see `parse_stream`)."""
        years = YearGuesser(year if year is not None else self.year, None)
        if isinstance(lines, (list, tuple)):  # the lines themselves select: blank ones are false
            numbered = compress(enumerate(lines, 1), lines)
        else:
            numbered = filter(itemgetter(1), enumerate(lines, 1))
        yield from self.parse_stream(numbered, file, years)


class _FullEvents:
    """A Parser as the lenient reader sees it: with the Python parse_line of full events (the
    Parser's own may be the compiled core's, or make light events with select)."""

    def __init__(self, parser: Parser, parse_line):
        self._parser = parser
        self.parse_line = parse_line

    def __getattr__(self, name):
        return getattr(self._parser, name)


def iter_events(paths, year: int | None = None, parser: Parser | None = None) -> Iterator[Event]:
    """Events of every line of the given paths (see `inputs.resolve`), oldest rotation first."""
    parser = parser or Parser(year=year)
    for source in resolve(list(paths) if paths else []):
        yield from parser.parse_source(source)
