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

A message's life starts with smtpd's ``client=`` or pickup's ``uid=... from=``; such a line for a
queue id still in flight starts a new life (the id was reused after a lost ``removed`` line) and
hands the old one to ``on_message``. The bounce daemon may log ``QID: sender non-delivery
notification: NEWQID`` after qmgr already delivered and removed NEWQID (two processes writing to
one log): such a notice for a queue id removed less than RECENTLY_REMOVED seconds of log time
before creates no message (it would stay "queued" for ever).

**Limits** (what an outsider can grow: every SMTP client can open transactions that never end,
every local user can write lines in Postfix's name). A message the log never showed reaching a
queue file (``Message.in_queue`` false: an smtpd transaction whose client went away before the
end of DATA, which Postfix deletes without logging ``removed``) is dropped

* once ABANDONED_AFTER (six hours) of log time pass without news of it (``abandoned``): smtpd
  gives up a client after ``smtpd_timeout`` (300 s) without a command, far sooner; and
* once MAX_UNQUEUED (10,000) newer messages appeared after it while it still reached no queue
  file (``evicted``): one smtpd process serves one transaction at a time, so the transactions
  open at once are at most the smtpd processes running (``default_process_limit``, 100 by
  default), far fewer than that.

A message that reached a queue file is kept until the log says it left the queue, or until
STALE_AFTER (seven days) of log time passed without a line of it (``stale``): Postfix retries
deferred mail at least every ``maximal_backoff_time`` (4000 s) and returns it after
``maximal_queue_lifetime`` (five days), so such a message left the queue unseen (a lost
``removed`` line); held mail, which Postfix keeps until it is released, is kept. But any local
user can write qmgr ``from=..., nrcpt=1 (queue active)`` lines with new queue ids (``logger -t
postfix/qmgr``), as many as he likes within seven days, so the messages in flight are also
bounded by count: when a new message would make more than MAX_IN_FLIGHT (200,000; a queue that
large is a server in deep trouble; `analyze` peaks at about 400 MB with that many), the tenth of
them whose last line is the oldest are dropped (``crowded``; a deferred message has a line at
each retry, so a flood drops the forged and the lost ones first). The counts are reported
(``limits``: ``dropped``); while under these bounds, nothing depends on where a log was cut.

Consumers keep what they know of one message on it (``Message.facts``, by consumer), so that no
one else needs to remember queue ids.

**Pieces.** A tracker fed with a piece of a log that does not start the log (``head=False``)
cannot judge a line of a message whose life started before the piece: the first line of a key in
the piece that does not start a life (a delivery, a ``removed``...) marks the key, and that line
and every later line of the key in the piece are held back (``held``), in order, and handed to
no consumer. The same for smtpd sessions by (host, pid), and for master's restarts (which touch
every active message). ``merge(later)`` folds the tracker of the piece that follows into this
one: the lives the later piece started end the earlier lives of their keys, its held lines are
replayed here in order (handed to ``on_line`` for the consumers of message lines), and its
messages and sessions in flight join these. See postfix_diag/pipeline.py.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .events import Event

# Queue names as Postfix uses them (QSHAPE_README, postqueue -j).
INCOMING, ACTIVE, DEFERRED, HOLD, MAILDROP = "incoming", "active", "deferred", "hold", "maildrop"
SWEEP_INTERVAL = 3600  # seconds of log time between sweeps for abandoned messages
RECENTLY_REMOVED = 60  # seconds of log time a removed queue id is remembered (late bounce notices)
ABANDONED_AFTER = 6 * 3600  # seconds without news before an unfinished incoming message is dropped
# MAX_UNQUEUED: newer messages after which one that reached no queue file is dropped;
# MAX_IN_FLIGHT: messages in flight at most (beyond, those with the oldest last line go);
# STALE_AFTER: seconds of log time without a line after which a queued message (not on hold) is gone
from .limits import MAX_IN_FLIGHT, MAX_UNQUEUED, STALE_AFTER  # noqa: E402

