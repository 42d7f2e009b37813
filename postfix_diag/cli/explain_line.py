"""`postfix-diag explain-line`."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .app import YearOpt, app, fail, guarded


class ExplainFormat(str, Enum):
    text = "text"
    json = "json"


@app.command("explain-line")
@guarded
def explain_line(
    file: Annotated[Path | None, typer.Argument(help="A file holding the lines; default: standard input "
                                               "(paste, then Ctrl-D).", show_default=False)] = None,
    fmt: Annotated[ExplainFormat, typer.Option("--format", "-f", help="text, or json (one object per event).")]
    = ExplainFormat.text,
    year: YearOpt = None,
):
    """Explain each line of a pasted log snippet: how it was read, what event it is, which rules read it.

    For every line: the input format it was read as and what was stripped to read it (docker
    compose or quote prefixes, a container's log level, a localized month name, no header at
    all: see README "Input formats"), the event kind and its fields, and the rules that read
    events of that kind (`postfix-diag explain RULE` prints one). A line a paste wrapped is
    read together with its continuation. Nothing is analyzed across lines: for findings, run
    `postfix-diag analyze -` on the same snippet.
    """
    from ..explain_line import explain
    from ..inputs import Source, read_numbered, resolve

    source = Source("-", "<stdin>") if file is None or str(file) == "-" else resolve([str(file)])[0]
    numbered = list(read_numbered(source))
    if not numbered:
        fail(f"{'standard input' if file is None else source.display}: no lines to explain")
    entries = explain(numbered, source.display, year=year)
    if fmt is ExplainFormat.json:
        sys.stdout.write(json.dumps(entries, indent=2, ensure_ascii=True, default=str) + "\n")
    else:
        sys.stdout.write(render_text(entries))


def render_text(entries: list[dict]) -> str:
    from ..report.escape import terminal as t

    out = []
    for e in entries:
        lines = e["lines"]
        where = f"line {lines[0]}" if len(lines) == 1 else f"lines {lines[0]}-{lines[-1]}"
        out.append(f"{where}: {t(e['line'][:300])}")
        fmt = e["format"] or "none (no syslog envelope, nothing read leniently)"
        out.append(f"  read as:  {t(fmt)}" + ("  [lenient]" if e["lenient"] else ""))
        for step in e["steps"]:
            out.append(f"    {t(step['step'])}: {t(repr(step['stripped']) if step['step'] != 'body-only' else step['stripped'])}")
        ev = e["event"]
        head = [f"kind {t(ev['kind'])}"]
        for key, label in (("time", "time"), ("host", "host"), ("program", "program"), ("pid", "pid"),
                           ("qid", "queue id")):
            if ev[key] is not None:
                value = f"{ev['instance']}/{ev['program']}" if key == "program" and ev["instance"] else ev[key]
                head.append(f"{label} {t(value)}")
        if ev["severity"] != "info":
            head.append(f"severity {t(ev['severity'])}")
        out.append("  event:    " + ", ".join(head))
        for name, value in ev["fields"].items():
            out.append(f"    {t(name)} = {t(value)}")
        rules = e["rules"]
        out.append("  read by:  " + (", ".join(f"{r['id']} ({t(r['title'])})" for r in rules) if rules else "no rule"))
        if e["catch_all"]:
            out.append("  if none claims it: " + ", ".join(f"{r['id']} ({t(r['title'])})" for r in e["catch_all"]))
        if e["message_rules"]:
            out.append("  its message (queue id, via the tracker): " + ", ".join(r["id"] for r in e["message_rules"]))
        if e["session_rules"]:
            out.append("  its smtpd session (via the tracker): " + ", ".join(r["id"] for r in e["session_rules"]))
        out.append("")
    return "\n".join(out)
