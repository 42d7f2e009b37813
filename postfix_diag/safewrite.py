"""Writing an output file the user named (a baseline now; reports, state, metrics later) safely.

``write_text(path, text, what)``:
- a regular file is replaced atomically: a temporary file in the same directory, written, synced,
  given the old file's permission bits (and owner, when run as root), then renamed over it, so a
  reader never sees half a file and a full disk leaves the old file as it was;
- an absent file is created the same way (permission bits 0666 less the umask);
- anything else is refused with one line and left untouched: a symbolic link (even to a regular
  file: give the file itself), a directory, a device (``/dev/full``, ``/dev/stdout`` is a symbolic
  link to one), a FIFO or a socket. The rename would have replaced the node itself (issue #18:
  ``check --write-baseline /dev/full`` as root turned the device into a regular file);
- with ``allow_stdout``, ``-`` means standard output, written in place (for options whose output
  may go to a pipe).

Every failure is an InputError (exit status 2) naming the file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile

from .inputs import InputError

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def refusal(path: str | os.PathLike, what: str) -> str | None:
    """Why ``path`` cannot be written as ``what`` (None: it is a regular file or absent)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if not os.path.isdir(os.path.dirname(os.fspath(path)) or "."):
            return f"{os.fspath(path)}: cannot write {what}: No such file or directory"
        return None
    except OSError as exc:
        return f"{os.fspath(path)}: cannot write {what}: {exc.strerror}"
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return (f"{os.fspath(path)}: is a symbolic link (to {target}); not replaced: give the path of a regular "
                f"file for the {what}")
    for test, kind in _KINDS:
        if test(st.st_mode):
            return f"{os.fspath(path)}: is {kind}, not a regular file; not written: give a file path for the {what}"
    return None


def write_text(path: str | os.PathLike, text: str, what: str = "output", *, allow_stdout: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` as the module docstring says."""
    if allow_stdout and os.fspath(path) == "-":
        sys.stdout.write(text)
        return
    why = refusal(path, what)
    if why:
        raise InputError(why)
    name = os.fspath(path)
    directory = os.path.dirname(name) or "."
    try:
        old = os.stat(path)
    except FileNotFoundError:
        old = None
    except OSError as exc:
        raise InputError(f"{name}: cannot write {what}: {exc.strerror}") from None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(name)}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"{name}: cannot write {what}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, stat.S_IMODE(old.st_mode) if old else 0o666 & ~_umask())
        if old is not None and os.geteuid() == 0:
            with contextlib.suppress(OSError):
                os.chown(tmp, old.st_uid, old.st_gid)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise InputError(f"{name}: cannot write {what}: {exc.strerror}") from None
