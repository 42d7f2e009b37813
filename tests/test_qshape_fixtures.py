"""Byte-for-byte comparison with the real qshape, and the log-mode rebuild of the same queue.

Fixtures in tests/fixtures/qshape/<capture>/ come from tools/capture/qshape_capture.sh: a real
Postfix queue on loopback, its `postqueue -j`, its mail log, and Debian's /usr/sbin/qshape run at
fixed "now" values (cases.json lists the runs).  Nothing there is written by hand.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from postfix_diag.parse import iter_events
from postfix_diag.qshape import (
    UNKNOWN_RECIPIENT,
    canonical_tie_order,
    load_postqueue_json,
    qshape_args,
    rebuild_queue_from_events,
    render_qshape,
)

FIXTURES = Path(__file__).parent / "fixtures" / "qshape"
CAPTURES = sorted(p for p in FIXTURES.iterdir() if (p / "cases.json").exists()) if FIXTURES.exists() else []


def _cases():
    for cap in CAPTURES:
        meta = json.loads((cap / "cases.json").read_text())
        for case in meta["cases"]:
            yield pytest.param(cap, case, id=f"{cap.name}/{Path(case['file']).stem}")


def test_fixtures_present():
    assert CAPTURES, "no qshape capture fixture"
    for cap in CAPTURES:
        meta = json.loads((cap / "cases.json").read_text())
        assert len(meta["cases"]) >= 20
        entries = load_postqueue_json(cap / "postqueue.json")
        queues = Counter(e.queue_name for e in entries)
        # the capture exercises every queue qshape is usually pointed at
        for q in ("incoming", "active", "deferred", "hold"):
            assert queues[q] > 0, (cap.name, q, queues)
        assert any(e.sender == "" for e in entries), "no MAILER-DAEMON message"
        assert any(len(e.recipients) > 1 for e in entries)


@pytest.mark.parametrize("cap, case", list(_cases()))
def test_byte_identical_to_real_qshape(cap, case):
    entries = load_postqueue_json(cap / "postqueue.json")
    want = (cap / case["file"]).read_bytes()
    real = want.decode("utf-8")
    got = render_qshape(entries, now=case["now"], **qshape_args(case["args"]))
    # qshape leaves the order of rows with equal totals and equal name lengths undefined (Perl
    # hash order); we sort those by name.  Apart from that order, the bytes must be identical.
    assert got == canonical_tie_order(got)
    assert got.encode("utf-8") == canonical_tie_order(real).encode("utf-8")
    assert sorted(got.splitlines()) == sorted(real.splitlines())


# -- log mode: the rebuilt queue matches the snapshot ---------------------------------------------


@pytest.mark.parametrize("cap", CAPTURES, ids=[c.name for c in CAPTURES])
def test_log_mode_rebuilds_the_snapshot(cap):
    """The log's lines, through the project's parser and the tracker (the queue state the rules
    read too), give the queue that `postqueue -j` showed."""
    meta = json.loads((cap / "cases.json").read_text())
    assert meta["timezone"] == "UTC"  # so the log's wall clock is epoch time
    year = time.gmtime(meta["captured_at"]).tm_year
    events = list(iter_events([str(cap / "maillog")], year=year))
    rebuilt, now = rebuild_queue_from_events(events, now=meta["captured_at"])
    snap = load_postqueue_json(cap / "postqueue.json")

    assert {e.queue_id: e.queue_name for e in rebuilt} == {e.queue_id: e.queue_name for e in snap}
    by = {e.queue_id: e for e in rebuilt}
    for s in snap:
        r = by[s.queue_id]
        known = [a for a in r.recipients if a != UNKNOWN_RECIPIENT]
        # every recipient the log names is one the queue file still has; the rest are counted
        assert set(known) <= set(s.recipients), s.queue_id
        if UNKNOWN_RECIPIENT not in r.recipients or r.queue_name not in ("incoming",):
            assert len(r.recipients) == len(s.recipients), (s.queue_id, r.recipients, s.recipients)
        if s.queue_name in ("deferred", "hold") and UNKNOWN_RECIPIENT not in r.recipients:
            assert sorted(known) == sorted(s.recipients), s.queue_id
        if r.sender != "(sender-not-in-log)":
            assert r.sender == s.sender, s.queue_id
        # arrival time from the log is the second of the first line (the queue file has the same)
        assert abs(r.arrival_time - s.arrival_time) <= 1, s.queue_id

    # and so the senders' table matches exactly for the queues where the log knows everything
    for q in (["deferred"], ["hold"], ["deferred", "hold"]):
        assert render_qshape(rebuilt, q, now=now, senders=True) == render_qshape(
            snap, q, now=now, senders=True
        )
        assert render_qshape(rebuilt, q, now=now) == render_qshape(snap, q, now=now)
