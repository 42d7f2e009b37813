"""The `analyze` pipeline: events → coverage, tracker, rules → one `Analysis`.

Data moves forward only: each event is seen once by each consumer; nothing re-reads lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .coverage import Coverage
from .inputs import resolve
from .model import Analysis, Finding, at_least, sort_findings
from .parse import Parser
from .rules import Engine
from .track import Message, Tracker


def tracker_for(engine: Engine) -> Tracker:
    """A tracker that hands finished messages (and, when a rule reads them, smtpd sessions) to
    the engine's rules."""
    return Tracker(on_message=engine.feed_message,
                   on_session=engine.feed_session if engine.wants_sessions else None)


def run(events: Iterable, engine: Engine | None = None) -> tuple[Coverage, list[Finding], list[Message]]:
    """Feed events through coverage, tracker and rules; return what they found."""
    engine = engine or Engine()
    coverage = Coverage()
    tracker = tracker_for(engine)
    cov_feed, track_feed, rule_feed = coverage.feed, tracker.feed, engine.feed
    for ev in events:
        cov_feed(ev)
        track_feed(ev)
        rule_feed(ev)
    queued = tracker.finish()
    findings = engine.finish(queued=queued, end_ts=coverage.last_ts)
    return coverage, findings, queued


def analyze(paths: list[str] | None, year: int | None = None, min_severity: str = "info",
            progress: Callable[[str], None] | None = None) -> Analysis:
    """Analyze the logs at `paths` (files, globs, directories, "-"); see inputs.resolve."""
    parser = Parser(year=year)
    sources = resolve(list(paths) if paths else [])

    def events():
        for source in sources:
            if progress is not None:
                progress(source.display)
            yield from parser.parse_source(source)

    coverage, findings, queued = run(events())
    findings = sort_findings([f for f in findings if at_least(f.severity, min_severity)])
    return Analysis(coverage, findings, queued, [s.display for s in sources], dict(parser.assumptions))
