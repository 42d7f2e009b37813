"""Queue shape, as Postfix's ``qshape``, from ``postqueue -j`` snapshots or from the log alone.

``qshape`` (Victor Duchovni's Perl script shipped with Postfix) reads the queue files
themselves, so it needs root.  This module reproduces its table, byte for byte, from what
an ordinary user can get:

* a ``postqueue -j`` snapshot (Postfix 3.1+; one JSON object per message), see
  :func:`load_postqueue_json`;
* the mail log alone: :func:`queue_from_log` streams the log through the tracker
  (:class:`postfix_diag.track.Tracker`, the same queue state the rules read; memory holds the
  messages in flight, not the log) and returns the messages still queued at the end of the
  log (or at a given time), in the same form; :func:`rebuild_queue_from_events` does it for
  events already parsed.

:func:`render_qshape` then prints the table.  The arithmetic follows the Perl source
exactly (bucket boundaries through ``log(m)/log(2)``, ASCII-only lower-casing, the domain
clean-up substitutions, ``-p`` parent rows, column widths from the TOTAL row, ``+``
truncation of long names).  Domains are handled as byte strings, as Perl does, so lengths
and truncation of non-ASCII names match too.  The one deliberate difference: Perl leaves
the order of rows with equal totals and equal name lengths undefined (hash order); we
sort those by name.

Queue-shape findings (:func:`detect_findings` and the ``detect_*`` functions) return plain
dicts whose ``id`` is the rule ID (QSH001..QSH004); the rule engine runs the same functions on
the messages the tracker still holds at the end of a log (:func:`entries_from_messages`), see
``postfix_diag/rules/queue_shape.py``.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .events import Event
from .inputs import InputError
from .model import QueueShape, Row, from_perl_bytes
from .pipeline import Stream

__all__ = [
    "ALL_QUEUES",
    "DEFAULT_QUEUES",
    "QUEUE_HELP",
    "UNKNOWN_RECIPIENT",
    "UNKNOWN_SENDER",
    "QshapeError",
    "QueueEntry",
    "QueueShape",
    "Row",
    "canonical_tie_order",
    "compute_shape",
    "detect_active_congestion",
    "detect_findings",
    "detect_incoming_growing",
    "detect_mailer_daemon_backscatter",
    "detect_old_mail_for_destination",
    "entries_from_messages",
    "load_postqueue_json",
    "parse_now",
    "qshape_args",
    "qshape_main",
    "queue_from_log",
    "rebuild_queue_from_events",
    "render_qshape",
    "render_qshape_json",
    "shape_to_dict",
]

DEFAULT_QUEUES: tuple[str, ...] = ("incoming", "active")
ALL_QUEUES: tuple[str, ...] = ("maildrop", "hold", "incoming", "active", "deferred", "corrupt")

#: What each queue is for (used by the CLI's --help and by reports).
QUEUE_HELP: dict[str, str] = {
    "maildrop": "mail submitted locally by sendmail/postdrop, waiting for pickup to hand it to cleanup",
    "incoming": "new mail written by cleanup, waiting for the queue manager to take it in",
    "active": "mail the queue manager has opened and is delivering now (limited in size)",
    "deferred": "mail that could not be delivered yet to at least one recipient; retried later",
    "hold": "mail put on hold (postsuper -h, or a HOLD action in access or header checks); "
    "never delivered until released with postsuper -H",
    "corrupt": "damaged queue files set aside by Postfix; nothing reads them again",
}

EMPTY_SENDER_NAME = "MAILER-DAEMON"  # how postqueue -j (showq) shows the null sender


class QshapeError(InputError, ValueError):
    """Bad input (unreadable snapshot, bad options); the message is fit to show a user."""


@dataclass
class QueueEntry:
    """One queued message, as ``postqueue -j`` describes it."""

    queue_name: str
    queue_id: str
    arrival_time: float
    sender: str
    recipients: list[str]
    message_size: int | None = None
    forced_expire: bool = False
    delay_reasons: list[str | None] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        rcpts = []
        for i, addr in enumerate(self.recipients):
            r: dict[str, Any] = {"address": addr}
            reason = self.delay_reasons[i] if i < len(self.delay_reasons) else None
            if reason is not None:
                r["delay_reason"] = reason
            rcpts.append(r)
        return {
            "queue_name": self.queue_name,
            "queue_id": self.queue_id,
            "arrival_time": self.arrival_time,
            "message_size": self.message_size,
            "forced_expire": self.forced_expire,
            "sender": self.sender,
            "recipients": rcpts,
        }


# ---------------------------------------------------------------------------------------------
# Loading postqueue -j
# ---------------------------------------------------------------------------------------------


def _entry_from_obj(obj: Any, where: str) -> QueueEntry:
    if not isinstance(obj, dict):
        raise QshapeError(f"{where}: expected a JSON object per message, got {type(obj).__name__}")
    missing = [k for k in ("queue_name", "queue_id", "arrival_time", "sender", "recipients") if k not in obj]
    if missing:
        raise QshapeError(f"{where}: message object lacks {', '.join(missing)}")
    qname, qid, arrival, sender, rcpts = (
        obj["queue_name"],
        obj["queue_id"],
        obj["arrival_time"],
        obj["sender"],
        obj["recipients"],
    )
    if not isinstance(qname, str) or not isinstance(qid, str):
        raise QshapeError(f"{where}: queue_name and queue_id must be strings")
    if isinstance(arrival, bool) or not isinstance(arrival, int | float):
        raise QshapeError(f"{where}: arrival_time must be a number of seconds")
    if not ARRIVAL_RANGE[0] <= arrival < ARRIVAL_RANGE[1]:
        raise QshapeError(f"{where}: arrival_time {arrival!r} is not a time a queue file can have")
    if not isinstance(sender, str):
        raise QshapeError(f"{where}: sender must be a string")
    if not isinstance(rcpts, list):
        raise QshapeError(f"{where}: recipients must be a list")
    addrs: list[str] = []
    reasons: list[str | None] = []
    for r in rcpts:
        if isinstance(r, str):  # lenient: a bare address
            addrs.append(r)
            reasons.append(None)
            continue
        if not isinstance(r, dict) or not isinstance(r.get("address"), str):
            raise QshapeError(f"{where}: each recipient must be an object with an address")
        addrs.append(r["address"])
        dr = r.get("delay_reason")
        reasons.append(dr if isinstance(dr, str) else None)
    size = obj.get("message_size")
    if sender == EMPTY_SENDER_NAME:
        # showq prints the null sender <> as "MAILER-DAEMON" (empty_address_recipient); the
        # queue file, which qshape reads, has an empty sender.  Postfix qualifies any real
        # address, so a bare "MAILER-DAEMON" can only be the null sender.
        sender = ""
    return QueueEntry(
        queue_name=qname,
        queue_id=qid,
        arrival_time=arrival,
        sender=sender,
        recipients=addrs,
        message_size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        forced_expire=bool(obj.get("forced_expire", False)),
        delay_reasons=reasons,
    )


SNAPSHOT_MAX_BYTES = 256 * 1024 * 1024  # about 800,000 queued messages of postqueue -j
ARRIVAL_RANGE = (0, 2**33)  # epoch seconds a queue file can have (0 .. year 2242)


def load_postqueue_json(stream: IO[str] | IO[bytes] | str | bytes | os.PathLike[str],
                        name: str | None = None) -> list[QueueEntry]:
    """Read a ``postqueue -j`` snapshot: one JSON object per line (a JSON array is accepted too).

    ``stream`` is an open text or binary file, a path, or the JSON text itself (str or bytes;
    a one-line str that does not start with ``{`` or ``[`` is taken as a path).  Blank lines
    are skipped; an empty snapshot is an empty queue.  The snapshot is untrusted input
    (postfix_diag.jsonin): at most SNAPSHOT_MAX_BYTES, nesting, NaN, huge numbers and wrong types
    are refused.  Raises :class:`QshapeError`, naming the file and the line.
    """
    from . import jsonin

    if isinstance(stream, str) and stream.strip() and "\n" not in stream and stream.lstrip()[:1] not in "{[":
        stream = Path(stream)  # a file name, not JSON text
    try:
        if isinstance(stream, os.PathLike):
            name = name or os.fspath(stream)
            data = jsonin.read_bytes(stream, name, SNAPSHOT_MAX_BYTES)
        elif isinstance(stream, str | bytes):
            name = name or "postqueue -j input"
            data = stream.encode("utf-8", "surrogateescape") if isinstance(stream, str) else stream
        else:
            name = name or getattr(stream, "name", None) or "postqueue -j input"
            if not isinstance(name, str) or name == "<stdin>":
                name = "<stdin>"
            data = jsonin.read_bytes(stream, name, SNAPSHOT_MAX_BYTES)
    except jsonin.JsonInputError as exc:
        raise QshapeError(str(exc)) from None
    try:
        text = jsonin.text_of(data, name)
        entries: list[QueueEntry] = []
        if text.lstrip().startswith("["):
            arr = jsonin.parse_text(text, name)
            if not isinstance(arr, list):
                raise QshapeError(f"{name}: expected JSON objects")
            for i, obj in enumerate(arr):
                entries.append(_entry_from_obj(obj, f"{name}: message {i + 1}"))
            return entries
        for lineno, obj in jsonin.parse_lines(text, name):
            entries.append(_entry_from_obj(obj, f"{name}: line {lineno}"))
        return entries
    except jsonin.JsonInputError as exc:
        raise QshapeError(f"{exc}; expected `postqueue -j` output") from None


# ---------------------------------------------------------------------------------------------
# The table (a transcription of qshape's Perl)
# ---------------------------------------------------------------------------------------------

_LC_TABLE = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}  # Perl's lc() on bytes: ASCII only
_RE_DOTDOT = re.compile(r"\.\.")
_RE_TRIM = re.compile(r"\.?(.+?)\.?$")
_RE_PARENT = re.compile(r"^(?:\.)?[^.]+\.(.*\.)")


def _as_bytes_str(s: str) -> str:
    """Perl sees bytes: map a str to a latin-1 str with one char per UTF-8 byte."""
    try:
        s.encode("ascii")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", errors="surrogateescape").decode("latin-1")


def _perl_num(x: float | int) -> str:
    """Perl's default stringification of a number (%.15g, integers plain)."""
    if isinstance(x, int):
        return str(x)
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.15g}"


def _strip_localpart(a: str) -> str:
    """Perl's ``s/.*@//`` in linear time (the regex retried ``.*`` from every position of a text
    without "@"): everything up to the last "@" of the first line that has one ("." stops at a
    newline)."""
    start = 0
    for line in a.split("\n"):
        at = line.rfind("@")
        if at >= 0:
            return a[:start] + a[start + at + 1:]
        start += len(line) + 1
    return a


def _domain_of(addr: str) -> str:
    """qshape's address → domain clean-up: (already lower-cased) ``s/.*@//``, ``..``→``.``, trim dots."""
    a = "MAILER-DAEMON" if addr == "" else addr
    a = _strip_localpart(a)
    a = _RE_DOTDOT.sub(".", a)
    a = _RE_TRIM.sub(r"\1", a, count=1)
    return a


def _bucket(qt: float, now: float, tick: float, bnum: int, linear: bool) -> int:
    m = (now - qt) / (60 * tick)
    if m < 1:
        return 1
    b = int(m + 1) if linear else 2 + int(math.log(m) / math.log(2))
    return b if b < bnum else bnum


def _norm_queue(q: str) -> str:
    q = q.rstrip("/")
    return os.path.basename(q) if q.startswith("/") else q


def compute_shape(
    entries: Iterable[QueueEntry],
    queues: Sequence[str] | None = None,
    now: float | None = None,
    senders: bool = False,
    parents: bool = False,
    min_subdomains: int | None = 5,
    buckets: int | None = 10,
    bucket_time: float | None = 5,
    linear: bool = False,
    width: int | None = None,
) -> QueueShape:
    """Count the selected queues' messages like qshape; option values are guarded as qshape does
    (``-b``, ``-t``, ``-m`` only count when > 0, ``-w`` only when > 80)."""
    import time as _time

    if now is None:
        now = int(_time.time())
    qlist = [_norm_queue(q) for q in queues] if queues else list(DEFAULT_QUEUES)
    bnum = int(buckets) if buckets is not None and buckets > 0 else 10
    tick: float = bucket_time if bucket_time is not None and bucket_time > 0 else 5
    if isinstance(tick, float) and tick.is_integer():
        tick = int(tick)
    minsub = int(min_subdomains) if min_subdomains is not None and min_subdomains > 0 else 5
    wdt = int(width) if width is not None and width > 80 else 80

    # a queue named twice is scanned twice by qshape (File::Find), and so counted twice
    wanted: dict[str, int] = {}
    for qn in qlist:
        wanted[qn] = wanted.get(qn, 0) + 1
    q: dict[str, list[int]] = {}
    sub: dict[str, int] = {}
    total = [0] * (bnum + 1)
    nmsgs = 0

    def counts(key: str) -> list[int]:
        c = q.get(key)
        if c is None:
            c = q[key] = [0] * (bnum + 1)
        return c

    for e in entries:
        if e.queue_name not in wanted:
            continue
        if not e.recipients:  # qshape's qenv() returns nothing without recipients
            continue
        nmsgs += 1
        b = _bucket(e.arrival_time, now, tick, bnum, linear)
        addrs = [e.sender] if senders else e.recipients
        for raw in addrs * wanted[e.queue_name]:
            a = _as_bytes_str(raw).translate(_LC_TABLE)
            total[0] += 1
            total[b] += 1
            a = _domain_of(a)
            new = False
            while True:
                c = counts(a)
                c[0] += 1
                old = c[0] > 1
                c[b] += 1
                if new:
                    sub[a] = sub.get(a, 0) + 1
                new = not old
                if not parents:
                    break
                m = _RE_PARENT.match(a)
                if not m:
                    break
                a = "." + m.group(1) + a[m.end() :]

    # headings and column widths
    headings: list[str] = []
    t: float | int | str = 0
    i = 0
    while i <= bnum:
        h = "T" if i == 0 else (t if isinstance(t, str) else _perl_num(t))
        headings.append(h)
        i += 1
        if i < bnum:
            assert not isinstance(t, str)
            t += t if (t and not linear) else tick
        elif not isinstance(t, str):
            t = _perl_num(t) + "+"
        else:
            t = t + "+"

    q["TOTAL"] = total
    keys = sorted(q, key=lambda k: (-q[k][0], len(k), k))
    rows: list[Row] = []
    for k in keys:
        is_parent = k.startswith(".")
        if is_parent and sub.get(k, 0) < minsub:
            continue
        rows.append(Row(domain=k, counts=q[k], parent=is_parent and parents, subdomains=sub.get(k, 0)))
    return QueueShape(
        now=now,
        queues=qlist,
        senders=senders,
        parents=parents,
        min_subdomains=minsub,
        bucket_count=bnum,
        bucket_time=tick,
        linear=linear,
        width=wdt,
        headings=headings,
        rows=rows,
        messages=nmsgs,
    )


def render_qshape(
    entries: Iterable[QueueEntry],
    queues: Sequence[str] | None = None,
    now: float | None = None,
    senders: bool = False,
    parents: bool = False,
    min_subdomains: int | None = 5,
    buckets: int | None = 10,
    bucket_time: float | None = 5,
    linear: bool = False,
    width: int | None = None,
) -> str:
    """qshape's text table, byte-identical to ``qshape`` given the same queue and "now"."""
    from .report import writer

    return writer("qshape", "text")(
        compute_shape(
            entries, queues, now, senders, parents, min_subdomains, buckets, bucket_time, linear, width
        )
    )


def shape_to_dict(shape: QueueShape) -> dict[str, Any]:
    """The JSON form (report/qshape_report.py): ``{"now", "queues", "buckets", "rows": [...]}``."""
    from .report.qshape_report import shape_to_dict as to_dict

    return to_dict(shape)


def render_qshape_json(entries: Iterable[QueueEntry], **kwargs: Any) -> str:
    from .report import writer

    return writer("qshape", "json")(compute_shape(entries, **kwargs))


# ---------------------------------------------------------------------------------------------
# Log mode: rebuild the queue from the log's events
# ---------------------------------------------------------------------------------------------

UNKNOWN_RECIPIENT = "(recipient-not-in-log)"
UNKNOWN_SENDER = "(sender-not-in-log)"


class QueueAt:
    """qshape's log mode as a consumer of the one stream (pipeline.Stream): the window that
    feeds the tracker the lines up to ``now`` (None: every line), and the latest time seen in
    any line (the default "now"). The queue itself is the tracker's messages in flight."""

    def __init__(self, now: float | None = None):
        self.now = now
        self.last: float | None = None

    def admits(self, ev: Event) -> bool:
        ts = ev.ts
        if ts is None:
            return True
        if self.last is None or ts > self.last:
            self.last = ts
        return self.now is None or ts <= self.now

    def merge(self, later: QueueAt) -> None:
        if later.last is not None and (self.last is None or later.last > self.last):
            self.last = later.last


def queue_stream(head: bool = True, now: float | None = None, track: bool = True) -> Stream:
    """The stream of qshape's log mode: the tracker behind a QueueAt window."""
    at = QueueAt(now)
    return Stream([at], head=head, select=at, track=track)


def rebuild_queue_from_events(
    events: Iterable[Event], now: float | None = None
) -> tuple[list[QueueEntry], float]:
    """The messages still queued at the end of the events (or at ``now``), and that "now".

    The events (the parser's, in log order) go through the tracker (queue_stream), whose
    still-queued messages :func:`entries_from_messages` converts.  Events after ``now`` are
    not fed.  Without ``now`` it is the time of the last event.
    """
    stream = queue_stream(now=now)
    stream.feed_all(events)
    last = stream.consumers[0].last
    end = now if now is not None else (last if last is not None else 0.0)
    return entries_from_messages(stream.finish()), end


def queue_from_log(paths: Sequence[str] | None, now: str | float | None = None,
                   year: int | None = None) -> tuple[list[QueueEntry], float]:
    """The queue rebuilt from the logs at ``paths`` (see inputs.resolve; none: the default mail
    log, whose InputError propagates) as it stood at ``now`` (see :func:`parse_now`; default: the
    last log line), and that time. One pass, with memory flat in the log's size; a ``now``
    relative to the last line takes a first pass for that line's time (standard input is kept
    in a temporary file for it)."""
    from . import pipeline
    from .inputs import resolve
    from .parse import Parser
    from .track import FIELDS

    sources = resolve(list(paths or []))
    parser = Parser(year=year, fields=FIELDS)
    relative = isinstance(now, str) and _RE_REL.match(now.strip()) is not None
    fixed = None if now is None or relative else _check_now(parse_now(now, 0.0, wall_clock=True), now)
    with _rereadable(sources, relative) as sources:
        if relative:
            clock = pipeline.run(sources, functools.partial(queue_stream, track=False), parser)
            last = clock.consumers[0].last
            fixed = _check_now(parse_now(now, last, wall_clock=True), now) if last is not None else None
        stream = pipeline.run(sources, functools.partial(queue_stream, now=fixed), parser)
    last = stream.consumers[0].last
    if last is None:
        raise QshapeError("no timestamped log lines in the given paths")
    return entries_from_messages(stream.finish()), fixed if fixed is not None else last


@contextlib.contextmanager
def _rereadable(sources: list, needed: bool):
    """The sources, with standard input copied to a temporary file when they are read twice."""
    from .inputs import STDIN, Source

    if not needed or all(s.path != STDIN for s in sources):
        yield sources
        return
    import shutil
    import sys
    import tempfile

    with tempfile.NamedTemporaryFile(prefix="postfix-diag-stdin-") as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool)
        spool.flush()
        yield [Source(spool.name, s.display) if s.path == STDIN else s for s in sources]


