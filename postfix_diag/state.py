"""Incremental runs (`analyze --state FILE`, `check --state FILE`): read only what is new since the
last run, and go on from where the last run stopped, so that a cron job never counts a line twice.

The state file is JSON (docs/state.md), read through jsonin (size and depth limits) and written
atomically (safewrite), mode 0600 when new. It holds:

- per input file read: its path, device and inode, the SHA-256 of its first line, the byte offset
  reached (always the end of a complete line: a line being written is read next time) and the
  number of lines before it;
- the stream itself, as snapshot.py writes it: the tracker (messages and sessions in flight) and
  every consumer (coverage, rules, traffic counters), as they were after the last line read.

A run restores the stream and feeds it the new lines, which gives what one pass over every line
read since the state file was created gives (tests/test_state.py checks it); the report covers
all of them (delete the state file to start over). Which bytes are new, per file:

- a file whose first line is that of a file read before goes on from that file's offset (the same
  file, or the same file renamed: ``mail.log`` is now ``mail.log.1``); a compressed file whose
  first line was read before skips the lines read before;
- a file read before that no input matches any more (renamed by logrotate and not among the
  inputs) is looked for beside its old name (``mail.log.1``, ``mail.log-20261202``...): its rest is
  read before the inputs;
- a file shorter than its offset, or with another first line (copytruncate truncated it and it
  filled again), is read from its start;
- any other file is new: read whole.

A state file that cannot be used (corrupt, truncated, another program's, written by another
version of postfix-diag or for another set of rules, writable by other users) is one warning
line, and the run reads everything, as without a state file; the file is then replaced."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from . import __version__
from .events import SourceName
from .inputs import STDIN, InputError, Source, read_numbered, read_range
from .jsonin import JsonInputError, MiB, check, load
from .snapshot import SnapshotError, dumps_value, loads_value

FORMAT = "postfix-diag state"
VERSION = 1
MAX_BYTES = 512 * MiB
MAX_DEPTH = 400  # nesting of the stream's objects (each object is two levels)
HEAD_BYTES = 4096  # the first line's identity is the hash of at most this many bytes
_BLOCK = 1024 * 1024
_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")

SCHEMA = {"format": str, "version": int, "written_by": str, "fingerprint": str, "next_rank": int,
          "files": [{"path": str, "dev": int, "ino": int, "head": (str, type(None)), "offset": int,
                     "lines": int}],
          "stream": dict}


class StateError(Exception):
    """A state file that cannot be used; the message is one line."""


@dataclass
class FileMark:
    path: str
    dev: int
    ino: int
    head: str | None  # SHA-256 (hex) of the first line, None while the file has no complete line
    offset: int  # bytes read (decompressed, for a compressed file)
    lines: int  # lines before the offset

    def as_dict(self) -> dict:
        return {"path": self.path, "dev": self.dev, "ino": self.ino, "head": self.head, "offset": self.offset,
                "lines": self.lines}


@dataclass
class Segment:
    """What to read of one file: plain bytes ``start``..``end`` (lines numbered from ``lines + 1``),
    or a compressed file's lines after ``skip_lines``."""

    source: Source
    compressed: bool
    start: int = 0
    end: int = 0
    lines: int = 0
    skip_lines: int = 0
    mark: FileMark | None = None  # what the state file records of it after this run


def fingerprint(stream) -> str:
    """What the state of a stream depends on: the program's version, the consumers, the rules."""
    parts = [__version__, *(type(c).__module__ + "." + type(c).__qualname__ for c in stream.consumers)]
    for c in stream.consumers:
        classes = getattr(c, "_classes", None)
        if classes:
            parts.extend(getattr(cls, "id", cls.__qualname__) for cls in classes)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


# --- files ---------------------------------------------------------------------------------------

