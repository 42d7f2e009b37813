"""qshape: loading postqueue -j, the table's rules, the log-mode state machine, findings."""

from __future__ import annotations

import io
import json
import time

import pytest

from postfix_diag import qshape as qs
from postfix_diag.parse import Parser
from postfix_diag.qshape import (
    UNKNOWN_RECIPIENT,
    QshapeError,
    QueueEntry,
    compute_shape,
    load_postqueue_json,
    rebuild_queue_from_events,
    render_qshape,
)

NOW = 1764000000


def entry(qid, queue="active", age=0, sender="a@example.com", rcpts=("b@example.net",)):
    return QueueEntry(
        queue_name=queue, queue_id=qid, arrival_time=NOW - age, sender=sender, recipients=list(rcpts)
    )


# -- loading ------------------------------------------------------------------------------------

SAMPLE = (
    '{"queue_name": "deferred", "queue_id": "3F1A2B4C5D", "arrival_time": 1763990000, '
    '"message_size": 512, "forced_expire": false, "sender": "", "recipients": '
    '[{"address": "x@Example.ORG", "delay_reason": "connect to 127.0.0.1[127.0.0.1]:2599: Connection refused"}, '
    '{"address": "y@example.org"}]}\n'
    "\n"
    '{"queue_name": "hold", "queue_id": "4A1A2B4C5D", "arrival_time": 1763999000, '
    '"message_size": 100, "forced_expire": true, "sender": "s@corp.example", '
    '"recipients": [{"address": "z@example.net"}]}\n'
)


@pytest.mark.parametrize("form", ["str", "bytes", "textio", "binio"])
def test_load_postqueue_json_forms(form):
    data = {
        "str": SAMPLE,
        "bytes": SAMPLE.encode(),
        "textio": io.StringIO(SAMPLE),
        "binio": io.BytesIO(SAMPLE.encode()),
    }[form]
    es = load_postqueue_json(data)
    assert [e.queue_id for e in es] == ["3F1A2B4C5D", "4A1A2B4C5D"]
    assert es[0].recipients == ["x@Example.ORG", "y@example.org"]
    assert es[0].delay_reasons[0].endswith("Connection refused") and es[0].delay_reasons[1] is None
    assert es[0].sender == "" and es[0].message_size == 512 and not es[0].forced_expire
    assert es[1].queue_name == "hold" and es[1].forced_expire


def test_load_postqueue_json_array_and_path(tmp_path):
    arr = "[" + ",".join(line for line in SAMPLE.splitlines() if line) + "]"
    assert len(load_postqueue_json(arr)) == 2
    p = tmp_path / "q.json"
    p.write_text(SAMPLE)
    assert len(load_postqueue_json(p)) == 2


@pytest.mark.parametrize("data", ["", "\n\n", "   \n"])
def test_load_empty(data):
    assert load_postqueue_json(data) == []
    # an empty queue still renders qshape's header and an all-zero TOTAL row
    out = render_qshape([], now=NOW)
    assert out.splitlines()[1].split() == ["TOTAL"] + ["0"] * 11


@pytest.mark.parametrize(
    "data, msg",
    [
        ('{"queue_name": "active"', "line 1"),
        (SAMPLE + "not json\n", "line 4"),
        ("[1, 2]", "message 1"),
        ('"just a string"\n', "line 1"),
        ('{"queue_name": "active", "queue_id": "A"}\n', "lacks"),
        (
            '{"queue_name": "a", "queue_id": "A", "arrival_time": "x", "sender": "", "recipients": []}',
            "arrival_time",
        ),
        (
            '{"queue_name": "a", "queue_id": "A", "arrival_time": 1, "sender": "", "recipients": [5]}',
            "recipient",
        ),
        ('[{"queue_name": "a"', "not valid JSON"),
    ],
)
def test_load_bad_json_is_a_clean_error(data, msg):
    with pytest.raises(QshapeError) as ei:
        load_postqueue_json(data)
    assert msg in str(ei.value)


