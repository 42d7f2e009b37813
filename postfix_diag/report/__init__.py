"""Report writers: one module per format, all sharing report.escape, all reading the model only.

``FORMATS`` is the one registry of output formats: for each kind of result, its format names and
the module whose ``render`` writes it. The CLI takes its ``--format`` choices from here.
"""

from __future__ import annotations

from importlib import import_module

# result kind -> format name -> writer module (relative to this package), first = default
FORMATS: dict[str, dict[str, str]] = {
    "analysis": {"text": ".text_report", "markdown": ".markdown_report", "json": ".json_report"},
    "check": {"text": ".check_text", "junit": ".junit", "github": ".github", "sarif": ".sarif"},
}


def formats(kind: str) -> tuple[str, ...]:
    """The format names of a kind of result, the default first."""
    return tuple(FORMATS[kind])


def writer(kind: str, fmt: str):
    """The ``render`` function of a format; ValueError for an unknown one."""
    try:
        module = FORMATS[kind][fmt]
    except KeyError:
        raise ValueError(f"unknown {kind} format {fmt!r} (one of {', '.join(FORMATS.get(kind, ()))})") from None
    return import_module(module, __name__).render


def render_analysis(analysis, fmt: str, top: int = 10) -> str:
    return writer("analysis", fmt)(analysis, top=top)


def render_check(result, fmt: str = "text") -> str:
    return writer("check", fmt)(result)
