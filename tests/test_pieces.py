"""Pieces of a log, each read on its own and merged (pipeline.py), give the answer of one pass:
every sample log and the generated bench log cut into N = 1..8 pieces, at random line boundaries
and right inside messages' lives, give the same analyze JSON, summary JSON and qshape output as
one pass; and a fork pool that pickles each piece's state gives it too."""

from __future__ import annotations

import functools
import json
import random
import sys
from functools import cache
from pathlib import Path

import pytest

from postfix_diag import analyze as A
from postfix_diag import pipeline
from postfix_diag import qshape as Q
from postfix_diag import summary as S
from postfix_diag.inputs import resolve
from postfix_diag.parse import Parser
from postfix_diag.report import render_analysis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import golden  # noqa: E402

YEAR = 2025
LOGS = sorted(str(p.relative_to(ROOT)) for p in [*(ROOT / "sample_logs").glob("*/maillog"),
                                                  *(ROOT / "tests/fixtures/qshape").glob("*/maillog")])
BENCH = str(golden.BENCH_LOG.relative_to(ROOT))


@cache
def events_of(log: str, lean: bool = False) -> tuple:
    """The events of a log (``lean``: with only the fields the summary's parser captures)."""
    golden.ensure_bench_log()
    source = pipeline.ranked(resolve([str(ROOT / log)]))[0]
    return tuple(Parser(year=YEAR, fields=S.parser_fields() if lean else None).parse_source(source))


def in_pieces(make, events, cuts) -> pipeline.Stream:
    """The stream of ``events`` read as pieces cut before each index of ``cuts``, merged."""
    bounds = [0, *cuts, len(events)]
    head = make(head=True)
    head.feed_all(events[bounds[0]:bounds[1]])
    for start, end in zip(bounds[1:-1], bounds[2:], strict=True):
        piece = make(head=False)
        piece.feed_all(events[start:end])
        head.merge(piece)
    return head


def lives(events) -> list[tuple[int, int]]:
    """(first, last) index of each queue id's lines, for those with lines far apart."""
    spans: dict = {}
    for i, ev in enumerate(events):
        if ev.qid and ev.qid != "NOQUEUE":
            first, _ = spans.get((ev.host, ev.qid), (i, i))
            spans[(ev.host, ev.qid)] = (first, i)
    return [(a, b) for a, b in spans.values() if b - a > 1]


