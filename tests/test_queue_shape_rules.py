"""QSH001..QSH004: qshape's findings as rules, on the tracker's still-queued messages.

The rule cases in tests/rule_cases/queue_shape.json trigger each rule from log lines; these tests
check the glue: IDs shared with `qshape --format json`, the Message -> QueueEntry conversion on a
real capture, and which rule owns a problem two rules could report.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

from postfix_diag import qshape as qs
from postfix_diag.analyze import run
from postfix_diag.parse import Parser, iter_events
from postfix_diag.rules import REGISTRY, Engine
from postfix_diag.track import Tracker

CASES = json.loads((Path(__file__).parent / "rule_cases" / "queue_shape.json").read_text())["cases"]
CAPTURE = Path(__file__).parent / "fixtures" / "qshape" / "capture1"
NOW = 1764000000


def _case(name):
    return next(c for c in CASES if c["name"] == name)


def _run(lines, **engine_kw):
    _, findings, _ = run(Parser(year=2026).parse_lines(lines, "<case>", 2026), Engine(**engine_kw))
    return findings


def test_detect_ids_are_the_rule_ids():
    ids = (qs.BACKSCATTER_ID, qs.OLD_MAIL_ID, qs.ACTIVE_CONGESTION_ID, qs.INCOMING_GROWING_ID)
    assert ids == ("QSH001", "QSH002", "QSH003", "QSH004")
    for rid in ids:
        assert REGISTRY[rid].category == "queue"
        assert REGISTRY[rid].fix == qs.REMEDIES[rid]
        assert any(r.startswith("QSHAPE_README") for r in REGISTRY[rid].references)


def test_qshape_json_uses_the_rule_ids():
    lines = [
        json.dumps({"queue_name": "deferred", "queue_id": f"B{i:05X}", "arrival_time": NOW - 600,
                    "sender": "MAILER-DAEMON", "recipients": [{"address": f"u{i}@forged.example"}]})
        for i in range(12)
    ]
    out = qs.qshape_main(["deferred"], from_json="-", now=NOW, fmt="json",
                         stdin=io.BytesIO("\n".join(lines).encode()))
    d = json.loads(out)
    assert [f["id"] for f in d["findings"]] == ["QSH001"]
    assert d["findings"][0]["evidence"]["queue_ids"] == [f"B{i:05X}" for i in range(5)]


def test_entries_from_messages_on_a_real_capture():
    """The tracker's end-of-log queue, converted, matches the real `postqueue -j` snapshot in queue
    names and known recipients (as `qshape` log mode, which is the same tracker)."""
    meta = json.loads((CAPTURE / "cases.json").read_text())
    now = meta["captured_at"]
    events = [e for e in iter_events([str(CAPTURE / "maillog")], year=time.gmtime(now).tm_year)
              if e.ts is None or e.ts <= now]
    tracker = Tracker()
    for e in events:
        tracker.feed(e)
    got = {e.queue_id: e for e in qs.entries_from_messages(tracker.finish())}
    snap = qs.load_postqueue_json(CAPTURE / "postqueue.json")
    for s in snap:
        g = got[s.queue_id]
        assert g.queue_name == s.queue_name, s.queue_id
        known = [a for a in g.recipients if a != qs.UNKNOWN_RECIPIENT]
        assert set(known) <= set(s.recipients), s.queue_id
        if g.sender != qs.UNKNOWN_SENDER:
            assert g.sender == s.sender, s.queue_id


def test_entries_from_messages_placeholders_and_unfinished_smtpd():
    lines = [
        "Nov 25 12:00:00 mail postfix/smtpd[1234]: ABCDE160137: client=localhost[127.0.0.1]",
        "Nov 25 12:00:01 mail postfix/qmgr[900]: BBCDE160137: from=<a@example.org>, size=622, nrcpt=3 (queue active)",
        "Nov 25 12:00:02 mail postfix/smtp[2345]: BBCDE160137: to=<b@example.net>, relay=mx.example.net[192.0.2.25]:25, "
        "delay=2, delays=1/0/0.5/0.5, dsn=4.7.0, status=deferred (host mx.example.net[192.0.2.25] said: 421 4.7.0 "
        "try again later (in reply to MAIL FROM command))",
    ]
    tracker = Tracker()
    for ev in Parser(year=2026).parse_lines(lines, "<t>", 2026):
        tracker.feed(ev)
    es = qs.entries_from_messages(tracker.finish())
    assert [e.queue_id for e in es] == ["BBCDE160137"]  # the unfinished smtpd transaction is not queued
    e = es[0]
    # nrcpt=3, one reported: qmgr's delivery run is not over, the message is still active
    assert e.queue_name == "active" and e.sender == "a@example.org"
    assert e.recipients == ["b@example.net", qs.UNKNOWN_RECIPIENT, qs.UNKNOWN_RECIPIENT]
    assert "try again later" in e.delay_reasons[0]
    first = Parser(year=2026).parse_line(lines[1], "<t>", 1).ts
    assert e.arrival_time == first + 1 - 2  # first seen mid-life: backdated by the delay= of 12:00:02


def test_backscatter_owner():
    """DLV004 owns backscatter; QSH001 reports it when DLV004 is not there to."""
    lines = _case("backscatter-reported-once-by-dlv004")["lines"]
    both = {f.id for f in _run(lines)}
    assert "DLV004" in both and "QSH001" not in both
    alone = [f for f in _run(lines, select=["QSH"])]
    assert [f.id for f in alone] == ["QSH001"] and alone[0].count == 10


def test_old_mail_owner():
    """QSH002 owns old mail for one destination; QUE001 then stays at notice and points to it."""
    found = {f.id: f for f in _run(_case("old-mail-for-one-destination")["lines"])}
    assert found["QSH002"].severity == "warning" and found["QSH002"].key == "dead.example"
    assert found["QUE001"].severity == "notice" and "QSH002" in found["QUE001"].summary
    assert found["QUE001"].evidence["old_mail_reported_by"] == {"QSH002": ["dead.example"]}
    without = {f.id: f for f in _run(_case("old-mail-for-one-destination")["lines"], ignore=["QSH"])}
    assert without["QUE001"].severity == "warning"
