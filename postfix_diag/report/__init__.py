"""Report writers: one module per format (or per result kind), all sharing report.escape, all
reading the model only.

``FORMATS`` is the one registry of output formats: for each kind of result, its format names and
the function that writes it (``module`` for its ``render``, or ``module:function``). Every
``--format`` choice of the CLI comes from here. What a writer takes depends on the kind:

- ``analysis``: ``render(model.Analysis, top=N) -> str``
- ``check``: ``render(model.CheckResult) -> str``
- ``summary``: ``render(summary dict) -> str`` (the dict summary.summarize() returns)
- ``qshape``: ``render(model.QueueShape, extra: dict | None) -> str``
- ``events``: ``write(events, out, kinds) -> int`` (streams events to a text file object)
- ``catalog``: ``render(rows) -> str`` (the rule catalog, rules.catalog()'s rows)
- ``explain-line``: ``render(entries) -> str`` (explain_line.explain()'s entries)
- ``trace``: ``render(trace dict) -> str`` (the dict trace.result() returns; docs/trace.md)
- ``watch``: ``render(event dict) -> str``, one line without its line break (watch.Watch.events())
"""

from __future__ import annotations

from importlib import import_module

# result kind -> format name -> writer (relative to this package), first = default
FORMATS: dict[str, dict[str, str]] = {
    "analysis": {"text": ".text_report", "markdown": ".markdown_report", "json": ".json_report",
                 "html": ".html_report", "prometheus": ".prometheus"},
    "check": {"text": ".check_text", "junit": ".junit", "github": ".github", "sarif": ".sarif"},
    "summary": {"text": ".summary_report:render_text", "markdown": ".summary_report:render_markdown",
                "json": ".summary_report:render_json", "html": ".html_summary"},
    "qshape": {"text": ".qshape_report:render_text", "json": ".qshape_report:render_json"},
    "events": {"jsonl": ".events:write_jsonl", "csv": ".events:write_csv"},
    "catalog": {"text": ".catalog:render_text", "markdown": ".catalog:render_markdown",
                "json": ".catalog:render_json"},
    "explain-line": {"text": ".explain_line:render_text", "json": ".explain_line:render_json"},
    "trace": {"text": ".trace_report:render_text", "json": ".trace_report:render_json"},
    "watch": {"text": ".watch_events:render_text", "jsonl": ".watch_events:render_jsonl"},
}


def formats(kind: str) -> tuple[str, ...]:
    """The format names of a kind of result, the default first."""
    return tuple(FORMATS[kind])


def writer(kind: str, fmt: str):
    """The function that writes ``fmt`` for results of ``kind``; ValueError for an unknown one."""
    try:
        target = FORMATS[kind][fmt]
    except KeyError:
        raise ValueError(f"unknown {kind} format {fmt!r} (one of {', '.join(FORMATS.get(kind, ()))})") from None
    module, _, function = target.partition(":")
    return getattr(import_module(module, __name__), function or "render")


def render_analysis(analysis, fmt: str, top: int = 10) -> str:
    return writer("analysis", fmt)(analysis, top=top)


def render_check(result, fmt: str = "text") -> str:
    return writer("check", fmt)(result)
