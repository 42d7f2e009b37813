"""Where log lines come from: paths, globs, directories, stdin; rotation order; decompression.

Compression is recognized by magic bytes, never by file name. Every failure becomes an
`InputError` whose message is one line meant for the admin.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import io
import lzma
import operator
import os
import re
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LOGS = ("/var/log/maillog", "/var/log/mail.log")
STDIN = "-"

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


class InputError(Exception):
    """A problem with the input the admin named: one line, no traceback."""


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


def resolve(paths: list[str] | None) -> list[Source]:
    """Expand the admin's arguments to an ordered list of sources (oldest rotation first)."""
    if not paths:
        for default in DEFAULT_LOGS:
            if os.path.exists(default):
                return resolve([default])
        raise InputError(
            "no log found at /var/log/maillog or /var/log/mail.log; pass a path, e.g. "
            "`postfix-diag analyze /path/to/mail.log`, or `-` to read standard input"
        )
    out: list[Source] = []
    for arg in paths:
        if arg == STDIN:
            out.append(Source(STDIN, "<stdin>"))
            continue
        if any(ch in arg for ch in "*?[") and not os.path.exists(arg):
            matches = sorted(glob.glob(arg))
            if not matches:
                raise InputError(f"{arg}: no file matches this pattern")
            files = [Path(m) for m in matches if os.path.isfile(m)]
            if not files:
                raise InputError(f"{arg}: the pattern matches no regular file (only directories or special files)")
        elif os.path.isdir(arg):
            files = [p for p in Path(arg).rglob("*") if p.is_file() and _is_log_name(p)]
            if not files:
                raise InputError(f"{arg}: directory has no mail log files (mail.log*, maillog*, *.log)")
        elif os.path.exists(arg):
            if not os.path.isfile(arg):
                raise InputError(f"{arg}: not a regular file")
            files = [Path(arg)]
        else:
            raise InputError(f"{arg}: no such file or directory")
        files.sort(key=_rotation_key)
        out.extend(Source(str(p), str(p)) for p in files)
    return out


def _open_binary(source: Source):
    if source.path == STDIN:
        raw = sys.stdin.buffer
    else:
        try:
            raw = open(source.path, "rb")  # noqa: SIM115 - closed by the caller
        except PermissionError:
            raise InputError(f"{source.display}: permission denied (try sudo, or add yourself to group adm)") from None
        except IsADirectoryError:
            raise InputError(f"{source.display}: is a directory") from None
        except OSError as exc:
            raise InputError(f"{source.display}: cannot open: {exc.strerror}") from None
    if not hasattr(raw, "peek"):
        raw = io.BufferedReader(raw)
    try:
        head = raw.peek(6)[:6]
    except OSError as exc:
        raise InputError(f"{source.display}: cannot read: {exc.strerror}") from None
    for magic, _name, opener in _MAGIC:
        if head.startswith(magic):
            return opener(raw, "rb")
    return raw


_chomp = operator.methodcaller("rstrip", "\r\n")


def read_lines(source: Source) -> Iterator[str]:
    """Yield the lines of one source as text, without line endings.

    Invalid UTF-8 becomes U+FFFD; NUL bytes and other binary are kept for the parser to judge.
    """
    stream = _open_binary(source)
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="\n")
    try:
        yield from map(_chomp, text)
    except (EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError, OSError) as exc:
        detail = str(exc) or type(exc).__name__
        raise InputError(f"{source.display}: cannot decompress or read: {detail} (truncated or corrupt file?)") from None
    finally:
        if source.path != STDIN:
            try:
                text.close()
            except Exception:  # noqa: BLE001 - closing a broken stream must not hide the real error
                pass