def cut_sets(events, seed: int = 11):
    """(description, cuts) for N = 1..8 pieces: cuts at random line boundaries and right inside
    the lives of messages (just after a message's first line, or just before its last), half
    and half."""
    rng = random.Random(seed)
    n = len(events)
    spans = lives(events)
    for pieces in range(1, 9):
        inside = {rng.choice((a + 1, b)) for a, b in rng.sample(spans, min(pieces // 2, len(spans)))}
        anywhere = set(rng.sample(range(1, n), min(pieces - 1 - len(inside), n - 1)))
        yield f"{pieces} pieces", sorted(inside | anywhere)


def analysis_json(s: pipeline.Stream, log: str) -> str:
    """The whole JSON report: findings with their occurrences, incidents, coverage."""
    return render_analysis(A.conclude(s, [log]), "json")


def _name(log: str) -> str:
    return Path(log).parent.name


@pytest.mark.parametrize("log", [*LOGS, BENCH], ids=_name)
def test_analyze_in_pieces_equals_one_pass(log):
    events = events_of(log)
    one = in_pieces(A.stream, events, [])
    expected = analysis_json(one, log)
    assert json.loads(expected)["lines"]["total"] == len(events)
    if _name(log) in ("multi-incident", "chroot-broken", "relay-down", "bench"):  # incidents are compared too
        assert json.loads(expected)["incidents"]
    for what, cuts in cut_sets(events):
        assert analysis_json(in_pieces(A.stream, events, cuts), log) == expected, f"{what}: cuts {cuts}"


@pytest.mark.parametrize("log", LOGS, ids=_name)
def test_analyze_cut_anywhere_in_two_equals_one_pass(log):
    """Every line boundary of the small logs, one cut at a time."""
    events = events_of(log)
    expected = analysis_json(in_pieces(A.stream, events, []), log)
    for cut in range(1, len(events)):
        assert analysis_json(in_pieces(A.stream, events, [cut]), log) == expected, f"cut before line {cut + 1}"


def summary_json(s: pipeline.Stream) -> str:
    s.finish()
    return json.dumps(S.summarize(s.consumers[0], top=-1, detail=-1), sort_keys=True)


@pytest.mark.parametrize("log", [*LOGS, BENCH], ids=_name)
def test_summary_in_pieces_equals_one_pass(log):
    events = events_of(log, lean=True)
    expected = summary_json(in_pieces(S.stream, events, []))
    assert json.loads(expected)["meta"]["lines"] == len(events)
    for what, cuts in cut_sets(events):
        assert summary_json(in_pieces(S.stream, events, cuts)) == expected, f"{what}: cuts {cuts}"


def qshape_out(s: pipeline.Stream) -> str:
    """qshape's log mode: the table of every queue by recipient and by sender, and the JSON."""
    at = s.consumers[0]
    now = at.now if at.now is not None else at.last
    entries = Q.entries_from_messages(s.finish())
    table = Q.render_qshape(entries, queues=list(Q.ALL_QUEUES), now=now)
    senders = Q.render_qshape(entries, queues=["deferred"], now=now, senders=True)
    data = Q.shape_to_dict(Q.compute_shape(entries, now=now))
    data["findings"] = Q.detect_findings(entries, now)
    return table + senders + json.dumps(data, indent=2)


@pytest.mark.parametrize("log", [*LOGS, BENCH], ids=_name)
def test_qshape_in_pieces_equals_one_pass(log):
    events = events_of(log)
    stamps = sorted(ev.ts for ev in events if ev.ts is not None)
    for make in (Q.queue_stream, functools.partial(Q.queue_stream, now=stamps[len(stamps) // 2])):
        expected = qshape_out(in_pieces(make, events, []))
        assert "TOTAL" in expected
        for what, cuts in cut_sets(events):
            assert qshape_out(in_pieces(make, events, cuts)) == expected, f"{what}: cuts {cuts}"


def test_pieces_read_by_a_fork_pool_equal_one_process(monkeypatch):
    """Each piece's stream is pickled in its worker and merged in this process."""
    log = str(ROOT / BENCH)
    events_of(BENCH)  # makes the bench log
    one = A.analyze([log], jobs=1)
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(pipeline, "PIECE_BYTES", 700_000)
    many = A.analyze([log], jobs=3)
    assert render_analysis(many, "json") == render_analysis(one, "json")
    assert many.coverage.total == one.coverage.total > 90_000


# A log (lines on real Postfix templates) with what a cut can break: a master restart while a
# message is active, a message requeued (postsuper -r, pickup orig_id=), a status line after
# "removed", an smtpd transaction abandoned and its queue id reused hours later, a bounce
# notification, a queue id reused while its message was still queued (lost "removed"), smtpd
# sessions open across cuts, at the end, and one whose pid connects again without a disconnect,
# and CHR003's fatal line after a SASL failure.
STITCHING = """\
Nov 25 10:00:00 mx postfix/master[100]: daemon started -- version 3.7.11, configuration /etc/postfix
Nov 25 10:00:01 mx postfix/smtpd[200]: connect from a.example[192.0.2.1]
Nov 25 10:00:02 mx postfix/smtpd[200]: 1A2B3C4D5E: client=a.example[192.0.2.1]
Nov 25 10:00:02 mx postfix/cleanup[300]: 1A2B3C4D5E: message-id=<1@a.example>
Nov 25 10:00:03 mx postfix/qmgr[101]: 1A2B3C4D5E: from=<x@a.example>, size=1000, nrcpt=2 (queue active)
Nov 25 10:00:04 mx postfix/smtp[400]: 1A2B3C4D5E: to=<b@b.example>, relay=none, delay=2, delays=0/0/2/0, dsn=4.4.1, status=deferred (connect to mx.b.example[198.51.100.2]:25: Connection timed out)
Nov 25 10:00:05 mx postfix/smtpd[200]: disconnect from a.example[192.0.2.1] ehlo=1 mail=1 rcpt=2 data=1 quit=1 commands=6
Nov 25 10:00:06 mx postfix/master[100]: daemon started -- version 3.7.11, configuration /etc/postfix
Nov 25 10:00:07 mx postfix/qmgr[102]: 1A2B3C4D5E: from=<x@a.example>, size=1000, nrcpt=2 (queue active)
Nov 25 10:00:08 mx postfix/smtp[401]: 1A2B3C4D5E: to=<b@b.example>, relay=none, delay=6, delays=4/0/2/0, dsn=4.4.1, status=deferred (connect to mx.b.example[198.51.100.2]:25: Connection timed out)
Nov 25 10:00:08 mx postfix/smtp[401]: 1A2B3C4D5E: to=<c@b.example>, relay=mx.c.example[198.51.100.3]:25, delay=6, delays=4/0/1/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Nov 25 10:00:10 mx postfix/pickup[500]: 2B3C4D5E6F: uid=0 from=<root>
Nov 25 10:00:10 mx postfix/cleanup[300]: 2B3C4D5E6F: message-id=<2@mx>
Nov 25 10:00:11 mx postfix/qmgr[102]: 2B3C4D5E6F: from=<root@mx.example>, size=500, nrcpt=1 (queue active)
Nov 25 10:00:12 mx postfix/smtp[402]: 2B3C4D5E6F: to=<d@d.example>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to mx.d.example[198.51.100.4]:25: Connection refused)
Nov 25 10:00:13 mx postfix/postsuper[600]: 2B3C4D5E6F: requeued
Nov 25 10:00:14 mx postfix/pickup[500]: 3C4D5E6F70: uid=0 from=<root> orig_id=2B3C4D5E6F
Nov 25 10:00:14 mx postfix/cleanup[300]: 3C4D5E6F70: message-id=<2@mx>
Nov 25 10:00:15 mx postfix/qmgr[102]: 3C4D5E6F70: from=<root@mx.example>, size=500, nrcpt=1 (queue active)
Nov 25 10:00:16 mx postfix/smtp[403]: 3C4D5E6F70: to=<d@d.example>, relay=mx.d.example[198.51.100.4]:25, delay=6, delays=5/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Nov 25 10:00:16 mx postfix/qmgr[102]: 3C4D5E6F70: removed
Nov 25 10:00:17 mx postfix/local[404]: 3C4D5E6F70: to=<e@mx.example>, relay=local, delay=7, delays=6/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)
Nov 25 10:00:19 mx postfix/smtpd[205]: connect from m.example[192.0.2.10]
Nov 25 10:00:20 mx postfix/smtpd[201]: connect from f.example[192.0.2.6]
Nov 25 10:00:21 mx postfix/smtpd[201]: 4D5E6F7081: client=f.example[192.0.2.6]
Nov 25 10:00:22 mx postfix/smtpd[201]: lost connection after DATA (0 bytes) from f.example[192.0.2.6]
Nov 25 10:00:22 mx postfix/smtpd[201]: disconnect from f.example[192.0.2.6] ehlo=1 mail=1 rcpt=1 data=0/1 commands=3/4
Nov 25 17:00:00 mx postfix/smtpd[201]: connect from g.example[192.0.2.7]
Nov 25 17:00:01 mx postfix/smtpd[201]: 4D5E6F7081: client=g.example[192.0.2.7]
Nov 25 17:00:01 mx postfix/cleanup[301]: 4D5E6F7081: message-id=<3@g.example>
Nov 25 17:00:02 mx postfix/qmgr[102]: 4D5E6F7081: from=<y@g.example>, size=700, nrcpt=1 (queue active)
Nov 25 17:00:03 mx postfix/smtp[405]: 4D5E6F7081: to=<h@h.example>, relay=mx.h.example[198.51.100.8]:25, delay=2, delays=1/0/0.5/0.5, dsn=5.1.1, status=bounced (host mx.h.example[198.51.100.8] said: 550 5.1.1 <h@h.example>: Recipient address rejected: User unknown (in reply to RCPT TO command))
Nov 25 17:00:03 mx postfix/cleanup[301]: 5E6F708192: message-id=<4@mx.example>
Nov 25 17:00:03 mx postfix/bounce[406]: 4D5E6F7081: sender non-delivery notification: 5E6F708192
Nov 25 17:00:03 mx postfix/qmgr[102]: 5E6F708192: from=<>, size=2000, nrcpt=1 (queue active)
Nov 25 17:00:04 mx postfix/qmgr[102]: 4D5E6F7081: removed
Nov 25 17:00:05 mx postfix/smtp[407]: 5E6F708192: to=<y@g.example>, relay=none, delay=2, delays=0/0/2/0, dsn=4.4.1, status=deferred (connect to mx.g.example[198.51.100.7]:25: Connection timed out)
Nov 25 17:00:06 mx postfix/smtpd[201]: disconnect from g.example[192.0.2.7] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
Nov 25 17:00:10 mx postfix/smtpd[203]: connect from a.example[192.0.2.1]
Nov 25 17:00:11 mx postfix/smtpd[203]: 1A2B3C4D5E: client=a.example[192.0.2.1]
Nov 25 17:00:11 mx postfix/cleanup[302]: 1A2B3C4D5E: message-id=<5@a.example>
Nov 25 17:00:12 mx postfix/qmgr[102]: 1A2B3C4D5E: from=<z@a.example>, size=300, nrcpt=1 (queue active)
Nov 25 17:00:13 mx postfix/smtp[408]: 1A2B3C4D5E: to=<i@i.example>, relay=mx.i.example[198.51.100.9]:25, delay=2, delays=1/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Nov 25 17:00:13 mx postfix/qmgr[102]: 1A2B3C4D5E: removed
Nov 25 17:00:14 mx postfix/smtpd[203]: disconnect from a.example[192.0.2.1] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
Nov 25 17:00:15 mx postfix/smtpd[205]: connect from n.example[192.0.2.11]
Nov 25 17:00:16 mx postfix/smtpd[205]: disconnect from n.example[192.0.2.11] ehlo=1 quit=1 commands=2
Nov 25 17:00:20 mx postfix/submission/smtpd[204]: connect from k.example[192.0.2.9]
Nov 25 17:00:21 mx postfix/submission/smtpd[204]: warning: SASL: Connect to Dovecot auth socket '/run/dovecot/auth-client' failed: No such file or directory
Nov 25 17:00:22 mx postfix/submission/smtpd[204]: fatal: no SASL authentication mechanisms
"""


def test_stitching_cases_cut_anywhere(tmp_path):
    """Every cut in two, and 40 random cuts in three to eight pieces, of a log made of the cases a
    cut can break give the analyze JSON, summary JSON and qshape output of one pass."""
    log = tmp_path / "mail.log"
    log.write_text(STITCHING)
    source = pipeline.ranked(resolve([str(log)]))[0]
    events = tuple(Parser(year=YEAR).parse_source(source))
    lean = tuple(Parser(year=YEAR, fields=S.parser_fields()).parse_source(source))
    assert not [ev.line for ev in events if ev.kind == "unrecognized"]
    outputs = [(A.stream, events, lambda s: analysis_json(s, "x")), (S.stream, lean, summary_json),
               (Q.queue_stream, events, qshape_out)]
    rng = random.Random(5)
    cuts = [[c] for c in range(1, len(events))]
    cuts += [sorted(rng.sample(range(1, len(events)), rng.randint(2, 7))) for _ in range(40)]
    for make, evs, out in outputs:
        expected = out(in_pieces(make, evs, []))
        for c in cuts:
            assert out(in_pieces(make, evs, c)) == expected, f"{make.__module__}: cuts {c}"
    # what the cases are about, in one pass
    summary = json.loads(summary_json(in_pieces(S.stream, lean, [])))
    assert summary["totals"]["deferred"] == 3  # 1A2B3C4D5E, 2B3C4D5E6F, the bounce 5E6F708192
    assert summary["totals"]["bytes_delivered"] == 1000 + 500 + 500 + 300  # the late line has the size
    queue = Q.entries_from_messages(in_pieces(Q.queue_stream, events, []).finish())
    # (the status line after "removed" leaves a message the tracker believes active)
    assert [(e.queue_id, e.queue_name) for e in queue] == [("3C4D5E6F70", "active"), ("5E6F708192", "deferred")]