STARTS = frozenset(("client", "pickup"))  # lines that start a message's life

# The fields the tracker reads, per grammar rule kind ("reject": every access decision), for a
# parser that captures only what its consumers read (see parse.Parser(fields=...)).
FIELDS = {
    "client": ("client_host", "client_ip"),
    "pickup": ("from", "orig_id"),
    "message_id": ("message_id",),
    "qmgr_queued": ("from", "size", "nrcpt"),
    "delivery": ("to", "orig_to", "relay", "dsn", "reason", "delay", "status"),
    "status_only": ("status",),
    "expired": ("from",),
    "postsuper": ("action",),
    "reject": ("stage", "from", "to"),
    "bounce_notice": ("new_qid",),
    "connect": ("client_host", "client_ip"),
    "disconnect": ("stats",),
    "tls_established": ("direction", "protocol"),
}


@dataclass(slots=True)
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


@dataclass(slots=True)
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
    client_host: str | None = None  # the client's name, for mail received by smtpd
    client_ip: str | None = None
    origin: str | None = None  # "smtpd" service name (smtpd, submission, ...), "pickup", "qmqpd"
    instance: str | None = None
    message_id: str | None = None
    recipients: dict = field(default_factory=dict)  # address -> Recipient
    deferrals: int = 0  # deferred delivery lines
    deliveries: int = 0  # delivery lines (attempts) of any status
    held: bool = False
    expired: bool = False
    removed_ts: float | None = None
    bounce_of: str | None = None  # this message is a notification about another queue id
    orig_qid: str | None = None  # requeued (postsuper -r): the queue id it had before pickup's orig_id=
    run: set = field(default_factory=set)  # recipients reported since qmgr's last nrcpt= line
    discard: bool = False  # smtpd DISCARD action: cleanup drops the message instead of queueing it
    facts: dict = field(default_factory=dict)  # what consumers know of it, by consumer (a rule id...)

    @property
    def client(self) -> str | None:
        """``host[ip]`` of the SMTP client the message came from."""
        return None if self.client_ip is None else f"{self.client_host or ''}[{self.client_ip}]"

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
        return self.still_queued()[1]

    @property
    def pending(self) -> list[str]:
        """Recipients not yet finally delivered (no status, or deferred)."""
        return [a for a, r in self.recipients.items() if r.status in (None, "deferred")]

    def still_queued(self) -> tuple[list[str], int]:
        """(``pending``, ``unnamed``), the pending recipients computed once."""
        pending = self.pending
        if self.nrcpt is not None:
            return pending, max(0, self.nrcpt - len(self.run.union(pending)))
        return pending, 0 if self.recipients else 1


@dataclass(slots=True)
class Session:
    pid: int | None
    host: str | None
    service: str | None
    client_host: str | None
    client_ip: str | None
    connect_ts: float | None
    disconnect_ts: float | None = None
    closed: bool = False  # smtpd logged its disconnect (not: the log ended, or the pid was reused)
    stats: str | None = None
    tls: str | None = None  # protocol, when a TLS session was established
    messages: int = 0
    rejects: int = 0
    ended_by: str | None = None  # "lost_connection", "timeout", "error_limit" or None

    @property
    def client(self) -> str:
        """``host[ip]`` of the client ("" when the connect line named none)."""
        return "" if self.client_ip is None else f"{self.client_host or ''}[{self.client_ip}]"