# -- the table's rules ------------------------------------------------------------------------


def rows(out):
    return {line.split()[0]: [int(x) for x in line.split()[1:]] for line in out.splitlines()[1:]}


def test_header_and_default_queues():
    es = [
        entry("A00001", "active"),
        entry("A00002", "incoming"),
        entry("A00003", "deferred"),
        entry("A00004", "hold"),
    ]
    out = render_qshape(es, now=NOW)
    assert out.splitlines()[0].split() == "T 5 10 20 40 80 160 320 640 1280 1280+".split()
    assert rows(out)["TOTAL"][0] == 2
    assert rows(render_qshape(es, ["hold", "deferred"], now=NOW))["TOTAL"][0] == 2
    assert rows(render_qshape(es, ["/var/spool/postfix/hold"], now=NOW))["TOTAL"][0] == 1


@pytest.mark.parametrize(
    "age_s, col",
    [
        (0, 1),
        (299, 1),
        (300, 2),
        (599, 2),
        (600, 3),
        (1199, 3),
        (1200, 4),
        (76799, 9),
        (76800, 10),
        (10**7, 10),
        (-500, 1),
    ],
)
def test_geometric_bucket_edges(age_s, col):
    r = rows(render_qshape([entry("A00001", age=age_s)], now=NOW))["example.net"]
    assert r[col] == 1 and sum(r[1:]) == 1


def test_linear_buckets_and_headers():
    out = render_qshape([entry("A00001", age=16 * 60)], now=NOW, linear=True, bucket_time=5, buckets=6)
    assert out.splitlines()[0].split() == "T 5 10 15 20 25 25+".split()
    assert rows(out)["example.net"] == [1, 0, 0, 0, 1, 0, 0]


def test_recipients_vs_senders_and_mailer_daemon():
    es = [
        entry("A00001", sender="", rcpts=["a@X.example", "b@x.example", "c@y.example"]),
        entry("A00002", sender="Bob@Corp.Example", rcpts=["d@y.example"]),
    ]
    r = rows(render_qshape(es, now=NOW))
    assert r["TOTAL"][0] == 4 and r["x.example"][0] == 2 and r["y.example"][0] == 2
    s = rows(render_qshape(es, now=NOW, senders=True))
    assert s["TOTAL"][0] == 2 and s["MAILER-DAEMON"][0] == 1 and s["corp.example"][0] == 1


def test_messages_without_recipients_are_skipped_like_qshape():
    assert rows(render_qshape([entry("A00001", rcpts=[])], now=NOW, senders=True))["TOTAL"][0] == 0


def test_parent_rows_need_min_subdomains():
    es = [entry(f"A0000{i}", rcpts=[f"u@s{i}.corp.example"]) for i in range(5)]
    r = rows(render_qshape(es, now=NOW, parents=True))
    assert r[".corp.example"][0] == 5
    assert ".corp.example" not in rows(render_qshape(es[:4], now=NOW, parents=True))
    assert rows(render_qshape(es[:4], now=NOW, parents=True, min_subdomains=4))[".corp.example"][0] == 4
    assert ".corp.example" not in rows(render_qshape(es, now=NOW))
    # no top-level-domain rows
    assert ".example" not in r


def test_sort_order_total_then_length_then_name():
    es = [
        entry(
            "A00001",
            rcpts=["a@bb.example", "b@aa.example", "c@z.example", "d@longer.example", "e@longer.example"],
        )
    ]
    names = [line.split()[0] for line in render_qshape(es, now=NOW).splitlines()[1:]]
    assert names == ["TOTAL", "longer.example", "z.example", "aa.example", "bb.example"]


