"""Where log lines come from: paths, globs, directories, stdin; rotation order; decompression;
lines read in bounded memory.

Compression is recognized by magic bytes, never by file name. Every failure becomes an
`InputError` whose message is one line meant for the admin, with names escaped like log content.

Limits (bounded memory on any input, endless streams included):
- a line holds at most ``MAX_LINE`` characters (64 KiB); the rest of a longer line is skipped while
  reading, never held in memory, and the line reaches the parser as an `Overlong` string (counted
  unrecognized, reason "overlong", with its length in bytes);
- NUL bytes at the start of a line (the blocks a crash leaves in a log file) are dropped as they
  come, so a valid line after them is still read;
- a line that runs on for more than ``MAX_RUN`` bytes (256 MiB) without a line break is not a text
  log: reading stops with a one-line error (a gzip bomb of zeros, ``/dev/zero`` on stdin).
"""

from __future__ import annotations

import bz2
import codecs
import glob
import gzip
import io
import lzma
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain, compress, repeat
from pathlib import Path

from .report.escape import terminal

DEFAULT_LOGS = ("/var/log/maillog", "/var/log/mail.log")
STDIN = "-"
MAX_LINE = 64 * 1024  # characters of one line kept; longer lines are "overlong"
MAX_RUN = 256 * 1024 * 1024  # bytes of one line (NULs included) before reading stops
# Bytes read at a time. At most MAX_LINE - 8, so that a line that starts and ends inside one block
# can never be overlong: only the line carried over a block boundary needs a length check.
BLOCK = 32 * 1024

_MAGIC = (
    (b"\x1f\x8b", "gzip", gzip.open),
    (b"BZh", "bzip2", bz2.open),
    (b"\xfd7zXZ\x00", "xz", lzma.open),
)
# mail.log, mail.log.1, mail.log.2.gz, maillog-20240101, maillog-20240101.gz, mail.err, *.log
_LOGNAME = re.compile(
    r"^(?P<base>(?:mail|maillog|mail\.log|mail\.info|mail\.warn|mail\.err|.*\.log|maillog\.\w+|syslog|messages))"
    r"(?:[.-](?P<rot>\d+))?(?:\.(?:gz|bz2|xz))?$"
)
_READ_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError, OSError)


class InputError(Exception):
    """A problem with the input the admin named: one line, no traceback."""


class Overlong(str):
    """The start of a line longer than MAX_LINE (MAX_LINE + 1 characters of it, so that the
    parser's length check sees it); ``length`` is the whole line's length in bytes."""

    length: int


def shown(name) -> str:
    """A file name as error messages show it: control characters made visible, like log content."""
    return terminal(name)


@dataclass(frozen=True)
class Source:
    path: str  # "-" for stdin
    display: str

    @property
    def mtime(self) -> float | None:
        if self.path == STDIN:
            return None
        try:
            return os.stat(self.path).st_mtime
        except OSError:
            return None


# -- unreadable files and directories ----------------------------------------------------------------

class _Unreadable:
    """What to do with an unreadable file or subdirectory among the inputs: stop with one line
    (default), or, with --skip-unreadable, skip it with a warning line on stderr."""

    def __init__(self):
        self.skip = False
        self.warn: Callable[[str], None] | None = None
        self.warned: set = set()

    def handle(self, problems: list[tuple[str, str]], skip: bool | None = None) -> None:
        if not problems:
            return
        if not (self.skip if skip is None else skip):
            name, why = problems[0]
            more = f" (and {len(problems) - 1} more unreadable)" if len(problems) > 1 else ""
            raise InputError(f"{shown(name)}: {why}{more}; pass --skip-unreadable to read the rest")
        for name, why in problems:
            if name in self.warned:  # resolve() may run twice for one command (check)
                continue
            self.warned.add(name)
            (self.warn or _warn_stderr)(f"{shown(name)}: {why}, skipped (--skip-unreadable)")


def _warn_stderr(message: str) -> None:
    sys.stderr.write(f"postfix-diag: warning: {message}\n")


UNREADABLE = _Unreadable()


