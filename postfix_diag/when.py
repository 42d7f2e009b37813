"""Times and windows given on the command line: ``--since``/``--until`` values (absolute,
``today``, ``yesterday``, ``now``, relative like ``-2h``), durations (``--quiet-gap``), and the
window of lines a stream admits.

Times are wall-clock epochs on the log's own clock, like ``Event.ts`` (a local time read as if it
were UTC): "today" is midnight of the local day, "-2h" two hours before the local time now.
"""

from __future__ import annotations

import calendar
import re
import time

from .events import FOREIGN, UNRECOGNIZED

_WHEN_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w)?", re.I)
WHEN_HELP = "YYYY-MM-DD[ HH:MM[:SS]], today, yesterday, now, or a time before now: -30m, -2h, -1d"


def local_now(now: float | None = None) -> float:
    """The local time now as a wall-clock epoch (the log's clock)."""
    lt = time.localtime(time.time() if now is None else now)
    return float(calendar.timegm(lt[:6]))


def parse_duration(text: str) -> float:
    """"90", "90s", "10m", "10min", "2h", "1d", "1w", "1h30m" → seconds; ValueError otherwise."""
    s = text.strip().lower()
    pos, total = 0, 0.0
    while pos < len(s):
        m = _DURATION.match(s, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"cannot read duration {text!r}: use a number with s, m, h, d or w (90s, 10m, 2h, 1d)")
        total += float(m.group(1)) * _UNITS[(m.group(2) or "s").lower()]
        pos = m.end()
        while pos < len(s) and s[pos] == " ":
            pos += 1
    if not s:
        raise ValueError("empty duration")
    return total


def parse_when(text: str, now: float | None = None) -> float:
    """A --since/--until value → wall-clock epoch (the log's own clock, like ``Event.ts``).

    Accepts YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS] (or with T), "today" and "yesterday" (midnight of
    that local day), "now", and "-DURATION" (that long before the local time now: -30m, -2h,
    -1d). Raises ValueError with a one-line message otherwise."""
    s = text.strip()
    current = local_now(now)
    if s in ("today", "yesterday"):
        midnight = current - current % 86400
        return midnight - (86400 if s == "yesterday" else 0)
    if s == "now":
        return current
    if s.startswith("-") and len(s) > 1:
        try:
            return current - parse_duration(s[1:])
        except ValueError:
            pass
    for fmt in _WHEN_FORMATS:
        try:
            return float(calendar.timegm(time.strptime(s, fmt)))
        except ValueError:
            continue
    raise ValueError(f"cannot read time {text!r}: use {WHEN_HELP}")


def inside(ev, since: float | None, until: float | None) -> bool:
    """Whether a line belongs to [since, until): unrecognized and foreign lines belong whatever
    their time (they are counted, not analyzed); other lines need a timestamp inside."""
    kind = ev.kind
    if kind == UNRECOGNIZED or kind == FOREIGN:
        return True
    ts = ev.ts
    return ts is not None and (since is None or ts >= since) and (until is None or ts < until)


class Window:
    """The lines of [since, until) (see ``inside``), as a pipeline.Stream's ``select``; counts
    the lines it leaves out. Also one of the stream's consumers, so that a piece's count merges
    into the one before (counts add up)."""

    def __init__(self, since: float | None = None, until: float | None = None):
        if since is not None and until is not None and until <= since:
            raise ValueError("--until must be later than --since")
        self.since, self.until = since, until
        self.left_out = 0

    def admits(self, ev) -> bool:
        return inside(ev, self.since, self.until)

    def outside(self, ev) -> None:
        self.left_out += 1

    def merge(self, later: Window) -> None:
        self.left_out += later.left_out

    def as_dict(self) -> dict:
        from .model import iso

        return {"since": iso(self.since), "until": iso(self.until), "lines_left_out": self.left_out}
