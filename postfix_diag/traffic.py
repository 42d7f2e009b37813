"""Traffic over time, for the charts of the HTML report: a mergeable consumer of the one stream
(pipeline.Stream) that counts, per time bucket, the mail received, delivered, deferred, bounced
and rejected, and beside it the deferrals by cause and next hop, the rejects by reason and the
clients rejected most.

What counts (the columns of pflogsumm's per-hour table, summary.py's ``traffic``):

- received: smtpd ``client=`` and pickup lines (a message entering the queue);
- delivered, deferred, bounced: status lines (one per recipient) with status=sent (not
  ``forwarded as``), deferred, bounced;
- rejected: smtpd/postscreen/cleanup rejects (milter rejects and tempfails too) and proxy rejects.

Buckets are aligned on the epoch and one of BUCKET_LADDER long, the finest that keeps at most
MAX_BUCKETS of them: each size divides the next, so coarsening is exact and so is ``merge`` (of
the Traffic of the lines that follow, or of any other part of the log): counts add up. Every
count is taken in ``feed`` (never per message), so any cut of the log gives the answer of one
pass. The cause of a deferral or a reject is summary.cause (addresses, hosts and IPs taken out).
"""

from __future__ import annotations

import re

from .events import place
from .limits import MAX_OFFENDERS
from .rules.base import FirstSeenCounter
from .summary import cause

KINDS = ("received", "delivered", "deferred", "bounced", "rejected")
BUCKET_LADDER = (10, 60, 600, 3600, 86400, 7 * 86400)  # seconds; each divides the next
MAX_BUCKETS = 4096  # buckets kept; beyond, the next size of the ladder
# distinct causes, next hops, clients kept per counter, the top ones (the rest count as "(other)":
# rules.base.FirstSeenCounter, as the rules' offender tables)
KEYS = MAX_OFFENDERS
_STATUS = {"sent": 1, "deferred": 2, "bounced": 3}
_REJECTS = frozenset(("reject", "proxy_reject"))
_CONNECT_TO = re.compile(r"connect to ([^\s\[\]]+\[[^\]\s]*\](?::\d+)?)")


def next_hop(relay, reason=None) -> str:
    """The next hop of a status line: its relay= field (``mx.example[192.0.2.1]:25``), or with
    relay=none (no connection was made) the host the reason says it tried to connect to, else
    ``none``."""
    if relay and relay != "none":
        return str(relay)
    m = _CONNECT_TO.search(reason) if isinstance(reason, str) else None
    return m.group(1) if m else "none"


class Traffic:
    """The consumer (see the module docstring). ``result()`` is what model.Analysis.traffic holds."""

    kinds = frozenset(("delivery", "client", "pickup", *_REJECTS))  # the stream feeds only these

    def __init__(self):
        self.level = 0  # index into BUCKET_LADDER
        self.buckets: dict[int, list[int]] = {}  # bucket index -> [received, delivered, deferred, bounced, rejected]
        self.deferrals = FirstSeenCounter(KEYS)  # (cause, next hop) -> status lines
        self.rejects = FirstSeenCounter(KEYS)  # cause -> rejects
        self.clients = FirstSeenCounter(KEYS)  # client -> rejects

    @property
    def size(self) -> int:
        return BUCKET_LADDER[self.level]

    def _count(self, ts, column: int) -> None:
        if ts is None:
            return
        k = int(ts // self.size)
        b = self.buckets.get(k)
        if b is None:
            b = self.buckets[k] = [0, 0, 0, 0, 0]
            if len(self.buckets) > MAX_BUCKETS:
                self.coarsen(self.level + 1)
                b = self.buckets[int(ts // self.size)]
        b[column] += 1

    def feed(self, ev) -> None:
        k = ev.kind
        if k == "delivery":
            f = ev.f
            status = f.get("status")
            column = _STATUS.get(status)
            if column is None:
                return
            reason = f.get("reason")
            if column == 1 and reason is not None and "forwarded as " in reason:
                return
            self._count(ev.ts, column)
            if column == 2:
                self.deferrals.add((cause(reason), next_hop(f.get("relay"), reason)), 1, place(ev))
        elif k == "client" or k == "pickup":
            self._count(ev.ts, 0)
        elif k in _REJECTS:
            f = ev.f
            self._count(ev.ts, 4)
            at = place(ev)
            self.rejects.add(cause(f.get("reason") or f.get("data")), 1, at)
            host, ip = f.get("client_host"), f.get("client_ip")
            if host or ip:
                self.clients.add(f"{host or 'unknown'}[{ip}]" if ip else host, 1, at)

    def coarsen(self, level: int) -> None:
        """Re-bucket at ``level`` of the ladder (or coarser, until the buckets fit); never finer."""
        while level > self.level:
            factor = BUCKET_LADDER[level] // self.size
            out: dict[int, list[int]] = {}
            for k, counts in self.buckets.items():
                b = out.get(k // factor)
                if b is None:
                    out[k // factor] = list(counts)
                else:
                    for i, n in enumerate(counts):
                        b[i] += n
            self.level, self.buckets = level, out
            if len(out) <= MAX_BUCKETS or level == len(BUCKET_LADDER) - 1:
                return
            level += 1

    def merge(self, later: Traffic) -> None:
        """Fold in the Traffic of other lines (counts add up, in any order)."""
        level = max(self.level, later.level)
        self.coarsen(level)
        if later.level < level:
            later = later.copy()
            later.coarsen(level)
        for k, counts in later.buckets.items():
            b = self.buckets.get(k)
            if b is None:
                self.buckets[k] = list(counts)
            else:
                for i, n in enumerate(counts):
                    b[i] += n
        if len(self.buckets) > MAX_BUCKETS:
            self.coarsen(self.level + 1)
        self.deferrals.merge(later.deferrals)
        self.rejects.merge(later.rejects)
        self.clients.merge(later.clients)

    def copy(self) -> Traffic:
        t = Traffic()
        t.level = self.level
        t.buckets = {k: list(b) for k, b in self.buckets.items()}
        return t

    def result(self, top: int = 10) -> dict:
        """Plain data: ``bucket_seconds``, ``buckets`` ([start epoch, {kind: n}] in time order,
        empty buckets left out), ``deferrals`` ([cause, next hop, n]), ``rejects`` ([cause, n]),
        ``clients`` ([client, rejects]), each most first, ``top`` rows."""
        size = self.size
        return {
            "bucket_seconds": size,
            "buckets": [[k * size, dict(zip(KINDS, b, strict=True))] for k, b in sorted(self.buckets.items())],
            "deferrals": [[*(key if isinstance(key, tuple) else (key, "")), n]
                          for key, n in self.deferrals.most_common(top)],
            "rejects": [[c, n] for c, n in self.rejects.most_common(top)],
            "clients": [[c, n] for c, n in self.clients.most_common(top)],
        }
