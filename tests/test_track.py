"""The tracker's smtpd sessions, on a real captured log (sample_logs/tls-handshake: see its README)."""

from __future__ import annotations

from pathlib import Path

from postfix_diag.parse import iter_events
from postfix_diag.track import Tracker

LOG = Path(__file__).resolve().parents[1] / "sample_logs" / "tls-handshake" / "maillog"


def _sessions(log: Path):
    sessions = []
    tracker = Tracker(on_session=sessions.append)
    for ev in iter_events([str(log)]):
        tracker.feed(ev)
    tracker.finish()
    return tracker, sessions


def test_sessions_pair_connect_with_disconnect():
    text = LOG.read_text()
    _, sessions = _sessions(LOG)
    assert len(sessions) == text.count("]: connect from ")
    first = sessions[0]
    assert (first.client, first.pid) == ("localhost[127.0.0.1]", 7257)
    assert first.tls == "TLSv1.3"
    assert first.stats == "ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7"
    assert first.messages == 1
    # a handshake that failed: no TLS, and the session ended by a lost connection
    failed = [s for s in sessions if s.pid == 7263][0]
    assert failed.tls is None and failed.ended_by == "lost_connection"


def test_sessions_not_followed_without_a_reader():
    """Without on_session the tracker skips smtpd sessions (analyze has no rule that reads them)
    and follows messages just the same."""
    plain = Tracker()
    for ev in iter_events([str(LOG)]):
        plain.feed(ev)
    assert plain.sessions == {}
    with_sessions, _ = _sessions(LOG)
    assert plain.completed == with_sessions.completed > 0