def test_long_names_truncated_with_plus():
    long = "a-really-quite-long-subdomain-name-that-will-not-fit.example.org"
    es = [entry(f"A0000{i}", rcpts=[f"u@s{i}.{long}"]) for i in range(5)]
    out = render_qshape(es, now=NOW, parents=True)
    lines = out.splitlines()
    assert all(len(line) == len(lines[0]) for line in lines)
    assert len(lines[0]) == 80
    assert any(line.startswith(".+") and line.split()[0].endswith("example.org") for line in lines)
    assert any(line.startswith("+") for line in lines)
    wide = render_qshape(es, now=NOW, parents=True, width=200)
    assert f".{long}" in wide and len(wide.splitlines()[0]) == 200
    assert render_qshape(es, now=NOW, width=60) == render_qshape(es, now=NOW)  # -w below 80 ignored


def test_json_form():
    es = [entry("A00001", age=700, rcpts=["a@x.example", "b@x.example"])]
    d = json.loads(qs.render_qshape_json(es, now=NOW))
    assert d["now"] == NOW and d["queues"] == ["incoming", "active"]
    assert [b["label"] for b in d["buckets"]][:3] == ["5", "10", "20"]
    assert d["buckets"][-1]["max_minutes"] is None
    assert d["rows"][0] == {"domain": "TOTAL", "total": 2, "counts": [0, 0, 2] + [0] * 7}
    assert d["rows"][1]["domain"] == "x.example"


def test_compute_shape_option_guards_like_qshape():
    sh = compute_shape([], now=NOW, buckets=0, bucket_time=-1, min_subdomains=0, width=10)
    assert (sh.bucket_count, sh.bucket_time, sh.min_subdomains, sh.width) == (10, 5, 5, 80)


# -- --now -----------------------------------------------------------------------------------


def test_parse_now():
    assert qs.parse_now(None, 100) == 100
    assert qs.parse_now("+30m", 100) == 1900
    assert qs.parse_now("-1h", 7200) == 3600
    assert qs.parse_now("1764000000", 0) == 1764000000
    assert qs.parse_now("2025-11-24T16:00:00", 0, wall_clock=True) == 1764000000
    assert qs.parse_now("2025-11-24T17:00:00+01:00", 0) == 1764000000
    with pytest.raises(QshapeError):
        qs.parse_now("yesterday-ish", 0)


# -- log mode: the tracker's queue state, fed real log lines through the parser ----------------

_PARSER = Parser(year=2025)  # NOW is in November 2025


def ev(ts, program, text):
    """The event of one classic syslog line at ``ts`` (the log's wall clock is read as UTC)."""
    stamp = time.strftime("%b %e %H:%M:%S", time.gmtime(ts))
    e = _PARSER.parse_line(f"{stamp} mail postfix/{program}[1]: {text}", "<test>", 1)
    assert e.kind != "unrecognized" and e.ts == ts, (e, text)
    return e


