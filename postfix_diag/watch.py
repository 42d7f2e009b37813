"""`watch`: follow a live log, run the rules as lines arrive, and say when an incident opens,
escalates and closes.

- ``Follower``: one file with ``tail -F`` semantics: it starts at the end of the file (or at its
  start, for a file that appears after the watch began), reads only complete lines, follows a
  rotation by rename (the old file is read to its end, then the new one from its start), a
  copytruncate (the same file, shorter than what was read: read again from its start), and a
  file that is absent at first or for a while.
- ``Journal``: ``journalctl -f -o json -u postfix@*`` (Debian 12's ``postfix@-.service``; the
  parser reads the journal's JSON entries itself).
- ``Watch``: the stream of ``analyze`` (coverage, rules, the incidents' evidence, traffic), fed
  as lines arrive. At most every EVAL_INTERVAL seconds when lines came, and every IDLE_EVAL
  seconds anyway (and never more often than twice the time the last one took, so that a busy log
  is read, not evaluated, most of the time), a copy of the stream is concluded (the stream itself goes on) into incidents;
  an incident is known across evaluations by its rule, key and host and the time it started, and
  the differences with the previous evaluation are the events: ``open``, ``escalate`` (a higher
  severity), ``close`` (recovered; or gone: missing from the incidents for GONE_AFTER seconds of
  log time, so that a finding whose condition flaps mid-stream does not open and close again
  and again). The log's clock moves on with the wall clock while
  the log is quiet (the time of the last line plus the seconds since it came), so that an
  incident can close when nothing more is logged.

**Memory.** A stream holds more the longer it reads: its rules' counters are capped (MAX_KEYS keys
each), but a time series (model.Occurrences, up to MAX_BUCKETS buckets) per key and per finding
grows with the time the log covers, and the copy an evaluation makes grows with it. So the
stream concluded is replaced: HORIZON of log time after it began a new stream starts (fed the
same lines), and once that one has read HORIZON of log itself it takes the first one's place
(and the next starts). The stream concluded has thus read between HORIZON and twice that (all
of it, before); what is older is forgotten, and so is a closed incident that ended before the
stream concluded began. An incident keeps its number across a replacement (its start, as
the new stream sees it, moves later: the events keep the first one), an ongoing one whose
evidence is all older than the new stream closes as gone (GONE_AFTER), and the totals the
metrics give (lines, traffic counters) carry what the replaced stream counted. Memory is then
at most two streams of up to 2 * HORIZON and HORIZON of log, and one copy.
"""

from __future__ import annotations

import io
import itertools
import os
import pickle
import select
import subprocess
import time
from collections.abc import Callable

from .events import SourceName
from .model import SEVERITY_RANK, at_least, iso

POLL_INTERVAL = 0.2  # seconds between two looks at a followed file
EVAL_INTERVAL = 0.3  # at most this often, the incidents are worked out again when lines came
IDLE_EVAL = 5.0  # and this often when none came (an incident may close on a quiet log)
GONE_AFTER = 300.0  # seconds of log time an ongoing incident must be missing before it is closed as gone
HORIZON = 6 * 3600.0  # seconds of log time: a new stream starts this long after the one concluded, replaces it this long after
READ_LIMIT = 8 * 1024 * 1024  # bytes read from a file per poll at most (a burst is read over several)
JOURNAL_COMMAND = ("journalctl", "-f", "-o", "json", "-n", "0", "-u", "postfix@*", "-u", "postfix")


def _numbered(data: bytes, name: str, first: int):
    """(line number, line) of complete lines, decoded as every input is (inputs: NULs, overlong
    lines, invalid UTF-8)."""
    from .inputs import _blocks
    from .inputs import _numbered as numbered

    return numbered(_blocks(io.BytesIO(data), name), first)


def _count_newlines(fh, size: int) -> int:
    n = 0
    fh.seek(0)
    left = size
    while left > 0:
        data = fh.read(min(left, 1 << 20))
        if not data:
            break
        n += data.count(b"\n")
        left -= len(data)
    return n


