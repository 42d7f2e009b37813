"""`watch` output: one line per incident event (watch.Watch.events' dicts) and the final summary,
as text or as JSON lines (``--format jsonl``). Log content is escaped (report.escape)."""

from __future__ import annotations

import json

from .escape import terminal


def render_text(ev: dict) -> str:
    """One line of text for an event."""
    if ev["event"] == "summary":
        return (f"watch stopped: {ev['lines']} lines read, {ev['opened']} incidents opened, "
                f"{ev['escalated']} escalated, {ev['closed']} closed, {ev['ongoing']} ongoing")
    at = (ev.get("at") or "-").replace("T", " ")
    head = f"{at}  {ev['event'].upper():<8} {ev['id']:<4} {ev['severity'].upper():<8} {terminal(ev['rule'])}"
    subject = f" {terminal(ev['title'])}" if ev.get("title") else (f" ({terminal(ev['key'])})" if ev.get("key") else "")
    host = f" [host {terminal(ev['host'])}]" if ev.get("host") else ""
    if ev["event"] == "open":
        return f"{head}{subject}{host} since {(ev.get('start') or '-').replace('T', ' ')}"
    if ev["event"] == "escalate":
        return f"{head}{subject}{host} (was {ev['was'].upper()})"
    why = f": {terminal(ev['recovery'])}" if ev.get("recovery") else ""
    return f"{head}{subject}{host} {ev['state']}{why}"


def render_jsonl(ev: dict) -> str:
    """One JSON line for an event (every control and invisible character a \\uNNNN escape)."""
    return json.dumps(ev, ensure_ascii=True)