def test_log_mode_lifecycle():
    t = NOW - 3600
    events = [
        # 1: sendmail, deferred for one of three recipients, then held, released, retried
        ev(t, "pickup", "AAA111: uid=0 from=<alice@s1.corp.example>"),
        ev(t, "cleanup", "AAA111: message-id=<1@x>"),
        ev(t + 1, "qmgr", "AAA111: from=<alice@s1.corp.example>, size=400, nrcpt=3 (queue active)"),
        ev(
            t + 2,
            "local",
            "AAA111: to=<root@capture.example>, orig_to=<postmaster@capture.example>, "
            "relay=local, delay=1, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to mailbox)",
        ),
        ev(
            t + 2,
            "smtp",
            "AAA111: to=<bob@example.net>, relay=none, delay=2, delays=1/0/1/0, dsn=4.4.1, "
            "status=deferred (connect to 127.0.0.1[127.0.0.1]:2599: Connection refused)",
        ),
        ev(
            t + 2,
            "local",
            "AAA111: to=<nosuch@capture.example>, relay=local, delay=1, "
            'dsn=5.1.1, status=bounced (unknown user: "nosuch")',
        ),
        ev(t + 3, "cleanup", "BBB222: message-id=<2@x>"),
        ev(t + 3, "bounce", "AAA111: sender non-delivery notification: BBB222"),
        ev(t + 3, "qmgr", "BBB222: from=<>, size=2000, nrcpt=1 (queue active)"),
        ev(
            t + 4,
            "smtp",
            "BBB222: to=<alice@s1.corp.example>, relay=none, delay=1, "
            "status=deferred (connect to 127.0.0.1[127.0.0.1]:2599: Connection refused)",
        ),
        # 2: SMTP, still being delivered when the log ends (active), recipients not yet named
        ev(t + 5, "smtpd", "CCC333: client=localhost[127.0.0.1]"),
        ev(t + 5, "cleanup", "CCC333: message-id=<3@x>"),
        ev(t + 6, "qmgr", "CCC333: from=<web@shop.example>, size=300, nrcpt=2 (queue active)"),
        # 3: smtpd transaction that never completed: not queued
        ev(t + 7, "smtpd", "DDD444: client=localhost[127.0.0.1]"),
        # 4: sendmail, never taken in by qmgr: incoming
        ev(t + 8, "pickup", "EEE555: uid=0 from=<late@corp.example>"),
        ev(t + 8, "cleanup", "EEE555: message-id=<5@x>"),
        # 5: held by header_checks in cleanup
        ev(t + 9, "pickup", "FFF666: uid=0 from=<held@hold.example>"),
        ev(
            t + 9,
            "cleanup",
            "FFF666: hold: header Subject: please HOLDME from local; "
            "from=<held@hold.example> to=<someone@example.net>: held for review",
        ),
        # 6: delivered and removed
        ev(t + 10, "pickup", "ABC777: uid=0 from=<ok@corp.example>"),
        ev(t + 10, "qmgr", "ABC777: from=<ok@corp.example>, size=1, nrcpt=1 (queue active)"),
        ev(t + 11, "local", "ABC777: to=<root@capture.example>, relay=local, delay=1, status=sent (delivered)"),
        ev(t + 11, "qmgr", "ABC777: removed"),
    ]
    # postsuper moves
    events += [
        ev(t + 20, "postsuper", "AAA111: placed on hold"),
        ev(t + 21, "postsuper", "AAA111: released from hold"),
        ev(t + 22, "postsuper", "BBB222: placed on hold"),
    ]
    es, now = rebuild_queue_from_events(events)
    assert now == t + 22
    by = {e.queue_id: e for e in es}
    assert set(by) == {"AAA111", "BBB222", "CCC333", "EEE555", "FFF666"}
    assert by["AAA111"].queue_name == "deferred" and by["AAA111"].recipients == ["bob@example.net"]
    assert by["AAA111"].arrival_time == t
    assert "Connection refused" in by["AAA111"].delay_reasons[0]
    assert by["BBB222"].queue_name == "hold" and by["BBB222"].sender == ""
    assert by["BBB222"].recipients == ["alice@s1.corp.example"]
    assert by["CCC333"].queue_name == "active" and by["CCC333"].recipients == [UNKNOWN_RECIPIENT] * 2
    assert by["EEE555"].queue_name == "incoming" and by["EEE555"].sender == "late@corp.example"
    assert by["FFF666"].queue_name == "hold" and by["FFF666"].recipients == ["someone@example.net"]

    # --now in the middle: before the postsuper moves and before ABC777 left
    es2, now2 = rebuild_queue_from_events(events, now=t + 10)
    by2 = {e.queue_id: e for e in es2}
    assert now2 == t + 10
    assert by2["AAA111"].queue_name == "deferred" and by2["BBB222"].queue_name == "deferred"
    assert by2["ABC777"].queue_name == "active"


