"""`explain-line` output: how each pasted line was read, its event, the rules that read it."""

from __future__ import annotations

import json

from .escape import terminal as t


def render_json(entries: list[dict]) -> str:
    return json.dumps(entries, indent=2, ensure_ascii=True, default=str) + "\n"


def render_text(entries: list[dict]) -> str:
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
