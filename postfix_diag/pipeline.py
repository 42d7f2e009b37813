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

import contextlib
import gc
import itertools
import os
import re
from collections.abc import Callable, Iterable
from typing import NamedTuple

from .events import SourceName
from .inputs import STDIN, Source, read_numbered, read_range
from .track import Tracker

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


def resolve(paths: list[str] | None, scheduler: str | None = None) -> list[Source]:
    """The sources of the command line (inputs.resolve); with a Dask ``scheduler``, URLs too
    (cluster.resolve: read where the workers run)."""
    if scheduler is not None:
        from . import cluster

        return cluster.resolve(paths)
    from .inputs import resolve as local

    return local(list(paths) if paths else [])


def ranked(sources: list[Source]) -> list[Source]:
    """The sources with names that know their rank in the run (events.SourceName)."""
    return [Source(s.path, SourceName(s.display, i)) for i, s in enumerate(sources)]


def default_jobs() -> int:
    """The CPUs this process may run on (its affinity mask, as taskset and cgroup cpusets set it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def run(sources: list[Source], make: Callable[..., Stream], parser, *, jobs: int = 1,
        progress: Callable[[str], None] | None = None, scheduler: str | None = None) -> Stream:
    """Feed every line of ``sources`` (in order) through the stream ``make(head=True)``.

    With ``jobs`` > 1 and PARALLEL_MIN_BYTES of input or more, the sources are cut into pieces
    (``plan``) read by up to ``jobs`` processes, each piece's stream ``make(head=False)``, merged
    in order. With ``scheduler``, each source is a task on that Dask cluster (cluster.py)."""
    listed = ranked(sources)
    if scheduler is not None:
        from . import cluster

        return cluster.run(listed, make, parser, scheduler, progress=progress)
    pieces = plan(listed, jobs, parser.year) if jobs > 1 else None
    stream = make(head=True)
    if pieces is None:
        with fewer_collections():
            for source in listed:
                if progress is not None:
                    progress(source.display)
                stream.feed_all(parser.parse_source(source))
                stream.assumptions.update(parser.assumptions)
    else:
        run_pieces(stream, pieces, make, parser, jobs, progress)
    return stream


# The collector's first-generation threshold while one process reads a log: each collection
# scans what lives on (the consumers' state, messages in flight) again, and reading makes few
# cycles (about 800 objects in cycles per 200k lines of the bench log), so collecting every
# 50,000 allocations instead of every 700 saves about a tenth of the run and keeps memory bounded.
GC_THRESHOLD = 50_000


@contextlib.contextmanager
def fewer_collections():
    """Collect cyclic garbage less often in the block (GC_THRESHOLD); a worker reads a piece
    with no collection at all, after a full one (read_piece)."""
    old = gc.get_threshold()
    gc.set_threshold(max(GC_THRESHOLD, old[0]), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


# --- pieces of the input, read by a fork pool ------------------------------------------------

def _env_number(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, "")))
    except ValueError:
        return default


# Below this much input (a compressed file counts COMPRESSED_RATIO times its size), one process is
# faster than starting others: --jobs is ignored. POSTFIX_DIAG_PARALLEL_MIN_BYTES changes it.
PARALLEL_MIN_BYTES = _env_number("POSTFIX_DIAG_PARALLEL_MIN_BYTES", 24 * 1024 * 1024)
# Plain files are cut into about PIECES_PER_JOB pieces per worker: while the last ones are read,
# the main process merges the first ones; more pieces would cost a merge each (a quarter of a
# second of the main process's CPU, taken from the workers on a 2-CPU machine).
PIECES_PER_JOB = 2
# ... of this size at most: a worker's memory grows with its piece (the queue ids whose life
# started in it, the lines it holds back), and so does the main process's, which holds up to
# 2N finished pieces. POSTFIX_DIAG_PIECE_BYTES changes it.
PIECE_BYTES = _env_number("POSTFIX_DIAG_PIECE_BYTES", 64 * 1024 * 1024)
MIN_PIECE_BYTES = 1024 * 1024  # ... and at least this one (unless PARALLEL_MIN_BYTES is lower)
COMPRESSED_RATIO = 8  # about what gzip makes of a mail log
_MAGICS = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


class Piece(NamedTuple):
    """One task: a whole source (``end`` None: compressed files, stdin), or the bytes
    ``start``..``end`` of a plain file whose first line is line ``base`` + 1 (``read_range``);
    ``year``: the explicit year, if any."""

    path: str
    display: str
    rank: int
    mtime: float | None
    start: int = 0
    end: int | None = None
    base: int = 0
    year: int | None = None

    @classmethod
    def of(cls, source: Source, start: int = 0, end: int | None = None, base: int = 0, year=None) -> Piece:
        return cls(source.path, str(source.display), getattr(source.display, "rank", 0), source.mtime,
                   start, end, base, year)

    @property
    def stdin(self) -> bool:
        return self.path == STDIN


def _kind(path: str) -> tuple[str, int]:
    """("stdin" | "compressed" | "plain", size in bytes on disk)."""
    if path == STDIN:
        return "stdin", 0
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError:  # read in order as usual: the error is the one of a sequential run
        return "compressed", 0
    return ("compressed" if head.startswith(_MAGICS) else "plain"), size


def plan(sources: list[Source], jobs: int, year: int | None = None) -> list[Piece] | None:
    """The pieces ``sources`` are read in by ``jobs`` processes, in order: one per compressed file
    or stdin, plain files cut at line starts into pieces of about the input's size / (``jobs`` *
    PIECES_PER_JOB), within MIN_PIECE_BYTES..PIECE_BYTES. None when one process should read it all: too little
    input (PARALLEL_MIN_BYTES), or nothing to share out."""
    kinds = [_kind(s.path) for s in sources]
    weight = sum(size * (COMPRESSED_RATIO if kind == "compressed" else 1) for kind, size in kinds)
    if jobs <= 1 or weight < PARALLEL_MIN_BYTES:
        return None
    target = max(min(MIN_PIECE_BYTES, PARALLEL_MIN_BYTES), min(PIECE_BYTES, -(-weight // (jobs * PIECES_PER_JOB))))
    pieces: list[Piece] = []
    for source, (kind, size) in zip(sources, kinds, strict=True):
        if kind != "plain" or size == 0:
            pieces.append(Piece.of(source, year=year))
            continue
        ranges = split(source.path, max(1, round(size / target)))
        bases = line_bases(source.path, [start for start, _ in ranges])
        pieces.extend(Piece.of(source, start, end, base, year) for (start, end), base in zip(ranges, bases, strict=True))
    if sum(not p.stdin for p in pieces) < 2:
        return None
    return pieces


_FORKED: dict = {}  # what the workers build their piece with (inherited by fork, never pickled)


def run_pieces(stream: Stream, pieces: list[Piece], make: Callable[..., Stream], parser, jobs: int,
               progress: Callable[[str], None] | None = None) -> None:
    """Read ``pieces`` in a fork pool of up to ``jobs`` workers (stdin in this process) and merge
    each piece's stream into ``stream`` in order, as it comes: at most 2 * ``jobs`` pieces are
    out at a time, so finished pieces waiting for an earlier one stay few.

    With an explicit year, each piece is read as if the year at its start were the one given
    (as it is unless the file crossed a December to January step before it); a piece read with
    the wrong year is read again here with the right one (``_Years``)."""
    import multiprocessing

    from .workers import worker_pool  # workers die with the command (SIGINT, SIGTERM, a kill)

    _FORKED.update(make=make, parser=parser)
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # pragma: no cover - platforms without fork
        ctx = multiprocessing.get_context()
    years = _Years()
    remote = [p for p in pieces if not p.stdin]
    _warm(parser, remote)
    try:
        with worker_pool(max(1, min(jobs, len(remote))), mp_context=ctx) as pool:
            waiting = iter(remote)
            out = [pool.submit(read_piece, p) for p in _take(waiting, 2 * jobs)]
            shown = None
            for piece in pieces:
                if progress is not None and piece.display != shown:
                    progress(piece.display)
                    shown = piece.display
                if piece.stdin:
                    read = read_piece(piece)
                else:
                    read = out.pop(0).result()
                    out.extend(pool.submit(read_piece, p) for p in _take(waiting, 1))
                read = years.checked(piece, read)
                rest = read.__dict__.pop("rest", None)
                stream.merge(read)  # then dropped
                del read
                gc.collect()  # the piece's stream and tracker refer to each other: collect them now
                if rest is not None:
                    _read_rest(stream, piece, parser, *rest)
                    years.went_on(piece, rest[1])
    finally:
        _FORKED.clear()


WARM_BYTES = 64 * 1024


def _warm(parser, pieces: list[Piece]) -> None:
    """Parse the first WARM_BYTES of the first plain piece here, for nothing but the parser's
    lazily compiled bodies (one per program seen): the workers inherit them with the fork instead
    of each compiling them again. Only a parser whose reading leaves no counts behind."""
    plain = next((p for p in pieces if p.end is not None), None)
    if plain is None or getattr(parser, "selection", None) is not None:
        return
    from .parse import YearGuesser

    end = min(plain.end, plain.start + WARM_BYTES)
    for _ in parser.parse_stream(read_range(plain.path, plain.start, end, plain.base + 1), plain.display,
                                 YearGuesser(plain.year, plain.mtime)):
        pass


def _take(it, n: int) -> list:
    return list(itertools.islice(it, n))


def read_piece(task, start_year: int | None = None) -> Stream:
    """Worker: the stream of one piece (the events of reading its source whole): see Piece.
    ``start_year``: the year at the piece's start, with an explicit year (default: that year)."""
    from .parse import YearGuesser

    path, display, rank, mtime, start, end, base, year = task
    stream = _FORKED["make"](head=False)
    name = SourceName(display, rank)
    years = YearGuesser(year, mtime)
    first = None
    if year is not None:
        years.year = start_year if start_year is not None else year
        first = _first_month(years)
    lines = _piece_lines(task, name)
    stop: list = []
    if stream.tracker is not None and path != STDIN:
        lines = _until_crowded(lines, stream.tracker, stop)
    # No cyclic garbage collection while a piece is read: what lives on (the consumers' state,
    # messages in flight) would only be scanned again and again. But first a full collection:
    # the stream of the piece this worker sent back before is garbage held in cycles (the stream
    # and its tracker refer to each other), which the few collections a worker makes between
    # pieces never reach: without it, each worker kept every piece it read (75 -> 275 MiB over
    # 9 pieces of the 5M-line bench log).
    gc.collect()
    gc.disable()
    try:
        stream.feed_all(_FORKED["parser"].parse_stream(lines, name, years))
    finally:
        gc.enable()
    if years.years_used:
        stream.assumptions[name] = years.describe()
    if stop:  # the main process reads the rest of the piece (run_pieces)
        stream.rest = (stop[0], years)
    stream.flush()
    if first is not None:  # (first classic month, year and month at the end)
        stream.year_span = (first.month, years.year, years.last_month)
    return stream


