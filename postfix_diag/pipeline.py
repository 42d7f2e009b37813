"""One stream for every command: inputs → parse → one tracker → consumers; and the pieces a
stream can be cut into, each read on its own (another process, another machine) and merged back
into the answer of one pass.

A command is a set of consumers on the stream: ``analyze``/``check`` are coverage and the rule
engine, ``summary`` the traffic aggregation (summary.Part), ``qshape`` the tracker's queue
alone, ``parse`` the event export. A ``Stream`` holds the consumers of one stretch of the log
and the tracker they share, and feeds them each event once:

1. the stream's window, if any (``select.admits(ev)``; lines outside go to ``select.outside``);
2. ``tracker.feed(ev)``: the Message the line belongs to, after the tracker applied it (the
   tracker hands finished messages to every consumer's ``feed_message``, finished smtpd sessions
   to ``feed_session``);
3. every consumer's ``feed(ev)``;
4. with a Message: every consumer's ``feed_message_line(ev, msg)`` (per-message facts live on
   ``msg.facts``, so no consumer keeps a second tracker).

**Pieces and merging.** A stream that does not start the log (``head=False``) is built from a
piece of it: a range of lines of one source, whose line numbers are those of the whole source
(a byte range counts the newlines before it), so that samples and file:line references are those
of one pass. ``earlier.merge(later)`` folds the stream of the piece that follows into this one:

- each consumer's ``merge(later_consumer)`` folds in its state (counts add up, first/last times
  take the min/max, samples keep the first N by place in the log, top-offender counters add up);
- the tracker's merge stitches the messages whose life spans the cut: the later piece held back
  every line of a message (and of an smtpd session) whose life did not start in it, the first
  line of such a key not being a start (smtpd ``client=``, pickup; for sessions ``connect``;
  not the bounce daemon's notice, which Postfix logs after cleanup's ``message-id=`` of the
  notification, nor that ``message-id=`` line, which for received mail follows ``client=``);
  those lines are replayed through the merged tracker in order, and handed to the consumers'
  ``feed_message_line`` there and then (the consumers' ``feed`` saw them in the piece already);
  the lives the later piece started end the earlier lives of their keys;
- lines a rule cannot judge without the lines before (``rules.base.UNDECIDED``) are judged by
  the merged engine.

The discipline for a consumer, so that any cut gives the answer of one pass: what it does with a
line of a message is keyed by that message (``msg.facts``) or does not depend on the order of
lines (counts, sums, maxima, sets, counts per time bucket); state keyed by anything else that
depends on the order of lines must merge explicitly (a sliding window keeps the piece's head and
tail, "the line before" keeps its place). Ties in top-offender lists are broken by first place in
the log (``rules.base.FirstSeenCounter`` for counts fed out of order). Bounded structures
(MAX_KEYS-capped counters, the summary's memory of removed messages) are exact while under their
caps and approximate beyond, depending on where the log was cut.

Runs are sequential unless asked for ``jobs``: then a big plain file is cut into byte ranges read
by a fork pool, each worker returning its piece's stream (never per-line events, only the lines
it held back), merged in order as they come back. ``summary`` does that for files of
PARALLEL_MIN_BYTES and more.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Callable, Iterable

from .events import SourceName
from .inputs import STDIN, Source, read_range
from .track import Tracker

PARALLEL_MIN_BYTES = 24 * 1024 * 1024  # below this, one process is faster than starting others
PIECE_BYTES = 32 * 1024 * 1024  # big files are read in pieces of about this size
_READ_BLOCK = 4 * 1024 * 1024  # bytes counted at a time for the line numbers of the pieces


class Stream:
    """The consumers of one stretch of the event stream, and the tracker they share.

    ``consumers``: objects with any of ``feed(ev)``, ``feed_message_line(ev, msg)``,
    ``feed_message(msg)``, ``feed_session(session)`` (read only when ``wants_sessions`` is true),
    ``flush()`` (called when a piece is done, before it travels), and ``merge(later)``. A consumer
    with ``kinds`` (a set of event kinds) is fed only the events of those kinds.
    ``track``: False for consumers that need no tracker (event export). ``head``: the stretch
    starts the log. ``select``: a window with ``admits(ev)`` (and optionally ``outside(ev)``).
    """

    def __init__(self, consumers: Iterable, *, track: bool = True, head: bool = True, select=None):
        self.consumers = list(consumers)
        self.head = head
        self.select = select
        self.assumptions: dict = {}  # source name -> the year assumed for its stamps
        self._feeds = tuple(c.feed for c in self.consumers if hasattr(c, "feed") and getattr(c, "kinds", None) is None)
        kinded: dict = {}  # event kind -> feeds of the consumers that want only some kinds
        for c in self.consumers:
            if hasattr(c, "feed") and getattr(c, "kinds", None) is not None:
                for kind in c.kinds:
                    kinded[kind] = (*kinded.get(kind, ()), c.feed)
        self._kinded = kinded
        self._lines = tuple(c.feed_message_line for c in self.consumers if hasattr(c, "feed_message_line"))
        self._finished = tuple(c.feed_message for c in self.consumers if hasattr(c, "feed_message"))
        self._sessions = tuple(c.feed_session for c in self.consumers
                               if getattr(c, "wants_sessions", False) and hasattr(c, "feed_session"))
        self.tracker = None
        if track:
            self.tracker = Tracker(on_message=self._message_done if self._finished else None,
                                   on_session=self._session_done if self._sessions else None, head=head)

    # --- the callbacks the tracker calls (methods, so that a piece's stream can be pickled) ---
    def _message_done(self, msg) -> None:
        for f in self._finished:
            f(msg)

    def _session_done(self, session) -> None:
        for f in self._sessions:
            f(session)

    def _message_line(self, ev, msg) -> None:
        for f in self._lines:
            f(ev, msg)

    # --- feeding ------------------------------------------------------------------------------
    def feed_all(self, events: Iterable) -> None:
        """Feed every event, in order (the hot path: a dict lookup per consumer kind)."""
        feeds, lines = self._feeds, self._lines
        kinded = self._kinded.get if self._kinded else None
        track = self.tracker.feed if self.tracker is not None else None
        select = self.select
        admits = select.admits if select is not None else None
        outside = getattr(select, "outside", None)
        if admits is None and len(feeds) <= 2 and len(lines) <= 1 and (kinded is None or track is not None):
            # every command's stream
            first = feeds[0] if feeds else _ignore
            second = feeds[1] if len(feeds) > 1 else None
            line = lines[0] if lines else None
            if track is None:
                for ev in events:
                    first(ev)
                    if second is not None:
                        second(ev)
                return
            handler_of = self.tracker.handlers.get  # Tracker.feed, inlined: one call less per line
            for ev in events:
                handler = handler_of(ev.kind)
                msg = handler(ev) if handler is not None else None
                first(ev)
                if second is not None:
                    second(ev)
                if kinded is not None:
                    some = kinded(ev.kind)
                    if some is not None:
                        for f in some:
                            f(ev)
                if msg is not None and line is not None:
                    line(ev, msg)
            return
        for ev in events:
            if admits is not None and not admits(ev):
                if outside is not None:
                    outside(ev)
                continue
            msg = track(ev) if track is not None else None
            for f in feeds:
                f(ev)
            if kinded is not None:
                some = kinded(ev.kind)
                if some is not None:
                    for f in some:
                        f(ev)
            if msg is not None:
                for f in lines:
                    f(ev, msg)

    def flush(self) -> None:
        for c in self.consumers:
            flush = getattr(c, "flush", None)
            if flush is not None:
                flush()

    # --- pieces -------------------------------------------------------------------------------
    def merge(self, later: Stream) -> None:
        """Fold in the stream of the piece of the log that follows this one's lines (the module's
        docstring says how)."""
        for mine, theirs in zip(self.consumers, later.consumers, strict=True):
            mine.merge(theirs)
        if self.tracker is not None:
            self.tracker.merge(later.tracker, self._message_line)
        self.assumptions.update(later.assumptions)

    def finish(self) -> list:
        """The messages still queued at the end of the log (open sessions go to the consumers)."""
        return self.tracker.finish() if self.tracker is not None else []


def _ignore(ev) -> None:
    pass


def ranked(sources: list[Source]) -> list[Source]:
    """The sources with names that know their rank in the run (events.SourceName)."""
    return [Source(s.path, SourceName(s.display, i)) for i, s in enumerate(sources)]


def run(sources: list[Source], make: Callable[..., Stream], parser, *, jobs: int = 1,
        progress: Callable[[str], None] | None = None) -> Stream:
    """Feed every line of ``sources`` (in order) through the stream ``make(head=True)``.

    With ``jobs`` > 1, plain files of PARALLEL_MIN_BYTES and more are read in pieces by up to
    ``jobs`` processes (not with an explicit year: the December → January rollover depends on
    every earlier line), each piece's stream ``make(head=False)``, merged in order."""
    stream = make(head=True)
    for source in ranked(sources):
        if progress is not None:
            progress(source.display)
        if jobs > 1 and parser.year is None and _big_plain_file(source.path):
            run_pieces(stream, source, make, parser, jobs)
        else:
            stream.feed_all(parser.parse_source(source))
            stream.assumptions.update(parser.assumptions)
    return stream