class Follower:
    """``tail -F`` on one path (module docstring). ``poll()``: the new complete lines."""

    def __init__(self, path: str, from_start: bool = False):
        self.path = path
        self.fh = None
        self.ident = None  # (dev, ino) of the open file
        self.pos = 0
        self.lineno = 0
        self.partial = b""
        self.skip_partial = False
        self.behind = False
        self.rotations = 0
        self.truncations = 0
        self.generation = 0  # files followed so far (a new one after each rotation)
        self._open(at_end=not from_start)

    def _open(self, at_end: bool) -> bool:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - kept open while followed
            st = os.fstat(fh.fileno())
        except OSError:
            return False
        self.fh, self.ident = fh, (st.st_dev, st.st_ino)
        self.pos = self.lineno = 0
        self.partial = b""
        self.generation += 1
        self.skip_partial = False
        if at_end and st.st_size:
            self.lineno = _count_newlines(fh, st.st_size)  # so that file:line is the file's line
            fh.seek(st.st_size - 1)
            self.skip_partial = fh.read(1) != b"\n"  # a line being written: skipped to its end
            self.pos = st.st_size
        return True

    def _read(self) -> bytes:
        data = self.fh.read(READ_LIMIT)
        self.pos += len(data)
        self.behind = len(data) == READ_LIMIT  # more is waiting: a burst, or the start of --from-start
        return data

    def poll(self) -> list[tuple[str, int, str]]:
        """(name, line number, line) of the lines completed since the last poll."""
        out: list = []
        if self.fh is None:
            if not self._open(at_end=False):
                return out
        try:
            st = os.stat(self.path)
        except OSError:
            st = None
        if st is not None and (st.st_dev, st.st_ino) == self.ident and st.st_size < self.pos:
            self.truncations += 1  # copytruncate: what is there now is new
            self.fh.seek(0)
            self.pos, self.partial = 0, b""
            self.lineno = 0
        self._take(self._read(), out)
        if st is None or (st.st_dev, st.st_ino) != self.ident:  # renamed or removed: the old one is done
            while True:
                data = self._read()
                if not data:
                    break
                self._take(data, out)
            self.fh.close()
            self.fh = None
            self.rotations += 1
            if self._open(at_end=False):
                self._take(self._read(), out)
        return out

    def _take(self, data: bytes, out: list) -> None:
        if not data:
            return
        data = self.partial + data
        end = data.rfind(b"\n") + 1
        self.partial = data[end:]
        if not end:
            return
        chunk = data[:end]
        if self.skip_partial:  # started at the end of the file: the rest of a line being written
            nl = chunk.find(b"\n") + 1
            chunk, self.skip_partial = chunk[nl:], False
            self.lineno += 1
            if not chunk:
                return
        name = SourceName(self.path, self.generation)
        for lineno, line in _numbered(chunk, self.path, self.lineno + 1):
            out.append((name, lineno, line))
        self.lineno += chunk.count(b"\n")

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


class Journal:
    """``journalctl -f -o json`` for the Postfix units, read as it writes."""

    def __init__(self, command=JOURNAL_COMMAND):
        try:
            self.proc = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                         stdin=subprocess.DEVNULL)
        except OSError as exc:
            from .inputs import InputError

            raise InputError(f"cannot run {command[0]}: {exc.strerror or exc}") from None
        self.fd = self.proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.lineno = 0
        self.partial = b""
        self.name = SourceName("journal", 0)

    def poll(self, timeout: float = 0.0) -> list[tuple[str, int, str]]:
        out: list = []
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return out
        try:
            data = os.read(self.fd, READ_LIMIT)
        except BlockingIOError:
            return out
        if not data:
            if self.proc.poll() is not None:
                from .inputs import InputError

                raise InputError(f"journalctl ended (exit status {self.proc.returncode})")
            return out
        data = self.partial + data
        end = data.rfind(b"\n") + 1
        self.partial = data[end:]
        for lineno, line in _numbered(data[:end], "journal", self.lineno + 1):
            out.append((self.name, lineno, line))
        self.lineno += data[:end].count(b"\n")
        return out

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# --- incidents as they change ----------------------------------------------------------------------

def identity(inc) -> tuple:
    return (inc.rule, inc.key, getattr(inc, "host", None), inc.start)