def skip_unreadable(skip: bool, warn: Callable[[str], None] | None = None) -> None:
    """Set the process's policy for unreadable inputs (the CLI's --skip-unreadable)."""
    UNREADABLE.skip = skip
    UNREADABLE.warn = warn
    UNREADABLE.warned.clear()


def _why(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied (try sudo, or add yourself to group adm)"
    return f"cannot read: {exc.strerror or exc}"


def _check_readable(path: str, problems: list) -> bool:
    try:
        with open(path, "rb"):
            return True
    except OSError as exc:
        problems.append((path, _why(exc)))
        return False


def _scan(directory: str, problems: list) -> list[Path]:
    """Log files under ``directory`` (symlinked subdirectories are not followed); unreadable
    subdirectories are added to ``problems``, never skipped silently."""
    found = []

    def onerror(exc: OSError):
        problems.append((exc.filename or directory, _why(exc)))

    for root, _dirs, names in os.walk(directory, onerror=onerror):
        for name in names:
            p = Path(root, name)
            if _is_log_name(p) and p.is_file() and _check_readable(str(p), problems):
                found.append(p)
    return found


# -- resolving the admin's arguments ------------------------------------------------------------------

def _rotation_key(path: Path):
    m = _LOGNAME.match(path.name)
    if not m:
        return (str(path.parent), path.name, 0, 0)
    rot = m.group("rot")
    if rot is None:
        order = (1, 0)  # the live file comes last
    elif len(rot) >= 8:
        order = (0, int(rot))  # dateext: older dates first
    else:
        order = (0, -int(rot))  # numbered: higher numbers are older
    return (str(path.parent), m.group("base"), *order)


def _is_log_name(path: Path) -> bool:
    return bool(_LOGNAME.match(path.name))


def resolve(paths: list[str] | None, *, skip_unreadable: bool | None = None) -> list[Source]:
    """Expand the admin's arguments to an ordered list of sources (oldest rotation first).

    An unreadable file or subdirectory is an InputError unless unreadable inputs are skipped
    (``skip_unreadable``, default: the process's policy, see `skip_unreadable()`)."""
    if not paths:
        for default in DEFAULT_LOGS:
            if os.path.exists(default):
                return resolve([default], skip_unreadable=skip_unreadable)
        raise InputError(
            "no log found at /var/log/maillog or /var/log/mail.log; pass a path, e.g. "
            "`postfix-diag analyze /path/to/mail.log`, or `-` to read standard input"
        )
    out: list[Source] = []
    problems: list[tuple[str, str]] = []
    for arg in paths:
        if arg == STDIN:
            out.append(Source(STDIN, "<stdin>"))
            continue
        name = shown(arg)
        if any(ch in arg for ch in "*?[") and not os.path.exists(arg):
            matches = sorted(glob.glob(arg))
            if not matches:
                raise InputError(f"{name}: no file matches this pattern")
            files = [Path(m) for m in matches if os.path.isfile(m)]
            if not files:
                raise InputError(f"{name}: the pattern matches no regular file (only directories or special files)")
            files = [p for p in files if _check_readable(str(p), problems)]
        elif os.path.isdir(arg):
            files = _scan(arg, problems)
            if not files and not problems:
                raise InputError(f"{name}: directory has no mail log files (mail.log*, maillog*, *.log)")
        elif os.path.exists(arg):
            if not os.path.isfile(arg):
                raise InputError(f"{name}: not a regular file")
            files = [Path(arg)] if _check_readable(arg, problems) else []
        else:
            raise InputError(f"{name}: no such file or directory")
        files.sort(key=_rotation_key)
        out.extend(Source(str(p), str(p)) for p in files)
    UNREADABLE.handle(problems, skip_unreadable)
    if not out:
        raise InputError("no readable input left (every one was unreadable and skipped)")
    return out


# -- reading ------------------------------------------------------------------------------------------

def _open_binary(source: Source):
    name = shown(source.display)
    if source.path == STDIN:
        raw = getattr(sys.stdin, "buffer", None)
        if raw is None:
            raise InputError("<stdin>: standard input is closed")
    else:
        try:
            raw = open(source.path, "rb")  # noqa: SIM115 - closed by the caller
        except PermissionError:
            raise InputError(f"{name}: permission denied (try sudo, or add yourself to group adm)") from None
        except IsADirectoryError:
            raise InputError(f"{name}: is a directory") from None
        except OSError as exc:
            raise InputError(f"{name}: cannot open: {exc.strerror}") from None
    return _decompressing(raw, name)


def _decompressing(raw, name: str):
    """``raw``, or a decompressing reader over it when its first bytes are gzip, bzip2 or xz."""
    if not hasattr(raw, "peek"):
        raw = io.BufferedReader(raw)
    try:
        head = raw.peek(6)[:6]
    except (OSError, ValueError) as exc:
        raise InputError(f"{name}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    for magic, _name, opener in _MAGIC:
        if head.startswith(magic):
            return opener(raw, "rb")
    return raw


def _overlong(start: str, length: int) -> Overlong:
    line = Overlong(start[: MAX_LINE + 1])
    line.length = length
    return line


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


_NON_NUL = re.compile("[^\x00]")
_ZEROS = bytes(BLOCK)


def _without_nuls(text: str) -> tuple[str, int]:
    """``text`` without its leading NULs, and how many there were (str.lstrip is slow at this)."""
    if text[:1] != "\x00":
        return text, 0
    m = _NON_NUL.search(text)
    start = m.start() if m else len(text)
    return text[start:], start


def _bounded(line: str, nuls: int) -> str:
    """A whole line longer than MAX_LINE: without its leading NULs if that is short enough,
    else `Overlong`."""
    rest, dropped = _without_nuls(line)
    if len(rest) <= MAX_LINE:
        return rest
    return _overlong(rest, _nbytes(rest) + nuls + dropped)


def _blocks(stream, name: str) -> Iterator[list[str] | int]:
    """The lines of a stream (without line endings), a block of input at a time, in bounded
    memory: a list of lines, or, for a block of nothing but line breaks, the number of blank
    lines in it (so a flood of empty lines costs no list of them)."""
    read = getattr(stream, "read1", None) or stream.read
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    decode = decoder.decode
    carry = ""  # the start of the line that continues into the next block (at most MAX_LINE chars)
    skipping = -1  # >= 0: inside an overlong line; bytes of it read so far
    nuls = 0  # NUL bytes dropped from the start of the current line
    lineno = 1  # number of the line `carry` belongs to
    while True:
        data = read(BLOCK)
        if not data:
            break
        if skipping >= 0:  # the rest of an overlong line: find its end in the raw bytes, no decoding
            end = data.find(b"\n")
            if end < 0:
                skipping += len(data)
                if skipping > MAX_RUN:
                    raise InputError(_run_on(name, lineno))
                continue
            yield [_overlong(carry, skipping + end)]
            lineno += 1
            carry, skipping, nuls = "", -1, 0
            decoder.reset()
            data = data[end + 1:]
            if not data:
                continue
        if not carry and data == _ZEROS[: len(data)] and not decoder.getstate()[0]:
            nuls += len(data)  # NULs before a line (a crash's leftovers, a gzip bomb): not even decoded
            if nuls > MAX_RUN:
                raise InputError(_run_on(name, lineno))
            continue
        text = decode(data)
        if text.count("\n") == len(text) and not carry:  # nothing but line breaks
            lineno += len(text)
            nuls = 0
            yield len(text)
            continue
        parts = text.split("\n")
        if carry:
            parts[0] = carry + parts[0]
        carry = parts.pop()
        if parts:
            if "\r" in text or parts[0][-1:] == "\r":  # (a CR may have come at the end of the last block)
                parts = [p.rstrip("\r") for p in parts]
            first = parts[0]
            if len(first) > MAX_LINE:  # only the line carried over can be this long (BLOCK < MAX_LINE)
                parts[0] = _bounded(first, nuls)
            lineno += len(parts)
            nuls = 0
            yield parts
        if carry[:1] == "\x00":  # NULs before a line: dropped as they come
            carry, dropped = _without_nuls(carry)
            nuls += dropped
            if nuls > MAX_RUN:
                raise InputError(_run_on(name, lineno))
        if len(carry) > MAX_LINE:
            skipping = _nbytes(carry) + nuls
            carry = carry[: MAX_LINE + 1]
    if skipping >= 0:
        yield [_overlong(carry, skipping)]
        return
    carry += decode(b"", True)
    if carry or nuls:  # (a last line of NULs only is a line too)
        carry = carry.rstrip("\r")
        if len(carry) > MAX_LINE:
            carry = _bounded(carry, nuls)
        yield [carry]


def _run_on(name: str, lineno: int) -> str:
    return (f"{name}: line {lineno} runs on for more than {MAX_RUN // (1024 * 1024)} MiB without a line "
            "break: not a text log (stopped reading)")


def _guarded_blocks(source: Source, raw=None) -> Iterator[list[str] | int]:
    name = shown(source.display)
    stream = _open_binary(source) if raw is None else _decompressing(raw, name)
    try:
        yield from _blocks(stream, name)
    except _READ_ERRORS as exc:
        detail = str(exc) or type(exc).__name__
        raise InputError(f"{name}: cannot decompress or read: {detail} (truncated or corrupt file?)") from None
    except MemoryError:  # a decompressor's own buffers; our lines are bounded
        raise InputError(f"{name}: out of memory while decompressing (stopped reading)") from None
    finally:
        if source.path != STDIN or raw is not None:
            try:
                stream.close()
            except Exception:  # noqa: BLE001 - closing a broken stream must not hide the real error
                pass


def read_lines(source: Source) -> Iterator[str]:
    """Yield the lines of one source as text, without line endings, blank lines included.

    Invalid UTF-8 becomes U+FFFD; NUL bytes and other binary are kept for the parser to judge
    (leading NULs beyond MAX_LINE are dropped); lines longer than MAX_LINE come as `Overlong`.
    """
    return chain.from_iterable(map(_lines_of, _guarded_blocks(source)))


def _lines_of(block):
    return repeat("", block) if block.__class__ is int else block


def read_numbered(source: Source) -> Iterator[tuple[int, str]]:
    """(line number, line) for every non-blank line of one source (numbers count blank lines
    too). Blank lines are not log records: a pasted snippet has them between paragraphs, and a
    stream of empty lines costs no parsing."""
    return _numbered(_guarded_blocks(source), 1)


def read_opened(raw, source: Source) -> Iterator[tuple[int, str]]:
    """read_numbered's pairs for a binary file object opened elsewhere (a URL opened with fsspec
    on a Dask worker: postfix_diag/cluster.py), decompressed by its first bytes like a file."""
    return _numbered(_guarded_blocks(source, raw), 1)


class _Range:
    """A binary file read from its current position for ``left`` bytes at most."""

    def __init__(self, fh, left: int):
        self.fh, self.left = fh, left

    def read(self, n: int) -> bytes:
        data = self.fh.read(min(n, self.left)) if self.left > 0 else b""
        self.left -= len(data)
        return data


def read_range(path: str, start: int, end: int, first_line: int) -> Iterator[tuple[int, str]]:
    """read_numbered's pairs for the bytes ``start``..``end`` of a plain (uncompressed) file,
    ``start`` being a line start and ``first_line`` its line number: a piece of a big file read
    on its own (postfix_diag/pipeline.py), with the lines and numbers of reading it whole."""
    with open(path, "rb") as fh:
        fh.seek(start)
        yield from _numbered(_blocks(_Range(fh, end - start), shown(path)), first_line)


def _numbered(blocks, first_line: int) -> Iterator[tuple[int, str]]:
    first = [first_line]  # the number of the next block's first line

    def numbered(block):
        base = first[0]
        if block.__class__ is int:
            first[0] = base + block
            return ()
        first[0] = base + len(block)
        return compress(enumerate(block, base), block)  # (the lines themselves select: blank ones are false)

    return chain.from_iterable(map(numbered, blocks))