def test_log_mode_requeue_expire_remove_and_restart():
    t = NOW
    events = [
        ev(t, "pickup", "AAA111: uid=0 from=<a@x.example>"),
        ev(t + 1, "qmgr", "AAA111: from=<a@x.example>, size=1, nrcpt=1 (queue active)"),
        ev(t + 2, "smtp", "AAA111: to=<r@y.example>, relay=none, delay=1, status=deferred (refused)"),
        ev(t + 3, "postsuper", "AAA111: requeued"),
        ev(t + 4, "pickup", "BBB222: uid=0 from=<a@x.example> orig_id=AAA111"),
        ev(t + 5, "pickup", "CCC333: uid=0 from=<b@x.example>"),
        ev(t + 6, "qmgr", "CCC333: from=<b@x.example>, size=1, nrcpt=1 (queue active)"),
        ev(t + 7, "smtp", "CCC333: to=<r@y.example>, relay=none, delay=1, status=deferred (refused)"),
        ev(t + 8, "postsuper", "CCC333: removed"),
        ev(t + 9, "pickup", "DDD444: uid=0 from=<c@x.example>"),
        ev(t + 10, "qmgr", "DDD444: from=<c@x.example>, size=1, nrcpt=1 (queue active)"),
        ev(t + 11, "smtp", "DDD444: to=<r@y.example>, relay=none, delay=1, status=deferred (refused)"),
        ev(t + 12, "qmgr", "DDD444: from=<c@x.example>, status=expired, returned to sender"),
        ev(t + 12, "qmgr", "DDD444: removed"),
        ev(t + 13, "pickup", "EEE555: uid=0 from=<d@x.example>"),
        ev(t + 14, "qmgr", "EEE555: from=<d@x.example>, size=1, nrcpt=1 (queue active)"),
        ev(t + 15, "master", "daemon started -- version 3.7.11, configuration /etc/postfix"),
        ev(t + 16, "postsuper", "FFF666: placed on hold"),  # older than the log
    ]
    events += [  # header_checks DISCARD: cleanup drops the message, no "removed" follows
        ev(t + 17, "pickup", "ABC777: uid=0 from=<e@x.example>"),
        ev(t + 17, "cleanup", "ABC777: discard: header Subject: junk from local; from=<e@x.example> "
                              "to=<r@y.example>: spam"),
    ]
    es, _ = rebuild_queue_from_events(events)
    by = {e.queue_id: e for e in es}
    assert set(by) == {"BBB222", "EEE555", "FFF666"}
    assert by["BBB222"].queue_name == "incoming" and by["BBB222"].arrival_time == t
    assert by["EEE555"].queue_name == "incoming"
    assert by["FFF666"].queue_name == "hold"
    # between postsuper -r and pickup, the message waits in maildrop
    mid, _ = rebuild_queue_from_events(events, now=t + 3)
    assert [(e.queue_id, e.queue_name, e.recipients) for e in mid] == [("AAA111", "maildrop", ["r@y.example"])]


def test_log_mode_uses_parser_fields():
    t = NOW
    events = [
        ev(t, "pickup", "AAA111: uid=0 from=<a@x.example>"),
        ev(t + 1, "qmgr", "AAA111: from=<a@x.example>, size=1, nrcpt=1 (queue active)"),
        ev(t + 2, "smtp", "AAA111: to=<r@y.example>, relay=none, delay=2, status=deferred (refused)"),
    ]
    assert events[2].f["to"] == "r@y.example" and events[2].f["status"] == "deferred"
    es, _ = rebuild_queue_from_events(events)
    assert [(e.queue_id, e.queue_name, e.recipients) for e in es] == [("AAA111", "deferred", ["r@y.example"])]


