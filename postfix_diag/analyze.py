"""`analyze` as consumers of the one stream: coverage and the rule engine (pipeline.py), then
the findings of the rules → one `Analysis`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

from . import pipeline
from .coverage import Coverage
from .inputs import resolve
from .model import Analysis, Finding, at_least, sort_findings
from .parse import Parser
from .rules import Engine
from .track import Message


def stream(head: bool = True, engine: Engine | None = None, preview: bool = True) -> pipeline.Stream:
    """The stream of `analyze`: parse coverage and every rule (or ``engine``'s; without
    ``preview``, the rules in preview are left out)."""
    return pipeline.Stream([Coverage(), engine if engine is not None else Engine(head=head, preview=preview)],
                           head=head)


def conclude(s: pipeline.Stream) -> tuple[Coverage, list[Finding], list[Message]]:
    """Coverage, findings and still-queued messages of an analysis stream fed to its end."""
    coverage, engine = s.consumers
    queued = s.finish()
    return coverage, engine.finish(queued=queued, end_ts=coverage.last_ts), queued


def run(events: Iterable, engine: Engine | None = None) -> tuple[Coverage, list[Finding], list[Message]]:
    """Feed events through coverage, tracker and rules; return what they found."""
    s = stream(engine=engine)
    s.feed_all(events)
    return conclude(s)


def analyze(paths: list[str] | None, year: int | None = None, min_severity: str = "info",
            progress: Callable[[str], None] | None = None, jobs: int = 1, preview: bool = True) -> Analysis:
    """Analyze the logs at `paths` (files, globs, directories, "-"); see inputs.resolve.
    ``jobs``: processes for big plain files (see pipeline.run; default one). ``preview``: run
    the rules in preview too (rules.base.Rule.preview)."""
    parser = Parser(year=year)
    sources = resolve(list(paths) if paths else [])
    make = stream if preview else partial(stream, preview=False)
    fed = pipeline.run(sources, make, parser, jobs=jobs, progress=progress)
    coverage, findings, queued = conclude(fed)
    findings = sort_findings([f for f in findings if at_least(f.severity, min_severity)])
    return Analysis(coverage, findings, queued, [src.display for src in sources], dict(fed.assumptions))
