"""`postfix-diag trace` on captured logs: the content-filter capture (amavis-style re-injection on
loopback: each message has a first queue id, delivered to the filter on 10024, and a second one,
re-injected by the smtpd on 10025), a bounce storm (notifications with their own queue ids), the
same capture split over two hosts, and hostile text in a reply."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from postfix_diag.trace import Query, result, run

ROOT = Path(__file__).resolve().parents[1]
FILTER = ROOT / "sample_logs/content-filter"
LOG = str(FILTER / "maillog")
INJECTED = json.loads((FILTER / "injected.json").read_text())["messages"]


def trace(query: Query, paths=(LOG,)) -> dict:
    trails, sources = run([str(p) for p in paths], query, year=2026)
    return result(trails, query, sources)


def cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "postfix_diag", "trace", *args], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _log_lines(qid: str) -> list[str]:
    return [ln for ln in Path(LOG).read_text().splitlines() if f" {qid}: " in ln]


@pytest.mark.parametrize("side", ["original_queue_id", "reinjected_queue_id"])
def test_every_filtered_message_crosses_the_filter_from_either_side(side):
    for injected in INJECTED:
        got = trace(Query(qids=(injected[side],)))
        assert len(got["trails"]) == 1, injected
        trail = got["trails"][0]
        first, second = injected["original_queue_id"], injected["reinjected_queue_id"]
        assert trail["queue_ids"] == [first, second]
        before, after = trail["messages"]
        # the first id went to the filter, whose reply names the second
        to_filter = [ln for ln in before["lines"] if ln["kind"] == "delivery"]
        assert to_filter and all(ln["delivery"]["relay"] == "127.0.0.1[127.0.0.1]:10024" for ln in to_filter)
        assert all(f"queued as {second}" in ln["delivery"]["reply"] for ln in to_filter)
        assert before["children"] == [{"qid": second, "how": "relayed", "in_log": True}]
        assert after["origin"]["kind"] == "re-injection" and after["origin"]["from_qid"] == first
        # every line of both ids, in log order, nothing else
        for m in (before, after):
            assert [ln["line"] for ln in m["lines"]] == sorted(ln["line"] for ln in m["lines"])
            assert len(m["lines"]) == len(_log_lines(m["qid"]))
            assert m["state"] == "removed" and m["lines"][-1]["text"] == "removed"
        # the trail ends where the second id's delivery lines say, one end per recipient
        ends = trail["end"]
        assert len(ends) == len(injected["recipients"])
        for rcpt in injected["recipients"]:
            end = next(e for e in ends if f"<{rcpt}>" in e)
            assert end.startswith(f"{second}: ")
            if rcpt.endswith("@capture.example"):
                assert "delivered by local (relay=local): delivered to mailbox" in end
            else:
                assert "handed to relay 127.0.0.1[127.0.0.1]:2526: 250 2.0.0 Ok" in end


def test_origins_delays_and_message_facts():
    pickup = next(m for m in INJECTED if m["original_queue_id_from"] != "XFORWARD IDENT")
    got = trace(Query(qids=(pickup["original_queue_id"],)))
    first, second = got["trails"][0]["messages"]
    assert first["origin"] == {"kind": "pickup", "uid": 0, "sender": "root@capture.example"}
    # no XFORWARD for it: the re-injecting smtpd logs no orig_queue_id; the reply names it
    assert second["origin"]["kind"] == "re-injection" and second["origin"]["from_qid"] == first["qid"]
    assert first["from"] == "root@capture.example" and first["nrcpt"] == 1 and first["size"] == 332
    assert first["message_id"] == second["message_id"]
    d = next(ln for ln in first["lines"] if ln["kind"] == "delivery")["delivery"]
    assert set(d["delays"]) == {"before_qmgr", "in_qmgr", "connection", "transmission"}
    smtpd = trace(Query(qids=(INJECTED[0]["original_queue_id"],)))["trails"][0]["messages"]
    assert smtpd[0]["origin"] == {"kind": "smtpd", "client": "localhost[127.0.0.1]", "service": "smtpd"}
    assert smtpd[1]["origin"]["orig_client"] == "localhost[127.0.0.1]"
    d = next(ln for ln in smtpd[0]["lines"] if ln["kind"] == "delivery")["delivery"]
    assert d["delays"] == {"before_qmgr": 0.01, "in_qmgr": 0.04, "connection": 0.0, "transmission": 0.09}


def test_queries_combine():
    everything = trace(Query(senders=("sender@capture.example",)))
    assert len(everything["trails"]) == 6  # the seventh came from root by sendmail
    mixed = trace(Query(senders=("sender@capture.example",), recipients=("@example.org",)))
    assert [t["queue_ids"] for t in mixed["trails"]] == [[m["original_queue_id"], m["reinjected_queue_id"]]
                                                         for m in INJECTED if "user2@example.org" in m["recipients"]]
    assert trace(Query(clients=("127.0.0.0/8",), recipients=("bob@capture.example",)))["trails"]
    assert not trace(Query(clients=("192.0.2.1",)))["trails"]
    mid = INJECTED[3]
    by_id = trace(Query(message_ids=(f"<{mid['original_queue_id']}>",)))
    assert not by_id["trails"]
    msg_id = trace(Query(qids=(mid["original_queue_id"],)))["trails"][0]["messages"][0]["message_id"]
    assert trace(Query(message_ids=(f"<{msg_id}>",)))["trails"][0]["queue_ids"][0] == mid["original_queue_id"]
    late = 1_796_249_000.0  # 2026-12-02: after the capture
    assert not trace(Query(senders=("sender@capture.example",), since=late))["trails"]
    assert len(trace(Query(senders=("sender@capture.example",), until=late))["trails"]) == 6


def test_bounce_notification_is_its_own_queue_id_and_still_queued():
    storm = str(ROOT / "sample_logs/bounce-storm/maillog")
    got = trace(Query(qids=("C1E5F16036D",)), [storm])
    trail = got["trails"][0]
    assert trail["queue_ids"] == ["C1E5F16036D", "C62B9160370"]
    original, notice = trail["messages"]
    assert notice["origin"] == {"kind": "notification", "from_qid": "C1E5F16036D"} and notice["from"] == ""
    assert any(e.startswith("C1E5F16036D: <user1@example.net> bounced (5.1.1)") for e in trail["end"])
    queued = [e for e in trail["end"] if e.startswith("C62B9160370: ")]
    assert queued and queued[0].startswith("C62B9160370: still queued at the end of the log (in the deferred queue")
    assert notice["state"] == "queued"


def test_across_hosts(tmp_path):
    """The capture's re-injected ids written as a second host's log: the trail crosses hosts by the
    reply's "queued as"."""
    second = {m["reinjected_queue_id"] for m in INJECTED}
    a, b = [], []
    for ln in Path(LOG).read_text().splitlines(keepends=True):
        if any(f" {q}: " in ln for q in second):
            b.append(ln.replace(" mail postfix/", " mx2 postfix/", 1))
        else:
            a.append(ln)
    (tmp_path / "a.log").write_text("".join(a))
    (tmp_path / "b.log").write_text("".join(b))
    m = INJECTED[0]
    for qid in (m["original_queue_id"], m["reinjected_queue_id"]):
        trail = trace(Query(qids=(qid,)), [tmp_path / "a.log", tmp_path / "b.log"])["trails"][0]
        assert trail["hosts"] == ["mail", "mx2"]
        assert [x["host"] for x in trail["messages"]] == ["mail", "mx2"]
    only_a = trace(Query(qids=(m["original_queue_id"],)), [tmp_path / "a.log"])["trails"][0]
    assert only_a["end"] == [f"{m['original_queue_id']}: <alice@capture.example> handed to relay "
                             f"127.0.0.1[127.0.0.1]:10024, queued there as {m['reinjected_queue_id']} "
                             "(that host's log was not given)"]