# A piece that does not start the log holds back the lines of the messages and sessions it did
# not see start, for the merge to replay (track.py). A log can make that every line (an outsider's
# forged queue ids, or a queue full of deferred mail retried in the piece): beyond MAX_HELD held
# lines, a worker stops at the next line with a timestamp and leaves the rest of its piece to the
# main process, which reads it after the merge with everything before it known, holding nothing.
MAX_HELD = _env_number("POSTFIX_DIAG_MAX_HELD", 50_000)


def _piece_lines(task, name: SourceName):
    """The numbered lines of a piece (a whole compressed file, or a byte range)."""
    path, _display, _rank, _mtime, start, end, base, _year = task
    if end is None:
        return read_numbered(Source(path, name))
    return read_range(path, start, end, base + 1)


def _until_crowded(lines, tracker: Tracker, stop: list):
    """``lines`` until ``tracker`` holds back more than MAX_HELD lines: then up to the next
    stamped line, whose number goes into ``stop``."""
    crowded = False
    for item in lines:
        if crowded:
            if _STAMPED_TEXT.match(item[1]):
                stop.append(item[0])
                return
        elif not item[0] & 63 and len(tracker.held) > MAX_HELD:  # (every 64th line number)
            crowded = True
        yield item


def _read_rest(stream: Stream, piece: Piece, parser, lineno: int, years) -> None:
    """Feed ``stream`` (which has merged everything before) the lines of ``piece`` from line
    ``lineno`` on, where its worker stopped (MAX_HELD), with the worker's year guesser."""
    name = SourceName(piece.display, piece.rank)
    lines = itertools.dropwhile(lambda item: item[0] < lineno, _piece_lines(piece, name))
    with fewer_collections():
        stream.feed_all(parser.parse_stream(lines, name, years))
    if years.years_used:
        stream.assumptions[name] = years.describe()


