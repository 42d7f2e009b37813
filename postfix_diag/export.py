"""Kept for callers of ``write_events``: the writers are report/events.py (report.FORMATS["events"])."""

from __future__ import annotations

from .report import writer


def write_events(events, out, fmt: str = "jsonl", kinds: set | None = None) -> int:
    return writer("events", fmt)(events, out, kinds)
