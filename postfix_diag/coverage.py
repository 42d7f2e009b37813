"""Parse coverage: how many lines became events, per program and instance, the time span,
the timestamp formats seen, and the most common unrecognized lines."""

from __future__ import annotations

import re
from collections import Counter

from . import limits
from .events import FOREIGN, UNRECOGNIZED, Event
from .limits import MAX_PROGRAMS, MAX_UNRECOGNIZED_SHAPES  # noqa: E402
from .model import iso
from .topcount import OTHER, TopCounter

# (instance, program, recognized?, timestamp format) combinations counted one by one: any local
# user can log under any syslog tag (logger -t), so the lines of the less frequent ones beyond
# this many are counted under the program "(other)" (see topcount.TopCounter)


def _other_program(key: tuple) -> tuple:
    """Where the lines of a dropped (instance, program, recognized?, format) are counted."""
    return (None, OTHER, key[2], key[3])
_MASKS = (
    (re.compile(r"\[[0-9A-Fa-f.:]+\]"), "[ADDR]"),
    (re.compile(r"<[^<>\s@]*@[^<>\s]*>"), "<ADDR>"),
    (re.compile(r"\b[0-9A-F]{6,12}\b|\b[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,20}\b"), "QID"),
    # numbers, but not the digits of a word (valid_ipv4_hostaddr, x509, sha256 stay whole)
    (re.compile(r"(?<![A-Za-z_0-9])\d+(?![A-Za-z_0-9])"), "N"),
)


def shape(text: str) -> str:
    """Mask the parts of a line that vary (addresses, queue ids, numbers) to group alike lines."""
    text = text[:300]
    for rx, repl in _MASKS:
        text = rx.sub(repl, text)
    return text


class Coverage:
    def __init__(self):
        self.unrecognized = 0
        self.foreign = 0
        # (instance, program, recognized?, timestamp format) -> lines: one count per line, from
        # which total, by_program and formats are summed when asked for
        self.lines = TopCounter(MAX_PROGRAMS, _other_program)
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self._shapes: dict = {}  # shape -> [count, file, line, program, text]
        self.other_shapes = 0
        self.tracker_limits: dict = {}  # the limits the run's tracker reached (note_limits)

    def feed(self, ev: Event) -> None:
        ts = ev.ts
        if ts is not None:
            last = self.last_ts
            if last is None:
                self.first_ts = self.last_ts = ts
            elif ts > last:
                self.last_ts = ts
            elif ts < self.first_ts:
                self.first_ts = ts
        kind = ev.kind
        lines = self.lines
        if kind == UNRECOGNIZED:
            self.unrecognized += 1
            key = (ev.instance, ev.program, False, ev.fmt)
            if key in lines:
                lines[key] += 1
            else:
                lines.add(key)
            key = shape(ev.text if ev.program else ev.line)
            entry = self._shapes.get(key)
            if entry is not None:
                entry[0] += 1
            elif len(self._shapes) < MAX_UNRECOGNIZED_SHAPES:
                self._shapes[key] = [1, ev.file, ev.lineno, ev.program, ev.line[:500]]
            else:
                self.other_shapes += 1
            return
        if kind == FOREIGN:
            self.foreign += 1
        key = (ev.instance, ev.program, True, ev.fmt)
        if key in lines:
            lines[key] += 1
        else:
            lines.add(key)

    def merge(self, later: Coverage) -> None:
        """Fold in the coverage of the lines that follow (a later piece of the log). Exact while
        the distinct unrecognized shapes stay under MAX_UNRECOGNIZED_SHAPES; each shape keeps its
        first line as its example."""
        self.unrecognized += later.unrecognized
        self.foreign += later.foreign
        self.lines.merge(later.lines)
        if later.first_ts is not None and (self.first_ts is None or later.first_ts < self.first_ts):
            self.first_ts = later.first_ts
        if later.last_ts is not None and (self.last_ts is None or later.last_ts > self.last_ts):
            self.last_ts = later.last_ts
        shapes = self._shapes
        for key, entry in later._shapes.items():
            mine = shapes.get(key)
            if mine is not None:
                mine[0] += entry[0]
            elif len(shapes) < MAX_UNRECOGNIZED_SHAPES:
                shapes[key] = entry
            else:
                self.other_shapes += entry[0]
        self.other_shapes += later.other_shapes
        for name, entry in later.tracker_limits.items():
            limits.reached(name, entry["dropped"], self.tracker_limits)

    def note_limits(self, tracker, engine=None) -> None:
        """Take the counts of what the run's tracker and rule engine dropped at their bounds
        (track.py, rules/base.py; limits.py)."""
        if tracker is not None:
            for name, n in tracker.dropped.items():
                limits.reached(name, n, self.tracker_limits)
        if engine is not None:
            for name, n in engine.dropped.items():
                limits.reached(name, n, self.tracker_limits)

    @property
    def limits(self) -> dict:
        """The bounds this run reached (limits.py): {name: {"limit": N, "dropped": n}}."""
        out = {name: dict(entry) for name, entry in self.tracker_limits.items()}
        limits.reached("programs", self.lines.dropped, out)
        limits.reached("unrecognized_shapes", self.other_shapes, out)
        return out

    @property
    def total(self) -> int:
        return sum(self.lines.values())

    @property
    def recognized(self) -> int:
        return self.total - self.unrecognized

    @property
    def by_program(self) -> Counter:
        """(instance, program, recognized?) -> lines ("-" when unknown)."""
        out: Counter = Counter()
        for (inst, prog, ok, _), n in self.lines.items():
            out[(inst or "-", prog or "-", ok)] += n
        return out

    @property
    def formats(self) -> Counter:
        """Timestamp format -> lines, in the order the formats first appeared."""
        out: Counter = Counter()
        for (_, _, _, fmt), n in self.lines.items():
            if fmt is not None:
                out[fmt] += n
        return out

    def top_unrecognized(self, n: int = 10) -> list[dict]:
        items = sorted(self._shapes.items(), key=lambda kv: -kv[1][0])[:n]
        return [{"count": c, "file": f, "line": ln, "program": p, "shape": s, "text": t}
                for s, (c, f, ln, p, t) in items]

    def programs(self) -> dict:
        """{"instance/program": {"recognized": n, "unrecognized": n}} ("-" when unknown)."""
        out: dict = {}
        for (inst, prog, ok), n in sorted(self.by_program.items()):
            entry = out.setdefault(f"{inst}/{prog}" if prog != "-" else "-", {"recognized": 0, "unrecognized": 0})
            entry["recognized" if ok else "unrecognized"] += n
        return out

    def as_dict(self, top: int = 10) -> dict:
        out = {
            "lines": {
                "total": self.total,
                "recognized": self.recognized,
                "unrecognized": self.unrecognized,
                "foreign": self.foreign,
            },
            "programs": self.programs(),
            "time_span": {
                "first": iso(self.first_ts),
                "last": iso(self.last_ts),
                "seconds": (self.last_ts - self.first_ts) if self.first_ts is not None else None,
            },
            "timestamp_formats": dict(self.formats.most_common()),
            "top_unrecognized": self.top_unrecognized(top),
        }
        reached = self.limits
        if reached:
            out["limits"] = reached
        return out