def test_log_mode_local_delivery_keys_the_queue_files_recipient():
    """local expands aliases: the queue file holds orig_to=, so that is the pending recipient."""
    t = NOW
    events = [
        ev(t, "pickup", "AAA111: uid=0 from=<a@x.example>"),
        ev(t + 1, "qmgr", "AAA111: from=<a@x.example>, size=1, nrcpt=2 (queue active)"),
        ev(t + 2, "local", "AAA111: to=<admin@x.example>, orig_to=<root@x.example>, relay=local, delay=2, "
                           "status=deferred (temporary failure)"),
        ev(t + 2, "smtp", "AAA111: to=<r@y.example>, relay=y[192.0.2.1]:25, delay=2, status=sent (250 ok)"),
    ]
    es, _ = rebuild_queue_from_events(events)
    assert [(e.queue_id, e.queue_name, e.recipients) for e in es] == [("AAA111", "deferred", ["root@x.example"])]


# -- findings ---------------------------------------------------------------------------------


def test_findings_mailer_daemon():
    es = [
        entry(f"B{i:05d}", "deferred", age=600, sender="", rcpts=[f"u{i}@forged.example"]) for i in range(12)
    ]
    es += [entry(f"C{i:05d}", "deferred", age=600) for i in range(3)]
    f = qs.detect_mailer_daemon_backscatter(es, NOW)
    assert len(f) == 1 and f[0]["count"] == 12 and "recipient" in f[0]["remedy"]
    assert f[0]["evidence"]["top_recipient_domains"][0]["domain"] == "forged.example"
    assert qs.detect_mailer_daemon_backscatter(es[:5] + es[12:], NOW) == []


def test_findings_old_destination_active_incoming():
    es = [entry(f"B{i:05d}", "deferred", age=86400, rcpts=["u@dead.example"]) for i in range(15)]
    es += [entry(f"C{i:05d}", "deferred", age=86400, rcpts=["u@other.example"]) for i in range(2)]
    f = qs.detect_old_mail_for_destination(es, NOW)
    assert [x["evidence"]["domain"] for x in f] == ["dead.example"]
    assert qs.detect_old_mail_for_destination(es, NOW + 0, min_age_minutes=2000) == []
    act = [entry(f"D{i:05d}", "active", age=1800) for i in range(25)]
    assert qs.detect_active_congestion(act, NOW)[0]["count"] == 25
    assert qs.detect_active_congestion(act[:10], NOW) == []
    inc = [entry(f"E{i:05d}", "incoming", age=900) for i in range(30)]
    assert qs.detect_incoming_growing(inc, NOW)[0]["count"] == 30
    assert qs.detect_incoming_growing([entry("E1", "incoming", age=60)] * 30, NOW) == []
    ids = {x["id"] for x in qs.detect_findings(es + act + inc, NOW)}
    assert ids == {"QSH002", "QSH003", "QSH004"}  # the rule IDs (rules/queue_shape.py)
    for x in qs.detect_findings(es + act + inc, NOW):
        json.dumps(x)


def test_queue_help_covers_all_queues():
    assert (
        set(qs.QUEUE_HELP)
        == set(qs.ALL_QUEUES)
        == {"incoming", "active", "deferred", "hold", "corrupt", "maildrop"}
    )


def test_qshape_main_snapshot(tmp_path):
    p = tmp_path / "q.json"
    p.write_text(SAMPLE)
    out = qs.qshape_main(["deferred", "hold"], from_json=str(p), now=1764000000, senders=True)
    assert rows(out)["TOTAL"][0] == 2 and rows(out)["MAILER-DAEMON"][0] == 1
    d = json.loads(qs.qshape_main(["deferred"], from_json=str(p), now="1764000000", fmt="json"))
    assert d["rows"][0]["total"] == 2
    with pytest.raises(QshapeError):
        qs.qshape_main(["bogus"], from_json=str(p))
    with pytest.raises(QshapeError):
        qs.qshape_main(from_json=str(tmp_path / "missing.json"))
    with pytest.raises(QshapeError):
        qs.qshape_main(from_json=str(p), paths=["x.log"])
    with pytest.raises(QshapeError):
        qs.qshape_main(from_json=str(p), fmt="yaml")
    out2 = qs.qshape_main(["deferred"], from_json="-", now=1764000000, stdin=io.BytesIO(SAMPLE.encode()))
    assert rows(out2)["example.org"][0] == 2


