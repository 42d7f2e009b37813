"""The one exit path for faults: every command runs inside ``guarded``, the process inside ``main``.

What happens (README "Exit codes"; every message is one line on stderr, escaped like log content):

- an input or usage problem (InputError, QshapeError, GrammarError, an unreadable file, closed
  standard input): ``postfix-diag: error: ...``, exit 2;
- writing the output fails (ENOSPC, EIO, EBADF: ``> /dev/full``, a closed stdout):
  ``postfix-diag: cannot write output: No space left on device``, exit 2;
- the reader of the output went away (EPIPE: ``| head``): nothing is printed, the exit status is
  the one the command had decided (0, or check's 0/1);
- SIGINT (Ctrl-C) or SIGTERM: ``postfix-diag: interrupted`` / ``terminated``, exit 130 / 143, at
  once: worker processes are killed (see postfix_diag.workers) and nothing waits for them;
- out of memory: ``postfix-diag: error: out of memory``, exit 2;
- anything else is a bug: ``postfix-diag: internal error: ...``, exit 3 (POSTFIX_DIAG_DEBUG=1 prints
  the traceback first).

Output never fails on the terminal's encoding: stdout and stderr write characters the locale
cannot encode as ``\\u202e``-style escapes (``prepare_process``).
"""

from __future__ import annotations

import functools
import io
import os
import signal
import sys
import traceback

import typer

from ..report.escape import terminal

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM  # 130, 143
PROG = "postfix-diag"


