"""`analyze` as consumers of the one stream: coverage and the rule engine (pipeline.py), then
the findings of the rules → one `Analysis`.

The Postfix configuration, when there is one (``--config``, or read on the server itself: see
`postfix_diag.config.discover`), goes to the engine, whose rules read it when they finish; the
report says what was read (`config_report`)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from . import pipeline
from .coverage import Coverage
from .inputs import resolve
from .model import Analysis, Finding, at_least, sort_findings
from .parse import Parser
from .rules import REGISTRY, Engine
from .track import Message


def stream(head: bool = True, engine: Engine | None = None, config=None) -> pipeline.Stream:
    """The stream of `analyze`: parse coverage and every rule (or ``engine``'s)."""
    return pipeline.Stream([Coverage(), engine if engine is not None else Engine(head=head, config=config)],
                           head=head)


def conclude(s: pipeline.Stream) -> tuple[Coverage, list[Finding], list[Message]]:
    """Coverage, findings and still-queued messages of an analysis stream fed to its end."""
    coverage, engine = s.consumers
    queued = s.finish()
    coverage.note_limits(s.tracker)
    return coverage, engine.finish(queued=queued, end_ts=coverage.last_ts), queued


def run(events: Iterable, engine: Engine | None = None, config=None) -> tuple[Coverage, list[Finding], list[Message]]:
    """Feed events through coverage, tracker and rules; return what they found."""
    s = stream(engine=engine, config=config)
    s.feed_all(events)
    return conclude(s)


def config_report(config, how: str, findings: list[Finding], applied: dict | None = None) -> dict:
    """The report's ``config`` section: what was read (sources, the parameters and services the
    findings relied on, problems with file:line), how, for which hosts; and, for the findings
    made without a configuration, what reading one would make exact (``would_sharpen``)."""
    out: dict = {"read": config is not None, "how": how}
    if config is not None:
        out.update(config.as_dict())
        if applied:
            out["applied_to_hosts"] = [h for h, yes in applied.items() if yes]
            out["not_applied_to_hosts"] = [h for h, yes in applied.items() if not yes]
    else:
        out["sources"] = []
    unaided = [f for f in findings if config is None or (applied and not applied.get(f.host, False))]
    hints, seen = [], set()
    for f in unaided:
        cls = REGISTRY.get(f.id)
        if cls is not None and cls.with_config and f.id not in seen:
            seen.add(f.id)
            hints.append({"id": f.id, "what": " ".join(cls.with_config.split())})
    out["would_sharpen"] = hints
    return out


def analyze(paths: list[str] | None, year: int | None = None, min_severity: str = "info",
            progress: Callable[[str], None] | None = None, jobs: int = 1, config=None,
            config_how: str | None = None) -> Analysis:
    """Analyze the logs at `paths` (files, globs, directories, "-"); see inputs.resolve.
    ``jobs``: processes for big plain files (see pipeline.run; default one). ``config``: a
    `postfix_diag.config.Config` the rules use as evidence (``config_how`` says where it came
    from, for the report)."""
    parser = Parser(year=year)
    sources = resolve(list(paths) if paths else [])
    make = functools.partial(stream, config=config)
    fed = pipeline.run(sources, make, parser, jobs=jobs, progress=progress)
    coverage, findings, queued = conclude(fed)
    findings = sort_findings([f for f in findings if at_least(f.severity, min_severity)])
    engine = fed.consumers[1]
    how = config_how or ("configuration given" if config is not None else "no configuration read")
    report = config_report(config, how, findings, engine.config_applied)
    return Analysis(coverage, findings, queued, [src.display for src in sources], dict(fed.assumptions),
                    config=report)
