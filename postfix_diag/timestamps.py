"""Timestamps of log lines → seconds since the epoch: classic syslog stamps (no year: `YearGuesser`
gives them one) and ISO / RFC 3339 stamps (`iso_epoch`). Every format shares the log's own wall
clock: an offset is named, never applied.
"""

from __future__ import annotations

import calendar
import time

# Timestamps converted and remembered: a log is in time order, so a stamp repeats within its own
# second; a few thousand cover any interleaving of hosts, and memory does not grow with the log.
STAMP_CACHE = 4096
MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}


class YearGuesser:
    """Gives year-less (classic syslog) timestamps a year.

    With an explicit year, the log is assumed to start in that year and each December→January
    step moves it on. Without one, the file's modification time is taken as the time of its
    last line: a stamp that would lie more than a day after it belongs to the year before.
    """

    def __init__(self, year: int | None, mtime: float | None):
        self.explicit = year
        self.mtime = mtime if mtime is not None else time.time()
        self.year = year if year is not None else time.gmtime(self.mtime).tm_year
        self.last_month = 0
        self.cache: dict = {}
        self.years_used: set = set()

    def describe(self) -> str:
        if self.explicit is not None:
            return f"year {self.explicit} given with --year (December→January rollover advances it)"
        return (f"year from the file's modification time ({time.strftime('%Y-%m-%d', time.gmtime(self.mtime))}):"
                " stamps later than that are taken from the year before")

    def epoch(self, ts: str) -> float | None:
        hit = self.cache.get(ts)
        if hit is not None:
            return hit
        try:
            mon = MONTHS[ts[:3]]
            day_s, clock = ts[3:].split()
            h, m, s = clock.split(":")
            frac = 0.0
            if "." in s:
                s, f = s.split(".", 1)
                frac = float("0." + f)
            parts = (int(day_s), int(h), int(m), int(s))
        except (KeyError, ValueError):
            return None
        if self.explicit is not None:
            if mon < self.last_month:
                self.year += 1
            if mon != self.last_month:
                # the cache holds stamps of the current month only: a hit must never skip the
                # rollover check (Jan, Dec, Jan again is the next year's January)
                self.cache.clear()
            self.last_month = mon
            year = self.year
        else:
            year = self.year
        try:
            value = calendar.timegm((year, mon, *parts)) + frac
            if self.explicit is None and value > self.mtime + 86400:
                year -= 1
                value = calendar.timegm((year, mon, *parts)) + frac
        except (ValueError, OverflowError):
            return None
        self.years_used.add(year)
        if len(self.cache) >= STAMP_CACHE:  # one entry per distinct second: keep memory flat
            self.cache.clear()
        if self.explicit is None or mon == self.last_month:
            self.cache[ts] = value
        return value


_iso_cache: dict = {}


def iso_epoch(ts: str):
    """RFC 3339 / journal / ISO stamp → (wall-clock epoch, format name). The offset is kept
    out of the arithmetic so that all formats share the log's own wall clock."""
    hit = _iso_cache.get(ts)
    if hit is not None:
        return hit
    try:
        value = calendar.timegm((int(ts[0:4]), int(ts[5:7]), int(ts[8:10]),
                                 int(ts[11:13]), int(ts[14:16]), int(ts[17:19])))
    except (ValueError, OverflowError):
        return None, "iso-invalid"
    tail = ts[19:]
    frac = ""
    if tail[:1] in (".", ","):
        i = 1
        while i < len(tail) and tail[i].isdigit():
            i += 1
        frac, tail = tail[1:i], tail[i:]
        value += float("0." + frac)
    if ts[10] == " ":
        name = "iso-space"
    elif tail == "Z" or (len(tail) == 6 and tail[3] == ":"):
        name = "rfc3339-fraction" if frac else "rfc3339"
    elif tail:
        name = "journal-short-iso-precise" if frac else "journal-short-iso"
    else:
        name = "iso-local"
    result = (value, name)
    if len(_iso_cache) >= STAMP_CACHE:
        _iso_cache.clear()
    _iso_cache[ts] = result
    return result