def _is_compressed(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(6).startswith(_COMPRESSED)
    except OSError:
        return False


def _head_of_bytes(first: bytes) -> str | None:
    nl = first.find(b"\n")
    if nl < 0:
        return None if len(first) < HEAD_BYTES else hashlib.sha256(first[:HEAD_BYTES]).hexdigest()
    return hashlib.sha256(first[:nl + 1]).hexdigest()


def _plain_head(path: str) -> str | None:
    with open(path, "rb") as fh:
        return _head_of_bytes(fh.read(HEAD_BYTES))


def _compressed_head(source: Source) -> str | None:
    from .inputs import _open_binary  # the one opener of compressed inputs

    fh = _open_binary(source)
    try:
        return _head_of_bytes(fh.read(HEAD_BYTES))
    except (OSError, EOFError, ValueError) as exc:
        raise InputError(f"{source.display}: cannot read: {exc}") from None
    finally:
        fh.close()


def _complete_end(path: str, size: int) -> int:
    """The offset just after the last newline of the first ``size`` bytes (0 when none)."""
    with open(path, "rb") as fh:
        pos = size
        while pos > 0:
            start = max(0, pos - 65536)
            fh.seek(start)
            block = fh.read(pos - start)
            nl = block.rfind(b"\n")
            if nl >= 0:
                return start + nl + 1
            pos = start
    return 0


def _count_lines(path: str, start: int, end: int) -> int:
    n = 0
    with open(path, "rb") as fh:
        fh.seek(start)
        left = end - start
        while left > 0:
            data = fh.read(min(_BLOCK, left))
            if not data:
                break
            n += data.count(b"\n")
            left -= len(data)
    return n


def _siblings(path: str) -> list[str]:
    """Files beside ``path`` whose names continue its name (rotated copies: mail.log.1,
    mail.log-20261202, mail.log.1.gz)."""
    directory, base = os.path.split(path)
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return []
    return sorted(os.path.join(directory, n) for n in names
                  if n != base and (n.startswith(base + ".") or n.startswith(base + "-")))


def plan(sources: list[Source], marks: list[FileMark]) -> list[Segment]:
    """The segments to read, in order (see the module docstring)."""
    by_head: dict = {}
    for m in marks:
        if m.head is not None:
            by_head.setdefault(m.head, []).append(m)
    used: set = set()

    def match(path: str, head: str | None, st) -> FileMark | None:
        found = [m for m in by_head.get(head, ()) if id(m) not in used] if head is not None else []
        if not found:
            return None
        same = [m for m in found if (m.dev, m.ino) == (st.st_dev, st.st_ino)] or found
        used.add(id(same[0]))
        return same[0]

    segments: list[Segment] = []
    for source in sources:
        if source.path == STDIN:
            raise InputError("--state: standard input has no place to go on from; give files")
        segments.append(_segment(source, match))
    # files read before and not among the inputs any more: renamed beside their old names
    early: list[Segment] = []
    for m in marks:
        if id(m) in used or m.head is None:
            continue
        for path in _siblings(m.path):
            if path in {s.source.path for s in segments} or not os.path.isfile(path):
                continue
            try:
                st = os.stat(path)
                compressed = _is_compressed(path)
                head = _compressed_head(Source(path, path)) if compressed else _plain_head(path)
            except (OSError, InputError):
                continue
            if head != m.head:
                continue
            used.add(id(m))
            seg = _continue(Source(path, path), compressed, m, st)
            if seg is not None:
                early.append(seg)
            break
    return early + segments


def _segment(source: Source, match) -> Segment:
    path = source.path
    try:
        st = os.stat(path)
        compressed = _is_compressed(path)
        head = _compressed_head(source) if compressed else _plain_head(path)
    except OSError as exc:
        raise InputError(f"{source.display}: cannot read: {exc.strerror}") from None
    mark = match(path, head, st)
    if mark is not None:
        seg = _continue(source, compressed, mark, st)
        if seg is not None:
            return seg
    if compressed:
        return Segment(source, True, mark=FileMark(path, st.st_dev, st.st_ino, head, 0, 0))
    end = _complete_end(path, st.st_size)
    return Segment(source, False, 0, end, 0, mark=FileMark(path, st.st_dev, st.st_ino, head if end else None, end,
                                                           _count_lines(path, 0, end)))


def _continue(source: Source, compressed: bool, mark: FileMark, st) -> Segment | None:
    """The rest of a file read before up to ``mark``; None if it cannot be (shorter than that)."""
    path = source.path
    if compressed:
        return Segment(source, True, skip_lines=mark.lines,
                       mark=FileMark(path, st.st_dev, st.st_ino, mark.head, mark.offset, mark.lines))
    if st.st_size < mark.offset:
        return None  # truncated (copytruncate) and written again: a new file
    end = _complete_end(path, st.st_size)
    if end < mark.offset:
        return None
    return Segment(source, False, mark.offset, end, mark.lines,
                   mark=FileMark(path, st.st_dev, st.st_ino, mark.head, end,
                                 mark.lines + _count_lines(path, mark.offset, end)))


# --- the state file ------------------------------------------------------------------------------

@dataclass
class Loaded:
    stream: object
    marks: list
    next_rank: int


def _refuse_unsafe(path: str) -> None:
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise StateError(f"{path}: not a regular file")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise StateError(f"{path}: writable by other users (chmod 600 it, or delete it)")
    if st.st_uid not in (os.geteuid(), 0):
        raise StateError(f"{path}: owned by another user")


def read(path: str, expected: str) -> Loaded | None:
    """The state of ``path`` (None when there is no such file); StateError if it cannot be used.
    ``expected``: the fingerprint of the stream this run would build."""
    if not os.path.lexists(path):
        return None
    try:
        _refuse_unsafe(path)
        data = load(path, max_bytes=MAX_BYTES, max_depth=MAX_DEPTH)
        check(data, SCHEMA, "state")
    except (OSError, JsonInputError) as exc:
        raise StateError(str(exc).replace("\n", " ")) from None
    if data["format"] != FORMAT:
        raise StateError(f"{path}: not a postfix-diag state file")
    if data["version"] != VERSION or data["fingerprint"] != expected:
        raise StateError(f"{path}: written by {data['written_by'][:60]} for other rules or another version")
    try:
        stream = loads_value(data["stream"])
    except SnapshotError as exc:
        raise StateError(f"{path}: unusable stream state: {exc}") from None
    from .pipeline import Stream

    if not isinstance(stream, Stream) or fingerprint(stream) != expected or stream.tracker is None:
        raise StateError(f"{path}: unusable stream state")
    marks = [FileMark(**f) for f in data["files"]]
    return Loaded(stream, marks, data["next_rank"])


def write(path: str, stream, segments: list[Segment], next_rank: int) -> None:
    """Record the stream and the files' marks (InputError if the file cannot be written)."""
    from .safewrite import write_text

    try:
        value = dumps_value(stream)
    except SnapshotError as exc:
        raise InputError(f"{path}: cannot write the state: {exc}") from None
    data = {"format": FORMAT, "version": VERSION, "written_by": f"postfix-diag {__version__}",
            "fingerprint": fingerprint(stream), "next_rank": next_rank,
            "files": [s.mark.as_dict() for s in segments if s.mark is not None], "stream": value}
    new = not os.path.lexists(path)
    write_text(path, json.dumps(data, ensure_ascii=True, separators=(",", ":")) + "\n", "state")
    if new:
        os.chmod(path, 0o600)


# --- a run -----------------------------------------------------------------------------------------

def run(sources: list[Source], make: Callable, parser, path: str, *, warn: Callable[[str], None],
        progress: Callable[[str], None] | None = None, prepare: Callable | None = None):
    """Feed the new lines of ``sources`` through the stream restored from the state file ``path``
    (or a new ``make(head=True)``), record the state, and return the stream (not yet finished).
    ``prepare(stream)``: called on a restored stream before it is fed (to give it what is not
    saved, such as the configuration)."""
    from .parse import YearGuesser

    fresh = make(head=True)
    try:
        loaded = read(path, fingerprint(fresh))
    except StateError as exc:
        warn(f"{exc}; reading every line, as without a state file")
        loaded = None
    if loaded is not None:
        stream, marks, rank = loaded.stream, loaded.marks, loaded.next_rank
        if prepare is not None:
            prepare(stream)
    else:
        stream, marks, rank = fresh, [], 0
    segments = plan(sources, marks)
    for seg in segments:
        name = SourceName(seg.source.display, rank)
        rank += 1
        if progress is not None:
            progress(seg.source.display)
        if seg.compressed:
            numbered = _after(read_numbered(seg.source), seg)
            years = YearGuesser(parser.year, seg.source.mtime)
        elif seg.end > seg.start:
            numbered = read_range(seg.source.path, seg.start, seg.end, seg.lines + 1)
            years = YearGuesser(parser.year, seg.source.mtime)
        else:
            continue
        stream.feed_all(parser.parse_stream(numbered, name, years))
        if years.years_used:
            stream.assumptions[name] = years.describe()
    write(path, stream, segments, rank)
    return stream


def _after(numbered, seg: Segment):
    """A compressed file's lines after those read before; the mark learns how many it has."""
    last = 0
    for lineno, line in numbered:
        last = lineno
        if lineno > seg.skip_lines:
            yield lineno, line
    if seg.mark is not None:
        seg.mark.lines = max(seg.mark.lines, last)
        seg.mark.offset = max(seg.mark.offset, 0)
