"""`postfix-diag explain-line`: for each line of a pasted snippet, how it was read (the input
format and what was stripped), the event it became, and which rules read that event.

The rules are those the rule engine dispatches the event to (by kind; delivery lines by status),
the catch-all rules a warning/error/fatal/panic line goes to when none of those claims it, and the
rules that read the finished message or smtpd session the tracker builds from it.
"""

from __future__ import annotations

from collections.abc import Iterable

from .events import FOREIGN, UNRECOGNIZED, Event
from .lenient import is_lenient
from .model import iso
from .parse import Parser, YearGuesser


class Dispatch:
    """Which rules read an event: the engine's own dispatch tables, read, never re-derived."""

    def __init__(self):
        from .rules import Engine
        from .track import Tracker

        self.engine = Engine()
        self.tracker = Tracker(on_message=self.engine.feed_message, on_session=self.engine.feed_session)

    @staticmethod
    def _rules(handlers) -> list[dict]:
        out, seen = [], set()
        for h in handlers:
            rule = h.__self__
            if rule.id not in seen:
                seen.add(rule.id)
                out.append({"id": rule.id, "title": rule.title})
        return out

    def rules_for(self, ev: Event) -> dict:
        engine = self.engine
        hr = engine.rules_of(ev.host)
        if ev.kind == "delivery":
            status = ev.f.get("status")
            handlers = hr.by_status.get(status)
            if handlers is None:
                handlers = engine._wanting(status, hr.delivery_rules, "feed", hr.by_status)
        else:
            handlers = hr.dispatch.get(ev.kind, ())
        catch = ()
        if ev.severity != "info" and ev.kind not in (FOREIGN, UNRECOGNIZED):
            catch = hr.catch.get(ev.severity, ())
        tracked = ev.kind in self.tracker.handlers
        messages = hr.msg_rules if tracked and ev.qid not in (None, "NOQUEUE") else ()
        sessions = hr.session_rules if tracked and ev.program == "smtpd" and ev.pid is not None else ()
        return {"rules": self._rules(handlers), "catch_all": self._rules(catch),
                "message_rules": self._rules(messages), "session_rules": self._rules(sessions)}


def _trace(parser: Parser, ev: Event, raw: str, year: int | None) -> list[dict]:
    """The lenient steps that read ``raw`` (read again with a year guesser of its own, so that the
    explanation does not move the real one)."""
    joined = ev.fmt is not None and ev.fmt.startswith("joined+")
    if not is_lenient(ev.fmt.removeprefix("joined+") if joined else ev.fmt):
        return []
    steps: list = []
    text = ev.line if joined else raw
    parser.lenient.read(text, "<explain>", 0, YearGuesser(year, None), steps)
    return [{"step": name, "stripped": what} for name, what in steps]


def explain(numbered: Iterable[tuple[int, str]], file: str = "<stdin>", year: int | None = None,
            parser: Parser | None = None) -> list[dict]:
    """One entry per event of the (line number, line) pairs: lines read, format, steps, event, rules."""
    parser = parser or Parser(year=year)
    dispatch = Dispatch()
    numbered = list(numbered)
    raw = dict(numbered)
    numbers = [n for n, _ in numbered]
    events = list(parser.parse_stream(numbered, file, YearGuesser(year, None)))
    out = []
    for i, ev in enumerate(events):
        end = events[i + 1].lineno - 1 if i + 1 < len(events) else numbers[-1]
        lines = [n for n in numbers if ev.lineno <= n <= end]
        event = {"kind": ev.kind, "time": iso(ev.ts) if ev.ts is not None else None, "host": ev.host,
                 "instance": ev.instance, "service": ev.service, "program": ev.program, "pid": ev.pid,
                 "severity": ev.severity, "qid": ev.qid, "text": ev.text, "fields": dict(ev.f)}
        entry = {"lines": lines, "line": ev.line if len(lines) > 1 else raw[ev.lineno], "format": ev.fmt, "lenient": is_lenient(ev.fmt),
                 "steps": _trace(parser, ev, raw[ev.lineno], year), "event": event}
        if len(lines) > 1:
            entry["steps"].insert(0, {"step": "joined", "stripped": f"lines {lines[0]}-{lines[-1]} read as one"})
        entry.update(dispatch.rules_for(ev))
        out.append(entry)
    return out
