"""`check --format text`: one line per new finding (failing ones first), then the verdict line."""

from __future__ import annotations

from ..model import FAIL, KNOWN, CheckResult
from .common import first_location, summary_line
from .escape import terminal as t


def render(result: CheckResult) -> str:
    out = []
    for f, state in result.items():
        if state == KNOWN:
            continue
        loc = first_location(f)
        where = f"  {t(loc[0])}:{loc[1]}" if loc else ""
        mark = "NEW " if state == FAIL else "new "
        key = f" ({t(f.key)})" if f.key else ""
        out.append(f"{mark}{f.severity.upper():<8} {t(f.id):<7} {t(f.title)}{key} [{f.count}x]{where}")
    out.append(summary_line(result))
    return "\n".join(out) + "\n"