class Tracker:
    """Feed it every event; read finished messages from ``on_message`` and sessions from
    ``on_session``; call ``finish()`` at the end for what is still queued or open.

    ``feed(ev)`` returns the Message a line belongs to, after applying the line to it (None for
    a line of no message, and for a line a later piece holds back)."""

    def __init__(self, on_message: Callable[[Message], None] | None = None,
                 on_session: Callable[[Session], None] | None = None, head: bool = True):
        self.messages: dict = {}
        self.sessions: dict = {}
        self.on_message = on_message
        self.on_session = on_session
        self.head = head  # the lines fed start the log
        self.completed = 0
        self.abandoned = 0  # messages that reached no queue file, dropped by log time
        self.evicted = 0  # messages that reached no queue file, dropped by count (MAX_UNQUEUED)
        self.crowded = 0  # messages in flight dropped by count (MAX_IN_FLIGHT)
        self.stale = 0  # queued messages dropped after STALE_AFTER of log time without a line
        # (number, key, message) of every message created, in order, for the last MAX_UNQUEUED
        # of them, numbered from 1 (see _limit); entries that can no longer be dropped may go
        # (_live_recent)
        self._recent: deque = deque()
        self._created = 0  # messages created
        self.clock: float | None = None  # the latest time a message appeared
        self._next_sweep = float("-inf")
        self.recently_removed: dict = {}  # (host, qid) -> time of its "removed" line, oldest first
        # a later piece (head=False): the lines it holds back, in order, as (what, event or key),
        # the keys whose lines it holds back, and the keys whose life started in the piece
        self.held: list = []
        self._stray: set = set()
        self._started = KeySet()
        self._stray_sessions: set = set()
        self._clients_at: dict = {}  # a stray session's last held entry, when it counts client= lines
        self._started_sessions: set = set()
        self._message = {
            "client": self._client,
            "pickup": self._pickup,
            "message_id": self._message_id,
            "qmgr_queued": self._queued,
            "delivery": self._delivery,
            "status_only": self._status_only,
            "removed": self._finish,
            "expired": self._expired,
            "postsuper": self._postsuper,
            "hold": self._hold,
            "discard": self._discard,
            "master_start": self._master_start,
            "bounce_notice": self._bounce_notice,
            "reject": self._reject_message,
        }
        self._session = {} if on_session is None else {  # followed only for someone who reads them
            "connect": self._connect,
            "disconnect": self._disconnect,
            "lost_connection": self._session_end,
            "timeout": self._session_end,
            "error_limit": self._session_end,
            "tls_established": self._tls,
            "reject": self._reject,
            "client": self._client_session,
        }
        # event kind -> what feed() calls for it (the lines of other kinds change nothing here)
        if head:
            self.handlers = dict(self._message)
            for kind, handler in self._session.items():
                self.handlers[kind] = self._both if kind in self._message else handler
        else:
            self.handlers = dict.fromkeys([*self._message, *self._session], self._gated)

    @property
    def dropped(self) -> dict:
        """{limit name: messages} this tracker dropped at its bounds (limits.py)."""
        return {"unqueued_messages": self.evicted, "in_flight_messages": self.crowded,
                "stale_messages": self.stale}

    # --- plumbing -----------------------------------------------------------------------------
    def feed(self, ev: Event) -> Message | None:
        handler = self.handlers.get(ev.kind)
        return None if handler is None else handler(ev)


    def _both(self, ev: Event) -> Message | None:
        self._session[ev.kind](ev)
        return self._message[ev.kind](ev)

    def _sweep(self, now: float) -> None:
        """Forget messages smtpd started but never finished receiving (the client went away
        before the end of DATA: Postfix deletes such a file without logging "removed")."""
        self._next_sweep = now + SWEEP_INTERVAL
        self._drop_gone(now)

    def _drop_gone(self, now: float | None) -> None:
        """Drop the messages that are gone at log time ``now`` (``_gone``), and count them."""
        gone = [(k, why) for k, m in self.messages.items() if (why := self._gone(m, now)) is not None]
        for k, why in gone:
            del self.messages[k]
            self._count_gone(why)

    def _count_gone(self, why: str) -> None:
        if why == "abandoned":
            self.abandoned += 1
        else:
            self.stale += 1

    def _limit(self) -> None:
        """Drop the messages that reached no queue file among those MAX_UNQUEUED newer messages
        came after (the module's docstring, Limits)."""
        recent, messages = self._recent, self.messages
        oldest = self._created - MAX_UNQUEUED  # messages numbered up to this one have that many after them
        while recent and recent[0][0] <= oldest:
            _, key, m = recent.popleft()
            if messages.get(key) is m and not m.in_queue:
                del messages[key]
                self.evicted += 1

    @staticmethod
    def _gone(m: Message, now: float | None) -> str | None:
        """Whether a message is gone at log time ``now`` for lack of news: "abandoned" (it reached
        no queue file, ABANDONED_AFTER), "stale" (queued, not on hold, STALE_AFTER), or None."""
        last = m.last_ts
        if now is None or last is None or now - last <= ABANDONED_AFTER:
            return None
        if not m.in_queue:
            return "abandoned"
        return "stale" if now - last > STALE_AFTER and m.queue != HOLD else None

    def _msg(self, ev: Event, qid: str | None = None, queue: str = INCOMING) -> Message | None:
        """The message ``qid`` (default: the event's), created in ``queue`` when new."""
        qid = qid or ev.qid
        if not qid or qid == "NOQUEUE":
            return None
        key = (ev.host, qid)
        m = self.messages.get(key)
        if m is not None:
            ts, last = ev.ts, m.last_ts
            if ts is not None and last is not None and ts - last > ABANDONED_AFTER:
                why = self._gone(m, ts)
                if why is not None:
                    del self.messages[key]  # gone: this line starts a new life
                    self._count_gone(why)
                    m = None
        if m is None:
            ts = ev.ts
            if ts is not None and (self.clock is None or ts > self.clock):
                self.clock = ts  # the latest time a message appeared: the tracker's log time
                if ts >= self._next_sweep:
                    self._sweep(ts)
            m = Message(qid=qid, host=ev.host, first_ts=ts, first_file=ev.file, first_line=ev.lineno,
                        last_ts=ts, arrival_ts=ts, instance=ev.instance, queue=queue)
            messages = self.messages
            messages[key] = m
            self._created += 1
            recent = self._recent
            recent.append((self._created, key, m))
            if recent[0][0] <= self._created - MAX_UNQUEUED:
                self._limit()
            if len(messages) > MAX_IN_FLIGHT:
                self._crowd()
            return m
        m.last_ts = ev.ts
        return m

    def _crowd(self) -> None:
        """More than MAX_IN_FLIGHT messages in flight: drop the tenth of them whose last line is
        the oldest (the module's docstring, Limits)."""
        messages = self.messages
        n = len(messages) - MAX_IN_FLIGHT + MAX_IN_FLIGHT // 10
        for key, _ in heapq.nsmallest(n, messages.items(), key=_last_activity):
            del messages[key]
        self.crowded += n

    def _start(self, ev: Event) -> Message | None:
        """A new life for the event's queue id (see the module's docstring)."""
        qid = ev.qid
        if not qid or qid == "NOQUEUE":
            return None
        old = self.messages.pop((ev.host, qid), None)
        if old is not None:
            self._ended(old)
        return self._msg(ev)

    def _ended(self, m: Message) -> None:
        """A message whose queue id started a new life: it left the queue unseen (or was never
        queued)."""
        if not m.in_queue:
            self.abandoned += 1
            return
        self.completed += 1
        if self.on_message is not None:
            self.on_message(m)

    def _finish(self, ev: Event) -> Message | None:
        """The message left the queue (removed, or rejected or discarded whole)."""
        key = (ev.host, ev.qid)
        m = self.messages.pop(key, None)
        if m is None:
            return None
        self._remember_removed(key, ev.ts)
        m.removed_ts = ev.ts
        m.last_ts = ev.ts
        self.completed += 1
        if self.on_message is not None:
            self.on_message(m)
        return m

    # --- message life -------------------------------------------------------------------------
    def _client(self, ev):
        m = self._start(ev)
        if m is None:
            return None
        m.arrival_known = True
        m.client_host = ev.f.get("client_host")
        m.client_ip = ev.f.get("client_ip")
        m.origin = ev.service
        return m

    def _pickup(self, ev):
        m = self._start(ev)
        if m is None:
            return None
        m.origin = "pickup"
        m.arrival_known = True
        if m.sender is None:
            m.sender = ev.f.get("from")
        old = self.messages.pop((ev.host, ev.f.get("orig_id")), None)
        if old is not None:  # requeued (postsuper -r): same message, new queue file
            m.orig_qid = old.qid
            m.arrival_ts, m.arrival_known = old.arrival_ts, old.arrival_known
            m.recipients, m.deferrals = old.recipients, old.deferrals
            m.facts = old.facts
        return m

    def _message_id(self, ev):
        m = self._msg(ev)
        if m is None or ev.program != "cleanup":
            return m
        if m.discard:
            return self._finish(ev)
        m.message_id = ev.f.get("message_id")
        m.arrival_known = True
        if m.held:
            m.queue = HOLD
        return m

    def _queued(self, ev):
        m = self._msg(ev)
        if m is None:
            return None
        f = ev.f
        m.sender = f.get("from", m.sender)
        m.size = f.get("size", m.size)
        m.nrcpt = f.get("nrcpt", m.nrcpt)
        m.run = set()
        if not m.held:
            m.queue = ACTIVE
        return m

    def _delivery(self, ev):
        m = self._msg(ev, queue=ACTIVE)
        if m is None:
            return None
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
        m.deliveries += 1
        if not m.arrival_known:  # queued before the log began: delay= counts from its arrival
            delay = f.get("delay")
            if isinstance(delay, int | float) and ev.ts is not None:
                start = ev.ts - delay
                if m.arrival_ts is None or start < m.arrival_ts:
                    m.arrival_ts = start
        if status == "deferred":
            m.deferrals += 1
        # the delivery run ends when every recipient qmgr counted was reported, and the message
        # goes to the deferred queue if a recipient is pending (this one, or another)
        if m.queue == ACTIVE and (len(m.run) >= m.nrcpt if m.nrcpt is not None else status == "deferred") and (
                status is None or status == "deferred" or (len(m.recipients) > 1 and m.pending)):
            m.queue = DEFERRED
        return m

    def _status_only(self, ev):
        """qmgr's status line without a recipient (a throttled destination): the message is in
        the queue, deferred when the status says so."""
        m = self._msg(ev, queue=ACTIVE)
        if m is not None and ev.f.get("status") == "deferred" and m.queue == ACTIVE and not m.recipients:
            m.queue = DEFERRED
        return m

    def _expired(self, ev):
        m = self._msg(ev)
        if m is not None:
            m.expired = True
            if m.sender is None:
                m.sender = ev.f.get("from")
        return m

    def _postsuper(self, ev):
        m = self._msg(ev, queue=DEFERRED)  # new: queued before the log began
        if m is None:
            return None
        action = ev.f.get("action")
        if action == "placed on hold":
            m.held, m.queue = True, HOLD
        elif action == "released from hold":
            m.held, m.queue = False, DEFERRED
        elif action == "requeued":  # to maildrop; pickup gives it a new queue id (orig_id=)
            m.held, m.queue = False, MAILDROP
        elif action == "expired":
            m.expired = True
        return m

    def _hold(self, ev):
        """An access HOLD action: cleanup's (header/body checks) holds the queue file and names a
        recipient; smtpd's holds the message once cleanup has written it."""
        m = self._msg(ev)
        if m is None:
            return None
        m.held = True
        if ev.program == "cleanup":
            m.queue = HOLD
            if m.sender is None:
                m.sender = ev.f.get("from")
            to = ev.f.get("to")
            if to and to not in m.recipients:
                m.recipients[to] = Recipient(to)
        return m

    def _discard(self, ev):
        """An access DISCARD action: cleanup's drops the message; smtpd's makes cleanup drop it."""
        if ev.program == "cleanup":
            return self._finish(ev)
        m = self.messages.get((ev.host, ev.qid))
        if m is not None:
            m.discard = True
        return m

    def _master_start(self, ev):
        """A (re)started master starts a new qmgr, which moves active mail back to incoming."""
        for m in self.messages.values():
            if m.queue == ACTIVE and m.host == ev.host and m.instance == ev.instance:
                m.queue = INCOMING
                m.run = set()

    def _remember_removed(self, key, ts) -> None:
        recent = self.recently_removed
        recent.pop(key, None)
        recent[key] = ts
        if ts is not None:
            while recent:
                oldest_key = next(iter(recent))
                oldest = recent[oldest_key]
                if oldest is not None and ts - oldest <= RECENTLY_REMOVED:
                    break
                del recent[oldest_key]

    def _bounce_notice(self, ev):
        new = ev.f.get("new_qid")
        if not new:
            return None
        key = (ev.host, new)
        if key not in self.messages and key in self.recently_removed:
            removed = self.recently_removed[key]
            if ev.ts is None or removed is None or ev.ts - removed <= RECENTLY_REMOVED:
                return None  # logged after the notification was delivered and removed
        m = self._msg(ev, new)
        m.bounce_of = ev.qid
        m.arrival_known = True
        if m.sender is None:
            m.sender = ""
        return m

    def _reject_message(self, ev):
        # A message rejected whole (cleanup header/body checks, a milter at end of data) is
        # deleted without a "removed" line.
        if _rejects_message(ev):
            return self._finish(ev)
        return None

    # --- smtpd sessions (only smtpd's own lines) ----------------------------------------------
    def _connect(self, ev):
        if ev.program != "smtpd":
            return
        key = (ev.host, ev.pid)
        old = self.sessions.pop(key, None)
        if old is not None and self.on_session is not None:
            self.on_session(old)  # a session whose disconnect we never saw (e.g. a crash)
        f = ev.f
        self.sessions[key] = Session(ev.pid, ev.host, ev.service, f.get("client_host"), f.get("client_ip"), ev.ts)

    def _disconnect(self, ev):
        if ev.program != "smtpd":
            return
        s = self.sessions.pop((ev.host, ev.pid), None)
        if s is None:
            return
        s.disconnect_ts = ev.ts
        s.stats = ev.f.get("stats")
        s.closed = True
        if self.on_session is not None:
            self.on_session(s)

    def _session_end(self, ev):
        s = self.sessions.get((ev.host, ev.pid)) if ev.program == "smtpd" else None
        if s is not None:
            s.ended_by = ev.kind

    def _tls(self, ev):
        if ev.f.get("direction") == "from" and ev.program == "smtpd":
            s = self.sessions.get((ev.host, ev.pid))
            if s is not None:
                s.tls = ev.f.get("protocol")

    def _reject(self, ev):
        s = self.sessions.get((ev.host, ev.pid)) if ev.program == "smtpd" else None
        if s is not None:
            s.rejects += 1

    def _client_session(self, ev):
        s = self.sessions.get((ev.host, ev.pid)) if ev.qid and ev.qid != "NOQUEUE" else None
        if s is not None:
            s.messages += 1

    # --- a piece that does not start the log --------------------------------------------------
    def _gated(self, ev: Event) -> Message | None:
        """feed() of a later piece: each line is applied here or held back (module docstring)."""
        kind = ev.kind
        handler = self._session.get(kind)
        if handler is not None and ev.program == "smtpd":
            self._gate_session(ev, handler)
        handler = self._message.get(kind)
        if handler is None:
            return None
        return self._gate_message(ev, handler)

    def _gate_session(self, ev: Event, handler) -> None:
        key = (ev.host, ev.pid)
        if key in self._stray_sessions:
            self._hold_session(key, ev)
        elif key in self.sessions or key in self._started_sessions:
            handler(ev)
        elif ev.kind == "connect":
            self._started_sessions.add(key)
            handler(ev)
        else:
            self._stray_sessions.add(key)
            self._hold_session(key, ev)

    def _hold_session(self, key, ev: Event | None, clients: int = 0) -> None:
        """Hold back a line of a session that started before the piece (``ev``), or ``clients``
        of its ``client=`` lines. Consecutive client= lines of one session are held as one count
        (all they do is count the session's messages), so that a piece of bare client= lines,
        which any SMTP client can cause, holds back a count per process, not every line."""
        held = self.held
        if ev is not None and ev.kind == "client":
            if not ev.qid or ev.qid == "NOQUEUE":
                return
            clients = 1
        if clients:
            at = self._clients_at.get(key)
            if at is not None:
                held[at][1][1] += clients
            else:
                self._clients_at[key] = len(held)
                held.append(("clients", [key, clients]))
            return
        self._clients_at.pop(key, None)
        held.append(("session", ev))

    def _gate_message(self, ev: Event, handler) -> Message | None:
        kind = ev.kind
        if kind == "master_start":  # every active message: these here now, earlier ones at the merge
            handler(ev)
            self.held.append(("master", ev))
            return None
        key = _message_key(ev)
        if key is None:
            return handler(ev)
        if key in self._stray:
            self.held.append(("message", ev))
            return None
        if kind == "pickup" and ev.f.get("orig_id"):
            orig = (ev.host, ev.f["orig_id"])
            if orig not in self.messages and orig not in self._started:
                # the message it was requeued from may be in flight in an earlier piece
                old = self.messages.pop(key, None)
                if old is not None:
                    self._ended(old)
                self._stray.update((key, orig))
                self.held.append(("message", ev))
                return None
        if key in self.messages or key in self._started:
            return handler(ev)
        if kind in STARTS:
            self._started.add(key)
            return handler(ev)
        self._stray.add(key)
        self.held.append(("message", ev))
        return None

    def merge(self, later: Tracker, on_line: Callable[[Event, Message], None] | None = None) -> None:
        """Fold in the tracker of the piece of the log that follows this one's lines (see the
        module's docstring). ``on_line(ev, msg)``: where the replayed lines of messages go."""
        for key in later._started:  # a life started later ends the earlier life of its key
            old = self.messages.pop(key, None)
            if old is not None:
                self._ended(old)
            elif key in self._stray:
                self.held.append(("retire", key))
        for key in later._started_sessions:
            old = self.sessions.pop(key, None)
            if old is not None:
                if self.on_session is not None:
                    self.on_session(old)
            elif key in self._stray_sessions:
                self.held.append(("end-session", key))
        for what, item in later.held:
            self._replay(what, item, on_line)
        self.messages.update(later.messages)
        done = self._created
        self._recent.extend((n + done, key, m) for n, key, m in later._recent)
        self._created += later._created
        self._limit()
        if len(self.messages) > MAX_IN_FLIGHT:
            self._crowd()
        self.sessions.update(later.sessions)
        for key, ts in later.recently_removed.items():
            self._remember_removed(key, ts)
        if not self.head:
            self._started.update(later._started)
            self._started_sessions |= later._started_sessions
        self.completed += later.completed
        self.abandoned += later.abandoned
        self.evicted += later.evicted
        self.crowded += later.crowded
        self.stale += later.stale
        if later.clock is not None and (self.clock is None or later.clock > self.clock):
            self.clock = later.clock

    def _replay(self, what: str, item, on_line) -> None:
        if what == "message":
            handler = self._message[item.kind]
            m = handler(item) if self.head else self._gate_message(item, handler)
            if m is not None and on_line is not None:
                on_line(item, m)
        elif what == "session":
            handler = self._session[item.kind]
            if self.head:
                handler(item)
            else:
                self._gate_session(item, handler)
        elif what == "clients":
            key, n = item
            if not self.head and (key in self._stray_sessions or (
                    key not in self.sessions and key not in self._started_sessions)):
                self._stray_sessions.add(key)
                self._hold_session(key, None, n)
            else:
                s = self.sessions.get(key)
                if s is not None:
                    s.messages += n
        elif what == "master":
            self._master_start(item)
            if not self.head:
                self.held.append((what, item))
        elif what == "retire":
            old = self.messages.pop(item, None)
            if old is not None:
                self._ended(old)
            elif item in self._stray:
                self.held.append((what, item))
        elif what == "end-session":
            old = self.sessions.pop(item, None)
            if old is not None:
                if self.on_session is not None:
                    self.on_session(old)
            elif item in self._stray_sessions:
                self.held.append((what, item))

    def _live_recent(self) -> deque:
        """The entries of ``_recent`` that ``_limit`` may still drop: messages still here that
        reached no queue file (a message that reached one stays so; one no longer here is gone)."""
        messages = self.messages
        return deque(e for e in self._recent if messages.get(e[1]) is e[2] and not e[2].in_queue)

    def forget_finished(self) -> None:
        """Let go of the finished messages ``_recent`` still holds (watch, at each evaluation)."""
        self._recent = self._live_recent()

    def __getstate__(self):
        """A piece's tracker goes to the main process without the finished messages it would
        otherwise carry in ``_recent`` (up to MAX_UNQUEUED of them, most of its pickled size)."""
        state = dict(self.__dict__)
        state["_recent"] = self._live_recent()
        return state

    # --- end of input -------------------------------------------------------------------------
    def finish(self) -> list[Message]:
        """Messages still queued at the end of the log, in the order they first appeared (open
        sessions go to ``on_session``). Only for a tracker whose lines start the log."""
        if not self.head:
            raise ValueError("a piece that does not start the log cannot finish: merge it into the one before")
        if self.on_session is not None:
            for s in self.sessions.values():
                self.on_session(s)
        self.sessions.clear()
        self._drop_gone(self.clock)
        return sorted(self.messages.values(), key=_first_place)