def test_log_mode_message_older_than_the_log_gets_arrival_from_delay():
    t = NOW
    events = [
        ev(t, "qmgr", "AAA111: from=<a@x.example>, size=1, nrcpt=2 (queue active)"),
        ev(
            t + 1,
            "smtp",
            "AAA111: to=<r@y.example>, relay=none, delay=7201, delays=7200/0/1/0, "
            "dsn=4.4.1, status=deferred (connect to 127.0.0.1[127.0.0.1]:2599: Connection refused)",
        ),
    ]
    es, _ = rebuild_queue_from_events(events)
    assert len(es) == 1
    e = es[0]
    assert e.queue_name == "active"  # one recipient not reported yet: qmgr is still on it
    assert e.arrival_time == t + 1 - 7201
    assert e.recipients == ["r@y.example", UNKNOWN_RECIPIENT]
    es2, _ = rebuild_queue_from_events(
        events + [ev(t + 2, "smtp", "AAA111: to=<s@y.example>, relay=none, delay=7202, status=sent (250 ok)")]
    )
    assert es2[0].queue_name == "deferred" and es2[0].recipients == ["r@y.example"]


def test_log_mode_retry_and_smtpd_access_actions():
    t = NOW
    events = [
        ev(t, "pickup", "AAA111: uid=0 from=<a@x.example>"),
        ev(t + 1, "qmgr", "AAA111: from=<a@x.example>, size=1, nrcpt=2 (queue active)"),
        ev(t + 2, "smtp", "AAA111: to=<r@y.example>, relay=none, delay=1, status=deferred (refused)"),
        ev(t + 2, "smtp", "AAA111: to=<s@z.example>, relay=none, delay=1, status=deferred (refused)"),
        # the retry: back to active, one recipient goes, the other is deferred again
        ev(t + 300, "qmgr", "AAA111: from=<a@x.example>, size=1, nrcpt=2 (queue active)"),
        ev(t + 301, "smtp", "AAA111: to=<r@y.example>, relay=y[1.2.3.4]:25, delay=301, status=sent (250 ok)"),
        # smtpd HOLD and DISCARD actions
        ev(t + 10, "smtpd", "BBB222: client=c[192.0.2.1]"),
        ev(
            t + 10,
            "smtpd",
            "BBB222: hold: RCPT from c[192.0.2.1]: <u@here.example>: Recipient address "
            "triggers HOLD action; from=<a@x.example> to=<u@here.example> proto=ESMTP helo=<c>",
        ),
        ev(t + 11, "cleanup", "BBB222: message-id=<b@x>"),
        ev(t + 12, "smtpd", "CCC333: client=c[192.0.2.1]"),
        ev(
            t + 12,
            "smtpd",
            "CCC333: discard: RCPT from c[192.0.2.1]: <v@here.example>: Recipient address "
            "triggers DISCARD action; from=<a@x.example> to=<v@here.example> proto=ESMTP helo=<c>",
        ),
        ev(t + 13, "cleanup", "CCC333: message-id=<c@x>"),
    ]
    mid, _ = rebuild_queue_from_events(events, now=t + 300)
    assert {e.queue_id: e.queue_name for e in mid} == {"AAA111": "active", "BBB222": "hold"}
    assert sorted(mid[0].recipients) == ["r@y.example", "s@z.example"]
    end, _ = rebuild_queue_from_events(
        events
        + [ev(t + 301, "smtp", "AAA111: to=<s@z.example>, relay=none, delay=301, status=deferred (refused)")]
    )
    by = {e.queue_id: e for e in end}
    assert by["AAA111"].queue_name == "deferred" and by["AAA111"].recipients == ["s@z.example"]
    assert "CCC333" not in by
