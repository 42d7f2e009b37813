"""What the incidents need from the stream besides the findings: per SMTP client, the times of its
rejects and of its disconnects; per smtpd service, the times of its sessions' connects and
disconnects (from which the number of sessions at any time follows).

A consumer of pipeline.Stream. Everything is Occurrences (counts per time bucket), so a piece's
evidence merges into the one before by addition, whatever the cut (at most MAX_KEYS clients and
services; beyond, new ones are not followed, which depends on where a log was cut only then).
"""

from __future__ import annotations

from ..model import Occurrences
from ..rules.base import MAX_KEYS


def master_service(ev) -> str:
    """The master.cf service name of an smtpd line: "smtp" for plain postfix/smtpd (the default
    service runs smtpd under its own name), else the syslog service ("submission")."""
    svc = ev.service
    return "smtp" if svc is None or svc == "smtpd" else svc


def _add(by_key: dict, key, ts) -> None:
    occ = by_key.get(key)
    if occ is None:
        if len(by_key) >= MAX_KEYS:
            return
        occ = by_key[key] = Occurrences()
    occ.add(ts)


def _merge(mine: dict, later: dict) -> None:
    for key, occ in later.items():
        if key in mine:
            mine[key].merge(occ)
        elif len(mine) < MAX_KEYS:
            mine[key] = occ


class Evidence:
    """Client and service evidence for the incidents (see the module docstring)."""

    kinds = frozenset(("reject", "connect", "disconnect"))  # the stream feeds it only these

    def __init__(self):
        self.rejects: dict[str, Occurrences] = {}  # client IP -> reject lines (smtpd, postscreen)
        self.gone: dict[str, Occurrences] = {}  # client IP -> smtpd disconnects
        self.connects: dict[tuple, Occurrences] = {}  # (host, service) -> smtpd connects
        self.disconnects: dict[tuple, Occurrences] = {}  # (host, service) -> smtpd disconnects
        self._feed = {"reject": self._reject, "connect": self._connect, "disconnect": self._disconnect}

    def feed(self, ev) -> None:
        if ev.ts is not None:
            self._feed[ev.kind](ev)

    def _reject(self, ev) -> None:
        ip = ev.f.get("client_ip")
        if ip:
            _add(self.rejects, ip, ev.ts)

    def _connect(self, ev) -> None:
        if ev.program == "smtpd":
            _add(self.connects, (ev.host, master_service(ev)), ev.ts)

    def _disconnect(self, ev) -> None:
        if ev.program != "smtpd":
            return
        _add(self.disconnects, (ev.host, master_service(ev)), ev.ts)
        ip = ev.f.get("client_ip")
        if ip:
            _add(self.gone, ip, ev.ts)

    def merge(self, later: Evidence) -> None:
        _merge(self.rejects, later.rejects)
        _merge(self.gone, later.gone)
        _merge(self.connects, later.connects)
        _merge(self.disconnects, later.disconnects)

    # --- reading ------------------------------------------------------------------------------
    def sessions(self, service: str) -> list[tuple[float, int, float | None, float | None]]:
        """(bucket start, sessions open at the bucket's end, first connect, last disconnect in
        it) of a service on every host, in time order; sessions open before the log began are
        counted from the disconnects they left."""
        conn, disc = Occurrences(), Occurrences()
        for (_, svc), occ in self.connects.items():
            if svc == service:
                conn.merge(occ)
        for (_, svc), occ in self.disconnects.items():
            if svc == service:
                disc.merge(occ)
        level = max(conn.level, disc.level)
        conn.coarsen(level)
        disc.coarsen(level)
        deltas: dict = {}
        for start, n, first, _ in conn.items():
            d = deltas.setdefault(start, [0, None, None])
            d[0] += n
            d[1] = first
        for start, n, _, last in disc.items():
            d = deltas.setdefault(start, [0, None, None])
            d[0] -= n
            d[2] = last
        out, open_ = [], 0
        for start in sorted(deltas):
            n, first, last = deltas[start]
            open_ += n
            out.append((start, open_, first, last))
        low = min((o for _, o, _, _ in out), default=0)
        return [(s, o - min(low, 0), f, last) for s, o, f, last in out]
