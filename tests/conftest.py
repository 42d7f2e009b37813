"""Shared, generic fixtures: the parser, the external corpus location, a line builder."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# The compiled-grammar cache (postfix_diag/grammar/cache.py) of a test run, and of the CLI runs it
# starts, lives in a directory of its own, never in the user's ~/.cache. Set before anything loads
# the grammar.
os.environ["XDG_CACHE_HOME"] = _CACHE_HOME = tempfile.mkdtemp(prefix="postfix-diag-test-cache-")
atexit.register(shutil.rmtree, _CACHE_HOME, ignore_errors=True)

from postfix_diag.parse import Parser  # noqa: E402

# The third-party corpus lives outside the repository (licenses: never copy its lines in here):
# ../shared/corpus of the checkout, or of the directory above it (a worktree under /work/wt/).
_ROOT = Path(__file__).resolve().parents[1]
CORPUS = next((d / "shared" / "corpus" for d in (_ROOT.parent, _ROOT.parent.parent)
               if (d / "shared" / "corpus" / "all-lines.txt").is_file()), _ROOT.parent / "shared" / "corpus")


def syslog(body: str, program: str = "smtpd", *, tag: str | None = None, pid: int | None = 1,
           stamp: str = "Jan  1 00:00:00", host: str = "host") -> str:
    """A classic syslog line around a Postfix message body."""
    tag = tag or f"postfix/{program}"
    pid_part = f"[{pid}]" if pid is not None else ""
    return f"{stamp} {host} {tag}{pid_part}: {body}"


@pytest.fixture(scope="session")
def parser() -> Parser:
    return Parser(year=2024)


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "all-lines.txt").is_file():
        pytest.skip(f"real-world corpus not found at {CORPUS} (it is kept outside the repository)")
    return CORPUS


@pytest.fixture
def parse(parser):
    """parse(body, program="smtpd", **syslog_kwargs) -> Event for a synthetic line."""

    def _parse(body: str, program: str = "smtpd", **kw):
        return parser.parse_line(syslog(body, program, **kw), "<test>", 1)

    return _parse


@pytest.fixture(name="syslog", scope="session")
def syslog_fixture():
    """The `syslog(body, program, ...)` line builder, for tests that need the raw line."""
    return syslog