class Watch:
    """The stream fed as lines arrive, and the incident events (module docstring)."""

    def __init__(self, year: int | None = None, config=None, gaps: dict | None = None,
                 min_severity: str = "warning", horizon: float | None = None):
        from . import analyze
        from .parse import Parser, YearGuesser

        self.parser = Parser(year=year)
        self.years = YearGuesser(year, time.time())
        self._make = lambda: analyze.stream(metrics=True, config=config)
        self.stream = self._make()  # the stream concluded: it has read between horizon and twice that (or all)
        self.next = None  # the one that replaces it, started `horizon` of log time after it (module docstring)
        self.horizon = HORIZON if horizon is None else horizon
        self.started: float | None = None  # log time of the first line self.stream read
        self.next_started: float | None = None
        self.epochs = 0  # streams replaced so far
        self._carried: dict = {}  # counts the replaced streams read that the current one did not (metrics)
        self.config = config
        self.gaps = gaps
        self.known: dict = {}  # identity -> (watch id, severity, state, start it opened with)
        self.missing: dict = {}  # identity of an ongoing incident -> log time it was first missing
        self.min_severity = min_severity  # incidents below it make no event (notices: conditions)
        self.unseen = False
        self._ongoing = 0
        self.ids = 0
        self.opened = self.escalated = self.closed = 0
        self.lines = 0
        self.last_analysis = None
        self._last_line_at: float | None = None  # time.monotonic() of the last line fed

    def feed(self, lines: list[tuple[str, int, str]]) -> None:
        if not lines:
            return
        parse = self.parser.parse_line
        years = self.years
        events = (ev for ev in (parse(line, name, lineno, years) for name, lineno, line in lines) if ev is not None)
        if self.next is None:
            self.stream.feed_all(events)
        else:  # both streams, a thousand events at a time (a burst's events are not all held at once)
            while chunk := list(itertools.islice(events, 1000)):
                self.stream.feed_all(chunk)
                self.next.feed_all(chunk)
        self.lines += len(lines)
        self._last_line_at = time.monotonic()
        self.unseen = True  # lines no evaluation has seen yet
        self._roll()

    def _roll(self) -> None:
        """Start the next stream `horizon` of log time after the current one began; put it in the
        current one's place once it has read `horizon` of log itself (module docstring)."""
        now = self.stream.consumers[0].last_ts
        if now is None:
            return
        if self.started is None:
            self.started = self.stream.consumers[0].first_ts
        if self.next is None:
            if now - self.started >= self.horizon:
                self.next, self.next_started = self._make(), now
            return
        if now - self.next_started < self.horizon:
            return
        _carry(self._carried, self.stream, self.next)
        self.stream, self.started = self.next, self.next_started
        self.next, self.next_started = self._make(), now
        self.epochs += 1

    def clock(self) -> float | None:
        """The log's time now: its last line's, moved on by the wall clock since it came."""
        last = self.stream.consumers[0].last_ts
        if last is None or self._last_line_at is None:
            return last
        return last + (time.monotonic() - self._last_line_at)

    def analysis(self):
        """The Analysis of everything fed so far (of a copy: the stream goes on)."""
        from . import analyze

        # a copy made in memory from our own objects (pickle is never read from a file here: state
        # files are JSON, state.py); twice as fast as copy.deepcopy
        self.last_analysis = None  # (the last one's copy goes before this one is made)
        for stream in (self.stream, self.next):  # the finished messages the trackers' lists still hold go
            if stream is not None and stream.tracker is not None:
                stream.tracker.forget_finished()
        s = pickle.loads(pickle.dumps(self.stream, protocol=pickle.HIGHEST_PROTOCOL))
        engine = s.consumers[1]
        engine.config = self.config  # (a copy travels without it, like a piece)
        now = self.clock()
        if now is not None:
            s.consumers[0].last_ts = now
        _carry_into(s, self._carried)
        result = analyze.conclude(s, gaps=self.gaps)
        # The copy and its tracker refer to each other: without this it would wait, as big as
        # the stream, for a full collection, and several could pile up.
        if s.tracker is not None:
            s.tracker.on_message = s.tracker.on_session = None
        s.__dict__.clear()
        self.last_analysis = result
        return result

    def events(self) -> list[dict]:
        """What changed since the last call: open, escalate, close (dicts for the writers)."""
        self.unseen = False
        result = self.analysis()
        incidents = list(getattr(result, "incidents", None) or ())
        seen = {identity(inc) for inc in incidents}
        out = []
        for inc in incidents:
            key = identity(inc)
            old = self.known.get(key)
            if old is None:  # its start may have moved: the same rule, key and host missing now
                moved = next((k for k, (_, _, st, _) in self.known.items() if k[:3] == key[:3] and k not in seen
                              and st == "ongoing"), None)
                if moved is None and inc.state != "ongoing":  # a closed one, its start cut by a new stream
                    moved = next((k for k in self.known if k[:3] == key[:3] and k not in seen), None)
                if moved is not None:
                    old = self.known.pop(moved)
                    self.missing.pop(moved, None)
            if old is None:
                if not at_least(inc.severity, self.min_severity):
                    continue  # a condition, not an incident (an open one that fell below it is still followed)
                self.ids += 1
                wid = f"W{self.ids}"
                self.known[key] = (wid, inc.severity, inc.state, inc.start)
                self.opened += 1
                out.append(_event("open", wid, inc))
                if inc.state != "ongoing":
                    self.closed += 1
                    out.append(_event("close", wid, inc))
                continue
            wid, severity, state, start = old
            if start is None or (inc.start is not None and inc.start < start):
                start = inc.start  # (a later one: the stream that began after it opened sees less of it)
            if SEVERITY_RANK[inc.severity] > SEVERITY_RANK[severity] and state == "ongoing":
                self.escalated += 1
                out.append(_event("escalate", wid, inc, was=severity, start=start))
            if state == "ongoing" and inc.state != "ongoing":
                self.closed += 1
                out.append(_event("close", wid, inc, start=start))
            elif state != "ongoing" and inc.state == "ongoing":  # it came back within its quiet gap
                self.opened += 1
                out.append(_event("open", wid, inc, start=start))
            self.known[key] = (wid, max(severity, inc.severity, key=SEVERITY_RANK.get), inc.state, start)
        now = self.clock()
        for key in seen:
            self.missing.pop(key, None)
        for key in [k for k in self.known if k not in seen]:
            wid, severity, state, start = self.known[key]
            if state == "ongoing":  # merged into another, or its finding below its threshold for now
                since = self.missing.setdefault(key, now)
                if now is None or since is None or now - since < GONE_AFTER:
                    continue  # it may come back (a rule's condition flapping): no close, no new open
            self.known.pop(key)
            self.missing.pop(key, None)
            if state == "ongoing":
                self.closed += 1
                out.append({"event": "close", "id": wid, "at": iso(now), "rule": key[0], "key": key[1],
                            "host": key[2], "severity": severity, "state": "gone", "title": "",
                            "start": iso(start), "end": None, "recovery": "no longer an incident"})
        self._ongoing = sum(1 for inc in incidents if inc.state == "ongoing" and identity(inc) in self.known)
        return out

    def ongoing(self) -> int:
        """Incidents ongoing at the last evaluation."""
        return self._ongoing

    def summary(self) -> dict:
        return {"event": "summary", "lines": self.lines, "opened": self.opened, "escalated": self.escalated,
                "closed": self.closed, "ongoing": self.ongoing()}


