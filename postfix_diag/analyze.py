"""`analyze` as consumers of the one stream: coverage, the rule engine and the evidence of the
incidents (pipeline.py), then the findings of the rules and their incidents → one `Analysis`.

The Postfix configuration, when there is one (``--config``, or read on the server itself: see
`postfix_diag.config.discover`), goes to the engine, whose rules read it when they finish; the
report says what was read (`config_report`)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from . import incidents as incidents_mod
from . import pipeline
from .coverage import Coverage
from .incidents.evidence import Evidence
from .metrics import Traffic
from .model import Analysis, Finding, at_least, sort_findings
from .parse import Parser
from .rules import REGISTRY, Engine
from .rules.clock import combined_report
from .track import Message
from .when import Window


def stream(head: bool = True, engine: Engine | None = None, config=None, preview: bool = True,
           since: float | None = None, until: float | None = None, traffic: bool = False,
           metrics: bool = False) -> pipeline.Stream:
    """The stream of `analyze`: parse coverage, every rule (or ``engine``'s; without ``preview``,
    the rules in preview are left out), the incidents' evidence; with ``traffic``, the traffic over
    time the HTML report charts (traffic.Traffic); with ``metrics`` the traffic counters
    (metrics.Traffic, for --format prometheus and state files); with ``since``/``until``, only
    the lines of that window (when.Window, which is also the last consumer: it counts the lines
    it leaves out)."""
    engine = engine if engine is not None else Engine(head=head, config=config, preview=preview)
    consumers = [Coverage(), engine, Evidence()]
    if traffic:
        from .traffic import Traffic as TrafficOverTime

        consumers.append(TrafficOverTime())
    if metrics:
        consumers.append(Traffic())
    window = None
    if since is not None or until is not None:
        window = Window(since, until)
        consumers.append(window)
    return pipeline.Stream(consumers, head=head, select=window)


def conclude(s: pipeline.Stream, sources: Iterable[str] = (), *, gaps: dict | None = None,
             min_severity: str = "info") -> Analysis:
    """The Analysis of an analysis stream fed to its end: findings (at or above
    ``min_severity``), their incidents (``gaps``: quiet gaps by category), still-queued messages,
    the traffic over time and the traffic counters when the stream counted them."""
    import sys

    over_time = sys.modules.get("postfix_diag.traffic")  # imported (with pandas) only by a stream that counts it
    coverage, engine, evidence = s.consumers[:3]
    window = next((c for c in s.consumers[3:] if isinstance(c, Window)), None)
    traffic = next((c for c in s.consumers[3:] if over_time is not None and isinstance(c, over_time.Traffic)), None)
    counters = next((c for c in s.consumers[3:] if isinstance(c, Traffic)), None)
    queued = s.finish()
    coverage.note_limits(s.tracker, engine)
    findings = engine.finish(queued=queued, end_ts=coverage.last_ts)
    incidents = incidents_mod.build(findings, evidence, coverage.last_ts, gaps, min_severity)
    findings = sort_findings([f for f in findings if at_least(f.severity, min_severity)])
    clocks = engine.instances("TIM001")
    return Analysis(coverage, findings, queued, list(sources), dict(s.assumptions), incidents,
                    combined_report(clocks) if clocks else {},
                    window.as_dict() if window is not None else None,
                    traffic=traffic.result() if traffic is not None else None, counters=counters)


def run(events: Iterable, engine: Engine | None = None, config=None) -> tuple[Coverage, list[Finding], list[Message]]:
    """Feed events through coverage, tracker and rules; return what they found."""
    s = stream(engine=engine, config=config)
    s.feed_all(events)
    a = conclude(s)
    return a.coverage, a.findings, a.queued


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
            progress: Callable[[str], None] | None = None, jobs: int | None = 1, config=None,
            config_how: str | None = None, preview: bool = True, *,
            since: float | None = None, until: float | None = None, gaps: dict | None = None,
            traffic: bool = False, metrics: bool = False, state: str | None = None,
            warn: Callable[[str], None] | None = None, scheduler: str | None = None) -> Analysis:
    """Analyze the logs at `paths` (files, globs, directories, "-"); see inputs.resolve.
    ``jobs``: processes that read the input in pieces (see pipeline.run; None: every CPU);
    ``scheduler``: a Dask scheduler's address instead (cluster.py). ``config``: a
    `postfix_diag.config.Config` the rules use as evidence (``config_how`` says where it came
    from, for the report). ``preview``: run the rules in preview too (rules.base.Rule.preview).
    ``since``/``until``: only the lines of that window (wall-clock epochs, see
    when.parse_when); ``gaps``: the quiet gaps of the incidents by category (seconds).
    ``traffic``: also count the traffic over time (``Analysis.traffic``, for the HTML report's
    charts). ``metrics``: count the traffic counters too (``Analysis.counters``). ``state``: a
    state file (state.py): read only the lines that are new since the run that wrote it, go on
    from its stream, and record the new state (``warn``: where a one-line warning goes)."""
    parser = Parser(year=year)
    sources = pipeline.resolve(paths, scheduler)
    metrics = metrics or state is not None  # a state file always carries the traffic counters
    make = functools.partial(stream, config=config, preview=preview, since=since, until=until, traffic=traffic,
                             metrics=metrics)
    if state is not None:  # one process: the state goes on from where the last run stopped
        from . import state as incremental

        def prepare(restored: pipeline.Stream) -> None:
            restored.consumers[1].config = config  # the engine travels without it

        fed = incremental.run(sources, make, parser, state, warn=warn or (lambda message: None),
                              progress=progress, prepare=prepare)
    else:
        fed = pipeline.run(sources, make, parser, jobs=pipeline.default_jobs() if jobs is None else jobs,
                           progress=progress, scheduler=scheduler)
    analysis = conclude(fed, [src.display for src in sources], gaps=gaps, min_severity=min_severity)
    how = config_how or ("configuration given" if config is not None else "no configuration read")
    analysis.config = config_report(config, how, analysis.findings, fed.consumers[1].config_applied)
    return analysis
