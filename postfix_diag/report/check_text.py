"""`check --format text`: one line per new finding (failing ones first), with --fail-on-ongoing
the incidents still ongoing at the end of the log, then the verdict line."""

from __future__ import annotations

from ..model import FAIL, KNOWN, ONGOING, CheckResult
from .common import clock, first_location, impact_text, summary_line
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
    for inc in result.incidents if result.fail_on_ongoing else ():
        if inc.state == ONGOING:
            impact = impact_text(inc.impact)
            out.append(f"ongoing  {inc.severity.upper():<8} {inc.rule:<7} {t(inc.title)} since {clock(inc.start)}"
                       + (f", last seen {clock(inc.last_seen, day=False)}" if inc.last_seen != inc.start else "")
                       + (f" ({t(impact)})" if impact else ""))
    out.append(summary_line(result))
    return "\n".join(out) + "\n"