def entries_from_messages(messages: Iterable[Any]) -> list[QueueEntry]:
    """The queue as :class:`QueueEntry` objects, from the tracker's still-queued messages
    (:class:`postfix_diag.track.Message`, as ``Tracker.finish()`` returns them).

    Queue name, arrival time and sender come from the message (a sender the log never named is
    :data:`UNKNOWN_SENDER`); the recipients are the pending ones (no final status yet), plus one
    :data:`UNKNOWN_RECIPIENT` for each one the log has not named (``Message.unnamed``: of qmgr's
    ``nrcpt=``, or one alone when nothing at all is known about the recipients).  Messages that
    never reached a queue file (smtpd transactions that did not finish, see
    ``Message.in_queue``) are left out.
    """
    out: list[QueueEntry] = []
    for m in messages:
        if not m.in_queue:
            continue
        recipients = m.recipients
        rcpts, unnamed = m.still_queued()
        reasons: list[str | None] = [recipients[a].reason for a in rcpts]
        if unnamed:
            rcpts += [UNKNOWN_RECIPIENT] * unnamed
            reasons += [None] * unnamed
        arrival = m.arrival_ts if m.arrival_ts is not None else (m.first_ts or 0.0)
        out.append(
            QueueEntry(
                queue_name=m.queue,
                queue_id=m.qid,
                arrival_time=arrival,
                sender=m.sender if m.sender is not None else UNKNOWN_SENDER,
                recipients=rcpts,
                message_size=m.size,
                forced_expire=m.expired,
                delay_reasons=reasons,
            )
        )
    out.sort(key=lambda e: (e.arrival_time, e.queue_id))
    return out


