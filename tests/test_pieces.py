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