class KeySet:
    """A set of (host, queue id) keys, stored as a set of queue ids per host: a piece of a log
    remembers every queue id whose life started in it, and a tuple per key would double that."""

    __slots__ = ("by_host",)

    def __init__(self):
        self.by_host: dict = {}

    def __getstate__(self):
        return self.by_host

    def __setstate__(self, state):
        self.by_host = state

    def add(self, key) -> None:
        host, qid = key
        qids = self.by_host.get(host)
        if qids is None:
            qids = self.by_host[host] = set()
        qids.add(qid)

    def __contains__(self, key) -> bool:
        qids = self.by_host.get(key[0])
        return qids is not None and key[1] in qids

    def __iter__(self):
        for host, qids in self.by_host.items():
            for qid in qids:
                yield (host, qid)

    def __len__(self) -> int:
        return sum(map(len, self.by_host.values()))

    def update(self, other: KeySet) -> None:
        for host, qids in other.by_host.items():
            mine = self.by_host.get(host)
            if mine is None:
                self.by_host[host] = set(qids)
            else:
                mine |= qids


def _last_activity(item) -> tuple:
    """Sort key of a (key, Message) in flight: the oldest last line first (no time: first)."""
    m = item[1]
    return (float("-inf") if m.last_ts is None else m.last_ts, _first_place(m))


def _first_place(m: Message) -> tuple:
    return (getattr(m.first_file, "rank", 0), m.first_line)


def _rejects_message(ev: Event) -> bool:
    """An access decision that deletes the whole message (cleanup's header/body checks, a
    milter or smtpd at the end of DATA)."""
    return bool(ev.qid) and ev.qid != "NOQUEUE" and (
        ev.program == "cleanup" or ev.f.get("stage") in ("END-OF-MESSAGE", "DATA", "BDAT"))


def _message_key(ev: Event):
    """(host, queue id) of the message a line changes, None for a line that changes none."""
    kind = ev.kind
    if kind == "bounce_notice":
        new = ev.f.get("new_qid")
        return (ev.host, new) if new else None
    qid = ev.qid
    if not qid or qid == "NOQUEUE" or (kind == "reject" and not _rejects_message(ev)):
        return None
    return (ev.host, qid)
