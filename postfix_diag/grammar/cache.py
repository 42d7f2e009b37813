"""The shipped grammar, compiled, kept on disk between runs.

Reading the grammar files (pyparsing), checking every rule and compiling the regexes costs more
than the rest of a short run. What it yields is plain data: `Grammar.tables()` (regex sources and
field tables) and, for each regex, the code ``re`` hands to its engine (`sre_code`). It is kept in
``$XDG_CACHE_HOME/postfix-diag/`` (default ``~/.cache/postfix-diag/``), one file per key: the
SHA-256 of the grammar files, of the code that compiles them, of the package version and of the
interpreter, so that an edited grammar, an upgrade or another Python never meets a file of
another one.

A cache file is never trusted. It is read only when it is a regular file (not a symlink) owned by
this user and writable by nobody else, in a directory of the same kind, and not over `MAX_BYTES`;
its first line names the format and the SHA-256 of the rest, which must match; the tables are
checked as they are rebuilt, each matcher's entry when the matcher is first used, and an entry or
regex that is not what the tables say sends the grammar back to the files (and the file away). In
every other case (no home, a read-only or full disk, another user's directory, a truncated,
corrupt or stale file) the grammar is built from the files, as without a cache, and the file is
rewritten when the directory allows it. A cache problem never fails a run: the worst it can do
is cost the time it was meant to save. ``POSTFIX_DIAG_NO_CACHE=1`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from importlib import resources
from pathlib import Path

from .. import __version__
from . import sre_code

FORMAT = b"postfix-diag grammar cache 2"
MAX_BYTES = 8 << 20  # the shipped grammar's file is about 0.25 MiB
KEEP = 8  # cache files kept (of other versions or branches), the newest ones
# the code whose output the cache holds: a change to it is a change of key
CODE = ("__init__.py", "cache.py", "compiler.py", "language.py", "sre_code.py")


def cache_dir() -> Path | None:
    """Where cache files go (None: nowhere, the cache is off)."""
    if os.environ.get("POSTFIX_DIAG_NO_CACHE", "") not in ("", "0"):
        return None
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative value is to be ignored
        home = os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "postfix-diag"


def key_of(sources: list[tuple[str, bytes]]) -> str:
    """The cache key of grammar files given as (name, bytes)."""
    h = hashlib.sha256(b"\0".join([FORMAT, __version__.encode(), sre_code.ENGINE.encode(), b""]))
    code = resources.files(__package__)
    for name in CODE:
        try:
            h.update(name.encode() + b"\0" + code.joinpath(name).read_bytes() + b"\0")
        except OSError:  # no source to hash (a frozen install): the version has to do
            h.update(name.encode() + b"\0?\0")
    for name, data in sorted(sources):
        h.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.hexdigest()


def _usable_dir(directory: Path) -> bool:
    """A directory this user owns and nobody else may write to."""
    try:
        st = os.lstat(directory)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def read(path: Path, key: str):
    """The tables of a cache file, or None when it is missing or not to be trusted."""
    if not _usable_dir(path.parent):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if (not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022
                    or st.st_size > MAX_BYTES):
                return None
            data = f.read(MAX_BYTES + 1)
    except OSError:
        return None
    header, newline, payload = data.partition(b"\n")
    if not newline or header != FORMAT + b" " + hashlib.sha256(payload).hexdigest().encode():
        return None
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or obj.get("key") != key or not isinstance(obj.get("tables"), dict):
        return None
    return obj["tables"]


def write(path: Path, key: str, tables: dict) -> bool:
    """Write a cache file (atomically: a reader sees the old file or the new one); False when
    the directory cannot be used."""
    directory = path.parent
    payload = json.dumps({"key": key, "tables": tables}, separators=(",", ":")).encode()
    data = FORMAT + b" " + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return False
    if not _usable_dir(directory):
        return False
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(prefix=".grammar-", suffix=".tmp", dir=directory)
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
    _prune(directory, keep=path)
    return True


def discard(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _prune(directory: Path, keep: Path) -> None:
    """Remove all but the `KEEP` newest cache files (those of other versions or branches)."""
    try:
        files = [(p.stat().st_mtime, p) for p in directory.glob("grammar-*.json") if p != keep]
    except OSError:
        return
    for _, p in sorted(files, reverse=True)[KEEP - 1:]:
        discard(p)
