"""Report writers: one module per format, all sharing report.escape."""

from __future__ import annotations

FORMATS = ("text", "markdown", "json")


def render_analysis(analysis, fmt: str, top: int = 10) -> str:
    if fmt == "json":
        from .json_report import render
    elif fmt == "markdown":
        from .markdown_report import render
    else:
        from .text_report import render
    return render(analysis, top=top)
