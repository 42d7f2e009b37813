"""`analyze` as consumers of the one stream: coverage, the rule engine and the evidence of the
incidents (pipeline.py), then the findings of the rules and their incidents → one `Analysis`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from . import incidents as incidents_mod
from . import pipeline
from .coverage import Coverage
from .incidents.evidence import Evidence
from .inputs import resolve
from .model import Analysis, Finding, at_least, sort_findings
from .parse import Parser
from .rules import Engine
from .track import Message
from .when import Window


def stream(head: bool = True, engine: Engine | None = None, since: float | None = None,
           until: float | None = None) -> pipeline.Stream:
    """The stream of `analyze`: parse coverage, every rule (or ``engine``'s), the incidents'
    evidence; with ``since``/``until``, only the lines of that window (when.Window, which is
    also the last consumer: it counts the lines it leaves out)."""
    consumers = [Coverage(), engine if engine is not None else Engine(head=head), Evidence()]
    window = None
    if since is not None or until is not None:
        window = Window(since, until)
        consumers.append(window)
    return pipeline.Stream(consumers, head=head, select=window)


def conclude(s: pipeline.Stream, sources: Iterable[str] = (), *, gaps: dict | None = None,
             min_severity: str = "info") -> Analysis:
    """The Analysis of an analysis stream fed to its end: findings (at or above
    ``min_severity``), their incidents (``gaps``: quiet gaps by category), still-queued messages."""
    coverage, engine, evidence = s.consumers[:3]
    window = s.consumers[3] if len(s.consumers) > 3 else None
    queued = s.finish()
    findings = engine.finish(queued=queued, end_ts=coverage.last_ts)
    incidents = incidents_mod.build(findings, evidence, coverage.last_ts, gaps, min_severity)
    findings = sort_findings([f for f in findings if at_least(f.severity, min_severity)])
    clock = engine.rule("TIM001")
    return Analysis(coverage, findings, queued, list(sources), dict(s.assumptions), incidents,
                    clock.report() if clock is not None else {},
                    window.as_dict() if window is not None else None)


def run(events: Iterable, engine: Engine | None = None) -> tuple[Coverage, list[Finding], list[Message]]:
    """Feed events through coverage, tracker and rules; return what they found."""
    s = stream(engine=engine)
    s.feed_all(events)
    a = conclude(s)
    return a.coverage, a.findings, a.queued


def analyze(paths: list[str] | None, year: int | None = None, min_severity: str = "info",
            progress: Callable[[str], None] | None = None, jobs: int = 1, *,
            since: float | None = None, until: float | None = None, gaps: dict | None = None) -> Analysis:
    """Analyze the logs at `paths` (files, globs, directories, "-"); see inputs.resolve.
    ``jobs``: processes for big plain files (see pipeline.run; default one). ``since``/``until``:
    only the lines of that window (wall-clock epochs, see when.parse_when); ``gaps``: the quiet
    gaps of the incidents by category (seconds)."""
    parser = Parser(year=year)
    sources = resolve(list(paths) if paths else [])
    make = functools.partial(stream, since=since, until=until) if since is not None or until is not None else stream
    fed = pipeline.run(sources, make, parser, jobs=jobs, progress=progress)
    return conclude(fed, [src.display for src in sources], gaps=gaps, min_severity=min_severity)
