"""GitHub Actions workflow commands for `check --format github`.

One ``::error``/``::warning``/``::notice`` annotation per new finding (critical and error →
error, warning → warning, notice and info → notice), pointing at the first sample line; findings
the baseline knows get none. The last line is the plain-text verdict.

Log content is attacker-controlled, and every line a step prints is scanned for workflow
commands. So: controls such as ESC or CR become visible text first (report.escape.terminal),
then the runner's own escaping applies: ``%`` → ``%25``, CR → ``%0D``, LF → ``%0A`` in the
message, plus ``:`` → ``%3A`` and ``,`` → ``%2C`` in properties (file, title). No output line
can therefore start a second command.
"""

from __future__ import annotations

from ..model import KNOWN, CheckResult
from .common import details, first_location, label, summary_line
from .escape import terminal

LEVEL = {"critical": "error", "error": "error", "warning": "warning", "notice": "notice", "info": "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message_lines: list[str], **props) -> str:
    """``::level k=v,...::message``; values and lines are raw, unescaped text."""
    message = "\n".join(terminal(line) for line in message_lines)
    prop_text = ",".join(f"{k}={escape_property(terminal(v))}" for k, v in props.items() if v not in (None, ""))
    return f"::{level}{' ' + prop_text if prop_text else ''}::{escape_data(message)}"


def render(result: CheckResult) -> str:
    out = []
    for f, state in result.items():
        if state == KNOWN:
            continue
        props = {}
        loc = first_location(f)
        if loc is not None:
            props["file"] = loc[0]
            if loc[1] and loc[1] >= 1:
                props["line"] = str(loc[1])
        props["title"] = f"postfix-diag {f.severity}: {label(f)}"
        out.append(annotation(LEVEL.get(f.severity, "warning"), details(f), **props))
    out.append(summary_line(result))
    return "\n".join(out) + "\n"