# ---------------------------------------------------------------------------------------------
# Findings (plain dicts; the rule engine's QSH001..QSH004 in rules/queue_shape.py wrap them)
# ---------------------------------------------------------------------------------------------

# The IDs are the rule IDs, so `qshape --format json` and `postfix-diag explain` agree.
BACKSCATTER_ID = "QSH001"
OLD_MAIL_ID = "QSH002"
ACTIVE_CONGESTION_ID = "QSH003"
INCOMING_GROWING_ID = "QSH004"

# Default thresholds (the rules' documentation quotes these).
BACKSCATTER_MIN_MESSAGES = 10  # deferred messages from <> ...
BACKSCATTER_MIN_SHARE = 0.5  # ... that are at least this share of the deferred queue
OLD_MAIL_MIN_AGE_MINUTES = 240  # queued at least this long counts as old
OLD_MAIL_MIN_RECIPIENTS = 10  # old recipients at one domain ...
OLD_MAIL_MIN_SHARE = 0.5  # ... that are at least this share of all old queued recipients
ACTIVE_MIN_MESSAGES = 20  # active-queue messages ...
ACTIVE_MIN_AGE_MINUTES = 10  # ... that arrived at least this long ago
INCOMING_MIN_MESSAGES = 20  # incoming-queue messages ...
INCOMING_MIN_AGE_MINUTES = 5  # ... that arrived at least this long ago
SAMPLE_IDS = 5  # queue ids of the oldest messages concerned, listed in a finding's evidence