# The counts the metrics give as totals since the watch began (lines by program, unrecognized
# lines, the traffic counters): what a replaced stream read and its successor did not is carried.
def _carry(carried: dict, old, new) -> None:
    """Add to ``carried`` what stream ``old`` counted and ``new`` (fed the same lines since it
    began) did not."""
    for name, mine, theirs in _counters(old, new):
        c = carried.setdefault(name, {})
        for key, n in mine.items():
            d = n - theirs.get(key, 0)
            if d:
                c[key] = c.get(key, 0) + d
    u = old.consumers[0].unrecognized - new.consumers[0].unrecognized
    carried["unrecognized"] = carried.get("unrecognized", 0) + u


def _counters(a, b):
    from .metrics import Traffic

    yield "lines", a.consumers[0].lines, b.consumers[0].lines
    ta = next((c for c in a.consumers[3:] if isinstance(c, Traffic)), None)
    tb = next((c for c in b.consumers[3:] if isinstance(c, Traffic)), None)
    if ta is not None and tb is not None:
        for name in Traffic.COUNTERS:
            yield name, getattr(ta, name), getattr(tb, name)


def _carry_into(s, carried: dict) -> None:
    """Add the carried counts to stream ``s`` (a copy about to be concluded)."""
    if not carried:
        return
    for name, mine, _ in _counters(s, s):
        for key, n in carried.get(name, {}).items():
            mine[key] = mine.get(key, 0) + n
    s.consumers[0].unrecognized += carried.get("unrecognized", 0)


def _event(kind: str, wid: str, inc, was: str | None = None, start: float | None = None) -> dict:
    d = {"event": kind, "id": wid, "at": iso(inc.last_seen if kind != "close" else (inc.end or inc.last_seen)),
         "rule": inc.rule, "key": inc.key, "host": getattr(inc, "host", None), "severity": inc.severity,
         "state": inc.state, "title": inc.title, "start": iso(start if start is not None else inc.start),
         "end": iso(inc.end),
         "recovery": inc.recovery, "count": inc.count, "impact": dict(inc.impact)}
    if was is not None:
        d["was"] = was
    return d


# --- the loop --------------------------------------------------------------------------------------

def loop(source, watch: Watch, emit: Callable[[dict], None], stop: Callable[[], bool],
         on_analysis: Callable | None = None, poll: float = POLL_INTERVAL) -> None:
    """Poll ``source`` and feed ``watch`` until ``stop()``; hand every event to ``emit``."""
    last_eval = 0.0
    cost = 0.0  # seconds the last evaluation took: the next waits at least twice that
    pending = False
    while not stop():
        if isinstance(source, Journal):
            lines = source.poll(timeout=poll)
        else:
            lines = source.poll()
        if lines:
            watch.feed(lines)
            pending = True
        now = time.monotonic()
        gap = max(EVAL_INTERVAL, 2 * cost)
        if getattr(source, "behind", False) and now - last_eval < IDLE_EVAL:
            continue  # catching up on a burst: read first, evaluate when up to date (or every IDLE_EVAL s)
        if (pending and now - last_eval >= gap) or (watch.lines and now - last_eval >= max(IDLE_EVAL, gap)):
            for ev in watch.events():
                emit(ev)
            if on_analysis is not None:
                on_analysis(watch.last_analysis)
            last_eval, pending = time.monotonic(), False
            cost = last_eval - now
            continue
        if not lines and not isinstance(source, Journal):
            time.sleep(poll)
