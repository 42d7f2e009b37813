"""`parse` output: events as JSON lines or CSV."""

from __future__ import annotations

import csv
import json

from .model import iso
from .report.escape import terminal


def _cell(value):
    """CSV cells are opened in spreadsheets: make controls visible and defuse formulas."""
    if not isinstance(value, str):
        return value
    value = terminal(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value

CSV_COLUMNS = ("kind", "ts", "host", "instance", "service", "program", "pid", "severity", "qid",
               "file", "lineno", "fields", "text")


def _record(ev) -> dict:
    d = ev.as_dict()
    d["ts"] = iso(ev.ts)
    return d


def write_events(events, out, fmt: str = "jsonl", kinds: set | None = None) -> int:
    n = 0
    if fmt == "csv":
        w = csv.writer(out)
        w.writerow(CSV_COLUMNS)
        for ev in events:
            if kinds and ev.kind not in kinds:
                continue
            w.writerow([_cell(v) for v in (
                ev.kind, iso(ev.ts), ev.host, ev.instance, ev.service, ev.program, ev.pid,
                ev.severity, ev.qid, ev.file, ev.lineno, json.dumps(ev.f, ensure_ascii=True), ev.text)])
            n += 1
        return n
    dumps, write = json.dumps, out.write
    for ev in events:
        if kinds and ev.kind not in kinds:
            continue
        write(dumps(_record(ev), ensure_ascii=True))
        write("\n")
        n += 1
    return n
