"""Worker processes that die with the command: the pool parallel runs use.

``worker_pool`` is a ProcessPoolExecutor whose workers
- ignore SIGINT (Ctrl-C reaches the whole process group; only the main process answers it, with
  one line, instead of one traceback per worker),
- take SIGTERM's default action (die), and
- get SIGKILL from the kernel when the main process dies, however it dies (Linux
  PR_SET_PDEATHSIG), so no worker outlives a killed command.

When the block is left by an exception (KeyboardInterrupt, SIGTERM's Terminated, a fault), the
workers are killed and the pool is shut down without waiting for them: a worker blocked on a full
pipe or a lock cannot hold the command up (issue #18: the parallel summary hung after SIGINT).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from concurrent.futures import ProcessPoolExecutor

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the kill on the way out still applies
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _init_worker(parent: int, initializer=None, initargs=()) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent)
    if initializer is not None:
        initializer(*initargs)


def kill(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's workers and shut it down without waiting for them."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for p in processes:
        with contextlib.suppress(Exception):
            p.kill()
    with contextlib.suppress(Exception):
        pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        with contextlib.suppress(Exception):
            p.join(timeout=0.5)


@contextlib.contextmanager
def worker_pool(max_workers: int, mp_context=None, initializer=None, initargs=()):
    """A ProcessPoolExecutor for a ``with`` block; see the module docstring."""
    pool = ProcessPoolExecutor(max_workers=max_workers, mp_context=mp_context, initializer=_init_worker,
                               initargs=(os.getpid(), initializer, tuple(initargs)))
    try:
        yield pool
    except BaseException:
        kill(pool)
        raise
    pool.shutdown(wait=True)
