"""`parse` output: events as JSON lines or CSV."""

from __future__ import annotations

import csv
import json

from .inputs import resolve
from .model import iso
from .parse import Parser
from .pipeline import Stream, run
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


class EventWriter:
    """The `parse` command's consumer of the one stream (pipeline.Stream): each event written as
    it comes, as a JSON line or a CSV row (``kinds``: only those). Its output is the stream in
    order, so it is read in one pass (it has no merge)."""

    def __init__(self, out, fmt: str = "jsonl", kinds: set | None = None):
        self.kinds = kinds
        self.n = 0
        if fmt == "csv":
            self._csv = csv.writer(out)
            self._csv.writerow(CSV_COLUMNS)
            self.feed = self._row
        else:
            self._write = out.write

    def _wanted(self, ev) -> bool:
        return not self.kinds or ev.kind in self.kinds

    def feed(self, ev) -> None:
        if self._wanted(ev):
            self._write(json.dumps(_record(ev), ensure_ascii=True))
            self._write("\n")
            self.n += 1

    def _row(self, ev) -> None:
        if self._wanted(ev):
            self._csv.writerow([_cell(v) for v in (
                ev.kind, iso(ev.ts), ev.host, ev.instance, ev.service, ev.program, ev.pid,
                ev.severity, ev.qid, ev.file, ev.lineno, json.dumps(ev.f, ensure_ascii=True), ev.text)])
            self.n += 1


def write_events(events, out, fmt: str = "jsonl", kinds: set | None = None) -> int:
    """Write events; the number written."""
    writer = EventWriter(out, fmt, kinds)
    Stream([writer], track=False).feed_all(events)
    return writer.n


def export(paths, out, fmt: str = "jsonl", kinds: set | None = None, year: int | None = None) -> int:
    """`postfix-diag parse`: every line of ``paths`` (see inputs.resolve) as events, in order."""
    writer = EventWriter(out, fmt, kinds)
    run(resolve(list(paths) if paths else []), lambda head=True: Stream([writer], track=False), Parser(year=year))
    return writer.n