# What to do, QSHAPE_README's advice in our own words (also the rules' "How to fix it").
REMEDIES: dict[str, str] = {
    BACKSCATTER_ID: (
        "Bounces that cannot be delivered usually go back to forged senders: this is "
        "backscatter, often from a dictionary attack or spam sent to addresses that do not "
        "exist here. Reject unknown recipients during the SMTP dialogue instead of accepting "
        "and bouncing later (local_recipient_maps, relay_recipient_maps, virtual mailbox maps, "
        "smtpd_reject_unlisted_recipient = yes), reject spam before queueing, and consider a "
        "shorter bounce_queue_lifetime so undeliverable bounces leave the queue sooner."
    ),
    OLD_MAIL_ID: (
        "One destination is not taking mail: look at the deferral reasons for it (postqueue -j "
        "delay_reason, or the log) - a dead or blocking server, broken DNS or MX records, a "
        "block list, TLS trouble. If it is a site you relay for, fix its server or route it "
        "elsewhere with transport_maps; if the destination is gone, remove its mail (postsuper "
        "-d) rather than retrying it for days. Give slow or unreliable destinations their own "
        "transport so they cannot hold up the rest."
    ),
    ACTIVE_CONGESTION_ID: (
        "Deliveries are slower than the incoming flow. Usually a few slow destinations (servers "
        "that time out, tarpits) tie up the delivery agents: give them their own transport with "
        "a lower concurrency, shorten smtp_connect_timeout and smtp_helo_timeout, and send mail "
        "that was already deferred through a fallback relay. If all destinations are slow, "
        "raise default_process_limit and the destination concurrency limits carefully, and "
        "check DNS and network latency. Look at content filters too: a slow filter in the "
        "delivery path backs up the active queue."
    ),
    INCOMING_GROWING_ID: (
        "The queue manager is not keeping up with new mail. Check that qmgr runs (postfix "
        "status, fatal errors in the log); whether the active queue is full "
        "(qmgr_message_active_limit) because deliveries are slow; and disk I/O on the queue "
        "file system, the usual bottleneck. Slow the inflow if needed (in_flow_delay, smtpd "
        "rate limits), and find out where the burst comes from."
    ),
}


