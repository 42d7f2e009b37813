"""The HTML report's traffic over time (traffic.Traffic) is a mergeable consumer of the one
stream: every sample log and the bench log cut into 1..8 pieces give the counts of one pass, its
state survives the pickling a worker process does, and coarsening when the buckets no longer fit
is exact. Also: the charts' bucket choice, and what counts."""

from __future__ import annotations

import functools
import pickle
from types import SimpleNamespace

import pytest
from test_pieces import BENCH, LOGS, _name, cut_sets, events_of, in_pieces

from postfix_diag import analyze as A
from postfix_diag import pipeline
from postfix_diag.report.charts import display_bucket, rebucket
from postfix_diag.traffic import MAX_BUCKETS, Traffic, next_hop


def traffic_stream(head: bool = True) -> pipeline.Stream:
    return pipeline.Stream([Traffic()], track=False, head=head)


@pytest.mark.parametrize("log", [*LOGS, BENCH], ids=_name)
def test_traffic_in_pieces_equals_one_pass(log):
    events = events_of(log)
    expected = in_pieces(traffic_stream, events, []).consumers[0].result(top=999)
    assert sum(sum(c.values()) for _, c in expected["buckets"]) > 0 or "process-limit" in log
    for what, cuts in cut_sets(events):
        got = in_pieces(traffic_stream, events, cuts).consumers[0]
        assert pickle.loads(pickle.dumps(got)).result(top=999) == expected, f"{what}: cuts {cuts}"


def test_analyze_stream_with_traffic_in_pieces():
    """On analyze's own stream (after coverage and the rules), cut inside messages' lives."""
    log = next(x for x in LOGS if "multi-incident" in x)
    events = events_of(log)
    make = functools.partial(A.stream, traffic=True)
    expected = in_pieces(make, events, []).consumers[3].result()
    totals = {k: sum(c[k] for _, c in expected["buckets"]) for k in expected["buckets"][0][1]}
    assert totals == {"received": 13, "delivered": 13, "deferred": 6, "bounced": 0, "rejected": 70}
    assert expected["deferrals"] == [["connect to HOST: Connection refused", "127.0.0.1[127.0.0.1]:2526", 6]]
    for what, cuts in cut_sets(events):
        assert in_pieces(make, events, cuts).consumers[3].result() == expected, what


def _event(ts: float, kind: str = "client", i: int = 0, **f):
    return SimpleNamespace(kind=kind, ts=ts, f=f, file="x", lineno=i)


def test_coarsening_is_exact_whatever_the_cut():
    """Almost five months of traffic, a line every 50 minutes: more than MAX_BUCKETS buckets of 10 s, 1 min,
    10 min, so the buckets coarsen to an hour; pieces coarsened at other times merge to the same."""
    start = 1_700_000_000.0
    events = [_event(start + i * 3001.7, "client" if i % 3 else "reject", i, reason="no", client_ip="192.0.2.1")
              for i in range(MAX_BUCKETS + 500)]
    one = Traffic()
    for ev in events:
        one.feed(ev)
    assert one.size == 3600 and len(one.buckets) <= MAX_BUCKETS
    head, tail = Traffic(), Traffic()
    for ev in events[:100]:
        head.feed(ev)  # still fine buckets
    for ev in events[100:]:
        tail.feed(ev)
    head.merge(tail)
    assert head.result() == one.result()
    assert sum(c["received"] + c["rejected"] for _, c in one.result()["buckets"]) == len(events)


def test_what_counts():
    t = Traffic()
    for ev in (_event(10, "client"), _event(11, "pickup"),
               _event(12, "delivery", status="sent", relay="mx[192.0.2.2]:25"),
               _event(13, "delivery", status="sent", reason="forwarded as 1ABC"),  # not a delivery
               _event(14, "delivery", status="deferred", relay="none",
                      reason="connect to mx.example[192.0.2.2]:25: Connection timed out"),
               _event(15, "delivery", status="bounced"), _event(16, "reject", reason="Relay access denied",
                                                               client_host="unknown", client_ip="192.0.2.9"),
               _event(17, "connect"), _event(None, "client")):
        t.feed(ev)
    r = t.result()
    assert r["buckets"] == [[10, {"received": 2, "delivered": 1, "deferred": 1, "bounced": 1, "rejected": 1}]]
    assert r["deferrals"] == [["connect to HOST: Connection timed out", "mx.example[192.0.2.2]:25", 1]]
    assert r["rejects"] == [["Relay access denied", 1]] and r["clients"] == [["unknown[192.0.2.9]", 1]]
    assert next_hop("relay.example[192.0.2.3]:587") == "relay.example[192.0.2.3]:587"
    assert next_hop("none", "Host or domain name not found") == "none"


def test_chart_bucket_from_the_span():
    assert display_bucket(10, 0, 130) == 10  # two minutes: 10 s buckets
    assert display_bucket(10, 0, 3600) == 60  # an hour: per minute
    assert display_bucket(60, 0, 86400) == 1800  # a day: per half hour
    assert display_bucket(3600, 0, 30 * 86400) == 43200  # a month: per 12 h
    size, starts, series = rebucket([[0, {"received": 1}], [70, {"received": 2}], [200, {"received": 3}]], 10,
                                    ("received",))
    assert size == 10 and len(starts) == 21 and sum(series["received"]) == 6 and series["received"][7] == 2
