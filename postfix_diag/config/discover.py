"""Find the configuration of the Postfix this tool runs on (``analyze`` with no --config).

`discover()` says what it did in `Discovery.how`, one sentence for the report:

1. ``POSTFIX_DIAG_NO_CONFIG`` set (or ``enabled=False``, the CLI's ``--no-config``): nothing.
2. ``postconf`` on PATH (or in /usr/sbin): ask it for ``config_directory`` and read that
   directory's main.cf and master.cf (file:line evidence); the defaults Postfix computes on this
   host (myhostname, mydomain, mynetworks when main.cf does not set them) come from
   ``postconf -h``. When the files cannot be read, the output of ``postconf -n`` and ``postconf -M``
   is parsed instead. Each command runs with a timeout.
3. No postconf: read ``/etc/postfix`` if it exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .defaults import HOST_DEPENDENT
from .model import Config
from .read import load, unreadable
from .syntax import MAIN, MASTER, parse_bytes

ENV_OFF = "POSTFIX_DIAG_NO_CONFIG"
DEFAULT_DIR = "/etc/postfix"
TIMEOUT = 10.0
_OUTPUT_CAP = 8 * 1024 * 1024


@dataclass
class Discovery:
    config: Config | None
    how: str  # e.g. "read /etc/postfix/main.cf and /etc/postfix/master.cf (config_directory from postconf)"


def find_postconf(path: str | None = None) -> str | None:
    """The postconf command: on PATH, else in /usr/sbin or /usr/local/sbin (not on a user's PATH)."""
    found = shutil.which("postconf", path=path)
    if found:
        return found
    for d in ("/usr/sbin", "/usr/local/sbin"):
        candidate = Path(d) / "postconf"
        if path is None and candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def run_postconf(postconf: str, args: list[str], timeout: float = TIMEOUT) -> tuple[bytes | None, str]:
    """(stdout, "") or (None, one-line reason). Never raises."""
    cmd = [postconf, *args]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              env={**os.environ, "LANG": "C", "LC_ALL": "C"})
    except subprocess.TimeoutExpired:
        return None, f"`{' '.join(cmd)}` did not finish within {timeout:g} s"
    except OSError as exc:
        return None, f"cannot run `{' '.join(cmd)}`: {exc.strerror or exc}"
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return None, f"`{' '.join(cmd)}` failed: {err[-1][:200] if err else f'exit {done.returncode}'}"
    return done.stdout[:_OUTPUT_CAP], ""


def discover(*, enabled: bool = True, config_dir: str | None = None, postconf: str | None = "auto",
             timeout: float = TIMEOUT) -> Discovery:
    """The running host's configuration, or Discovery(None, why not). ``postconf=None`` never
    runs postconf; ``config_dir`` overrides the directory (default: postconf's config_directory,
    else /etc/postfix)."""
    if not enabled or os.environ.get(ENV_OFF):
        why = f"{ENV_OFF} is set" if enabled else "--no-config"
        return Discovery(None, f"configuration not read ({why})")
    if postconf == "auto":
        postconf = find_postconf()
    notes: list[str] = []
    if postconf:
        directory = config_dir
        if directory is None:
            out, err = run_postconf(postconf, ["-h", "config_directory"], timeout)
            directory = out.decode("utf-8", "replace").strip() if out else None
            if err:
                notes.append(err)
        directory = directory or DEFAULT_DIR
        host_values, err = _host_values(postconf, directory, timeout)
        if err:
            notes.append(err)
        main, master = Path(directory) / "main.cf", Path(directory) / "master.cf"
        if _readable(main):
            config = load([directory], host_values=host_values)
            got = [str(p) for p in (main, master) if _readable(p)]
            how = f"read {' and '.join(got)} (config_directory from {postconf})"
            if host_values:
                how += f"; host defaults {', '.join(sorted(host_values))} from postconf -h"
            return Discovery(config, _with_notes(how, notes))
        return _from_commands(postconf, directory, host_values, timeout, notes)
    directory = config_dir or DEFAULT_DIR
    if Path(directory).is_dir():
        config = load([directory])
        return Discovery(config, _with_notes(f"read {directory} (postconf is not on PATH)", notes))
    return Discovery(None, f"no configuration read: postconf is not on PATH and {directory} does not exist")


def _readable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.R_OK)


def _with_notes(how: str, notes: list[str]) -> str:
    return how + ("" if not notes else " (" + "; ".join(notes) + ")")


def _host_values(postconf: str, directory: str, timeout: float) -> tuple[dict, str]:
    """Values of the host-computed defaults, as postconf reports them on this host."""
    names = sorted(HOST_DEPENDENT - {"process_id", "process_name"})
    out, err = run_postconf(postconf, ["-c", directory, "-h", *names], timeout)
    if out is None:
        return {}, err
    lines = out.decode("utf-8", "replace").splitlines()
    if len(lines) != len(names):
        return {}, f"postconf -h {' '.join(names)} printed {len(lines)} lines"
    return dict(zip(names, (v.strip() for v in lines), strict=True)), ""


def _from_commands(postconf: str, directory: str, host_values: dict, timeout: float, notes: list) -> Discovery:
    parsed, ran, failed = [], [], []
    for args, kind in ((["-c", directory, "-n"], MAIN), (["-c", directory, "-M"], MASTER)):
        out, err = run_postconf(postconf, args, timeout)
        label = f"postconf {' '.join(args)}"
        if out is None:
            parsed.append((unreadable(label, err), "command"))
            failed.append(err)
            continue
        ran.append(label)
        parsed.append((parse_bytes(out, label, kind), "command"))
    if not ran:
        return Discovery(None, _with_notes(f"no configuration read ({directory} unreadable)", notes + failed))
    config = Config(parsed, host_values=host_values)
    return Discovery(config, _with_notes(f"ran {' and '.join(ran)} ({directory}/main.cf unreadable)", notes))


__all__ = ["Discovery", "discover", "find_postconf", "run_postconf"]
