"""`postfix-diag summary`: totals counted by hand on a small synthetic log, tables, escaping,
--since/--until, JSON keys, and parallel parsing giving the same result as one process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from postfix_diag import summary as S
from postfix_diag.report.summary_report import render

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"

# Every number asserted below was counted by hand from these lines (see the comments).
SYNTHETIC = """\
Mar  1 10:00:00 mx postfix/smtpd[100]: connect from a.example.com[192.0.2.1]
Mar  1 10:00:00 mx postfix/smtpd[100]: Anonymous TLS connection established from a.example.com[192.0.2.1]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
Mar  1 10:00:01 mx postfix/smtpd[100]: AAAA1: client=a.example.com[192.0.2.1]
Mar  1 10:00:01 mx postfix/cleanup[101]: AAAA1: message-id=<1@a.example.com>
Mar  1 10:00:02 mx postfix/qmgr[102]: AAAA1: from=<Alice@A.Example.COM>, size=1000, nrcpt=2 (queue active)
Mar  1 10:00:03 mx postfix/local[103]: AAAA1: to=<bob@here.example>, relay=local, delay=1.5, delays=0.1/0.1/0/1.3, dsn=2.0.0, status=sent (delivered to mailbox)
Mar  1 10:00:03 mx postfix/local[103]: AAAA1: to=<carol@here.example>, relay=local, delay=2.5, delays=0.1/0.1/0/2.3, dsn=2.0.0, status=sent (forwarded as BBBB9)
Mar  1 10:00:04 mx postfix/qmgr[102]: AAAA1: removed
Mar  1 10:00:05 mx postfix/smtpd[100]: disconnect from a.example.com[192.0.2.1] ehlo=1 mail=1 rcpt=2 data=1 quit=1 commands=6
Mar  1 11:00:00 mx postfix/pickup[200]: CCCC2: uid=0 from=<root>
Mar  1 11:00:00 mx postfix/cleanup[101]: CCCC2: message-id=<2@mx>
Mar  1 11:00:01 mx postfix/qmgr[102]: CCCC2: from=<root@mx.here.example>, size=500, nrcpt=1 (queue active)
Mar  1 11:00:02 mx postfix/smtp[201]: CCCC2: to=<dave@remote.example>, relay=mx.remote.example[198.51.100.5]:25, delay=30, delays=0.1/0/30/0, dsn=4.4.1, status=deferred (connect to mx.remote.example[198.51.100.5]:25: Connection timed out)
Mar  1 12:00:02 mx postfix/qmgr[102]: CCCC2: from=<root@mx.here.example>, size=500, nrcpt=1 (queue active)
Mar  1 12:00:32 mx postfix/smtp[202]: CCCC2: to=<dave@remote.example>, relay=mx.remote.example[198.51.100.5]:25, delay=3630, delays=3600/0/30/0, dsn=4.4.1, status=deferred (connect to mx.remote.example[198.51.100.5]:25: Connection timed out)
Mar  1 13:00:40 mx postfix/qmgr[102]: CCCC2: from=<root@mx.here.example>, size=500, nrcpt=1 (queue active)
Mar  1 13:00:41 mx postfix/smtp[203]: CCCC2: to=<dave@remote.example>, relay=mx.remote.example[198.51.100.5]:25, delay=3641, delays=3640/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as XYZ)
Mar  1 13:00:41 mx postfix/qmgr[102]: CCCC2: removed
Mar  2 09:00:00 mx postfix/smtpd[300]: connect from unknown[203.0.113.9]
Mar  2 09:00:01 mx postfix/smtpd[300]: DDDD3: client=unknown[203.0.113.9]
Mar  2 09:00:02 mx postfix/qmgr[102]: DDDD3: from=<>, size=2000, nrcpt=1 (queue active)
Mar  2 09:00:03 mx postfix/smtp[301]: DDDD3: to=<eve@remote.example>, relay=mx.remote.example[198.51.100.5]:25, delay=1, delays=0/0/0.5/0.5, dsn=5.1.1, status=bounced (host mx.remote.example[198.51.100.5] said: 550 5.1.1 <eve@remote.example>: User unknown (in reply to RCPT TO command))
Mar  2 09:00:03 mx postfix/qmgr[102]: DDDD3: removed
Mar  2 09:00:04 mx postfix/smtpd[300]: NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 554 5.7.1 <x@here.example>: Relay access denied; from=<spam@bad.example> to=<x@here.example> proto=ESMTP helo=<bad>
Mar  2 09:00:05 mx postfix/smtpd[300]: NOQUEUE: reject_warning: RCPT from unknown[203.0.113.9]: 450 4.7.1 Client host rejected: cannot find your hostname, [203.0.113.9]; from=<spam@bad.example> to=<y@here.example> proto=ESMTP helo=<bad>
Mar  2 09:00:05 mx postfix/smtpd[300]: lost connection after RCPT from unknown[203.0.113.9]
Mar  2 09:00:06 mx postfix/smtpd[300]: disconnect from unknown[203.0.113.9] ehlo=1 mail=2 rcpt=0/2 quit=1 commands=4/6
Mar  2 10:00:00 mx postfix/smtpd[400]: connect from b.example.net[192.0.2.2]
Mar  2 10:00:01 mx postfix/smtpd[400]: EEEE4: client=b.example.net[192.0.2.2]
Mar  2 10:00:02 mx postfix/cleanup[401]: EEEE4: hold: header Subject: win from b.example.net[192.0.2.2]; from=<x@b.example.net> to=<bob@here.example> proto=ESMTP helo=<b>: held for review
Mar  2 10:00:03 mx postfix/smtpd[400]: NOQUEUE: discard: RCPT from b.example.net[192.0.2.2]: <junk@here.example>: Recipient address triggers DISCARD action; from=<x@b.example.net> to=<junk@here.example> proto=ESMTP helo=<b>
Mar  2 10:00:04 mx postfix/cleanup[401]: EEEE4: reject: body viagra from b.example.net[192.0.2.2]; from=<x@b.example.net> to=<bob@here.example> proto=ESMTP helo=<b>: 5.7.1 no spam
Mar  2 10:00:04 mx postfix/smtpd[400]: timeout after DATA from b.example.net[192.0.2.2]
Mar  2 10:00:05 mx postfix/smtpd[400]: disconnect from b.example.net[192.0.2.2]
Mar  2 10:00:06 mx postfix/smtpd[400]: warning: hostname b.example.net does not resolve to address 192.0.2.2
Mar  2 10:00:07 mx postfix/master[1]: warning: process /usr/lib/postfix/sbin/smtpd pid 400 exit status 1
"""

# received: AAAA1, DDDD3, EEEE4 (smtpd client=) + CCCC2 (pickup) = 4
# delivered: bob, dave (status=sent); carol was "forwarded as"
# deferred: 1 message (CCCC2), 2 deferral lines; bounced: eve
# rejected: smtpd reject + cleanup body reject = 2; reject_warning 1; hold 1 (cleanup); discard 1
# rejected % = 2 / (2 delivered + 2 rejected + 1 discarded) = 40%; discarded % = 20%
# bytes received: 1000 + 500 + 2000 (EEEE4 never reached qmgr) = 3500; delivered: 1000 + 500
# senders: Alice@a.example.com (domain lowercased), root@mx.here.example, from=<> (no domain:
# the client's, 203.0.113.9) → 3 senders, 3 sending domains; recipients bob, dave in 2 domains
HAND_COUNTED = {
    "received": 4, "delivered": 2, "forwarded": 1, "deferred": 1, "deferrals": 2, "bounced": 1,
    "rejected": 2, "rejected_pct": 40, "reject_warnings": 1, "held": 1, "discarded": 1,
    "discarded_pct": 20, "bytes_received": 3500, "bytes_delivered": 1500, "senders": 3,
    "sending_domains": 3, "recipients": 2, "recipient_domains": 2,
}
JSON_TOTAL_KEYS = ("received", "delivered", "forwarded", "deferred", "deferrals", "bounced", "rejected",
                   "reject_warnings", "held", "discarded", "bytes_received", "bytes_delivered", "senders",
                   "recipients")


@pytest.fixture()
def synthetic(tmp_path) -> Path:
    path = tmp_path / "mail.log"
    path.write_text(SYNTHETIC)
    return path


def run(path, **kw) -> dict:
    kw.setdefault("year", 2024)
    kw.setdefault("top", -1)
    kw.setdefault("detail", -1)
    return S.summary([str(path)], **kw)


def test_totals_counted_by_hand(synthetic):
    totals = run(synthetic)["totals"]
    assert {k: totals[k] for k in HAND_COUNTED} == HAND_COUNTED


def test_json_has_the_documented_total_keys(synthetic):
    data = json.loads(render(run(synthetic), "json"))
    for key in JSON_TOTAL_KEYS:
        assert isinstance(data["totals"][key], int), key


def test_traffic_per_day_and_hour(synthetic):
    tr = run(synthetic)["traffic"]
    assert tr["days"] == 2
    assert tr["per_day"] == [
        {"date": "2024-03-01", "received": 2, "delivered": 2, "deferred": 2, "bounced": 0, "rejected": 0},
        # pflogsumm's "rejected" column: reject, reject_warning, hold, discard, cleanup reject
        {"date": "2024-03-02", "received": 2, "delivered": 0, "deferred": 0, "bounced": 1, "rejected": 5},
    ]
    hours = {h["hour"]: h for h in tr["per_hour"]}
    assert len(hours) == 24
    assert hours[10]["received"] == 2 and hours[10]["delivered"] == 1 and hours[10]["rejected"] == 3
    assert hours[13]["delivered"] == 1 and hours[12]["deferred"] == 1


def test_domain_sender_recipient_tables(synthetic):
    r = run(synthetic)
    dom = {d["domain"]: d for d in r["domains"]["delivery"]}
    assert dom["here.example"] == {"sent": 1, "bytes": 1000, "defers": 0, "avg_delay": 1.5, "max_delay": 1.5,
                                   "domain": "here.example"}
    # max delay covers deferrals too, as pflogsumm's does
    assert dom["remote.example"]["defers"] == 2 and dom["remote.example"]["max_delay"] == 3641
    assert dom["remote.example"]["avg_delay"] == 3641
    received = {d["domain"]: (d["messages"], d["bytes"]) for d in r["domains"]["received"]}
    assert received == {"a.example.com": (1, 1000), "mx.here.example": (1, 500), "203.0.113.9": (1, 2000)}
    assert r["senders"]["by_size"][0] == {"bytes": 2000, "sender": "from=<>"}
    assert {x["recipient"] for x in r["recipients"]["by_count"]} == {"bob@here.example", "dave@remote.example"}


def test_reasons_grouped_by_cause(synthetic):
    rs = run(synthetic)["reasons"]
    assert rs["deferrals"] == [{"count": 2, "program": "smtp", "cause": "connect to HOST: Connection timed out"}]
    assert rs["bounces"][0]["count"] == 1
    assert rs["bounces"][0]["cause"] == "550 5.1.1 User unknown (in reply to RCPT TO)"
    assert rs["rejects"] == [
        {"count": 1, "stage": "RCPT", "code": 554, "cause": "Relay access denied"},
        {"count": 1, "stage": "body", "code": None, "cause": "no spam"},
    ]
    assert [x["cause"] for x in rs["reject_warnings"]] == ["Client host rejected: cannot find your hostname,"]
    assert len(rs["holds"]) == 1 and len(rs["discards"]) == 1


def test_smtpd_tls_session_errors_problems(synthetic):
    r = run(synthetic)
    s = r["smtpd"]
    assert s["connections"] == 3 and s["sessions_timed"] == 3
    assert s["total_connect_time"] == 16  # 5 + 6 + 5 seconds
    assert r["tls"]["inbound_tls"] == 1 and r["tls"]["inbound_share"] == round(1 / 3, 4)
    assert r["tls"]["protocols"] == [{"count": 1, "direction": "inbound", "program": "smtpd", "protocol": "TLSv1.3"}]
    errs = {e["stage"]: e for e in r["session_errors"]}
    assert errs["RCPT"]["lost connection"] == 1 and errs["DATA"]["timeout"] == 1
    assert {(w["program"], w["count"]) for w in r["problems"]["warnings"]} == {("smtpd", 1), ("master", 1)}
    inst = r["instances"]
    assert inst == [{"instance": "postfix", "received": 4, "delivered": 2, "forwarded": 1, "deferrals": 2,
                     "bounced": 1, "rejected": 2}]


def test_since_until_filter_lines(synthetic):
    r = run(synthetic, since="2024-03-02")
    assert r["totals"]["received"] == 2 and r["totals"]["delivered"] == 0 and r["totals"]["bounced"] == 1
    r = run(synthetic, until="2024-03-01 12:00")
    assert r["totals"]["received"] == 2 and r["totals"]["deferrals"] == 1 and r["totals"]["rejected"] == 0
    assert r["meta"]["filtered_out"] > 0
    with pytest.raises(ValueError):
        S.parse_when("last tuesday")


def test_top_and_detail_limit_tables(synthetic):
    r = run(synthetic, top=1, detail=1)
    assert len(r["recipients"]["by_count"]) == 1 and len(r["reasons"]["rejects"]) == 1
    text = render(r, "text")
    assert "Recipients by message count (top 1)" in text
    r = run(synthetic, top=0, detail=0)
    text = render(r, "text")
    assert "Senders by message count" not in text and "message reject detail" not in text
    assert "Grand Totals" in text


def test_text_sections_use_pflogsumm_titles(synthetic):
    text = render(run(synthetic), "text")
    for title in ("Grand Totals", "Per-Day Traffic Summary", "Per-Hour Traffic Daily Average",
                  "Host/Domain Summary: Message Delivery", "Host/Domain Summary: Messages Received",
                  "Senders by message count", "Recipients by message count", "Senders by message size",
                  "Recipients by message size", "message deferral detail", "message bounce detail (by relay)",
                  "message reject detail", "smtp delivery failures", "Warnings", "Fatal Errors", "Panics"):
        assert f"\n{title}" in text, title


HOSTILE = (
    "Mar  3 10:00:00 mx postfix/smtpd[500]: warning: Illegal address syntax from unknown[192.0.2.7] in MAIL "
    "command: \x1b]0;owned\x07\x1b[2J|**bold** _u_ `c` [l](u) #h &x\u202e\x9b\n"
    "Mar  3 10:00:01 mx postfix/smtpd[500]: AAAA9: client=unknown[192.0.2.7]\n"
    "Mar  3 10:00:02 mx postfix/qmgr[102]: AAAA9: from=<a|*b*\x1b[31m@x.example>, size=10, nrcpt=1 (queue active)\n"
)


def test_log_content_is_escaped(tmp_path):
    path = tmp_path / "mail.log"
    path.write_text(HOSTILE)
    r = run(path)
    text = render(r, "text")
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text and "\u202e" not in text
    assert "\\x1b" in text  # made visible, not dropped silently
    md = render(r, "markdown")
    assert "\x1b" not in md
    assert "\\*\\*bold\\*\\*" in md and "\\_u\\_" in md and "\\`c\\`" in md and "\\[l\\]" in md
    assert "&amp;x" in md
    # the address would be a mailto: link on GitHub: a code span (report/escape.py), the pipe outside it
    assert "a\\|`*b*\\x1b[31m@x.example`" in md
    # no raw pipe from the log can split a Markdown table cell
    for line in md.splitlines():
        if "bold" in line:
            assert "|**" not in line


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_parallel_parse_equals_one_process(tmp_path, monkeypatch, newline):
    src = CORPUS / "kdent-postfix_log_analysis" / "mail.log"
    if src.exists():
        text = src.read_text(errors="replace")
    else:
        text = SYNTHETIC * 3
    path = tmp_path / "big.log"
    path.write_text(text)
    one = S.summary([str(path)], jobs=1, top=-1, detail=-1)
    other = tmp_path / "pieces.log"
    other.write_bytes(text.replace("\n", newline).encode())  # pieces strip CR like read_lines does
    monkeypatch.setattr(S, "PARALLEL_MIN_BYTES", 1)
    many = S.summary([str(other)], jobs=3, top=-1, detail=-1)
    one.pop("meta"), many.pop("meta")
    assert one["totals"]["received"] > 0
    assert json.dumps(one, sort_keys=True) == json.dumps(many, sort_keys=True)


def test_summary_parser_keeps_every_field_it_reads(monkeypatch):
    """S.FIELDS (the fields the summary's parser captures) leaves out nothing the summary reads:
    the summary of every sample log and of a public log is the same as with every field."""
    logs = sorted(str(p) for p in (ROOT / "sample_logs").iterdir() if p.is_dir())
    kdent = CORPUS / "kdent-postfix_log_analysis" / "mail.log"
    if kdent.exists():
        logs.append(str(kdent))
    for log in logs:
        lean = S.summary([log], jobs=1, top=-1, detail=-1)
        with monkeypatch.context() as m:
            m.setattr(S, "FIELDS", None)
            full = S.summary([log], jobs=1, top=-1, detail=-1)
        assert json.dumps(lean, sort_keys=True) == json.dumps(full, sort_keys=True), log
    # and the projection does leave fields out
    from postfix_diag.parse import Parser
    line = ("Mar  1 10:00:03 mx postfix/local[103]: AAAA1: to=<bob@here.example>, relay=local, delay=1.5, "
            "delays=0.1/0.1/0/1.3, dsn=2.0.0, status=sent (delivered to mailbox)")
    assert "dsn" in Parser().parse_line(line).f
    lean_event = Parser(fields=S.FIELDS).parse_line(line)
    assert lean_event.kind == "delivery" and lean_event.qid == "AAAA1"
    assert sorted(lean_event.f) == ["delay", "reason", "relay", "status", "to"]


def test_small_batches_and_pieces_equal_one_pass(tmp_path, monkeypatch):
    """Messages, connections and removals split across row batches and parallel pieces (down to
    a few lines each) give the same summary as one batch in one process."""
    src = CORPUS / "kdent-postfix_log_analysis" / "mail.log"
    text = src.read_text(errors="replace") if src.exists() else SYNTHETIC * 3
    path = tmp_path / "big.log"
    path.write_text(text)
    one = S.summary([str(path)], jobs=1, top=-1, detail=-1)
    monkeypatch.setattr(S, "FLUSH_EVERY", 200)
    monkeypatch.setattr(S, "_GONE_KEEP", 1)
    small = S.summary([str(path)], jobs=1, top=-1, detail=-1)
    monkeypatch.setattr(S, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(S, "PIECE_BYTES", 64 * 1024)
    pieces = S.summary([str(path)], jobs=2, top=-1, detail=-1)
    for r in (one, small, pieces):
        r.pop("meta")
    assert json.dumps(one, sort_keys=True) == json.dumps(small, sort_keys=True)
    assert json.dumps(one, sort_keys=True) == json.dumps(pieces, sort_keys=True)


def test_status_lines_after_removed_keep_the_size(tmp_path):
    """A status line logged after qmgr's "removed" (edited or replayed logs) still gets the
    message's size, as the latest qmgr line before it."""
    text = SYNTHETIC.replace(
        "Mar  1 10:00:04 mx postfix/qmgr[102]: AAAA1: removed\n",
        "Mar  1 10:00:04 mx postfix/qmgr[102]: AAAA1: removed\n"
        "Mar  1 10:00:04 mx postfix/local[103]: AAAA1: to=<zed@here.example>, relay=local, delay=1, "
        "delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)\n")
    assert text != SYNTHETIC
    path = tmp_path / "mail.log"
    path.write_text(text)
    assert run(path)["totals"]["bytes_delivered"] == 2500


def test_skipped_lines_are_only_message_id_and_removed():
    skip = S._SKIP_LINE.match
    assert skip("Mar  1 10:00:04 mx postfix/qmgr[102]: AAAA1: removed")
    assert skip("2024-03-01T10:00:01.123+01:00 mx postfix/cleanup[101]: AAAA1: message-id=<1@x>")
    assert skip("Mar  1 10:00:04 mx postfix-out/qmgr[102]: AAAA1: removed")
    # a client-controlled text ending the same way is not skipped
    assert not skip("Mar  1 10:00:04 mx postfix/smtpd[1]: warning: non-SMTP command from x[1.2.3.4]: "
                    "postfix/qmgr[102]: AAAA1: removed")
    assert not skip("Mar  1 10:00:04 mx postfix/qmgr[102]: AAAA1: removed later")


def test_cli_summary_command(synthetic):
    from typer.testing import CliRunner

    from postfix_diag.cli import app

    res = CliRunner().invoke(app, ["summary", str(synthetic), "--year", "2024", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["totals"]["received"] == 4
    res = CliRunner().invoke(app, ["summary", str(synthetic), "--since", "soon"])
    assert res.exit_code == 2


def test_empty_log(tmp_path):
    path = tmp_path / "mail.log"
    path.write_text("")
    r = run(path)
    assert r["totals"]["received"] == 0 and r["meta"]["lines"] == 0
    assert "Grand Totals" in render(r, "text") and render(r, "markdown") and json.loads(render(r, "json"))