class Terminated(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error
    """Raised in the main process by SIGTERM (a BaseException, so that no `except Exception` in
    the pipeline swallows it)."""


class OutputError(Exception):
    """Writing the output failed (the disk is full, the device is gone, stdout is closed)."""


class ReaderGone(Exception):  # noqa: N818
    """The reader of the output went away (EPIPE). Not an OSError, so that no handler of input
    errors (or typer's own, which exits 1) takes it for something else."""


class _State:
    exit_status = EXIT_OK  # what a broken pipe exits with: the status the command decided
    said_signal = False  # the interrupted/terminated line was printed
    main_pid: int | None = None  # set by prepare_process in the real process (not under CliRunner)


def set_exit_status(code: int) -> None:
    """The exit status the running command has decided on, before it writes its output."""
    _State.exit_status = code


def say(message: str) -> None:
    """One line on stderr, escaped; a broken stderr is ignored (there is nowhere left to tell)."""
    try:
        sys.stderr.write(terminal(message) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def error_line(message: str) -> None:
    say(f"{PROG}: error: {message}")


# --- the process -----------------------------------------------------------------------------------

class _ClosedStdin:
    """sys.stdin when file descriptor 0 was closed (``<&-``): reading it is an input error."""

    encoding = "utf-8"

    def _closed(self, *args, **kwargs):
        from ..inputs import InputError

        raise InputError("<stdin>: standard input is closed (nothing to read for -)")

    buffer = property(_closed)
    read = readline = readlines = __iter__ = fileno = _closed

    def isatty(self) -> bool:
        return False


class _ClosedOutput(io.TextIOBase):
    """sys.stdout when file descriptor 1 was closed (``>&-``)."""

    def write(self, s):
        raise OutputError("standard output is closed")

    def flush(self):
        pass


def _on_sigterm(signum, frame):
    if os.getpid() == _State.main_pid:  # a forked worker inherits the handler until it resets it
        raise Terminated()


def prepare_process() -> None:
    """Standard streams and signals for a run of the real program (``main``)."""
    _State.main_pid = os.getpid()
    devnull_flags = (os.O_RDONLY, os.O_WRONLY, os.O_WRONLY)
    for fd, flags in enumerate(devnull_flags):  # a closed 0/1/2 must not be reused by the next open()
        try:
            os.fstat(fd)
        except OSError:
            try:
                os.dup2(os.open(os.devnull, flags), fd)
            except OSError:
                pass
            if fd == 0:
                sys.stdin = _ClosedStdin()
            elif fd == 1:
                sys.stdout = _ClosedOutput()
            else:
                sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the process's stderr
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass
    sys.stdout = _GuardedOutput(sys.stdout)
    signal.signal(signal.SIGTERM, _on_sigterm)


def _silence_stdout() -> None:
    """After EPIPE or a failed write: send what is still buffered to /dev/null, so that no later
    flush (at exit) fails again."""
    try:
        fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else 1
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return
    for stream in (sys.stdout, sys.__stdout__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


def flush_stdout(code: int) -> int:
    """Flush what the program wrote; the exit status once the output is out (or could not be)."""
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ReaderGone):
        _silence_stdout()
    except (OSError, OutputError) as exc:
        say(f"{PROG}: cannot write output: {_reason(exc)}")
        _silence_stdout()
        return EXIT_USAGE
    return code


def finish(code: int) -> None:
    """Leave the process with ``code``. After a signal nothing is waited for (worker pools, their
    threads): os._exit, once stdout and stderr are flushed."""
    code = flush_stdout(code)
    if code in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        if not _State.said_signal:  # it came outside a command: typer turned Ctrl-C into exit 130
            say(f"{PROG}: {'interrupted' if code == EXIT_INTERRUPTED else 'terminated'}")
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os._exit(code)
    sys.exit(code)


# --- one command -----------------------------------------------------------------------------------

class _GuardedOutput(io.TextIOBase):
    """sys.stdout while a command runs: a failed write is an OutputError, not an input problem."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, s):
        try:
            return self._stream.write(s)
        except BrokenPipeError:
            raise ReaderGone() from None
        except OSError as exc:
            raise OutputError(_reason(exc)) from None

    def flush(self):
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise ReaderGone() from None
        except OSError as exc:
            raise OutputError(_reason(exc)) from None

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def isatty(self):
        return self._stream.isatty()

    @property
    def encoding(self):
        return getattr(self._stream, "encoding", "utf-8")


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _user_errors() -> tuple[type[BaseException], ...]:
    from ..inputs import InputError

    types: list[type[BaseException]] = [InputError]
    try:
        from ..grammar import GrammarError

        types.append(GrammarError)
    except Exception:  # noqa: BLE001 - a broken grammar package must not hide the real fault
        pass
    try:
        from ..qshape import QshapeError

        types.append(QshapeError)
    except Exception:  # noqa: BLE001
        pass
    return tuple(types)


def exit_status_for(exc: BaseException) -> int:
    """Say what went wrong (one line) and return the exit status for it."""
    if isinstance(exc, (BrokenPipeError, ReaderGone)):
        _silence_stdout()
        return _State.exit_status
    if isinstance(exc, OutputError):
        say(f"{PROG}: cannot write output: {exc}")
        _silence_stdout()
        return EXIT_USAGE
    if isinstance(exc, KeyboardInterrupt):
        say(f"{PROG}: interrupted")
        _State.said_signal = True
        return EXIT_INTERRUPTED
    if isinstance(exc, Terminated):
        say(f"{PROG}: terminated")
        _State.said_signal = True
        return EXIT_TERMINATED
    if isinstance(exc, MemoryError):
        error_line("out of memory")
        return EXIT_USAGE
    if isinstance(exc, _user_errors()):
        error_line(str(exc))
        return EXIT_USAGE
    if isinstance(exc, OSError):  # an input or environment fault the code did not name better
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        error_line(f"{where}{_reason(exc)}")
        return EXIT_USAGE
    if os.environ.get("POSTFIX_DIAG_DEBUG"):
        traceback.print_exception(exc)
    say(f"{PROG}: internal error: {type(exc).__name__}: {exc} "
        "(set POSTFIX_DIAG_DEBUG=1 for a traceback, and please report it)")
    return EXIT_INTERNAL


def guarded(func):
    """Run a command through the one exit path: its faults become one line and an exit status."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        _State.exit_status = EXIT_OK
        real = sys.stdout
        out = sys.stdout = _GuardedOutput(real)
        try:
            try:
                func(*args, **kwargs)
                code = EXIT_OK
            except typer.Exit as exc:
                code = exc.exit_code
            _State.exit_status = code
            out.flush()
        except (typer.Abort, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - this is the one place that handles them all
            code = exit_status_for(exc)
        finally:
            sys.stdout = real
        raise typer.Exit(code)

    return wrapper