def test_cli_text_json_escaping_and_exit_codes(tmp_path):
    hostile = tmp_path / "maillog"
    qid = INJECTED[0]["reinjected_queue_id"]
    text = Path(LOG).read_text().replace("status=sent (delivered to mailbox)",
                                         "status=sent (delivered to \x1b[31mmailbox\u202e)", 1)
    hostile.write_text(text)
    out = cli("--qid", qid, str(hostile))
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stdout and "\u202e" not in out.stdout
    assert "delivered to \\x1b[31mmailbox\\u202e" in out.stdout
    assert f"Trail 1 of 1: {INJECTED[0]['original_queue_id']} -> {qid}" in out.stdout
    assert "delays: 0.01 s before the queue manager, 0.04 s in the queue manager, 0 s connection setup, " \
           "0.09 s transmission" in out.stdout
    js = cli("--qid", qid, "--format", "json", str(hostile))
    assert js.returncode == 0 and "\x1b" not in js.stdout
    assert json.loads(js.stdout)["trails"][0]["queue_ids"][1] == qid
    none = cli("--qid", "ABSENT123", LOG)
    assert none.returncode == 1 and none.stdout == "No message matches the query.\n"
    bare = cli(LOG)
    assert bare.returncode == 2 and "trace needs a query" in bare.stderr and "Traceback" not in bare.stderr
    bad = cli("--since", "someday", "--qid", qid, LOG)
    assert bad.returncode == 2 and "cannot read time" in bad.stderr


def test_pruning_the_lives_the_tracker_dropped_keeps_every_trail(monkeypatch):
    """Lives are pruned of what the tracker no longer holds (smtpd transactions that never became
    a queue file); pruning at every new life changes no trail."""
    from postfix_diag import trace as T

    query = Query(senders=("sender@capture.example",))
    want = trace(query)
    original = T.Trace.__init__

    def eager(self, *a, **kw):
        original(self, *a, **kw)
        self._prune_at = 1

    monkeypatch.setattr(T.Trace, "__init__", eager)
    monkeypatch.setattr(T.Trace, "_prune", _counting(T.Trace._prune))
    assert trace(query) == want and _counting.calls > 10


def _counting(func):
    def wrapper(self):
        _counting.calls += 1
        func(self)
        self._prune_at = 1
    _counting.calls = 0
    return wrapper