# --- pieces of a big file, read by a fork pool -----------------------------------------------

_FORKED: dict = {}  # what the workers build their piece with (inherited by fork, never pickled)


def run_pieces(stream: Stream, source: Source, make: Callable[..., Stream], parser, jobs: int,
               pieces: int | None = None) -> None:
    """Read a plain file in byte ranges (about PIECE_BYTES each, at least ``jobs``) in a fork
    pool and merge each range's stream into ``stream``, in order."""
    import multiprocessing

    from .workers import worker_pool  # workers die with the command (SIGINT, SIGTERM, a kill)

    size = os.path.getsize(source.path)
    ranges = split(source.path, pieces or max(jobs, -(-size // PIECE_BYTES)))
    bases = line_bases(source.path, [start for start, _ in ranges])
    rank = getattr(source.display, "rank", 0)
    tasks = [(source.path, str(source.display), rank, source.mtime, start, end, base)
             for (start, end), base in zip(ranges, bases, strict=True)]
    _FORKED.update(make=make, parser=parser)
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # pragma: no cover - platforms without fork
        ctx = multiprocessing.get_context()
    try:
        with worker_pool(max(1, min(jobs, len(tasks))), mp_context=ctx) as pool:
            for piece in pool.map(read_piece, tasks):  # in order; each is merged, then dropped
                stream.merge(piece)
    finally:
        _FORKED.clear()


def read_piece(task) -> Stream:
    """Worker: the stream of one byte range of a plain file (the events of reading it whole)."""
    from .parse import YearGuesser

    path, display, rank, mtime, start, end, base = task
    stream = _FORKED["make"](head=False)
    name = SourceName(display, rank)
    years = YearGuesser(None, mtime)
    # No cyclic garbage collection while a piece is read: what lives on (the consumers' state,
    # messages in flight) would only be scanned again and again; the collector runs after.
    gc.disable()
    try:
        stream.feed_all(_FORKED["parser"].parse_stream(read_range(path, start, end, base + 1), name, years))
    finally:
        gc.enable()
    if years.years_used:
        stream.assumptions[name] = years.describe()
    stream.flush()
    return stream


def _big_plain_file(path: str) -> bool:
    if path == STDIN:
        return False
    try:
        if os.path.getsize(path) < PARALLEL_MIN_BYTES:
            return False
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError:
        return False
    return not (head.startswith(b"\x1f\x8b") or head.startswith(b"BZh") or head.startswith(b"\xfd7zXZ\x00"))


# A line that starts with a timestamp (classic syslog, ISO): a piece starts there, so that a
# record wrapped over lines (a pasted log, read leniently) is never cut: its continuation lines
# carry no stamp.
_STAMPED = re.compile(rb"(?:<\d{1,3}>\d? ?)?(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d|\d{4}-\d\d-\d\d[T ]\d\d:)")
_LOOK_AHEAD = 1000  # lines looked at for a stamped one, before taking any line start


def split(path: str, parts: int) -> list[tuple[int, int]]:
    """Byte ranges of about equal size, each starting at the beginning of a line (of a stamped
    line, when one comes within _LOOK_AHEAD lines)."""
    size = os.path.getsize(path)
    bounds = [0]
    with open(path, "rb") as fh:
        for i in range(1, parts):
            fh.seek(size * i // parts)
            fh.readline()
            pos = first = fh.tell()
            for _ in range(_LOOK_AHEAD):
                line = fh.readline()
                if not line or _STAMPED.match(line):
                    break
                pos = fh.tell()
            else:
                pos = first
            if bounds[-1] < pos < size:
                bounds.append(pos)
    bounds.append(size)
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def line_bases(path: str, starts: list[int]) -> list[int]:
    """The number of lines before each offset (offsets in increasing order, at line starts)."""
    out = []
    lines = pos = 0
    with open(path, "rb") as fh:
        for start in starts:
            while pos < start:
                data = fh.read(min(_READ_BLOCK, start - pos))
                if not data:
                    break
                lines += data.count(b"\n")
                pos += len(data)
            out.append(lines)
    return out
