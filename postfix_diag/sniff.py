"""What an input looks like when not one of its lines became a Postfix event.

`analyze` and `check` then stop with exit status 2 and this one line, never "No findings": an admin
who pointed the tool at the wrong file (a web page, `journalctl -o json-pretty`, another daemon's
log, a binary) learns that from the first run. Judged from the parse coverage, so standard input
is described as well as a file.
"""

from __future__ import annotations

import re

from .inputs import shown

_PRETTY_JSON = re.compile(r'\s*"(?:__CURSOR|__REALTIME_TIMESTAMP|MESSAGE|SYSLOG_IDENTIFIER|_HOSTNAME)" ?: ')
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\ufffd]")
SAMPLES = 50  # unrecognized line shapes looked at


def _names(sources: list[str]) -> str:
    if not sources:
        return "the input"
    names = [shown(s) for s in sources[:2]]
    if len(sources) > 2:
        return f"{', '.join(names)} and {len(sources) - 2} more"
    return " and ".join(names)


def _programs(coverage, recognized: bool, n: int = 3) -> str:
    counts: dict = {}
    for (_inst, prog, ok), lines in coverage.by_program.items():
        if ok == recognized and prog != "-":
            counts[prog] = counts.get(prog, 0) + lines
    top = sorted(counts, key=lambda p: (-counts[p], p))
    return ", ".join(shown(p) for p in top[:n]) + (", ..." if len(top) > n else "")


def _looks_like(texts: list[str], lines: int) -> str:
    if any(len(_CONTROL.findall(t)) * 10 >= max(len(t), 1) for t in texts):
        return "binary data, not a text log"
    heads = [t.lstrip().lower() for t in texts]
    if any(h.startswith(("<!doctype html", "<html")) or "<head" in h or "<body" in h for h in heads):
        return "an HTML file (a web page saved instead of the log?)"
    if any(_PRETTY_JSON.match(t) for t in texts):
        return "journalctl -o json-pretty output: use -o json (one entry per line)"
    if any(h.startswith("{") and '":' in h.replace('" :', '":') for h in heads):
        return "JSON, but not journalctl -o json (no __REALTIME_TIMESTAMP, MESSAGE or SYSLOG_IDENTIFIER)"
    return f"no syslog envelope on any of its {lines} lines"


def no_postfix_lines(coverage, sources: list[str]) -> str | None:
    """The one-line error for an input none of whose lines became a Postfix event, or None (also
    None for an empty input, which has its own message)."""
    total = coverage.total
    if total == 0 or coverage.recognized > coverage.foreign:
        return None
    where = _names(sources)
    unknown = sum(n for (_i, prog, ok), n in coverage.by_program.items() if not ok and prog != "-")
    if unknown:
        return (f"{where}: {unknown} Postfix line(s) of {total}, and the grammar knows none of them "
                f"({_programs(coverage, False)}; `postfix-diag parse` shows them)")
    journal = coverage.formats.get("journal-json", 0)
    others = coverage.foreign - coverage.formats.get("journal-marker", 0)
    if journal:
        return (f"{where}: journalctl -o json output without a Postfix entry ({journal} entries of "
                f"{_programs(coverage, True)}); Debian's Postfix logs as unit postfix@-: "
                "journalctl -u postfix@- -o json")
    if others:
        return f"{where}: no Postfix line of {total}: syslog lines of other programs only ({_programs(coverage, True)})"
    if coverage.foreign:
        return f"{where}: only the journal's own lines ({coverage.foreign}), no log entry"
    texts = [u["text"] for u in coverage.top_unrecognized(SAMPLES)]
    return f"{where}: no Postfix line of {total}: {_looks_like(texts, total)}"