def _oldest_ids(entries: Iterable[QueueEntry]) -> list[str]:
    return [e.queue_id for e in sorted(entries, key=lambda e: (e.arrival_time, e.queue_id))[:SAMPLE_IDS]]


def _age_minutes(e: QueueEntry, now: float) -> float:
    return (now - e.arrival_time) / 60.0


@functools.lru_cache(maxsize=1 << 15)
def _rcpt_domain(addr: str) -> str:
    return from_perl_bytes(_domain_of(_as_bytes_str(addr).translate(_LC_TABLE)))


def _top_domains(entries, n: int = 10) -> list[tuple[str, int]]:
    """The ``n`` recipient domains most often named by ``entries``: (domain, recipients), most first."""
    doms: dict[str, int] = {}
    for e in entries:
        for r in e.recipients:
            d = _rcpt_domain(r)
            doms[d] = doms.get(d, 0) + 1
    return sorted(doms.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def detect_mailer_daemon_backscatter(
    entries: Sequence[QueueEntry],
    now: float,
    min_messages: int = BACKSCATTER_MIN_MESSAGES,
    min_share: float = BACKSCATTER_MIN_SHARE,
) -> list[dict[str, Any]]:
    """Deferred queue dominated by bounces (sender ``<>``, MAILER-DAEMON)."""
    deferred = [e for e in entries if e.queue_name == "deferred" and e.recipients]
    bounces = [e for e in deferred if e.sender == ""]
    if not deferred or len(bounces) < min_messages or len(bounces) / len(deferred) < min_share:
        return []
    top = _top_domains(bounces)
    return [
        {
            "id": BACKSCATTER_ID,
            "severity": "warning",
            "title": "Deferred queue dominated by MAILER-DAEMON bounces",
            "count": len(bounces),
            "detail": (
                f"{len(bounces)} of {len(deferred)} deferred messages "
                f"({100 * len(bounces) // len(deferred)}%) are non-delivery notifications (sender <>)."
            ),
            "evidence": {
                "deferred_messages": len(deferred),
                "bounce_messages": len(bounces),
                "top_recipient_domains": [{"domain": d, "recipients": n} for d, n in top],
                "queue_ids": _oldest_ids(bounces),
            },
            "remedy": REMEDIES[BACKSCATTER_ID],
        }
    ]


def detect_old_mail_for_destination(
    entries: Sequence[QueueEntry],
    now: float,
    min_age_minutes: float = OLD_MAIL_MIN_AGE_MINUTES,
    min_recipients: int = OLD_MAIL_MIN_RECIPIENTS,
    min_share: float = OLD_MAIL_MIN_SHARE,
) -> list[dict[str, Any]]:
    """Old mail piling up for one recipient domain (deferred, incoming or active queue)."""
    old: dict[str, int] = {}
    oldest: dict[str, float] = {}
    msgs: dict[str, list[QueueEntry]] = {}
    total_old = 0
    for e in entries:
        if e.queue_name not in ("deferred", "incoming", "active"):
            continue
        age = _age_minutes(e, now)
        if age < min_age_minutes:
            continue
        for r in e.recipients:
            d = _rcpt_domain(r)
            old[d] = old.get(d, 0) + 1
            oldest[d] = max(oldest.get(d, 0.0), age)
            total_old += 1
            ms = msgs.setdefault(d, [])
            if not ms or ms[-1] is not e:
                ms.append(e)
    out = []
    for d, n in sorted(old.items(), key=lambda kv: (-kv[1], kv[0])):
        if n < min_recipients or n / total_old < min_share:
            continue
        out.append(
            {
                "id": OLD_MAIL_ID,
                "severity": "warning",
                "title": f"Old mail piling up for {d}",
                "count": n,
                "detail": (
                    f"{n} recipients at {d} have been queued for more than "
                    f"{min_age_minutes:g} minutes (oldest {oldest[d] / 60:.1f} h); "
                    f"that is {100 * n // total_old}% of all old queued recipients."
                ),
                "evidence": {
                    "domain": d,
                    "recipients": n,
                    "oldest_minutes": round(oldest[d], 1),
                    "old_recipients_total": total_old,
                    "queue_ids": _oldest_ids(msgs[d]),
                },
                "remedy": REMEDIES[OLD_MAIL_ID],
            }
        )
    return out


def detect_active_congestion(
    entries: Sequence[QueueEntry],
    now: float,
    min_messages: int = ACTIVE_MIN_MESSAGES,
    min_age_minutes: float = ACTIVE_MIN_AGE_MINUTES,
) -> list[dict[str, Any]]:
    """Mail staying in the active queue: delivery agents are not keeping up."""
    act = [e for e in entries if e.queue_name == "active"]
    stuck = [e for e in act if _age_minutes(e, now) >= min_age_minutes]
    if len(stuck) < min_messages:
        return []
    top = _top_domains(stuck)
    return [
        {
            "id": ACTIVE_CONGESTION_ID,
            "severity": "warning",
            "title": "Active queue congested",
            "count": len(stuck),
            "detail": (
                f"{len(stuck)} of {len(act)} messages in the active queue are older than "
                f"{min_age_minutes:g} minutes; mail should pass through the active queue quickly."
            ),
            "evidence": {
                "active_messages": len(act),
                "old_active_messages": len(stuck),
                "top_recipient_domains": [{"domain": d, "recipients": n} for d, n in top],
                "queue_ids": _oldest_ids(stuck),
            },
            "remedy": REMEDIES[ACTIVE_CONGESTION_ID],
        }
    ]


def detect_incoming_growing(
    entries: Sequence[QueueEntry],
    now: float,
    min_messages: int = INCOMING_MIN_MESSAGES,
    min_age_minutes: float = INCOMING_MIN_AGE_MINUTES,
) -> list[dict[str, Any]]:
    """Mail waiting in the incoming queue: the queue manager does not take it in."""
    inc = [e for e in entries if e.queue_name == "incoming"]
    old = [e for e in inc if _age_minutes(e, now) >= min_age_minutes]
    if len(old) < min_messages:
        return []
    return [
        {
            "id": INCOMING_GROWING_ID,
            "severity": "warning",
            "title": "Incoming queue growing",
            "count": len(old),
            "detail": (
                f"{len(old)} of {len(inc)} messages in the incoming queue are older than "
                f"{min_age_minutes:g} minutes; the queue manager normally takes new mail in at once."
            ),
            "evidence": {
                "incoming_messages": len(inc),
                "old_incoming_messages": len(old),
                "oldest_minutes": round(max(_age_minutes(e, now) for e in old), 1),
                "queue_ids": _oldest_ids(old),
            },
            "remedy": REMEDIES[INCOMING_GROWING_ID],
        }
    ]


def detect_findings(entries: Sequence[QueueEntry], now: float) -> list[dict[str, Any]]:
    """Every queue-shape finding, with default thresholds."""
    out: list[dict[str, Any]] = []
    out += detect_mailer_daemon_backscatter(entries, now)
    out += detect_old_mail_for_destination(entries, now)
    out += detect_active_congestion(entries, now)
    out += detect_incoming_growing(entries, now)
    return out


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------

_RE_REL = re.compile(r"^([+-])(\d+(?:\.\d+)?)([smhdw]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_now(value: str | float | int | None, default: float, wall_clock: bool = False) -> float:
    """``--now``: epoch seconds, ``+30m``/``-2h``/``+2d`` relative to ``default``, or an ISO date.

    An ISO date without a zone is local time in snapshot mode; in log mode (``wall_clock``)
    it is read on the log's own clock, like the log's timestamps.
    """
    import calendar
    from datetime import datetime

    if value is None:
        return default
    if isinstance(value, int | float):
        return value
    s = value.strip()
    m = _RE_REL.match(s)
    if m:
        delta = float(m.group(2)) * _UNIT[m.group(3)]
        r = default + delta if m.group(1) == "+" else default - delta
        return int(r) if float(r).is_integer() else r
    try:
        f = float(s)
        return int(f) if f.is_integer() else f
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise QshapeError(
            f"--now {value!r}: give epoch seconds, an ISO date (2025-11-24T16:00:00), or +/-N[smhdw]"
        ) from None
    if dt.tzinfo is not None:
        if wall_clock:
            return calendar.timegm(dt.replace(tzinfo=None).timetuple()) + dt.microsecond / 1e6
        return dt.timestamp()
    if wall_clock:
        return calendar.timegm(dt.timetuple()) + dt.microsecond / 1e6
    return dt.timestamp()


MAX_BUCKETS = 100  # -b: more age columns than any terminal shows (and 5 * 2**98 minutes already)
MAX_WIDTH = 1000  # -w: output columns
MAX_BUCKET_MINUTES = 10**7  # -t: about 19 years
TIME_RANGE = (0, 2**33)  # --now and the log's last time: epoch seconds up to the year 2242


def check_sizes(buckets: int | None = None, width: int | None = None, bucket_time: float | None = None) -> None:
    """Output sizes asked for by options are capped (issue #18: `-w 1000000000` wrote 2 GB)."""
    if buckets is not None and buckets > MAX_BUCKETS:
        raise QshapeError(f"-b {buckets}: at most {MAX_BUCKETS} age buckets")
    if width is not None and width > MAX_WIDTH:
        raise QshapeError(f"-w {width}: at most {MAX_WIDTH} columns")
    if bucket_time is not None and not (bucket_time <= MAX_BUCKET_MINUTES):  # NaN too
        raise QshapeError(f"-t {bucket_time}: at most {MAX_BUCKET_MINUTES} minutes")


def _check_now(t: float, given) -> float:
    if not (TIME_RANGE[0] <= t < TIME_RANGE[1]):  # NaN and infinities too
        raise QshapeError(f"--now {given!r}: not a time qshape can use (epoch seconds 0 .. 2**33)")
    return t


def qshape_main(
    queues: Sequence[str] | None = None,
    from_json: str | None = None,
    paths: Sequence[str] | None = None,
    now: str | float | None = None,
    senders: bool = False,
    parents: bool = False,
    min_subdomains: int = 5,
    buckets: int = 10,
    bucket_time: float = 5,
    linear: bool = False,
    width: int | None = None,
    fmt: str = "text",
    year: int | None = None,
    stdin: IO[str] | IO[bytes] | None = None,
) -> str:
    """What ``postfix-diag qshape`` prints.  Raises :class:`QshapeError` for bad input.

    Snapshot mode: ``from_json`` is a ``postqueue -j`` file, ``-`` for stdin.  Log mode:
    ``paths`` are log files (streamed by :func:`queue_from_log`; none: the default mail log;
    its ``InputError`` propagates).  ``now``: see :func:`parse_now`.
    """
    import sys
    import time as _time

    if fmt not in ("text", "json"):
        raise QshapeError(f"--format {fmt!r}: choose text or json")
    check_sizes(buckets=buckets, width=width, bucket_time=bucket_time)
    for qn in queues or ():
        if _norm_queue(qn) not in ALL_QUEUES:
            raise QshapeError(f"unknown queue {qn!r}; queues are: {', '.join(ALL_QUEUES)}")
    if from_json is not None and paths:
        raise QshapeError("give either --from-json FILE or log PATHS, not both")
    if from_json is not None:
        if from_json == "-":
            src = stdin if stdin is not None else sys.stdin.buffer
            entries = load_postqueue_json(src, "<stdin>")
        else:
            entries = load_postqueue_json(Path(from_json))
        t_now = _check_now(parse_now(now, int(_time.time())), now)
    else:  # log mode; no paths: the default mail log (as the other commands)
        entries, t_now = queue_from_log(paths, now, year)
    kw: dict[str, Any] = dict(
        queues=list(queues) if queues else None,
        now=t_now,
        senders=senders,
        parents=parents,
        min_subdomains=min_subdomains,
        buckets=buckets,
        bucket_time=bucket_time,
        linear=linear,
        width=width,
    )
    from .report import writer

    extra = None
    if fmt == "json":
        extra = {"source": "postqueue -j" if from_json is not None else "log",
                 "findings": detect_findings(entries, t_now)}  # over every queue, not only the ones shown
    return writer("qshape", fmt)(compute_shape(entries, **kw), extra)


def qshape_args(argv: Sequence[str]) -> dict[str, Any]:
    """Parse real qshape's command line (Perl getopts "lhc:psw:b:t:m:n:N:") into keyword
    arguments for :func:`render_qshape`.  Used to replay captured qshape runs."""
    kw: dict[str, Any] = {"queues": None}
    args = list(argv)
    i = 0
    valued = {
        "w": "width",
        "b": "buckets",
        "t": "bucket_time",
        "m": "min_subdomains",
        "c": None,
        "n": None,
        "N": None,
    }
    flags = {"l": "linear", "p": "parents", "s": "senders", "h": None}
    while i < len(args):
        a = args[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        j = 1
        while j < len(a):
            c = a[j]
            if c in flags:
                if flags[c]:
                    kw[flags[c]] = True
                j += 1
                continue
            if c in valued:
                val = a[j + 1 :]
                if not val:
                    i += 1
                    if i >= len(args):
                        raise QshapeError(f"option -{c} needs a value")
                    val = args[i]
                name = valued[c]
                if name:
                    try:
                        num = float(val)
                    except ValueError:
                        raise QshapeError(f"option -{c}: {val!r} is not a number") from None
                    kw[name] = num if name == "bucket_time" else int(num)
                break
            raise QshapeError(f"unknown option -{c}")
        i += 1
    if args[i:]:
        kw["queues"] = args[i:]
    return kw


def canonical_tie_order(text: str) -> str:
    """Put rows whose order qshape leaves undefined (equal totals, equal name lengths: Perl hash
    order) in name order, leaving everything else as it is.  ``render_qshape`` output is already
    in this order; applying this to real qshape output makes the two comparable byte for byte.

    Rows are grouped by (total, length of the name as printed); names are compared as bytes.
    """
    lines = text.encode("utf-8", "surrogateescape").split(b"\n")
    tail = lines.pop() if lines and lines[-1] == b"" else None
    out = lines[:1]
    run: list[bytes] = []
    key: tuple[bytes, int] | None = None

    def flush() -> None:
        out.extend(sorted(run, key=lambda ln: ln.split()[0]))
        run.clear()

    for line in lines[1:]:
        tok = line.split()
        k = (tok[1], len(tok[0])) if len(tok) > 1 else (b"", -1)
        if k != key:
            flush()
        key = k
        run.append(line)
    flush()
    if tail is not None:
        out.append(tail)
    return b"\n".join(out).decode("utf-8", "surrogateescape")
