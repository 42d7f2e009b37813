"""Follow each message by queue id, and each smtpd session by process id, as events stream by.

Memory grows with what is in flight, not with the log: a message is handed to ``on_message``
and forgotten when qmgr logs ``removed``; a session when smtpd logs ``disconnect``.
Queue ids are unique per host at a time, so the key is (syslog host, queue id).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .events import Event

# Queue names as Postfix uses them (QSHAPE_README, postqueue -j).
INCOMING, ACTIVE, DEFERRED, HOLD = "incoming", "active", "deferred", "hold"
SWEEP_EVERY = 200_000  # tracked events between sweeps for abandoned messages
ABANDONED_AFTER = 6 * 3600  # seconds without news before an unfinished incoming message is dropped


@dataclass
class Recipient:
    address: str
    status: str | None = None  # last status: sent, deferred, bounced, expired, ...
    relay: str | None = None
    dsn: str | None = None
    reason: str | None = None
    ts: float | None = None
    orig_to: str | None = None
    attempts: int = 0  # delivery lines seen for this recipient
    program: str | None = None


@dataclass
class Message:
    qid: str
    host: str | None
    first_ts: float | None
    first_file: str = ""
    first_line: int = 0
    last_ts: float | None = None
    queue: str = INCOMING
    arrival_ts: float | None = None  # when cleanup/pickup/smtpd first saw it (see arrival_known)
    # True once the log showed the message's start (smtpd client=, pickup, cleanup, a bounce
    # notice creating it); until then arrival_ts is backdated from delivery lines' delay=
    arrival_known: bool = False
    sender: str | None = None  # "" is the null sender <> (MAILER-DAEMON)
    size: int | None = None
    nrcpt: int | None = None
    client: str | None = None  # host[ip] for mail received by smtpd
    client_ip: str | None = None
    origin: str | None = None  # "smtpd" service name (smtpd, submission, ...), "pickup", "qmqpd"
    instance: str | None = None
    message_id: str | None = None
    recipients: dict = field(default_factory=dict)  # address -> Recipient
    deferrals: int = 0  # deferred delivery lines
    held: bool = False
    expired: bool = False
    removed_ts: float | None = None
    bounce_of: str | None = None  # this message is a notification about another queue id

    @property
    def in_queue(self) -> bool:
        """False for an smtpd transaction the log never showed reaching a queue file (no cleanup
        line, no qmgr line, no recipient, not held): the client went away before the end of DATA,
        and Postfix deleted the file without logging "removed"."""
        return not (self.queue == INCOMING and self.size is None and self.message_id is None
                    and self.origin not in ("pickup",) and self.bounce_of is None
                    and not self.recipients and not self.held)

    @property
    def pending(self) -> list[str]:
        """Recipients not yet finally delivered (no status, or deferred)."""
        return [a for a, r in self.recipients.items() if r.status in (None, "deferred")]


@dataclass
class Session:
    pid: int | None
    host: str | None
    service: str | None
    client: str
    client_ip: str | None
    connect_ts: float | None
    disconnect_ts: float | None = None
    stats: str | None = None
    tls: str | None = None  # protocol, when a TLS session was established
    messages: int = 0
    rejects: int = 0
    ended_by: str | None = None  # "lost_connection", "timeout", "error_limit" or None


class Tracker:
    """Feed it every event; read finished messages from ``on_message`` and sessions from
    ``on_session``; call ``finish()`` at the end for what is still queued or open."""

    def __init__(self, on_message: Callable[[Message], None] | None = None,
                 on_session: Callable[[Session], None] | None = None):
        self.messages: dict = {}
        self.sessions: dict = {}
        self.on_message = on_message
        self.on_session = on_session
        self.completed = 0
        self.abandoned = 0
        self._fed = 0
        self._dispatch = {
            "client": self._client,
            "pickup": self._pickup,
            "message_id": self._message_id,
            "qmgr_queued": self._queued,
            "delivery": self._delivery,
            "removed": self._removed,
            "expired": self._expired,
            "postsuper": self._postsuper,
            "hold": self._hold,
            "bounce_notice": self._bounce_notice,
            "connect": self._connect,
            "disconnect": self._disconnect,
            "lost_connection": self._session_end,
            "timeout": self._session_end,
            "error_limit": self._session_end,
            "tls_established": self._tls,
            "reject": self._reject,
        }

    # --- plumbing -----------------------------------------------------------------------------
    def feed(self, ev: Event) -> None:
        handler = self._dispatch.get(ev.kind)
        if handler is not None:
            handler(ev)
            self._fed += 1
            if self._fed >= SWEEP_EVERY:
                self._sweep(ev.ts)

    def _sweep(self, now: float | None) -> None:
        """Forget messages smtpd started but never finished receiving (the client went away
        before the end of DATA: Postfix deletes such a file without logging "removed")."""
        self._fed = 0
        if now is None:
            return
        stale = [k for k, m in self.messages.items()
                 if m.queue == INCOMING and m.size is None and m.last_ts is not None
                 and now - m.last_ts > ABANDONED_AFTER]
        for k in stale:
            del self.messages[k]
        self.abandoned += len(stale)

    def _msg(self, ev: Event) -> Message | None:
        qid = ev.qid
        if not qid or qid == "NOQUEUE":
            return None
        key = (ev.host, qid)
        m = self.messages.get(key)
        if m is None:
            m = Message(qid=qid, host=ev.host, first_ts=ev.ts, first_file=ev.file, first_line=ev.lineno,
                        arrival_ts=ev.ts, instance=ev.instance)
            self.messages[key] = m
        m.last_ts = ev.ts
        return m

    # --- message life -------------------------------------------------------------------------
    def _client(self, ev):
        m = self._msg(ev)
        if m is None:
            return
        m.arrival_known = True
        m.client = ev.client
        m.client_ip = ev.f.get("client_ip")
        m.origin = ev.service
        s = self.sessions.get((ev.host, ev.pid))
        if s is not None:
            s.messages += 1

    def _pickup(self, ev):
        m = self._msg(ev)
        if m is not None:
            m.origin = "pickup"
            m.arrival_known = True
            if m.sender is None:
                m.sender = ev.f.get("from")

    def _message_id(self, ev):
        m = self._msg(ev)
        if m is not None and ev.program == "cleanup":
            m.message_id = ev.f.get("message_id")
            m.arrival_known = True

    def _queued(self, ev):
        m = self._msg(ev)
        if m is None:
            return
        f = ev.f
        m.sender = f.get("from", m.sender)
        m.size = f.get("size", m.size)
        m.nrcpt = f.get("nrcpt", m.nrcpt)
        if not m.held:
            m.queue = ACTIVE

    def _delivery(self, ev):
        m = self._msg(ev)
        if m is None:
            return
        f = ev.f
        to = f.get("to", "")
        r = m.recipients.get(to)
        if r is None:
            r = m.recipients[to] = Recipient(to, orig_to=f.get("orig_to"))
        status = f.get("status")
        r.status, r.relay, r.dsn, r.reason, r.ts, r.program = (
            status, f.get("relay"), f.get("dsn"), f.get("reason"), ev.ts, ev.program)
        r.attempts += 1
        if not m.arrival_known:  # queued before the log began: delay= counts from its arrival
            delay = f.get("delay")
            if isinstance(delay, int | float) and ev.ts is not None:
                start = ev.ts - delay
                if m.arrival_ts is None or start < m.arrival_ts:
                    m.arrival_ts = start
        if status == "deferred":
            m.deferrals += 1
            if not m.held:
                m.queue = DEFERRED

    def _removed(self, ev):
        key = (ev.host, ev.qid)
        m = self.messages.pop(key, None)
        if m is None:
            return
        m.removed_ts = ev.ts
        m.last_ts = ev.ts
        self.completed += 1
        if self.on_message is not None:
            self.on_message(m)

    def _expired(self, ev):
        m = self._msg(ev)
        if m is not None:
            m.expired = True
            if m.sender is None:
                m.sender = ev.f.get("from")

    def _postsuper(self, ev):
        m = self._msg(ev)
        if m is None:
            return
        action = ev.f.get("action")
        if action == "placed on hold":
            m.held, m.queue = True, HOLD
        elif action == "released from hold":
            m.held, m.queue = False, DEFERRED
        elif action == "requeued":
            m.queue = INCOMING if not m.held else HOLD
        elif action == "expired":
            m.expired = True

    def _hold(self, ev):  # smtpd/cleanup access "hold" action puts the message on hold
        m = self._msg(ev)
        if m is not None:
            m.held, m.queue = True, HOLD

    def _bounce_notice(self, ev):
        new = ev.f.get("new_qid")
        if not new:
            return
        key = (ev.host, new)
        m = self.messages.get(key)
        if m is None:
            m = self.messages[key] = Message(qid=new, host=ev.host, first_ts=ev.ts, first_file=ev.file,
                                             first_line=ev.lineno, arrival_ts=ev.ts, instance=ev.instance)
        m.bounce_of = ev.qid
        m.arrival_known = True
        if m.sender is None:
            m.sender = ""

    # --- smtpd sessions -----------------------------------------------------------------------
    def _connect(self, ev):
        if ev.program != "smtpd":
            return
        key = (ev.host, ev.pid)
        old = self.sessions.pop(key, None)
        if old is not None and self.on_session is not None:
            self.on_session(old)  # a session whose disconnect we never saw (e.g. a crash)
        self.sessions[key] = Session(ev.pid, ev.host, ev.service, ev.client or "", ev.f.get("client_ip"),
                                     ev.ts)

    def _disconnect(self, ev):
        s = self.sessions.pop((ev.host, ev.pid), None)
        if s is None:
            return
        s.disconnect_ts = ev.ts
        s.stats = ev.f.get("stats")
        if self.on_session is not None:
            self.on_session(s)

    def _session_end(self, ev):
        s = self.sessions.get((ev.host, ev.pid))
        if s is not None:
            s.ended_by = ev.kind

    def _tls(self, ev):
        if ev.f.get("direction") == "from":
            s = self.sessions.get((ev.host, ev.pid))
            if s is not None:
                s.tls = ev.f.get("protocol")

    def _reject(self, ev):
        s = self.sessions.get((ev.host, ev.pid))
        if s is not None:
            s.rejects += 1
        # A message rejected whole (cleanup header/body checks, a milter at end of data) is
        # deleted without a "removed" line.
        if ev.qid and ev.qid != "NOQUEUE" and (
            ev.program == "cleanup" or ev.f.get("stage") in ("END-OF-MESSAGE", "DATA", "BDAT")
        ):
            m = self.messages.pop((ev.host, ev.qid), None)
            if m is not None:
                m.removed_ts = ev.ts
                self.completed += 1
                if self.on_message is not None:
                    self.on_message(m)

    # --- end of input -------------------------------------------------------------------------
    def finish(self) -> list[Message]:
        """Messages still queued at the end of the log (open sessions go to ``on_session``)."""
        if self.on_session is not None:
            for s in self.sessions.values():
                self.on_session(s)
        self.sessions.clear()
        return list(self.messages.values())
