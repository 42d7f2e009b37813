"""Follow each message by queue id, and each smtpd session by process id, as events stream by.

Memory grows with what is in flight, not with the log: a message is handed to ``on_message``
and forgotten when qmgr logs ``removed``; a session when smtpd logs ``disconnect``.
Queue ids are unique per host at a time, so the key is (syslog host, queue id).

The queue a message is in follows Postfix (what ``postqueue -j`` would show; ``qshape``'s log
mode and the QSH rules read it through ``qshape.entries_from_messages``):

* an smtpd transaction is in no queue until cleanup writes the file (``Message.in_queue``); an
  smtpd HOLD action puts it in hold then, an smtpd DISCARD action makes cleanup drop it;
* qmgr's ``from=..., nrcpt=N (queue active)`` makes it active; the delivery run ends once N
  recipients were reported (``Message.run``), and the message goes to deferred if one is
  pending; without ``nrcpt=`` (activated before the log began) at the first deferral;
* master's ``daemon started`` (a restarted qmgr) moves active mail back to incoming;
* ``postsuper -r`` moves it to maildrop; pickup's ``orig_id=`` then gives it a new queue id, and
  the new message inherits the old one's arrival time and recipients;
* local delivery keys a recipient by ``orig_to=`` (the queue file's address, before aliasing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .events import Event

# Queue names as Postfix uses them (QSHAPE_README, postqueue -j).
INCOMING, ACTIVE, DEFERRED, HOLD, MAILDROP = "incoming", "active", "deferred", "hold", "maildrop"
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
    orig_qid: str | None = None  # requeued (postsuper -r): the queue id it had before pickup's orig_id=
    run: set = field(default_factory=set)  # recipients reported since qmgr's last nrcpt= line
    discard: bool = False  # smtpd DISCARD action: cleanup drops the message instead of queueing it

    @property
    def in_queue(self) -> bool:
        """False for an smtpd transaction the log never showed reaching a queue file (no cleanup
        line, no qmgr line, no recipient; an smtpd HOLD action alone does not queue it): the
        client went away before the end of DATA, and Postfix deleted the file without logging
        "removed"."""
        return not (self.queue == INCOMING and self.size is None and self.message_id is None
                    and self.origin != "pickup" and self.bounce_of is None
                    and not self.recipients)

    @property
    def unnamed(self) -> int:
        """Recipients in the queue file that no line has named: of qmgr's last ``nrcpt=``, those
        not reported in this delivery run nor pending from an earlier one; without ``nrcpt=``,
        one when nothing at all is known about the recipients."""
        if self.nrcpt is not None:
            return max(0, self.nrcpt - len(self.run.union(self.pending)))
        return 0 if self.recipients else 1

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
            "removed": self._finish,
            "expired": self._expired,
            "postsuper": self._postsuper,
            "hold": self._hold,
            "discard": self._discard,
            "master_start": self._master_start,
            "bounce_notice": self._bounce_notice,
            "reject": self._reject_message,
        }
        if on_session is not None:  # sessions are followed only for someone who reads them
            self._dispatch.update({
                "connect": self._connect,
                "disconnect": self._disconnect,
                "lost_connection": self._session_end,
                "timeout": self._session_end,
                "error_limit": self._session_end,
                "tls_established": self._tls,
                "reject": self._reject,
            })

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
                 if not m.in_queue and m.last_ts is not None and now - m.last_ts > ABANDONED_AFTER]
        for k in stale:
            del self.messages[k]
        self.abandoned += len(stale)

    def _msg(self, ev: Event, qid: str | None = None, queue: str = INCOMING) -> Message | None:
        """The message ``qid`` (default: the event's), created in ``queue`` when new."""
        qid = qid or ev.qid
        if not qid or qid == "NOQUEUE":
            return None
        key = (ev.host, qid)
        m = self.messages.get(key)
        if m is None:
            m = Message(qid=qid, host=ev.host, first_ts=ev.ts, first_file=ev.file, first_line=ev.lineno,
                        arrival_ts=ev.ts, instance=ev.instance, queue=queue)
            self.messages[key] = m
        m.last_ts = ev.ts
        return m

    def _finish(self, ev: Event) -> None:
        """The message left the queue (removed, or rejected or discarded whole)."""
        m = self.messages.pop((ev.host, ev.qid), None)
        if m is None:
            return
        m.removed_ts = ev.ts
        m.last_ts = ev.ts
        self.completed += 1
        if self.on_message is not None:
            self.on_message(m)

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
        if m is None:
            return
        m.origin = "pickup"
        m.arrival_known = True
        if m.sender is None:
            m.sender = ev.f.get("from")
        old = self.messages.pop((ev.host, ev.f.get("orig_id")), None)
        if old is not None:  # requeued (postsuper -r): same message, new queue file
            m.orig_qid = old.qid
            m.arrival_ts, m.arrival_known = old.arrival_ts, old.arrival_known
            m.recipients, m.deferrals = old.recipients, old.deferrals

    def _message_id(self, ev):
        m = self._msg(ev)
        if m is None or ev.program != "cleanup":
            return
        if m.discard:
            self._finish(ev)
            return
        m.message_id = ev.f.get("message_id")
        m.arrival_known = True
        if m.held:
            m.queue = HOLD

    def _queued(self, ev):
        m = self._msg(ev)
        if m is None:
            return
        f = ev.f
        m.sender = f.get("from", m.sender)
        m.size = f.get("size", m.size)
        m.nrcpt = f.get("nrcpt", m.nrcpt)
        m.run = set()
        if not m.held:
            m.queue = ACTIVE

    def _delivery(self, ev):
        m = self._msg(ev, queue=ACTIVE)
        if m is None:
            return
        f = ev.f
        orig_to = f.get("orig_to")
        # local expands aliases: the queue file's recipient is orig_to
        to = orig_to if orig_to and ev.program == "local" else f.get("to", "")
        r = m.recipients.get(to)
        if r is None:
            r = m.recipients[to] = Recipient(to, orig_to=orig_to)
        m.run.add(to)
        if m.queue == INCOMING:
            m.queue = ACTIVE  # qmgr's line was missed: deliveries are made from the active queue
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
        # the delivery run ends when every recipient qmgr counted was reported
        if m.queue == ACTIVE and m.pending and (
                len(m.run) >= m.nrcpt if m.nrcpt is not None else status == "deferred"):
            m.queue = DEFERRED

    def _expired(self, ev):
        m = self._msg(ev)
        if m is not None:
            m.expired = True
            if m.sender is None:
                m.sender = ev.f.get("from")

    def _postsuper(self, ev):
        m = self._msg(ev, queue=DEFERRED)  # new: queued before the log began
        if m is None:
            return
        action = ev.f.get("action")
        if action == "placed on hold":
            m.held, m.queue = True, HOLD
        elif action == "released from hold":
            m.held, m.queue = False, DEFERRED
        elif action == "requeued":  # to maildrop; pickup gives it a new queue id (orig_id=)
            m.held, m.queue = False, MAILDROP
        elif action == "expired":
            m.expired = True

    def _hold(self, ev):
        """An access HOLD action: cleanup's (header/body checks) holds the queue file and names a
        recipient; smtpd's holds the message once cleanup has written it."""
        m = self._msg(ev)
        if m is None:
            return
        m.held = True
        if ev.program == "cleanup":
            m.queue = HOLD
            if m.sender is None:
                m.sender = ev.f.get("from")
            to = ev.f.get("to")
            if to and to not in m.recipients:
                m.recipients[to] = Recipient(to)

    def _discard(self, ev):
        """An access DISCARD action: cleanup's drops the message; smtpd's makes cleanup drop it."""
        if ev.program == "cleanup":
            self._finish(ev)
            return
        m = self.messages.get((ev.host, ev.qid))
        if m is not None:
            m.discard = True

    def _master_start(self, ev):
        """A (re)started master starts a new qmgr, which moves active mail back to incoming."""
        for m in self.messages.values():
            if m.queue == ACTIVE and m.host == ev.host and m.instance == ev.instance:
                m.queue = INCOMING
                m.run = set()

    def _bounce_notice(self, ev):
        new = ev.f.get("new_qid")
        if not new:
            return
        m = self._msg(ev, new)
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
        self._reject_message(ev)

    def _reject_message(self, ev):
        # A message rejected whole (cleanup header/body checks, a milter at end of data) is
        # deleted without a "removed" line.
        if ev.qid and ev.qid != "NOQUEUE" and (
            ev.program == "cleanup" or ev.f.get("stage") in ("END-OF-MESSAGE", "DATA", "BDAT")
        ):
            self._finish(ev)

    # --- end of input -------------------------------------------------------------------------
    def finish(self) -> list[Message]:
        """Messages still queued at the end of the log (open sessions go to ``on_session``)."""
        if self.on_session is not None:
            for s in self.sessions.values():
                self.on_session(s)
        self.sessions.clear()
        return list(self.messages.values())