class _first_month:
    """Takes the place of ``years.epoch`` until the first classic stamp, noting its month."""

    def __init__(self, years):
        self.years, self.month = years, None
        years.epoch = self

    def __call__(self, ts: str):
        years = self.years
        del years.epoch  # the class's method again, from the next stamp on
        value = years.epoch(ts)
        if years.last_month:
            self.month = years.last_month
        else:
            years.epoch = self  # not a stamp after all: wait for the next
        return value


class _Years:
    """The year and month each source has reached, piece by piece (explicit year only)."""

    def __init__(self):
        self.state: dict = {}  # path -> (year, month) at the end of the pieces merged

    def checked(self, piece: Piece, stream: Stream) -> Stream:
        span = getattr(stream, "year_span", None)
        if span is None:
            return stream
        del stream.year_span
        given = piece.year
        year, month = self.state.get(piece.path, (given, 0)) if piece.start else (given, 0)
        first, end_year, end_month = span
        if first is None:  # no classic stamp: the year goes through unchanged
            return stream
        real = year + (1 if first < month else 0)
        if real != given:  # read with the wrong year: again, with the right one
            stream = read_piece(piece, start_year=real)
            first, end_year, end_month = stream.year_span
            del stream.year_span
        self.state[piece.path] = (end_year, end_month)
        return stream

    def went_on(self, piece: Piece, guesser) -> None:
        """The main process read the rest of ``piece`` with ``guesser``: the year and month
        reached are its."""
        if piece.path in self.state and guesser.last_month:
            self.state[piece.path] = (guesser.year, guesser.last_month)


# A line that starts with a timestamp (classic syslog, ISO): a piece starts there, so that a
# record wrapped over lines (a pasted log, read leniently) is never cut: its continuation lines
# carry no stamp.
_STAMPED = re.compile(rb"(?:<\d{1,3}>\d? ?)?(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d|\d{4}-\d\d-\d\d[T ]\d\d:)")
_STAMPED_TEXT = re.compile(_STAMPED.pattern.decode())  # the same, for decoded lines (_until_crowded)
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
